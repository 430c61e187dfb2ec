"""The KG-first synthesis flow: rare-entity chains -> unique-answer questions -> Parquet.

Sample chains -> check the answer is unique and pick distractors that fail the chain ->
write each as a question with a thinking trace -> verify -> Parquet + card, in the build's
row schema (source `kg`). Every attempt that leaves becomes a Reject.

Attempts run in rounds until `n` rows pass verification or the attempt budget is spent.
Each attempt draws from its own seeded RNG and a repeat is judged against earlier attempts
only, so the exported rows are the first `n` to pass in attempt order, whatever the round
sizes. Attempts after the n-th exported one are dropped uncounted: for the attempts a run
used, attempts = exported + rejected (checked before anything is written).
"""

from __future__ import annotations

import math
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import numpy as np
from prefect import flow, task
from prefect.cache_policies import NO_CACHE

from kgsynth import resources
from kgsynth.config import LinkingConfig
from kgsynth.export.rows import rows_frame
from kgsynth.export.write import write_dataset
from kgsynth.kg import KnowledgeGraph, load_kg
from kgsynth.llm.client import LLMClient, Request
from kgsynth.llm.offline import OFFLINE_MODEL
from kgsynth.llm.prompts import KG_QUESTION
from kgsynth.llm.structured import StructuredRunner
from kgsynth.progress import progress
from kgsynth.records import GeneratedQA, PathedQA, QARecord, Reject, VerifiedQA
from kgsynth.report import BuildReport, kg_summary
from kgsynth.synth.card import synth_card
from kgsynth.synth.checks import ChainChecks
from kgsynth.synth.config import SynthConfig
from kgsynth.synth.entities import linked_qa
from kgsynth.synth.pose import ChainKey, ChainPoser
from kgsynth.synth.question import (
    Complete,
    llm_question,
    llm_request,
    offline_question,
    question_from_reply,
)
from kgsynth.synth.question import _reject as _llm_reject
from kgsynth.synth.reasoning import ChainReasoner
from kgsynth.synth.records import Chain, PosedChain, SynthQA
from kgsynth.synth.sample import (
    WRITE,
    ChainSampler,
    Plan,
    attempt_id,
    attempt_rng,
    build_plans,
)
from kgsynth.verify.suite import VerifySuite

T = TypeVar("T")

# stage of a reject -> the count it keeps an attempt from reaching
_FUNNEL = (
    ("sampled", "sample"),
    ("unique", "unique"),
    ("posed", "distractors"),
    ("generated", "generate"),
    ("verified", "verify"),
)


@dataclass
class SynthResult:
    report: BuildReport
    files: dict[str, Path]
    requested: int

    @property
    def complete(self) -> bool:
        return self.report.exported == self.requested


_task = task(cache_policy=NO_CACHE, persist_result=False)


@_task
def load_graph(cfg: SynthConfig) -> KnowledgeGraph:
    return load_kg(cfg.kg, cache_dir=cfg.cache_dir)


@_task
def sample_chains(
    attempts: list[int], kg: KnowledgeGraph, cfg: SynthConfig
) -> tuple[list[Chain], list[Reject]]:
    sampler = ChainSampler(kg, cfg)
    chains: list[Chain] = []
    rejects: list[Reject] = []
    for a in attempts:
        res = sampler(a)
        (chains if isinstance(res, Chain) else rejects).append(res)  # type: ignore[arg-type]
    return chains, rejects


@_task
def check_chains(
    chains: list[Chain], kg: KnowledgeGraph, cfg: SynthConfig, seen: frozenset[ChainKey]
) -> tuple[list[PosedChain], list[Reject], set[ChainKey]]:
    """Uniqueness, repeats and distractors, in attempt order; returns the new chain keys."""
    poser = ChainPoser(kg, cfg)
    keys: set[ChainKey] = set(seen)
    posed: list[PosedChain] = []
    rejects: list[Reject] = []
    for chain in chains:
        res = poser(chain, keys)
        (posed if isinstance(res, PosedChain) else rejects).append(res)  # type: ignore[arg-type]
    return posed, rejects, keys - seen


