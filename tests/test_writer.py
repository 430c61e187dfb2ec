"""The offline differential writer and the v2 LLM prompt, on hand-built evidence.

One row modelled on MedQA test-13 (quality.md): hearing loss and gait ataxia, no fever, five
options: the best one with two supports, a distractor with a weaker support, one with no KG
link, one contradicted by a pertinent negative, one that is not a KG concept. A ten-node KG
with a case-insensitive name finder runs the real claim check on what the writer wrote.
"""

from __future__ import annotations

import polars as pl
import pytest

from kgsynth.config import ClaimCheckConfig
from kgsynth.kg import KnowledgeGraph
from kgsynth.llm.openai_backend import render_prompt
from kgsynth.llm.prompts import THINKING_PATH
from kgsynth.paths.format import format_path
from kgsynth.records import (
    EntityLink,
    EvidenceReport,
    FindingSupport,
    GeneratedQA,
    Generation,
    Hop,
    KGPath,
    LinkedQA,
    OptionEvidence,
    PathedQA,
    QARecord,
    Reject,
)
from kgsynth.sections import split_sections
from kgsynth.verify.checks import _load_phrases
from kgsynth.verify.claims import ClaimChecker, split_sentences
from kgsynth.writer import OFFLINE_MODEL, OfflineWriter, phrases

HL = ("HP:0000407", "Sensorineural hearing loss", "phenotype")
GAIT = ("HP:0002066", "Gait ataxia", "phenotype")
ATAXIA = ("HP:0001251", "Ataxia", "phenotype")
FEVER = ("HP:0001945", "Fever", "phenotype")
MENINGIOMA = ("D:1", "Meningioma", "disease")
ASTRO = ("D:2", "Astrocytoma", "disease")
RCC = ("D:3", "Renal cell carcinoma", "disease")
VASC = ("D:4", "Vascular malformation", "disease")
DEAFNESS = ("HP:0000365", "Hearing impairment", "phenotype")
NODES = [HL, GAIT, ATAXIA, FEVER, MENINGIOMA, ASTRO, RCC, VASC, DEAFNESS]
EDGES = [
    (MENINGIOMA, "has_phenotype", HL),
    (GAIT, "is_a", ATAXIA),
    (MENINGIOMA, "has_phenotype", ATAXIA),
    (ASTRO, "has_phenotype", ATAXIA),
    (VASC, "has_phenotype", FEVER),
    (HL, "is_a", DEAFNESS),
]
OPTIONS = {
    "A": "Renal cell carcinoma",
    "B": "Meningioma",
    "C": "Astrocytoma",
    "D": "Vascular malformations",
    "E": "Telangiectasias",
}


def _hop(head, rel, tail) -> Hop:
    return Hop(head_id=head[0], head_name=head[1], relation=rel, tail_id=tail[0], tail_name=tail[1])


def _link(node, mention: str, assertion: str = "present") -> EntityLink:
    return EntityLink(
        kg_id=node[0],
        name=node[1],
        type=node[2],
        mention=mention,
        start=0,
        end=len(mention),
        score=1.0,
        method="exact",
        assertion=assertion,  # type: ignore[arg-type]
    )


def _path(start, end, *hops: Hop) -> KGPath:
    return KGPath(start_id=start[0], end_id=end[0], hops=list(hops), score=float(len(hops)))


HL_MEN = _path(HL, MENINGIOMA, _hop(MENINGIOMA, "has_phenotype", HL))
GAIT_MEN = _path(
    GAIT, MENINGIOMA, _hop(GAIT, "is_a", ATAXIA), _hop(MENINGIOMA, "has_phenotype", ATAXIA)
)
GAIT_ASTRO = _path(GAIT, ASTRO, _hop(GAIT, "is_a", ATAXIA), _hop(ASTRO, "has_phenotype", ATAXIA))
FEVER_VASC = _path(FEVER, VASC, _hop(VASC, "has_phenotype", FEVER))


def _support(node, path: KGPath, weight: float, assertion: str = "present") -> FindingSupport:
    return FindingSupport(
        finding_id=node[0],
        finding_name=node[1],
        assertion=assertion,  # type: ignore[arg-type]
        weight=weight,
        path=path,
    )


