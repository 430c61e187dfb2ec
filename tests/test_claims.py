"""Claim-level faithfulness: sentences, which part of the reasoning is read, and support on
the HPO KG with the real Linker (hand-written claims, true and false), plus the rule on a
four-node KG with a stub mention finder."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

from kgsynth.config import LinkingConfig
from kgsynth.kg import KnowledgeGraph
from kgsynth.linking.linker import Linker
from kgsynth.records import (
    EntityLink,
    GeneratedQA,
    Generation,
    LinkedQA,
    PathedQA,
    QARecord,
)
from kgsynth.verify.claims import (
    ClaimCheckConfig,
    ClaimChecker,
    MentionFinder,
    claim_text,
    split_sentences,
)

pytestmark = pytest.mark.filterwarnings("ignore:.*W036:UserWarning")

TRUE_CLAIM = "Marfan syndrome has arachnodactyly among its features."
FALSE_PAIRING = "Arachnodactyly is a typical feature of sickle cell anemia."
HUB_ONLY = "Marfan syndrome is caused by mutations in HBB."  # 2 hops, via an inheritance hub


@pytest.fixture(scope="module")
def linker(hpo_kg, cache_dir: Path) -> Linker:
    return Linker(hpo_kg, LinkingConfig(), cache_dir)


@pytest.fixture(scope="module")
def checker(hpo_kg, linker: Linker) -> ClaimChecker:
    return ClaimChecker(hpo_kg, linker, ClaimCheckConfig())


def reasoning(*steps: str, conclusion: str = "The answer is A: Ectopia lentis.") -> str:
    numbered = "\n".join(f"{i}. {s}" for i, s in enumerate(steps, 1))
    return (
        "Finding reasoning paths:\n1. Arachnodactyly <-[has_phenotype]- Marfan syndrome\n"
        f"Reasoning Process:\n{numbered}\nConclusion:\n{conclusion}"
    )


# -- sentences and the text read -------------------------------------------------------------
def test_split_sentences() -> None:
    text = (
        "1. The boy is tall, e.g. 2.1 m vs. his peers. Lens dislocation follows!\n"
        "2) Dr. Smith notes (in 2.5% of cases) a murmur. \n- Item two\n\n* Item three."
    )
    assert split_sentences(text) == [
        "The boy is tall, e.g. 2.1 m vs. his peers.",
        "Lens dislocation follows!",
        "Dr. Smith notes (in 2.5% of cases) a murmur.",
        "Item two",
        "Item three.",
    ]


def test_claim_text_reads_the_reasoning_process_only() -> None:
    text = reasoning("Step one.", "Step two.", conclusion="The answer is A.")
    assert claim_text(text) == "1. Step one.\n2. Step two."
    assert claim_text(text, include_conclusion=True).endswith("The answer is A.")
    # no headers: the whole text, less the conclusion
    assert claim_text("One. Two.\nConclusion: three.") == "One. Two."


# -- HPO KG, real linker -----------------------------------------------------------------------
def test_true_claim_is_supported_by_an_edge(checker: ClaimChecker, hpo_kg) -> None:
    _, claims = checker.claims(TRUE_CLAIM)
    assert len(claims) == 1 and claims[0].supported
    names = [hpo_kg.names[hpo_kg.index_of(i)] for i in claims[0].path]
    assert sorted(names) == ["Arachnodactyly", "Marfan syndrome"]  # one hop: an edge


def test_false_pairing_is_unsupported(checker: ClaimChecker, hpo_kg) -> None:
    _, claims = checker.claims(FALSE_PAIRING)
    assert len(claims) == 1 and not claims[0].supported
    names = {hpo_kg.names[hpo_kg.index_of(i)] for i in claims[0].entities}
    assert names == {"Arachnodactyly", "Sickle cell anemia"}


def test_hub_paths_do_not_count_unless_allowed(hpo_kg, linker: Linker) -> None:
    strict = ClaimChecker(hpo_kg, linker, ClaimCheckConfig())
    assert not strict.claims(HUB_ONLY)[1][0].supported
    loose = ClaimChecker(hpo_kg, linker, ClaimCheckConfig(max_intermediate_degree=None))
    (claim,) = loose.claims(HUB_ONLY)[1]
    assert claim.supported and len(claim.path) == 3
    hub = hpo_kg.index_of(claim.path[1])
    assert hpo_kg.names[hub] == "Autosomal dominant inheritance" and hpo_kg.degree[hub] > 1000


def test_row_counts_and_threshold(hpo_kg, linker: Linker) -> None:
    text = reasoning(
        "The question points to arachnodactyly.",  # one entity: not a claim
        TRUE_CLAIM,
        "Ectopia lentis is typical of Marfan syndrome.",
        FALSE_PAIRING,
        conclusion="Sickle cell anemia explains the hemarthrosis.",  # not read by default
    )
    report = ClaimChecker(hpo_kg, linker, ClaimCheckConfig()).check(text)
    assert (report.sentences, report.claims) == (4, 3)
    assert (report.supported, report.unsupported) == (2, 1)
    assert report.unsupported_claims == [FALSE_PAIRING]
    assert report.unsupported_ratio == pytest.approx(1 / 3) and not report.passed
    lenient = ClaimCheckConfig(max_unsupported_ratio=0.5)
    assert ClaimChecker(hpo_kg, linker, lenient).check(text).passed
    with_conclusion = ClaimCheckConfig(include_conclusion=True)
    report = ClaimChecker(hpo_kg, linker, with_conclusion).check(text)
    assert report.sentences == 5 and report.claims >= 3


def test_generated_row_is_read_from_its_reasoning(checker: ClaimChecker) -> None:
    qa = QARecord(id="q", source="medqa", question="q?", answer="Ectopia lentis")
    item = GeneratedQA(
        pathed=PathedQA(
            linked=LinkedQA(qa=qa, question_entities=[], answer_entities=[]),
            paths=[],
            n_paths_found=0,
        ),
        generation=Generation(
            reasoning=reasoning(TRUE_CLAIM),
            conclusion="The answer is A: Ectopia lentis.",
            generator="offline",
            model="m",
            prompt_version="v",
        ),
    )
    report = checker.check(item)
    assert (report.claims, report.supported, report.passed) == (1, 1, True)


# -- the rule on a tiny KG ---------------------------------------------------------------------
class NameFinder:
    """Links exact node names found in the text (a MentionFinder without spaCy)."""

    def __init__(self, kg: KnowledgeGraph) -> None:
        self.kg = kg

    def link_text(self, text: str) -> list[EntityLink]:
        out = []
        for kg_id, name, type_ in zip(self.kg.ids, self.kg.names, self.kg.types, strict=True):
            at = text.find(name)
            if at >= 0:
                link = EntityLink(
                    kg_id=kg_id,
                    name=name,
                    type=type_,
                    mention=name,
                    start=at,
                    end=at + len(name),
                    score=1.0,
                    method="exact",
                )
                out.append(link)
        return out


def tiny_kg() -> KnowledgeGraph:
    # Marfan - Arachnodactyly - Abnormality of the hand - Clubbing (a chain of three hops)
    nodes = pl.DataFrame(
        {
            "id": ["D:1", "P:1", "P:2", "P:3"],
            "name": ["Marfan", "Arachnodactyly", "Hand anomaly", "Clubbing"],
            "type": ["disease", "phenotype", "phenotype", "phenotype"],
        }
    )
    edges = pl.DataFrame(
        {
            "head": ["D:1", "P:1", "P:3"],
            "relation": ["has_phenotype", "is_a", "is_a"],
            "tail": ["P:1", "P:2", "P:2"],
        }
    )
    return KnowledgeGraph.from_frames("tiny", nodes, edges, {})


@pytest.mark.parametrize(
    ("sentence", "hops", "supported"),
    [
        ("Marfan shows Arachnodactyly.", 1, True),  # an edge
        ("Marfan shows Hand anomaly.", 1, False),
        ("Marfan shows Hand anomaly.", 2, True),  # a two-hop path
        ("Marfan shows Clubbing.", 2, False),
        ("Marfan shows Clubbing.", 3, True),
        ("Clubbing and Marfan and Arachnodactyly.", 1, True),  # any pair will do
    ],
)
def test_support_is_an_edge_or_a_short_path(sentence: str, hops: int, supported: bool) -> None:
    kg = tiny_kg()
    finder: MentionFinder = NameFinder(kg)
    checker = ClaimChecker(kg, finder, ClaimCheckConfig(max_hops=hops))
    (claim,) = checker.claims(sentence)[1]
    assert claim.supported is supported
    assert len(claim.path) - 1 <= hops if supported else claim.path == []


def test_a_repeated_entity_is_not_a_pair() -> None:
    kg = tiny_kg()
    checker = ClaimChecker(kg, NameFinder(kg), ClaimCheckConfig())
    assert checker.claims("Marfan, i.e. Marfan again.")[1] == []
    report = checker.check("No entities at all. Nor here.")
    assert (report.sentences, report.claims, report.passed) == (2, 0, True)


def test_an_initial_does_not_end_a_sentence() -> None:
    from kgsynth.verify.claims import split_sentences

    text = "Option C, H. pylori infection, is not reached from Fever. Nothing else is."
    assert split_sentences(text) == [
        "Option C, H. pylori infection, is not reached from Fever.",
        "Nothing else is.",
    ]
