"""medkg's sources beyond the vocabularies (issue 12): ICD-10-CM codes and GO processes as
nodes only where they name a concept no other source has, MeSH supplementary concepts of
diseases. The readers' rules on files and frames the tests write; then the real graph."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

from kgsynth.kg import load_kg
from kgsynth.kg.graph import KnowledgeGraph
from kgsynth.kg.medkg import icd10
from kgsynth.kg.medkg.build import label_bags, new_concepts
from kgsynth.kg.medkg.obojson import _same_words
from kgsynth.kg.medkg.sources import NODE_SCHEMA
from kgsynth.linking.normalise import norm_key

TABULAR = """<?xml version="1.0" encoding="utf-8"?>
<ICD10CM.tabular>
  <chapter><name>11</name><desc>Diseases of the digestive system (K00-K95)</desc>
    <section id="K65-K68"><desc>Diseases of peritoneum</desc>
      <diag><name>K65</name><desc>Peritonitis</desc>
        <diag><name>K65.2</name><desc>Spontaneous bacterial peritonitis</desc>
          <inclusionTerm><note>Peritonitis in cirrhosis</note></inclusionTerm>
        </diag>
        <diag><name>K65.8</name><desc>Other peritonitis</desc>
          <diag><name>K65.81</name><desc>Sclerosing peritonitis</desc></diag>
        </diag>
        <diag><name>K65.9</name><desc>Peritonitis, unspecified</desc></diag>
      </diag>
    </section>
  </chapter>
  <chapter><name>18</name><desc>Symptoms and signs (R00-R99)</desc>
    <section id="R00-R09"><desc>Circulatory and respiratory</desc>
      <diag><name>R06</name><desc>Abnormalities of breathing</desc>
        <diag><name>R06.1</name><desc>Stridor</desc></diag>
      </diag>
    </section>
  </chapter>
  <chapter><name>21</name><desc>Factors influencing health status (Z00-Z99)</desc>
    <section id="Z77-Z99"><desc>Persons with potential health hazards</desc>
      <diag><name>Z95</name><desc>Presence of cardiac implants</desc></diag>
    </section>
  </chapter>
  <chapter><name>19</name><desc>Injury (S00-T88)</desc>
    <section id="S00-S09"><desc>Injuries to the head</desc>
      <diag><name>S02.0XXA</name><desc>Fracture of vault of skull, initial encounter</desc></diag>
      <diag><name>S05.01</name><desc>Injury of conjunctiva, right eye</desc></diag>
    </section>
  </chapter>