def make_evidence(best: str = "B", gold: str = "B") -> EvidenceReport:
    """Gold (B) best-supported; C with a weaker support, A linked but unsupported, D
    contradicted by the denied fever, E not a KG concept. `best` may differ from gold."""
    hl, gait = _support(HL, HL_MEN, 3.0), _support(GAIT, GAIT_MEN, 1.0)
    opts = [
        OptionEvidence(letter="A", text=OPTIONS["A"], kg_ids=[RCC[0]], score=0.0),
        OptionEvidence(
            letter="B", text=OPTIONS["B"], kg_ids=[MENINGIOMA[0]], score=4.0, supports=[hl, gait]
        ),
        OptionEvidence(
            letter="C",
            text=OPTIONS["C"],
            kg_ids=[ASTRO[0]],
            score=1.0,
            supports=[_support(GAIT, GAIT_ASTRO, 1.0)],
        ),
        OptionEvidence(
            letter="D",
            text=OPTIONS["D"],
            kg_ids=[VASC[0]],
            score=-1.0,
            contradictions=[_support(FEVER, FEVER_VASC, 1.5, "absent")],
        ),
        OptionEvidence(letter="E", text=OPTIONS["E"], kg_ids=[], score=0.0),
    ]
    if best != "B":  # swap the scores so the ranking puts `best` first
        opts = [o.model_copy(update={"score": 9.0}) if o.letter == best else o for o in opts]
    ranking = [o.letter for o in sorted(opts, key=lambda o: -o.score)]
    return EvidenceReport(options=opts, ranking=ranking, best=ranking[0], gold=gold, margin=1.0)


def make_row(row_id: str = "medqa-13", best: str = "B", evidence: bool = True) -> PathedQA:
    qa = QARecord(
        id=row_id,
        source="medqa",
        question=(
            "A 20-year-old man has bilateral sensorineural hearing loss and an unsteady gait. "
            "He has no fever. Which condition is he at increased risk for?"
        ),
        options=OPTIONS,
        answer=OPTIONS["B"],
        answer_idx="B",
    )
    linked = LinkedQA(
        qa=qa,
        question_entities=[
            _link(GAIT, "unsteady gait"),
            _link(HL, "sensorineural hearing loss"),
            _link(FEVER, "fever", "absent"),
        ],
        answer_entities=[_link(MENINGIOMA, "Meningioma")],
        option_entities={
            "A": [_link(RCC, "Renal cell carcinoma")],
            "B": [_link(MENINGIOMA, "Meningioma")],
            "C": [_link(ASTRO, "Astrocytoma")],
            "D": [_link(VASC, "Vascular malformations")],
            "E": [],
        },
    )
    return PathedQA(
        linked=linked,
        paths=[HL_MEN, GAIT_MEN],
        n_paths_found=2,
        evidence=make_evidence(best) if evidence else None,
    )


def write(item: PathedQA) -> Generation:
    gen = OfflineWriter().write(item)
    assert isinstance(gen, Generation), gen
    return gen


def process(gen: Generation) -> str:
    parts = split_sections(gen.reasoning)
    assert parts is not None, gen.reasoning
    return parts[1]


# -- a tiny KG and a name finder for the claim check -------------------------------------------
def tiny_kg() -> KnowledgeGraph:
    nodes = pl.DataFrame(
        {
            "id": [n[0] for n in NODES],
            "name": [n[1] for n in NODES],
            "type": [n[2] for n in NODES],
        }
    )
    edges = pl.DataFrame(
        {
            "head": [h[0] for h, _, _ in EDGES],
            "relation": [r for _, r, _ in EDGES],
            "tail": [t[0] for _, _, t in EDGES],
        }
    )
    return KnowledgeGraph.from_frames("tiny", nodes, edges, {})


