"""The three export checks accept honest rows and catch each kind of bad row."""

from __future__ import annotations

from kg_rows import kg_from_rows

from kgsynth.config import VerifyConfig
from kgsynth.kg import KnowledgeGraph
from kgsynth.paths.format import format_path
from kgsynth.records import (
    EntityLink,
    GeneratedQA,
    Generation,
    Hop,
    KGPath,
    LinkedQA,
    PathedQA,
    QARecord,
)
from kgsynth.verify import Verifier
from kgsynth.verify.suite import VerifySuite

NODES = [
    ("OMIM:1", "Marfan syndrome", "disease"),
    ("HP:1", "Arachnodactyly", "phenotype"),
    ("HP:2", "Ectopia lentis", "phenotype"),
    ("HP:3", "Abnormality of the hand", "phenotype"),
]
EDGES = [
    ("OMIM:1", "has_phenotype", "HP:1"),
    ("OMIM:1", "has_phenotype", "HP:2"),
    ("HP:1", "is_a", "HP:3"),
]


def kg() -> KnowledgeGraph:
    return kg_from_rows("t", NODES, EDGES)


QA = QARecord(
    id="q",
    source="generic",
    question="Tall boy with long fingers. Which eye finding?",
    options={"A": "Ectopia lentis", "B": "Cataract", "C": "Glaucoma", "D": "Ptosis"},
    answer="Ectopia lentis",
    answer_idx="A",
)
PATH = KGPath(
    start_id="HP:1",
    end_id="HP:2",
    score=0.7,
    hops=[
        Hop(
            head_id="OMIM:1",
            head_name="Marfan syndrome",
            relation="has_phenotype",
            tail_id="HP:1",
            tail_name="Arachnodactyly",
        ),
        Hop(
            head_id="OMIM:1",
            head_name="Marfan syndrome",
            relation="has_phenotype",
            tail_id="HP:2",
            tail_name="Ectopia lentis",
        ),
    ],
)


def item(reasoning: str, conclusion: str, path: KGPath = PATH) -> GeneratedQA:
    ent = EntityLink(
        kg_id="HP:1",
        name="Arachnodactyly",
        type="phenotype",
        mention="long fingers",
        start=0,
        end=1,
        score=1.0,
        method="exact",
    )
    linked = LinkedQA(qa=QA, question_entities=[ent], answer_entities=[ent])
    gen = Generation(
        reasoning=reasoning,
        conclusion=conclusion,
        generator="offline",
        model="m",
        prompt_version="v",
    )
    return GeneratedQA(
        pathed=PathedQA(linked=linked, paths=[path], n_paths_found=1), generation=gen
    )


def text(
    paths: list[str], conclusion: str, middle: str = "1. Long fingers point to Marfan syndrome."
) -> str:
    listed = "\n".join(f"{i}. {p}" for i, p in enumerate(paths, 1))
    return (
        f"Finding reasoning paths:\n{listed}\nReasoning Process:\n{middle}\n"
        f"Conclusion:\n{conclusion}"
    )


def run_rules(it: GeneratedQA):
    """The rule checks (kg_faithful, answer_match, no_leakage) over one row."""
    return VerifySuite(kg(), VerifyConfig(claims={"enabled": False})).run([it])[0]


def test_honest_row_passes_all_checks():
    concl = "The answer is A: Ectopia lentis."
    out = run_rules(item(text([format_path(PATH)], concl), concl))
    assert out.checks.passed, out.checks.reasons


def test_invented_hop_fails_kg_faithful():
    fake = (
        "Arachnodactyly <-[has_phenotype]- Marfan syndrome "
        "-[has_phenotype]-> Abnormality of the hand"
    )
    reversed_edge = "Abnormality of the hand -[is_a]-> Arachnodactyly"
    concl = "The answer is A: Ectopia lentis."
    for bad in (fake, reversed_edge):
        out = run_rules(item(text([format_path(PATH), bad], concl), concl))
        assert not out.checks["kg_faithful"]
        assert any("not in KG" in r for r in out.checks.reasons)


def test_reasoning_without_any_cited_path_fails():
    concl = "The answer is A."
    out = run_rules(item(text(["(none)"], concl), concl))
    assert not out.checks["kg_faithful"]
    assert "no KG path cited in the reasoning" in out.checks.reasons


def test_answer_match_by_letter_by_text_and_mismatch():
    agrees = Verifier.answer_agrees
    assert agrees(QA, "The answer is A: Ectopia lentis.") is None
    assert agrees(QA, "Ectopia lentis") is None
    assert agrees(QA, "ectopia lentis.") is None
    assert "gold is A" in agrees(QA, "The answer is B: Cataract.")
    assert agrees(QA, "Cataract") == "conclusion does not state the gold answer"
    assert "other option" in agrees(QA, "Either ectopia lentis or glaucoma")


def test_leakage_wording_is_caught():
    concl = "The answer is A: Ectopia lentis."
    body = text([format_path(PATH)], concl, middle="1. As the given answer says, it is the lens.")
    out = run_rules(item(body, concl))
    assert not out.checks["no_leakage"]
    assert out.checks.reasons == ["leakage wording: 'the given answer'"]