</ICD10CM.tabular>
"""


@pytest.fixture
def codes(tmp_path: Path) -> list[tuple[str, str, str | None]]:
    path = tmp_path / "icd10cm-tabular-2026.xml"
    path.write_text(TABULAR, encoding="utf-8")
    return icd10.read_codes(path)


def test_icd_codes_that_name_a_concept_become_nodes_typed_by_chapter(codes) -> None:
    part = icd10.read_icd10cm(codes)
    got = {r[0]: (r[1], r[2]) for r in part.nodes.select("id", "name", "type").iter_rows()}
    assert got == {
        "ICD10CM:K65": ("Peritonitis", "disease"),
        "ICD10CM:K65.2": ("Spontaneous bacterial peritonitis", "disease"),
        "ICD10CM:K65.81": ("Sclerosing peritonitis", "disease"),
        "ICD10CM:R06": ("Abnormalities of breathing", "phenotype"),
        "ICD10CM:R06.1": ("Stridor", "phenotype"),
    }  # no residual class, side, episode of care or Z code; inclusion terms are no names
    assert part.nodes["synonyms"].list.len().sum() == 0


def test_an_icd_code_is_a_its_nearest_ancestor_that_is_a_node(codes) -> None:
    part = icd10.read_icd10cm(codes, exclude={"ICD10CM:K65"})
    edges = set(part.edges.select("head", "relation", "tail").iter_rows())
    # K65.81's parent "Other peritonitis" is no node, nor (excluded) is K65: no edge
    assert edges == {("ICD10CM:R06.1", "is_a", "ICD10CM:R06")}
    assert "ICD10CM:K65" not in part.nodes["id"].to_list()
    full = icd10.read_icd10cm(codes)
    assert ("ICD10CM:K65.81", "is_a", "ICD10CM:K65") in set(
        full.edges.select("head", "relation", "tail").iter_rows()
    )


def test_only_concepts_medkg_lacks_are_new_and_none_merges_by_name() -> None:
    known = pl.DataFrame(
        [("MESH:D1", "Peritonitis", "disease", ["Inflammation, Peritoneal"])],
        schema=NODE_SCHEMA,
        orient="row",
    )
    candidates = pl.DataFrame(
        [
            ("ICD10CM:K65", "peritonitis", "disease", []),  # a name medkg has
            ("ICD10CM:X1", "Peritoneal inflammation", "disease", []),  # a synonym, reordered
            ("ICD10CM:E11", "Type 2 diabetes mellitus", "disease", []),  # cited by MONDO
            ("ICD10CM:K65.0", "Peritonitis (acute)", "disease", []),  # a modifier aside
            ("ICD10CM:K65.2", "Spontaneous bacterial peritonitis", "disease", []),
        ],
        schema=NODE_SCHEMA,
        orient="row",
    )
    cited = pl.Series(["ICD10CM:E11"])
    assert new_concepts(candidates, label_bags(known), cited).to_list() == ["ICD10CM:K65.2"]


@pytest.mark.parametrize(
    ("synonym", "name", "kept"),
    [
        ("embryonic haematopoiesis", "embryonic hemopoiesis", True),  # a spelling
        ("T cell receptor signalling pathway", "T cell receptor signaling pathway", True),
        ("induction of apoptosis", "apoptotic process", False),  # a narrower process
        ("NER", "nucleotide-excision repair", False),
        ("T lymphocyte receptor signaling pathway", "T cell receptor signaling pathway", False),
    ],
)
def test_go_keeps_a_synonym_only_when_it_says_the_names_words(
    synonym: str, name: str, kept: bool
) -> None:
    assert _same_words(norm_key(synonym), norm_key(name)) is kept


# -- the real graph ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def medkg(cache_dir: Path) -> KnowledgeGraph:
    return load_kg("medkg", cache_dir=cache_dir)


def row_of(kg: KnowledgeGraph, member: str) -> dict | None:
    rows = kg.nodes.filter(pl.col("xrefs").list.contains(member))
    assert rows.height <= 1, f"{member} is in {rows.height} nodes"
    return rows.row(0, named=True) if rows.height else None


def test_an_icd_concept_medkg_lacked_is_a_node(medkg: KnowledgeGraph) -> None:
    row = row_of(medkg, "ICD10CM:K65.2")
    assert row is not None and row["name"] == "Spontaneous bacterial peritonitis"
    assert row["type"] == "disease"


def test_an_icd_code_mondo_cites_or_medkg_names_is_no_node_of_its_own(medkg) -> None:
    assert row_of(medkg, "ICD10CM:E11") is None  # MONDO's type 2 diabetes mellitus
    assert row_of(medkg, "ICD10CM:I10") is None  # "Essential (primary) hypertension"


def test_mesh_supplementary_diseases_are_nodes_under_their_heading(medkg) -> None:
    row = row_of(medkg, "MESH:C565501")
    assert row is not None and row["name"] == "Breastfeeding Jaundice"
    jaundice = row_of(medkg, "MESH:D007567")  # Jaundice, Neonatal
    assert jaundice is not None and medkg.has_edge(row["id"], "is_a", jaundice["id"])


def test_a_mesh_entry_term_for_a_broader_group_is_not_a_synonym(medkg) -> None:
    row = row_of(medkg, "MESH:D013293")
    assert row is not None and row["name"] == "Enterococcus faecalis"
    assert "Streptococcus Group D" not in row["synonyms"]


def test_go_processes_medkg_lacked_are_nodes(medkg: KnowledgeGraph) -> None:
    row = row_of(medkg, "GO:0035162")
    assert row is not None and row["type"] == "biological_process"
    assert "embryonic hematopoiesis" in row["synonyms"]
    assert row_of(medkg, "GO:0006909") is None  # phagocytosis: MeSH has it