class NameFinder:
    """Links node names found in the text, any case (a MentionFinder without spaCy)."""

    def __init__(self, kg: KnowledgeGraph) -> None:
        self.kg = kg

    def link_text(self, text: str) -> list[EntityLink]:
        low = text.lower()
        out = []
        for kg_id, name, type_ in zip(self.kg.ids, self.kg.names, self.kg.types, strict=True):
            at = low.find(name.lower())
            if at >= 0:
                out.append(
                    EntityLink(
                        kg_id=kg_id,
                        name=name,
                        type=type_,
                        mention=name,
                        start=at,
                        end=at + len(name),
                        score=1.0,
                        method="exact",
                    )
                )
        return out


# -- the offline writer ------------------------------------------------------------------------
def test_three_sections_with_the_kept_paths_and_a_versioned_phrasing():
    item = make_row()
    gen = write(item)
    paths, reasoning, conclusion = split_sections(gen.reasoning)  # type: ignore[misc]
    assert [ln.split(". ", 1)[1] for ln in paths.splitlines()] == [
        format_path(p) for p in item.paths
    ]
    assert reasoning and conclusion == gen.conclusion
    assert gen.generator == "offline" and gen.model == OFFLINE_MODEL
    assert gen.prompt_version == phrases()["version"] == "differential.v4"


def test_conclusion_is_the_evidence_best():
    gen = write(make_row())
    assert gen.conclusion == "The answer is B: Meningioma."


def test_conclusion_follows_the_evidence_even_against_gold():
    item = make_row(best="C")
    assert item.evidence is not None and item.evidence.best == "C" != item.linked.qa.answer_idx
    gen = write(item)
    assert gen.conclusion == "The answer is C: Astrocytoma."
    assert "Meningioma" not in gen.conclusion and "B:" not in gen.conclusion
    assert "option C, Astrocytoma" in process(gen).splitlines()[-1]


def test_every_option_is_weighed_with_a_named_reason():
    item = make_row()
    kg = tiny_kg()
    finder = NameFinder(kg)
    sentences = split_sentences(process(write(item)))
    for letter, text in OPTIONS.items():
        reasons = [
            s
            for s in sentences
            if text.lower() in s.lower()
            and any(e.name.lower() not in text.lower() for e in finder.link_text(s))
        ]
        assert reasons, f"option {letter} ({text}) not weighed with a reason:\n{sentences}"


def test_distractor_reasons_come_from_their_evidence():
    text = process(write(make_row()))
    # C's support and what it leaves unexplained; D's contradiction; A and E: none of the
    # findings is among their recorded features (never "no KG path": a path through another
    # disease may exist, it just is no support)
    assert (
        "Astrocytoma has Ataxia" in text
        or "Ataxia is a recognised feature of Astrocytoma" in (text)
        or "Astrocytoma typically presents with Ataxia" in text
    )
    assert (
        "among its recorded features" in text
        or "recorded as a feature" in text
        or ("records none of these findings" in text)
    )
    assert "no KG path" not in text and "no KG link" not in text
    low = text.lower()
    assert "fever" in low and "vascular malformations" in low


def test_pertinent_negatives_are_said_as_negatives():
    text = process(write(make_row()))
    first = text.splitlines()[0]  # the findings step
    assert "Fever" in first
    assert any(
        neg in first for neg in ("no Fever", "Fever is absent", "Fever is explicitly denied")
    ), first
    # the most specific present finding leads
    assert first.index("Sensorineural hearing loss") < first.index("Gait ataxia")
    # a denied substance ("denies alcohol use" linked to Alcohols) is no pertinent negative
    row = make_row()
    alcohol = _link(("MESH:D000438", "Alcohols", "drug"), "alcohol", "absent")
    entities = [*row.linked.question_entities, alcohol]
    row = row.model_copy(
        update={"linked": row.linked.model_copy(update={"question_entities": entities})}
    )
    first = process(write(row)).splitlines()[0]
    assert "Fever" in first and "Alcohols" not in first


def test_history_findings_are_said_as_history():
    item = make_row()
    linked = item.linked.model_copy(
        update={
            "question_entities": [
                *item.linked.question_entities,
                _link(DEAFNESS, "deafness in his father", "family"),
            ]
        }
    )
    text = process(write(item.model_copy(update={"linked": linked})))
    assert "family history of Hearing impairment" in text or (
        "relative is affected by Hearing impairment" in text
    )