@_task
def write_questions(
    posed: list[PosedChain],
    kg: KnowledgeGraph,
    cfg: SynthConfig,
    complete: Complete | None,
    client: LLMClient | None = None,
) -> tuple[list[SynthQA], list[Reject], dict[str, str]]:
    reasoner = ChainReasoner()
    prompt_version = f"{KG_QUESTION}+{reasoner.prompt_version}"
    if cfg.generator == "openai":
        info = {"name": "openai", "model": cfg.llm.model, "prompt_version": prompt_version}
    else:
        info = {"name": "offline", "model": OFFLINE_MODEL, "prompt_version": prompt_version}
    out: list[SynthQA] = []
    rejects: list[Reject] = []
    if client is not None:
        questions = _llm_questions(posed, cfg, client)
    else:
        questions = []
        for p in posed:
            rng = attempt_rng(cfg.seed, p.chain.attempt, WRITE)
            write = offline_question(p, rng) if complete is None else llm_question(p, complete, rng)
            questions.append(write)
    for p, qa in zip(posed, questions, strict=True):
        if isinstance(qa, Reject):
            rejects.append(qa)
            continue
        gen = reasoner(
            p, qa, generator=info["name"], model=info["model"], prompt_version=prompt_version
        )
        pathed = PathedQA(linked=linked_qa(p.chain, qa), paths=[p.chain.path], n_paths_found=1)
        out.append(SynthQA(posed=p, generated=GeneratedQA(pathed=pathed, generation=gen)))
    return out, rejects, info


def _llm_questions(
    posed: list[PosedChain], cfg: SynthConfig, client: LLMClient
) -> list[QARecord | Reject]:
    """Every chain's question prompt in one batch over the run's LLM client (concurrent,
    cached, retried), each reply checked against the chain by question_from_reply."""
    asks = [llm_request(p, attempt_rng(cfg.seed, p.chain.attempt, WRITE)) for p in posed]
    requests = [
        Request.user(prompt, step="kg_question", prompt_version=KG_QUESTION, tag=p.chain.id)
        for p, (prompt, _, _) in zip(posed, asks, strict=True)
    ]
    results = client.run_batch(requests)
    out: list[QARecord | Reject] = []
    for p, (_, options, _), res in zip(posed, asks, results, strict=True):
        if res.error is not None or res.text is None:
            out.append(_llm_reject(p, res.error or "llm_error", res.detail or ""))
        else:
            out.append(question_from_reply(p, res.text, options))
    return out


@_task
def verify(
    items: list[SynthQA], kg: KnowledgeGraph, cfg: SynthConfig, runner: StructuredRunner | None
) -> tuple[list[VerifiedQA], list[Reject]]:
    """The build's checks (kgsynth.verify.suite), plus the synthesis checks in the same Checks."""
    # claims are found in the trace by the linker a build would use (its index is cached)
    finder = (
        resources.worker_linker(kg, LinkingConfig(), cfg.cache_dir)
        if cfg.verify.claims.enabled
        else None
    )
    suite = VerifySuite.for_config(kg, cfg.verify, finder=finder, runner=runner)
    chain_checks = ChainChecks(kg)
    passed: list[VerifiedQA] = []
    rejects: list[Reject] = []
    with progress.muted():  # no bars per round: the run's bar counts rows
        results = suite.run([i.generated for i in items])
    for item, v in zip(items, results, strict=True):
        qa = item.generated.pathed.linked.qa
        unique, fail, reasons = chain_checks(
            qa, item.posed.chain.path, [d.id for d in item.posed.distractors]
        )
        checks = v.checks.model_copy(
            update={
                "answer_unique": unique,
                "distractors_fail_chain": fail,
                "reasons": v.checks.reasons + reasons,
            }
        )
        if checks.passed:
            passed.append(v.model_copy(update={"checks": checks}))
        else:
            rejects.append(
                Reject(
                    id=qa.id,
                    stage="verify",
                    reason="+".join(checks.failed()),
                    detail="; ".join(checks.reasons),
                )
            )
    return passed, rejects


@_task
def export(
    verified: list[VerifiedQA],
    kg: KnowledgeGraph,
    report: BuildReport,
    cfg: SynthConfig,
    sampling: dict[str, str],
) -> dict[str, Path]:
    report.check_balance()
    rows = rows_frame(verified, kg.name, kg.hash)
    summary = report.summary() | {
        "requested": cfg.n,
        "sampling": sampling,
        "generator": report.generator,
        "config": cfg.model_dump(mode="json"),
    }
    return write_dataset(cfg.out, rows, report.rejects, synth_card(report, cfg, sampling), summary)


