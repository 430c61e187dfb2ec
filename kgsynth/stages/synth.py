"""The stages of KG-first synthesis (flows/synth.py): attempts -> chains -> posed chains ->
questions with a thinking trace -> verified rows.

- SampleStage: one chain walked from a rare start entity per attempt (seeded per attempt);
- PoseStage: the answer must be the one node of its type the chain reaches and the chain
  no repeat of an earlier one; distractors of the answer's type that fail the chain
  (rejects at `unique` or `distractors`);
- WriteStage: the question, offline from templates or over the LLM endpoint, and the trace
  (an attempt the endpoint gave no reply for leaves at stage `llm`);
- SynthVerifyStage: the build's checks plus the chain checks, in one Checks.

`settle` keeps the first n rows in attempt order and counts the attempts up to the n-th
row's, so the exported rows do not depend on how the attempts were split into rounds.
"""

from __future__ import annotations

import math
from collections import Counter

import numpy as np

from kgsynth import resources
from kgsynth.config import LinkingConfig
from kgsynth.kg.graph import KnowledgeGraph
from kgsynth.llm.client import Request
from kgsynth.llm.prompts import KG_QUESTION
from kgsynth.progress import progress
from kgsynth.records import GeneratedQA, PathedQA, QARecord, Reject, VerifiedQA
from kgsynth.stages import Stage, StageBase, StageContext, StageResult, reject
from kgsynth.stages.generate import GeneratorInfo
from kgsynth.stages.verify import split_verified
from kgsynth.synth.checks import ChainChecks
from kgsynth.synth.config import SynthConfig
from kgsynth.synth.entities import linked_qa
from kgsynth.synth.pose import ChainKey, ChainPoser
from kgsynth.synth.question import (
    Complete,
    ReplyError,
    llm_question,
    llm_request,
    offline_question,
    parse_question_reply,
    question_from_reply,
)
from kgsynth.synth.reasoning import ChainReasoner
from kgsynth.synth.records import Chain, PosedChain, SynthQA
from kgsynth.synth.sample import WRITE, ChainSampler, Plan, attempt_id, attempt_rng, build_plans
from kgsynth.verify.suite import VerifySuite
from kgsynth.writer.offline import OFFLINE_MODEL

SynthContext = StageContext[SynthConfig]


class SampleStage(StageBase):
    stage = Stage.SAMPLE

    def run(self, batch: list[int], ctx: SynthContext) -> StageResult[Chain]:
        sampler = ChainSampler(ctx.graph, ctx.cfg)
        out = StageResult[Chain](kept=[])
        for attempt in batch:
            res = sampler(attempt)
            (out.kept if isinstance(res, Chain) else out.rejects).append(res)  # type: ignore[arg-type]
        return out


class PoseStage(StageBase):
    """Uniqueness, repeats and distractors, in attempt order; remembers every chain it
    posed, so a later round's repeat of it is rejected too."""

    stage = Stage.UNIQUE  # its rejects say `unique` or `distractors`

    def __init__(self) -> None:
        self.seen: set[ChainKey] = set()

    def run(self, batch: list[Chain], ctx: SynthContext) -> StageResult[PosedChain]:
        poser = ChainPoser(ctx.graph, ctx.cfg)
        out = StageResult[PosedChain](kept=[])
        for chain in batch:
            res = poser(chain, self.seen)
            (out.kept if isinstance(res, PosedChain) else out.rejects).append(res)  # type: ignore[arg-type]
        return out


class WriteStage(StageBase):
    """Each posed chain as a question and its thinking trace. With the `openai` writer the
    questions go over the run's client (batched, cached) unless `complete` (prompt -> reply
    text) is given; the offline writer needs neither."""

    stage = Stage.GENERATE

    def __init__(self, complete: Complete | None = None) -> None:
        self.complete = complete
        self.reasoner = ChainReasoner()

    def run(self, batch: list[PosedChain], ctx: SynthContext) -> StageResult[SynthQA]:
        cfg = ctx.cfg
        version = f"{KG_QUESTION}+{self.reasoner.prompt_version}"
        model = cfg.llm.model if cfg.generator == "openai" else OFFLINE_MODEL
        info = GeneratorInfo(name=cfg.generator, model=model, prompt_version=version)
        if ctx.client is not None:
            questions = self._llm_questions(batch, ctx)
        else:
            questions = [self._write(p, cfg.seed) for p in batch]
        out = StageResult[SynthQA](kept=[], info=info)
        for p, qa in zip(batch, questions, strict=True):
            if isinstance(qa, Reject):
                out.rejects.append(qa)
                continue
            gen = self.reasoner(
                p, qa, generator=info.name, model=info.model, prompt_version=version
            )
            pathed = PathedQA(linked=linked_qa(p.chain, qa), paths=[p.chain.path], n_paths_found=1)
            out.kept.append(SynthQA(posed=p, generated=GeneratedQA(pathed=pathed, generation=gen)))
        return out

    def _write(self, p: PosedChain, seed: int) -> QARecord | Reject:
        rng = attempt_rng(seed, p.chain.attempt, WRITE)
        if self.complete is None:
            return offline_question(p, rng)
        return llm_question(p, self.complete, rng)

    def _llm_questions(self, batch: list[PosedChain], ctx: SynthContext) -> list[QARecord | Reject]:
        """Every chain's question prompt in one batch over the run's client (concurrent,
        cached, retried), each reply checked against the chain by question_from_reply."""
        assert ctx.client is not None
        asks = [llm_request(p, attempt_rng(ctx.cfg.seed, p.chain.attempt, WRITE)) for p in batch]
        requests = [
            Request.user(
                prompt,
                step="kg_question",
                prompt_version=KG_QUESTION,
                tag=p.chain.id,
                accept=_parses,
            )
            for p, (prompt, _, _) in zip(batch, asks, strict=True)
        ]
        out: list[QARecord | Reject] = []
        for p, (_, options, _), res in zip(
            batch, asks, ctx.client.run_batch(requests), strict=True
        ):
            if res.error is not None or res.text is None:
                reason, detail = res.error or "llm_error", f"kg_question: {res.detail}"
                out.append(reject(None, Stage.LLM, reason, detail, id=p.chain.id))
            else:
                out.append(question_from_reply(p, res.text, options))
        return out