def test_same_row_same_text_and_rows_vary():
    a = [write(make_row("medqa-13")).reasoning for _ in range(2)]
    assert a[0] == a[1]
    texts = {write(make_row(f"medqa-{i}")).reasoning for i in range(12)}
    assert len(texts) >= 4  # phrasing is chosen per row id


def test_no_leakage_and_no_template_lists():
    phrases_ = _load_phrases()
    for i in range(12):
        text = write(make_row(f"r{i}")).reasoning.lower()
        assert not [p for p in phrases_ if p in " ".join(text.split())]
        assert "the question mentions" not in text


def test_the_claim_check_passes_on_the_written_text():
    kg = tiny_kg()
    checker = ClaimChecker(kg, NameFinder(kg), ClaimCheckConfig())
    for i in range(12):
        item = make_row(f"r{i}")
        gen = write(item)
        report = checker.check(GeneratedQA(pathed=item, generation=gen))
        assert report.claims >= 4
        assert report.unsupported == 0, report.unsupported_claims


@pytest.mark.parametrize("best", [None, "Z"])
def test_without_evidence_the_row_is_rejected(best):
    item = make_row(evidence=False)
    res = OfflineWriter().generate([item])
    assert isinstance(res[0], Reject) and res[0].reason == "no_evidence"
    ev = make_evidence().model_copy(update={"best": best})
    res = OfflineWriter().write(item.model_copy(update={"evidence": ev}))
    assert isinstance(res, Reject) and res.reason == "no_evidence" and res.stage == "generate"


def test_without_paths_the_row_is_rejected_first():
    res = OfflineWriter().write(make_row().model_copy(update={"paths": []}))
    assert isinstance(res, Reject) and res.reason == "no_paths"


def test_every_relation_has_clauses():
    from kgsynth.kg.vocab import RELATIONS as CANONICAL

    missing = set(CANONICAL) - set(phrases()["relations"])
    assert not missing, sorted(missing)


# -- the thinking-path prompt (v5) -------------------------------------------------------------
def test_prompt_renders_findings_evidence_and_every_option_but_not_the_answer():
    assert THINKING_PATH == "thinking_path.v5"
    prompt = render_prompt(make_row())
    for letter, text in OPTIONS.items():
        assert f"\n{letter}. {text}\n" in prompt
        assert f"Option {letter} ({text})" in prompt
    assert "- Sensorineural hearing loss\n- Gait ataxia\n" in prompt  # most specific first
    assert "- no Fever\n" in prompt
    assert f"+ supports: Gait ataxia ({format_path(GAIT_ASTRO)})" in prompt
    assert f"- against: Fever is absent, but {format_path(FEVER_VASC)}" in prompt
    # v5: an option without clinical support is not said to have "no KG link" (a longer
    # path through another disease may exist); one without a KG concept is said to have none
    assert "Option A (Renal cell carcinoma), evidence score 0.0:\n  (the KG records none" in prompt
    assert "no KG link" not in prompt
    assert "Option B (Meningioma), evidence score 4.0:" in prompt  # the ranking the KG gives
    assert "not a KG concept" in prompt  # E
    kept = prompt.split("Knowledge-graph paths from", 1)[1].split("\nInstructions:", 1)[0]
    assert [ln.split(". ", 1)[1] for ln in kept.splitlines()[2:] if ln] == [
        format_path(p) for p in make_row().paths
    ]
    # the model decides from the evidence: nothing in the prompt says which option is gold
    assert "Reference answer" not in prompt and "reference" not in prompt.lower()


def test_prompt_without_evidence_still_renders():
    prompt = render_prompt(make_row(evidence=False))
    assert "(no per-option evidence for this question)" in prompt
    assert "A. Renal cell carcinoma" in prompt


def test_a_row_without_options_concludes_with_its_one_candidate():
    item = make_row()
    qa = item.linked.qa.model_copy(update={"options": {}, "answer_idx": None})
    linked = item.linked.model_copy(update={"qa": qa, "option_entities": {}})
    best = next(o for o in make_evidence().options if o.letter == "B")
    ev = EvidenceReport(
        options=[best.model_copy(update={"letter": ""})],
        ranking=[""],
        best="",
        gold="",
        margin=None,
    )
    gen = write(item.model_copy(update={"linked": linked, "evidence": ev}))
    assert gen.conclusion == "The answer is Meningioma."
    assert "Sensorineural hearing loss" in process(gen)


