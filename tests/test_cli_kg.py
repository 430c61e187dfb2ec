"""`kgsynth kg stats` and `kgsynth kg paths`, run through typer's CliRunner."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from kgsynth.cli import app
from kgsynth.kg import load_kg
from kgsynth.kg.stats import degree_summary, node_types, relation_types

runner = CliRunner()

TRIPLES = [
    "head,relation,tail,head_type,tail_type,head_name,tail_name",
    "D1,has_phenotype,P1,disease,phenotype,Dravet syndrome,Seizure",
    "D1,has_phenotype,P2,disease,phenotype,Dravet syndrome,Ataxia [gait]",
    "D2,has_phenotype,P2,disease,phenotype,Angelman syndrome,Ataxia [gait]",
    "G1,associated_with,D1,gene,disease,SCN1A,Dravet syndrome",
    "G1,associated_with,D2,gene,disease,SCN1A,Angelman syndrome",
    "G1,associated_with,P3,gene,phenotype,SCN1A,Fever",  # SCN1A is more of a hub
    "E1,related_to,P3,symptom,phenotype,seizure,Fever",  # a second node named seizure
    "X1,related_to,X2,thing,thing,Island,Far island",  # unreachable from the rest
]


def flat(text: str) -> str:
    """Output with rich's line wrapping undone."""
    return " ".join(text.split())


@pytest.fixture
def tiny(tmp_path: Path) -> list[str]:
    path = tmp_path / "tiny.csv"
    path.write_text("\n".join(TRIPLES) + "\n", encoding="utf-8")
    return ["--kg", str(path), "--cache-dir", str(tmp_path / "cache")]


def test_stats_hpo(cache_dir: Path) -> None:
    result = runner.invoke(app, ["kg", "stats", "--kg", "hpo", "--cache-dir", str(cache_dir)])
    assert result.exit_code == 0, result.output
    out = result.output
    for rel in ("has_phenotype", "is_a", "associated_with"):
        assert rel in out
    for node_type in ("phenotype", "disease", "gene"):
        assert f"│ {node_type} " in out
    for pair in ("disease → phenotype", "phenotype → phenotype", "gene → disease"):
        assert pair in out
    for key in ("hpo_release", "hash", "load time", "median", "p99"):
        assert key in out


def test_stats_tables_of_a_tiny_kg(tiny: list[str]) -> None:
    kg = load_kg(tiny[1])
    assert node_types(kg).rows() == [
        ("phenotype", 3),
        ("disease", 2),
        ("thing", 2),
        ("gene", 1),
        ("symptom", 1),
    ]
    assert relation_types(kg).rows() == [
        ("has_phenotype", "disease", "phenotype", 3),
        ("associated_with", "gene", "disease", 2),
        ("associated_with", "gene", "phenotype", 1),
        ("related_to", "symptom", "phenotype", 1),
        ("related_to", "thing", "thing", 1),
    ]
    d = degree_summary(kg)
    # degrees: D1 3, D2 2, P1 1, P2 2, P3 2, G1 3, E1 1, X1 1, X2 1
    assert (d.mean, d.median, d.max) == (16 / 9, 2.0, 3)
    assert d.max_node in ("Dravet syndrome (D1)", "SCN1A (G1)")

    result = runner.invoke(app, ["kg", "stats", *tiny])
    assert result.exit_code == 0, result.output
    assert "gene → phenotype" in result.output and "triples" in result.output


def test_paths_prints_the_best_paths(tiny: list[str]) -> None:
    result = runner.invoke(app, ["kg", "paths", "dravet syndrome", "D2", *tiny])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert flat(lines[0]) == (
        "2 shortest paths of 2 hops between Dravet syndrome (D1) and "
        "Angelman syndrome (D2); showing 2:"
    )
    # the path through the less connected node first; names with brackets stay as written
    assert lines[1:] == [
        "Dravet syndrome -[has_phenotype]-> Ataxia [gait] <-[has_phenotype]- Angelman syndrome",
        "Dravet syndrome <-[associated_with]- SCN1A -[associated_with]-> Angelman syndrome",
    ]
    one = runner.invoke(
        app, ["kg", "paths", "Dravet syndrome", "Angelman syndrome", "--k", "1", *tiny]
    )
    assert one.exit_code == 0, one.output
    assert one.output.splitlines()[1:] == [lines[1]]


def test_paths_respects_max_hops(tiny: list[str]) -> None:
    result = runner.invoke(app, ["kg", "paths", "Seizure", "Fever", "--max-hops", "2", *tiny])
    assert result.exit_code == 2  # "Seizure" is ambiguous: P1 and E1
    result = runner.invoke(app, ["kg", "paths", "P1", "Fever", "--max-hops", "2", *tiny])
    assert result.exit_code == 1
    assert flat(result.output) == "no path between Seizure (P1) and Fever (P3) within 2 hops"
    result = runner.invoke(app, ["kg", "paths", "P1", "Fever", "--max-hops", "3", *tiny])
    assert result.exit_code == 0
    assert result.output.splitlines()[1] == (
        "Seizure <-[has_phenotype]- Dravet syndrome <-[associated_with]- SCN1A "
        "-[associated_with]-> Fever"
    )
    result = runner.invoke(app, ["kg", "paths", "Island", "Fever", *tiny])
    assert result.exit_code == 1 and "no path" in result.output