def _parses(text: str) -> bool:
    """Only a reply that parses as the question JSON is cached; one that parses but does not
    fit its chain (llm_reply_mismatch) is the model's answer, kept like any verdict."""
    try:
        parse_question_reply(text)
    except ReplyError:
        return False
    return True


class SynthVerifyStage(StageBase):
    """The build's checks (kgsynth.verify.suite) plus the chain checks, in the same Checks."""

    stage = Stage.VERIFY

    def run(self, batch: list[SynthQA], ctx: SynthContext) -> StageResult[VerifiedQA]:
        kg, cfg = ctx.graph, ctx.cfg
        # claims are found in the trace by the linker a build would use (its index is cached)
        finder = (
            resources.worker_linker(kg, LinkingConfig(), cfg.cache_dir)
            if cfg.verify.claims.enabled
            else None
        )
        suite = VerifySuite(kg, cfg.verify, finder=finder, runner=ctx.runner)
        chain_checks = ChainChecks(kg)
        with progress.muted():  # no bars per round: the run's bar counts rows
            results = suite.run([i.generated for i in batch])
        checked = []
        for item, v in zip(batch, results, strict=True):
            qa = item.generated.pathed.linked.qa
            distractors = [d.id for d in item.posed.distractors]
            unique, fail, reasons = chain_checks(qa, item.posed.chain.path, distractors)
            checks = v.checks.with_results(
                reasons, answer_unique=unique, distractors_fail_chain=fail
            )
            checked.append(v.model_copy(update={"checks": checks}))
        kept, rejects = split_verified(checked)
        return StageResult(kept=kept, rejects=rejects)


# stage of a reject -> the stages that count the attempts it kept from going further
FUNNEL = (
    Stage.SAMPLE,
    Stage.UNIQUE,
    Stage.DISTRACTORS,
    Stage.DECONTAM,  # by the KG before the question is written, by its text after
    Stage.GENERATE,
    Stage.VERIFY,
)


def round_size(cfg: SynthConfig, exported: int, tried: int) -> int:
    """Attempts in the next round: enough for the rows still missing at the rate so far."""
    rate = exported / tried if tried else 0.25  # a first guess at the share that ends as rows
    need = cfg.n - exported
    return min(cfg.attempt_budget - tried, max(32, math.ceil(1.2 * need / max(rate, 0.02))))


def settle(
    cfg: SynthConfig, verified: list[VerifiedQA], rejects: list[Reject], tried: int
) -> tuple[list[VerifiedQA], list[Reject], dict[Stage, int]]:
    """Keep the first n rows; count the attempts up to the n-th row's (all when short)."""
    attempt = {attempt_id(cfg.seed, a): a for a in range(tried)}
    verified = sorted(verified, key=lambda v: attempt[v.generated.pathed.linked.qa.id])[: cfg.n]
    used = tried
    if len(verified) == cfg.n:
        used = attempt[verified[-1].generated.pathed.linked.qa.id] + 1
    kept = sorted(
        (r for r in rejects if attempt[r.id or ""] < used), key=lambda r: attempt[r.id or ""]
    )
    # an attempt that got no LLM reply left while its question was being written: counted
    # with the write step's, since llm has no count of its own
    left = Counter(Stage.GENERATE.value if r.stage == Stage.LLM else r.stage for r in kept)
    counts = {Stage.INPUT: used}
    reached = used
    for stage in FUNNEL:
        reached -= left[stage.value]
        counts[stage] = reached
    return verified, kept, counts


def check_llm_failures(cfg: SynthConfig, rejects: list[Reject], tried: int) -> None:
    """After a round: fail now when more than llm.max_failure_ratio of the attempts so far
    got no LLM reply, rather than spend the whole attempt budget on a dead endpoint."""
    from kgsynth.report import BuildReport  # the report imports the stages

    so_far = BuildReport(counts={Stage.INPUT: tried}, rejects=rejects)
    so_far.check_llm_failures(cfg.llm.max_failure_ratio, unit="attempts")


def sampling_info(kg: KnowledgeGraph, cfg: SynthConfig) -> dict[str, str]:
    """The chain plans and rare-start thresholds (for the card); fails early, as a
    ConfigError, on constraints no chain can meet."""
    plans = build_plans(kg, cfg)

    def n_starts(p: Plan) -> int:
        return len(np.unique(np.concatenate(list(p.starts.values()))))

    return {
        "plans": "; ".join(p.label for p in plans),
        "thresholds": "; ".join(f"degree <= {p.threshold:g}: {n_starts(p)} starts" for p in plans),
    }
