"""medkg names that answers use (issue 12): the two corners of MeSH F it takes
(psychotherapies, defense mechanisms) and ChEBI enzyme-inhibitor roles by the enzyme's name.
The rules on literals first, then on the installed packages' files."""

from __future__ import annotations

import polars as pl
import pytest

from kgsynth.kg.medkg.mesh import descriptor_type, read_mesh
from kgsynth.kg.medkg.obojson import enzyme_role_name, read_chebi, read_chebi_roles


@pytest.mark.parametrize(
    ("trees", "kind"),
    [
        (["F04.754.137.428"], "procedure"),  # Cognitive Behavioral Therapy
        (["F01.393.693"], "biological_process"),  # Projection
        (["F03.600.300", "F04.754.137"], "disease"),  # a mental disorder first
        (["F01.145.126.100"], None),  # behaviour at large (Affective Symptoms): not taken
        (["F02.463.785"], None),  # psychology
        (["F04.408.413"], None),  # behavioural services (Counseling)
    ],
)
def test_mesh_f_branches_taken_and_left(trees: list[str], kind: str | None) -> None:
    assert descriptor_type(trees) == kind


@pytest.mark.parametrize(
    ("name", "alias"),
    [
        ("EC 1.17.3.2 (xanthine oxidase) inhibitor", "xanthine oxidase inhibitor"),
        ("EC 1.5.1.3 (dihydrofolate reductase) inhibitor", "dihydrofolate reductase inhibitor"),
        (
            "EC 1.1.1.34/EC 1.1.1.88 (hydroxymethylglutaryl-CoA reductase) inhibitor",
            "hydroxymethylglutaryl-CoA reductase inhibitor",
        ),
        (
            "EC 1.3.1.9 [enoyl-[acyl-carrier-protein] reductase (NADH)] inhibitor",
            "enoyl-[acyl-carrier-protein] reductase (NADH) inhibitor",
        ),
    ],
)
def test_an_enzyme_role_is_also_named_by_its_enzyme(name: str, alias: str) -> None:
    assert enzyme_role_name(name) == alias


@pytest.mark.parametrize(
    "name",
    ["antibacterial agent", "EC 1.17.3.2 inhibitor", "xanthine oxidase inhibitor", "EC 3.1 (x)"],
)
def test_other_names_get_no_enzyme_alias(name: str) -> None:
    assert enzyme_role_name(name) is None


def test_mesh_reads_psychotherapies_and_defense_mechanisms_only() -> None:
    nodes = read_mesh().nodes
    kind = dict(zip(nodes["name"].to_list(), nodes["type"].to_list(), strict=True))
    assert kind["Cognitive Behavioral Therapy"] == "procedure"
    assert kind["Projection"] == "biological_process"
    assert kind["Rationalization"] == "biological_process"
    assert "Affective Symptoms" not in kind  # F01.145: behaviour at large stays out
    assert "Counseling" not in kind  # F04.408: services, not a therapy of F04.754


def test_chebi_roles_carry_the_enzyme_alias() -> None:
    terms = read_chebi()
    allopurinol = "CHEBI:40279"
    nodes = read_chebi_roles(terms, {allopurinol}).nodes
    row = nodes.filter(pl.col("id") == "CHEBI:35634").row(0, named=True)
    assert row["name"] == "EC 1.17.3.2 (xanthine oxidase) inhibitor"
    assert row["synonyms"] == ["xanthine oxidase inhibitor"]
    others = nodes.filter(~pl.col("name").str.starts_with("EC "))
    assert others["synonyms"].list.len().sum() == 0  # no alias made for other roles
