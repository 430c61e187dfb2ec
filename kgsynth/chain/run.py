"""The MedReason chain steps around the core pipeline, each switchable in config.

Each function takes the stage records it refines and a runner (`RunsBlocks`, e.g. the LLM
client's StructuredRunner: one JSON reply per prompt, validated against the step's model, or
a StepFailure), and returns refined records. Nothing here talks HTTP, caches or retries: the
runner does that. A step that got no usable reply for a row hands back its StepFailure in
that row's place (never a guess such as "no entities" or "no context"), and the stage turns
it into a reject at stage `llm` (kgsynth.stages.llm_reject).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any, Protocol

from kgsynth.chain.steps import (
    ANSWER,
    DISAMBIGUATE,
    EXTRACT,
    JUDGE,
    PRUNE,
    REFORMULATE,
    STEPS,
    ExtractedEntities,
    Reformulation,
)
from kgsynth.linking.normalise import norm_key
from kgsynth.llm.blocks import PromptBlock
from kgsynth.llm.structured import RunsBlocks, StepFailure
from kgsynth.paths.format import format_path
from kgsynth.records import EntityLink, KGPath, LinkedQA, QARecord
from kgsynth.sections import strip_conclusion


class CandidateSource(Protocol):
    def candidate_nodes(self, text: str, k: int = 10) -> list[EntityLink]: ...


def _failure(reply: object, step: PromptBlock[Any]) -> StepFailure | None:
    """The reply as a StepFailure naming its step, or None when it is a usable reply."""
    if not isinstance(reply, StepFailure):
        return None
    return reply if reply.step else replace(reply, step=step.name)


# -- entity extraction + disambiguation ------------------------------------------------------
def extract_entities(
    items: Sequence[LinkedQA],
    runner: RunsBlocks,
    linker: CandidateSource,
    node_types: Sequence[str],
    *,
    disambiguate: bool,
    max_entities: int,
) -> list[LinkedQA | StepFailure]:
    """Add the LLM's typed entities to the scispaCy links. An entity becomes a link when the
    KG has exactly one exact candidate of a compatible type, or, with `disambiguate`, when
    the LLM picks one of the candidates; otherwise it is dropped (precision first). A row
    whose extraction or disambiguation got no usable reply is its first StepFailure."""
    prompts = [
        EXTRACT.prompt(question=it.qa.question, answer=it.qa.answer, node_types=node_types)
        for it in items
    ]
    replies = runner.run(EXTRACT, prompts)
    failed: dict[int, StepFailure] = {}
    # (item, side, mention, candidates) for every extracted entity that has candidates
    pending: list[tuple[int, str, str, list[EntityLink]]] = []
    decided: dict[tuple[int, str], list[EntityLink]] = {}
    for i, reply in enumerate(replies):
        if (f := _failure(reply, EXTRACT)) is not None:
            failed[i] = f
            continue
        if not isinstance(reply, ExtractedEntities):
            continue
        for side, ents in (("q", reply.question_entities), ("a", reply.answer_entities)):
            for ent in ents:
                cands = [
                    c
                    for c in linker.candidate_nodes(ent.name)
                    if not ent.type or not node_types or c.type == ent.type
                ] or linker.candidate_nodes(ent.name)
                exact = [c for c in cands if c.score >= 1.0]
                if len(exact) == 1:
                    decided.setdefault((i, side), []).append(exact[0])
                elif cands and disambiguate:
                    pending.append((i, side, ent.name, cands))
    if pending:
        dis_prompts = [
            DISAMBIGUATE.prompt(question=items[i].qa.question, mention=m, candidates=c)
            for i, _, m, c in pending
        ]
        for (i, side, _, cands), reply in zip(
            pending, runner.run(DISAMBIGUATE, dis_prompts), strict=True
        ):
            if (f := _failure(reply, DISAMBIGUATE)) is not None:
                failed.setdefault(i, f)
                continue
            choice = getattr(reply, "choice", None)
            hit = [c for c in cands if c.kg_id == choice]
            if hit:
                decided.setdefault((i, side), []).append(
                    hit[0].model_copy(update={"method": f"llm+{hit[0].method}"})
                )
    out: list[LinkedQA | StepFailure] = []
    for i, it in enumerate(items):
        if i in failed:
            out.append(failed[i])
            continue
        q = _merge(it.question_entities, decided.get((i, "q"), []), max_entities)
        a = _merge(it.answer_entities, decided.get((i, "a"), []), max_entities)
        out.append(it.model_copy(update={"question_entities": q, "answer_entities": a}))
    return out


def _merge(have: list[EntityLink], new: list[EntityLink], cap: int) -> list[EntityLink]:
    seen = {e.kg_id for e in have}
    merged = list(have)
    for e in new:
        if e.kg_id not in seen and len(merged) < cap:
            merged.append(e)
            seen.add(e.kg_id)
    return merged


# -- reformulation and path pruning ---------------------------------------------------------
def reformulate(qas: Sequence[QARecord], runner: RunsBlocks) -> list[Reformulation | StepFailure]:
    """Each question as description + conclusion, or the StepFailure of its reply."""
    prompts = [REFORMULATE.prompt(question=qa.question, answer=qa.answer) for qa in qas]
    return [_failure(r, REFORMULATE) or r for r in runner.run(REFORMULATE, prompts)]


def prune_paths(
    groups: Sequence[list[KGPath]],
    contexts: Sequence[Reformulation | None],
    runner: RunsBlocks,
    *,
    k: int,
    max_candidates: int = 50,
) -> list[list[KGPath] | StepFailure]:
    """Per (start, end) group: the LLM keeps up to k of at most `max_candidates` paths (the
    candidates are the hub-aware best, in order). Groups of at most k paths, groups without
    a context, and groups whose choice names no candidate keep the best k by score: ranked,
    never random. A group whose reply was unusable is its StepFailure."""
    asks = [i for i, g in enumerate(groups) if len(g) > k and contexts[i] is not None]
    prompts = []
    for i in asks:
        ctx = contexts[i]
        assert ctx is not None
        prompts.append(
            PRUNE.prompt(
                description=ctx.description,
                conclusion=ctx.conclusion,
                paths=[format_path(p) for p in groups[i][:max_candidates]],
                k=k,
            )
        )
    chosen: dict[int, list[KGPath] | StepFailure] = {}
    for i, reply in zip(asks, runner.run(PRUNE, prompts), strict=True):
        if (f := _failure(reply, PRUNE)) is not None:
            chosen[i] = f
            continue
        keep = getattr(reply, "keep", None) or []
        cands = groups[i][:max_candidates]
        picked: list[KGPath] = []
        for n in keep:
            if 1 <= n <= len(cands) and cands[n - 1] not in picked:
                picked.append(cands[n - 1])
        if picked:
            chosen[i] = picked[:k]
    return [chosen.get(i, g[:k]) for i, g in enumerate(groups)]


# -- quality filter -------------------------------------------------------------------------
@dataclass(frozen=True)
class QualityVerdict:
    passed: bool
    predicted: str
    reason: str = ""  # why it failed, when it did
    failure: StepFailure | None = None  # no usable reply from the answer or judge step


def quality_filter(
    qas: Sequence[QARecord], reasonings: Sequence[str], runner: RunsBlocks
) -> list[QualityVerdict]:
    """MedReason's filter: answer from the reasoning with its conclusion cut off, then judge
    against gold. An option letter is compared directly; free text goes to the judge step."""
    prompts = [
        ANSWER.prompt(question=qa.question, options=qa.options, reasoning=strip_conclusion(r))
        for qa, r in zip(qas, reasonings, strict=True)
    ]
    answers = runner.run(ANSWER, prompts)
    verdicts: list[QualityVerdict | None] = [None] * len(qas)
    to_judge: list[tuple[int, str]] = []
    for i, (qa, ans) in enumerate(zip(qas, answers, strict=True)):
        if (f := _failure(ans, ANSWER)) is not None:
            verdicts[i] = QualityVerdict(False, "", f"answer step failed: {f.reason}", f)
            continue
        predicted = str(getattr(ans, "answer", "")).strip()
        letter = predicted.rstrip(".):").strip().upper()
        if qa.options and letter in qa.options:
            ok = letter == qa.answer_idx
            verdicts[i] = QualityVerdict(ok, letter, "" if ok else "reasoning leads elsewhere")
        elif norm_key(predicted) == norm_key(qa.answer):
            verdicts[i] = QualityVerdict(True, predicted)
        else:
            to_judge.append((i, predicted))
    if to_judge:
        prompts = [
            JUDGE.prompt(question=qas[i].question, gold=qas[i].answer, predicted=p)
            for i, p in to_judge
        ]
        for (i, p), j in zip(to_judge, runner.run(JUDGE, prompts), strict=True):
            if (f := _failure(j, JUDGE)) is not None:
                verdicts[i] = QualityVerdict(False, p, f"judge step failed: {f.reason}", f)
                continue
            ok = bool(getattr(j, "correct", False))
            verdicts[i] = QualityVerdict(ok, p, "" if ok else "judged wrong")
    return [v for v in verdicts if v is not None]


def chain_versions(enabled: dict[str, bool]) -> dict[str, str]:
    """Step name -> template version, for the steps a build ran (recorded in every row):
    the registered steps that `enabled` (ChainConfig.enabled()) switches on."""
    return {name: STEPS[name].version for name, on in enabled.items() if on and name in STEPS}
