"""The MedReason chain's logic on the HPO KG, with a scripted runner in place of the LLM.

The runner here answers each step from a table, so these tests pin what the chain does with
replies (which links it adds, which paths it keeps, which rows the filter passes). The same
steps over real HTTP are covered where the client is tested.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence

import pytest
from pydantic import ValidationError

from kgsynth.chain.run import (
    chain_versions,
    extract_entities,
    prune_paths,
    quality_filter,
    reformulate,
)
from kgsynth.chain.steps import STEPS, Reformulation, add_step, register_step
from kgsynth.config import ChainConfig, LinkingConfig
from kgsynth.linking.linker import Linker
from kgsynth.llm import blocks
from kgsynth.llm.blocks import PromptBlock
from kgsynth.llm.structured import StepFailure
from kgsynth.records import Hop, KGPath, LinkedQA, QARecord
from kgsynth.sections import conclusion_body, strip_conclusion


class ScriptedRunner:
    """Replies per step from a function of the prompt; records what was asked."""

    def __init__(self, replies: dict[str, Callable[[str], str]]) -> None:
        self.replies = replies
        self.asked: list[tuple[str, str]] = []

    def run(self, step: PromptBlock, prompts: Sequence[str]) -> list:
        out = []
        for p in prompts:
            self.asked.append((step.name, p))
            raw = self.replies[step.name](p)
            try:
                out.append(step.reply.model_validate_json(raw))
            except ValidationError as e:
                out.append(StepFailure("schema_mismatch", str(e)[:80], raw))
        return out


@pytest.fixture(scope="module")
def linker(hpo_kg, cache_dir):
    return Linker(hpo_kg, LinkingConfig(), cache_dir)


def qa(question: str, answer: str, options: dict[str, str] | None = None) -> QARecord:
    opts = options or {}
    idx = next((k for k, v in opts.items() if v == answer), None)
    return QARecord(
        id="q", source="generic", question=question, options=opts, answer=answer, answer_idx=idx
    )


def test_every_step_renders_its_versioned_template():
    for name, step in STEPS.items():
        assert step.version.startswith(name + ".v")
    text = STEPS["prune_paths"].prompt(description="d", conclusion="c", paths=["A -[r]-> B"], k=2)
    assert "1. A -[r]-> B" in text and "at most 2" in text


def test_steps_are_registered_in_build_order_and_the_judge_is_shared():
    assert list(STEPS) == [
        "extract_entities",
        "disambiguate",
        "reformulate",
        "prune_paths",
        "answer_from_reasoning",
        "judge",
    ]
    assert STEPS["judge"] is blocks.JUDGE  # verify's answer match asks the same block
    # every step ChainConfig can switch is registered, and nothing else is recorded
    assert set(ChainConfig().enabled()) == set(STEPS)
    assert chain_versions(ChainConfig(quality_filter=False).enabled()) == {
        "extract_entities": "extract_entities.v1",
        "disambiguate": "disambiguate.v1",
        "reformulate": "reformulate.v1",
        "prune_paths": "prune_paths.v1",
    }


def test_registering_a_step_checks_its_name_and_template():
    with pytest.raises(ValueError, match="registered twice"):
        register_step("judge", "judge.v1", blocks.Judgement)
    with pytest.raises(ValueError, match="<name>.vN"):
        add_step(PromptBlock("new_step", "judge.v1", blocks.Judgement))
    with pytest.raises(FileNotFoundError, match="no_such_step.v1"):
        register_step("no_such_step", "no_such_step.v1", blocks.Judgement)
    assert "new_step" not in STEPS and "no_such_step" not in STEPS


def test_extraction_adds_exact_and_disambiguated_links_only(linker):
    item = LinkedQA(
        qa=qa("A tall boy has wide pulse pressure and lens dislocation.", "Marfan syndrome"),
        question_entities=[],
        answer_entities=[],
    )
    extracted = {
        "question_entities": [
            {"name": "Wide pulse pressure", "type": "phenotype"},
            {"name": "Ectopia lentis", "type": "phenotype"},
            {"name": "tallness of stature in teenagers", "type": "phenotype"},
        ],
        "answer_entities": [{"name": "Marfan syndrome", "type": "disease"}],
    }

    def disambiguate(prompt: str) -> str:
        if '"Wide pulse pressure"' in prompt:
            return json.dumps({"choice": "HP:0030852"})  # High pulse pressure
        assert '"Marfan syndrome"' in prompt  # two diseases share the name
        return json.dumps({"choice": "OMIM:154700"})

    runner = ScriptedRunner(
        {"extract_entities": lambda p: json.dumps(extracted), "disambiguate": disambiguate}
    )
    [out] = extract_entities(
        [item],
        runner,
        linker,
        ["phenotype", "disease", "gene"],
        disambiguate=True,
        max_entities=8,
    )
    assert {e.kg_id for e in out.question_entities} == {"HP:0030852", "HP:0001083"}
    assert [e.kg_id for e in out.answer_entities] == ["OMIM:154700"]
    assert {s for s, _ in runner.asked} == {"extract_entities", "disambiguate"}
    # without disambiguation, ambiguous or fuzzy entities are dropped, exact ones kept
    [plain] = extract_entities(
        [item],
        runner,
        linker,
        ["phenotype", "disease", "gene"],
        disambiguate=False,
        max_entities=8,
    )
    assert [e.kg_id for e in plain.question_entities] == ["HP:0001083"]
    assert plain.answer_entities == []


def test_disambiguation_can_choose_none(linker):
    item = LinkedQA(
        qa=qa("Which deficiency?", "Vitamin K deficiency"), question_entities=[], answer_entities=[]
    )
    runner = ScriptedRunner(
        {
            "extract_entities": lambda p: json.dumps(
                {"answer_entities": [{"name": "Vitamin K deficiency", "type": "phenotype"}]}
            ),
            "disambiguate": lambda p: json.dumps({"choice": None}),
        }
    )
    [out] = extract_entities(
        [item], runner, linker, ["phenotype"], disambiguate=True, max_entities=8
    )
    assert out.answer_entities == []
    # a choice that is not among the candidates is ignored, not trusted
    runner.replies["disambiguate"] = lambda p: json.dumps({"choice": "HP:0000001"})
    [out] = extract_entities(
        [item], runner, linker, ["phenotype"], disambiguate=True, max_entities=8
    )
    assert out.answer_entities == []


def path(i: int, score: float) -> KGPath:
    hop = Hop(
        head_id=f"D{i}", head_name=f"d{i}", relation="has_phenotype", tail_id="P", tail_name="p"
    )
    return KGPath(start_id="P", end_id=f"D{i}", hops=[hop], score=score)


def test_prune_keeps_the_llm_choice_and_falls_back_to_ranked_order():
    big = [path(i, float(i)) for i in range(60)]
    small = [path(i, float(i)) for i in range(2)]
    ctx = Reformulation(description="d", conclusion="c")
    seen: list[str] = []

    def reply(prompt: str) -> str:
        seen.append(prompt)
        return json.dumps({"keep": [7, 7, 99, 3]})  # duplicate and out-of-range ignored

    runner = ScriptedRunner({"prune_paths": reply})
    kept = prune_paths([big, small, big], [ctx, ctx, None], runner, k=3)
    assert kept[0] == [big[6], big[2]]
    assert kept[1] == small  # at most k: nothing to ask
    assert kept[2] == big[:3]  # no context: best k by score, never random
    assert len(seen) == 1 and "50. " in seen[0] and "51. " not in seen[0]
    # an unusable reply is no choice: the group's failure comes back (its row leaves at
    # stage llm), not a silent fallback
    runner.replies["prune_paths"] = lambda p: "not json"
    [failed] = prune_paths([big], [ctx], runner, k=3)
    assert isinstance(failed, StepFailure) and failed.step == "prune_paths"


def test_reformulate_returns_the_failure_of_a_bad_reply():
    runner = ScriptedRunner({"reformulate": lambda p: json.dumps({"description": "x"})})
    [failed] = reformulate([qa("q", "a")], runner)
    assert isinstance(failed, StepFailure) and failed.reason == "schema_mismatch"
    assert failed.step == "reformulate"
    runner.replies["reformulate"] = lambda p: json.dumps({"description": "x", "conclusion": "y"})
    assert reformulate([qa("q", "a")], runner) == [Reformulation(description="x", conclusion="y")]


def test_quality_filter_compares_letters_and_judges_free_text():
    opts = {"A": "Marfan syndrome", "B": "Homocystinuria"}
    rows = [
        qa("q1", "Marfan syndrome", opts),
        qa("q2", "Marfan syndrome", opts),
        qa("q3", "Marfan syndrome"),
        qa("q4", "Marfan syndrome"),
    ]
    reasoning = "Reasoning Process:\n1. step\nConclusion:\nThe answer is A: Marfan syndrome."
    answers = iter(["A", "B.", "marfan syndrome", "MFS"])
    asked: list[str] = []

    def answer(prompt: str) -> str:
        asked.append(prompt)
        return json.dumps({"answer": next(answers)})

    runner = ScriptedRunner(
        {"answer_from_reasoning": answer, "judge": lambda p: json.dumps({"correct": True})}
    )
    verdicts = quality_filter(rows, [reasoning] * 4, runner)
    assert [v.passed for v in verdicts] == [True, False, True, True]
    assert verdicts[1].reason == "reasoning leads elsewhere"
    assert all("The answer is" not in p for p in asked)  # the conclusion was cut off
    assert [s for s, _ in runner.asked].count("judge") == 1  # only "MFS" needed a judge


def test_strip_conclusion():
    assert strip_conclusion("a\nReasoning Process:\n1. x\nConclusion:\nThe answer is A.") == (
        "a\nReasoning Process:\n1. x"
    )


@pytest.mark.parametrize(
    "text", ["The answer is A.", "  Conclusion: The answer is A. ", "CONCLUSION:\nThe answer is A."]
)
def test_conclusion_body(text):
    assert conclusion_body(text) == "The answer is A."


def test_a_step_without_a_usable_reply_hands_back_its_failure(linker):
    """Never a guess: a wrong-shape extraction is not "no entities", a failed answer step
    is no verdict on the reasoning. The stages reject such rows at stage llm."""
    item = LinkedQA(
        qa=qa("A boy has seizures.", "Epilepsy"), question_entities=[], answer_entities=[]
    )
    runner = ScriptedRunner(
        {
            "extract_entities": lambda p: json.dumps({"entities": [{"name": "Seizure"}]}),
            "answer_from_reasoning": lambda p: "not json",
        }
    )
    [out] = extract_entities(
        [item], runner, linker, ["phenotype"], disambiguate=False, max_entities=8
    )
    assert isinstance(out, StepFailure) and out.reason == "schema_mismatch"
    assert out.step == "extract_entities"
    [verdict] = quality_filter([item.qa], ["Reasoning Process:\n1. x\nConclusion:\nA"], runner)
    assert not verdict.passed and verdict.failure is not None
    assert verdict.failure.step == "answer_from_reasoning"