def test_the_options_addressed_check_passes():
    from kgsynth.verify.differential import unaddressed

    for i in range(12):
        item = make_row(f"r{i}", best="C" if i % 3 == 0 else "B")
        gen = write(item)
        assert unaddressed(GeneratedQA(pathed=item, generation=gen)) == [], gen.reasoning


def test_a_long_distractor_support_is_told_by_its_stepping_stones():
    long = _path(
        GAIT,
        ASTRO,
        _hop(GAIT, "is_a", ATAXIA),
        _hop(MENINGIOMA, "has_phenotype", ATAXIA),
        _hop(MENINGIOMA, "resembles", ASTRO),
    )
    item = make_row()
    ev = item.evidence
    assert ev is not None
    opts = [
        o.model_copy(update={"supports": [_support(GAIT, long, 1.0)]}) if o.letter == "C" else o
        for o in ev.options
    ]
    text = process(
        write(item.model_copy(update={"evidence": ev.model_copy(update={"options": opts})}))
    )
    step = next(ln for ln in text.splitlines() if "Astrocytoma" in ln)
    assert "through Ataxia and Meningioma" in step and "Gait ataxia" in step, step


def test_option_text_is_cleaned_of_stray_breaks_and_quotes():
    item = make_row()
    qa = item.linked.qa
    options = qa.options | {"E": 'Telangiectasias\n"'}
    linked = item.linked.model_copy(update={"qa": qa.model_copy(update={"options": options})})
    text = write(item.model_copy(update={"linked": linked})).reasoning
    assert "option e, telangiectasias" in text.lower() and '"' not in text


def test_a_distractor_is_set_aside_by_what_it_would_usually_show():
    """An option's usual features that the case lacks, or a drug's uses, are said as the
    reason to set it aside; an option without such facts gets no such sentence."""
    from kgsynth.records import OptionFact

    item = make_row()
    ev = item.evidence
    assert ev is not None
    facts = {
        "A": [
            OptionFact(relation="has_phenotype", id="HP:1", name="Hematuria", weight=0.6),
            OptionFact(relation="has_phenotype", id="HP:2", name="Flank mass", weight=0.5),
        ],
        "C": [OptionFact(relation="has_phenotype", id="HP:3", name="Headache", weight=0.4)],
        "D": [OptionFact(relation="used_for", id="X:1", name="Epilepsy", weight=0.4)],
    }
    opts = [o.model_copy(update={"unmatched": facts.get(o.letter, [])}) for o in ev.options]
    item = item.model_copy(update={"evidence": ev.model_copy(update={"options": opts})})
    steps = process(write(item)).splitlines()
    by_option = {x: next(s for s in steps if f"option {x}," in s.lower()) for x in "acde"}
    assert "Hematuria or Flank mass" in by_option["a"]
    assert "neither" in by_option["a"]
    assert "Headache" in by_option["c"] and "not" in by_option["c"].split("Headache")[1]
    assert "Epilepsy" in by_option["d"]
    assert "usually" not in by_option["e"] and "used for" not in by_option["e"]
    # the leading option is never set aside
    best = next(s for s in steps if "option b," in s.lower())
    assert "usually" not in best


def test_prompt_gives_each_option_what_it_would_usually_show():
    """thinking_path.v4+: the facts a distractor can be set aside by reach the LLM too."""
    from kgsynth.records import OptionFact

    item = make_row()
    ev = item.evidence
    assert ev is not None
    fact = OptionFact(relation="has_phenotype", id="HP:1", name="Hematuria", weight=0.6)
    use = OptionFact(relation="used_for", id="X:1", name="Epilepsy", weight=0.4)
    opts = [
        o.model_copy(update={"unmatched": {"A": [fact], "C": [use]}.get(o.letter, [])})
        for o in ev.options
    ]
    item = item.model_copy(update={"evidence": ev.model_copy(update={"options": opts})})
    prompt = render_prompt(item)
    a = prompt.split("Option A (", 1)[1].split("Option B (", 1)[0]
    assert "- against: it would usually show Hematuria, which is not among the findings" in a
    c = prompt.split("Option C (", 1)[1].split("Option D (", 1)[0]
    assert "- against: it is used for Epilepsy, which is not among the findings" in c
    assert "would usually show" not in prompt.split("Option B (", 1)[1].split("Option C (", 1)[0]