def _timed(report: BuildReport, name: str, fn: Callable[..., T], *args: object) -> T:
    t0 = time.perf_counter()
    out = fn(*args)
    report.seconds[name] = round(report.seconds.get(name, 0.0) + time.perf_counter() - t0, 3)
    return out


def _sampling_info(kg: KnowledgeGraph, cfg: SynthConfig) -> dict[str, str]:
    plans = build_plans(kg, cfg)  # also fails early, as a ConfigError, on bad constraints

    def n_starts(p: Plan) -> int:
        return len(np.unique(np.concatenate(list(p.starts.values()))))

    return {
        "plans": "; ".join(p.label for p in plans),
        "thresholds": "; ".join(f"degree <= {p.threshold:g}: {n_starts(p)} starts" for p in plans),
    }


@flow(name="synth_from_kg", persist_result=False, log_prints=True)
def synth_from_kg(config: SynthConfig, complete: Complete | None = None) -> SynthResult:
    """KG chains from rare entities -> verified unique-answer MCQ rows (Parquet + card).

    With the `openai` generator the questions are written over the configured endpoint (one
    batched, cached client per run) unless `complete` (prompt -> reply text) is given; the
    offline generator writes them from templates and needs neither.
    """
    cfg = config
    if cfg.generator == "offline":
        complete = None
    client = (
        LLMClient(cfg.llm, cache_dir=cfg.cache_dir)
        if cfg.generator == "openai" and complete is None
        else None
    )
    runner = StructuredRunner(client) if client is not None else None
    report = BuildReport()
    kg = _timed(report, "load_kg", load_graph, cfg)
    report.kg = kg_summary(kg)
    sampling = _sampling_info(kg, cfg)

    budget = cfg.attempt_budget
    verified: list[VerifiedQA] = []
    rejects: list[Reject] = []
    seen: frozenset[ChainKey] = frozenset()
    start, rate = 0, 0.25  # a first guess at the share of attempts that end as rows
    progress.start("rows", cfg.n)
    while len(verified) < cfg.n and start < budget:
        need = cfg.n - len(verified)
        size = min(budget - start, max(32, math.ceil(1.2 * need / max(rate, 0.02))))
        attempts = list(range(start, start + size))
        chains, rej = _timed(report, "sample", sample_chains, attempts, kg, cfg)
        rejects += rej
        posed, rej, new = _timed(report, "check", check_chains, chains, kg, cfg, seen)
        rejects += rej
        seen = seen | new
        items, rej, report.generator = _timed(
            report, "write", write_questions, posed, kg, cfg, complete, client
        )
        rejects += rej
        good, rej = _timed(report, "verify", verify, items, kg, cfg, runner)
        rejects += rej
        verified += good
        start += size
        rate = len(verified) / start
        progress.advance("rows", min(len(verified), cfg.n))
    progress.finish("rows")

    verified, report.rejects, report.counts = _settle(cfg, verified, rejects, start)
    if client is not None:
        report.llm_usage = client.usage_report()
        client.close()
    files = _timed(report, "export", export, verified, kg, report, cfg, sampling)
    return SynthResult(report=report, files=files, requested=cfg.n)


def _settle(
    cfg: SynthConfig, verified: list[VerifiedQA], rejects: list[Reject], tried: int
) -> tuple[list[VerifiedQA], list[Reject], dict[str, int]]:
    """Keep the first n rows; count the attempts up to the n-th row's (all when short)."""
    attempt = {attempt_id(cfg.seed, a): a for a in range(tried)}
    verified = sorted(verified, key=lambda v: attempt[v.generated.pathed.linked.qa.id])[: cfg.n]
    used = tried
    if len(verified) == cfg.n:
        used = attempt[verified[-1].generated.pathed.linked.qa.id] + 1
    kept = sorted(
        (r for r in rejects if attempt[r.id or ""] < used), key=lambda r: attempt[r.id or ""]
    )
    left = Counter(r.stage for r in kept)
    counts = {"input": used}
    reached = used
    for name, stage in _FUNNEL:
        reached -= left[stage]
        counts[name] = reached
    return verified, kept, counts