def test_paths_simple_and_k_shortest(tiny: list[str]) -> None:
    far = ["P1", "Fever", "--max-hops", "5", *tiny]
    walk = "Seizure <-[has_phenotype]- Dravet syndrome"
    short = f"{walk} <-[associated_with]- SCN1A -[associated_with]-> Fever"
    long = (
        f"{walk} -[has_phenotype]-> Ataxia [gait] <-[has_phenotype]- Angelman syndrome "
        "<-[associated_with]- SCN1A -[associated_with]-> Fever"
    )
    result = runner.invoke(app, ["kg", "paths", *far])  # shortest only
    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[1:] == [short]
    result = runner.invoke(app, ["kg", "paths", "--simple", *far])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert flat(lines[0]) == (
        "2 simple paths of at most 5 hops between Seizure (P1) and Fever (P3); showing 2:"
    )
    assert lines[1:] == [short, long]  # shortest first
    result = runner.invoke(app, ["kg", "paths", "--simple", "--count-limit", "1", *far])
    assert flat(result.output.splitlines()[0]).startswith("at least 1 simple path of")
    result = runner.invoke(app, ["kg", "paths", "--simple", "--max-hops", "4", *far[:2], *tiny])
    assert result.exit_code == 0 and result.output.splitlines()[1:] == [short]
    result = runner.invoke(app, ["kg", "paths", "--k-shortest", "--k", "1", *far])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert flat(lines[0]) == (
        "the 1 shortest simple path of at most 5 hops between Seizure (P1) and Fever (P3), "
        "shortest first:"
    )
    assert lines[1:] == [short]
    result = runner.invoke(app, ["kg", "paths", "--k-shortest", "--k", "9", *far])
    lines = result.output.splitlines()
    assert flat(lines[0]).startswith("all 2 simple paths of at most 5 hops between")
    assert lines[1:] == [short, long]
    for flag in ("--simple", "--k-shortest"):
        result = runner.invoke(app, ["kg", "paths", flag, "P1", "Fever", "--max-hops", "2", *tiny])
        assert result.exit_code == 1
        assert flat(result.output) == "no path between Seizure (P1) and Fever (P3) within 2 hops"
    result = runner.invoke(app, ["kg", "paths", "--simple", "--k-shortest", *far])
    assert result.exit_code == 2 and "give one of them" in flat(result.output)


def test_paths_hub_penalty(tiny: list[str]) -> None:
    args = ["kg", "paths", "D1", "D2", "--k", "1", *tiny]
    via_ataxia = runner.invoke(app, args).output.splitlines()[1]
    assert "Ataxia" in via_ataxia  # degree 2 beats SCN1A's 3
    assert runner.invoke(app, [*args, "--hub-penalty", "3"]).output.splitlines()[1] == via_ataxia
    # no penalty: the paths tie and node order decides (G1 before P2)
    result = runner.invoke(app, [*args, "--hub-penalty", "0"])
    assert result.exit_code == 0, result.output
    assert "SCN1A" in result.output.splitlines()[1]
    for bad in ("-1", "nan"):
        assert runner.invoke(app, [*args, "--hub-penalty", bad]).exit_code == 2


def test_paths_unknown_name_exits_2(tiny: list[str]) -> None:
    result = runner.invoke(app, ["kg", "paths", "Dravet", "Fever", *tiny])
    assert result.exit_code == 2
    out = flat(result.output)
    assert out.startswith("error: no node with id or name 'Dravet' in KG 'tiny'")
    assert "names containing it: Dravet syndrome (D1)" in out


def test_paths_ambiguous_name_lists_the_choices(tiny: list[str]) -> None:
    result = runner.invoke(app, ["kg", "paths", "SEIZURE", "Fever", *tiny])
    assert result.exit_code == 2
    out = flat(result.output)
    assert "error: 'SEIZURE' names 2 nodes" in out
    assert "E1 (seizure, symptom)" in out and "P1 (Seizure, phenotype)" in out
    assert "Give one of these ids" in out


def test_paths_same_node(tiny: list[str]) -> None:
    result = runner.invoke(app, ["kg", "paths", "D1", "dravet syndrome", *tiny])
    assert result.exit_code == 2
    assert "same node" in result.output


def test_bad_kg_exits_2(tmp_path: Path) -> None:
    result = runner.invoke(app, ["kg", "stats", "--kg", str(tmp_path / "nope.csv")])
    assert result.exit_code == 2
    assert flat(result.output).startswith(f"error: --kg '{tmp_path / 'nope.csv'}'")
    bad = tmp_path / "bad.sif"
    bad.write_text("source\tmetaedge\ttarget\nGene::1\tGxG\tGene::2\n")
    nodes = tmp_path / "n.tsv"
    nodes.write_text("id\tname\tkind\nGene::1\tA\tGene\nGene::2\tB\tGene\n")
    spec = f"hetionet:{nodes},{bad}"
    args = ["--kg", spec, "--cache-dir", str(tmp_path / "c")]
    result = runner.invoke(app, ["kg", "paths", "A", "B", *args])
    assert result.exit_code == 2
    assert f"error: {bad}, line 2, field 'metaedge': unknown metaedge" in flat(result.output)