def test_an_option_with_no_kg_concept_is_said_to_have_none():
    # E links to nothing: the KG neither supports nor excludes it; A links but nothing
    # supports it: none of the findings is among its recorded features
    text = process(write(make_row()))
    (e_line,) = [ln for ln in text.splitlines() if "Telangiectasias" in ln]
    assert "no concept the KG holds" in e_line or "The KG has no concept for option E" in e_line
    assert "recorded" not in e_line
    (a_line,) = [ln for ln in text.splitlines() if "Renal cell carcinoma" in ln]
    assert "recorded" in a_line or "records none" in a_line


def test_a_mention_no_evidence_used_is_no_key_finding():
    row = make_row()
    generic = ("MONDO:0000001", "Disease", "disease")
    entities = [*row.linked.question_entities, _link(generic, "condition")]
    row = row.model_copy(
        update={"linked": row.linked.model_copy(update={"question_entities": entities})}
    )
    key = process(write(row)).splitlines()[0]
    assert "Sensorineural hearing loss" in key and "Disease" not in key


def test_distractors_the_kg_says_nothing_more_of_share_one_sentence():
    """Two linked options no finding supports (and without features the case lacks) are set
    aside in one sentence, and so are two options without a KG concept: the differential
    does not repeat "the KG records none of these findings" option by option."""
    item = make_row()
    ev = item.evidence
    assert ev is not None
    # C and D lose their support and contradiction; A and C are bare, D and E unlinked
    opts = []
    for o in ev.options:
        if o.letter == "C":
            o = o.model_copy(update={"supports": [], "score": 0.0})
        if o.letter == "D":
            o = o.model_copy(update={"contradictions": [], "kg_ids": [], "score": 0.0})
        opts.append(o)
    item = item.model_copy(update={"evidence": ev.model_copy(update={"options": opts})})
    text = process(write(item))
    lines = [ln for ln in text.splitlines() if ln[:1].isdigit()]
    (bare,) = [ln for ln in lines if "Renal cell carcinoma" in ln]
    assert "Astrocytoma" in bare and "options A (Renal cell carcinoma) and C (Astrocytoma)" in bare
    (unlinked,) = [ln for ln in lines if "Telangiectasias" in ln]
    assert "ptions D (Vascular malformations) and E (Telangiectasias)" in unlinked
    assert "neither supports nor excludes them" in unlinked or "nothing for or against" in unlinked
    # every option still has a sentence that names it with a KG reason
    from kgsynth.verify.differential import unaddressed

    assert unaddressed(GeneratedQA(pathed=item, generation=write(item))) == []


def test_the_key_finding_is_the_clue_the_best_option_rests_on():
    # B rests on hearing loss and gait; C on gait. Give a distractor the heaviest finding:
    # the key finding is still the best option's clue
    item = make_row()
    ev = item.evidence
    assert ev is not None
    heavy = _support(FEVER, FEVER_VASC, 9.0)
    opts = [
        o.model_copy(update={"supports": [heavy], "contradictions": []}) if o.letter == "D" else o
        for o in ev.options
    ]
    q = item.linked.question_entities
    fever_present = [
        e.model_copy(update={"assertion": "present"}) if e.kg_id == FEVER[0] else e for e in q
    ]
    linked = item.linked.model_copy(update={"question_entities": fever_present})
    item = item.model_copy(
        update={"linked": linked, "evidence": ev.model_copy(update={"options": opts})}
    )
    key = process(write(item)).splitlines()
    first = next(ln for ln in key if ln.startswith("1. "))
    assert "Sensorineural hearing loss" in first.split(".")[1]
