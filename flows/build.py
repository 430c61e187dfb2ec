"""The build flow: the one place where kgsynth's stages are wired together.

QA rows -> linked entities -> KG paths -> thinking-path text -> checks -> Parquet + card.
Each task takes and returns typed records; every row that leaves becomes a Reject, so
input = exported + rejected holds at the end (checked before anything is written).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from prefect import flow, task
from prefect.cache_policies import NO_CACHE

from kgsynth.chain.run import (
    chain_versions,
    extract_entities,
    prune_paths,
    quality_filter,
    reformulate,
)
from kgsynth.config import BuildConfig
from kgsynth.export.rows import rows_frame
from kgsynth.export.write import write_outputs
from kgsynth.kg import KnowledgeGraph, load_kg
from kgsynth.linking.linker import Linker
from kgsynth.llm import make_generator
from kgsynth.llm.client import LLMClient
from kgsynth.llm.structured import StructuredRunner
from kgsynth.llm.usage import ReportsUsage
from kgsynth.paths.select import PathFinder
from kgsynth.progress import progress
from kgsynth.qa import QABatch, read_qa
from kgsynth.records import (
    GeneratedQA,
    Generation,
    LinkedQA,
    PathedQA,
    QARecord,
    Reject,
    VerifiedQA,
)
from kgsynth.report import BuildReport, kg_summary
from kgsynth.verify import Verifier

T = TypeVar("T")
Runner = StructuredRunner


@dataclass
class BuildResult:
    report: BuildReport
    files: dict[str, Path]


def _tracked(stage: str, items: list[T]) -> Iterator[T]:
    """Iterate while reporting progress to whoever listens (the CLI's progress bar)."""
    progress.start(stage, len(items))
    for i, item in enumerate(items, 1):
        yield item
        progress.advance(stage, i)
    progress.finish(stage)


# Stage tasks. Caching across runs is a later concern (task-level cache policies); here
# every task runs in-process and returns plain records.
_task = task(cache_policy=NO_CACHE, persist_result=False)


@_task
def read_input(cfg: BuildConfig) -> QABatch:
    return read_qa(cfg.qa_files(), limit=cfg.limit)


@_task
def load_graph(cfg: BuildConfig) -> KnowledgeGraph:
    return load_kg(cfg.kg, cache_dir=cfg.cache_dir)


@_task
def link_entities(
    records: list[QARecord], kg: KnowledgeGraph, cfg: BuildConfig, runner: Runner | None
) -> tuple[list[LinkedQA], list[Reject], dict[str, str]]:
    linker = Linker(kg, cfg.linking, cfg.cache_dir)
    info = {
        "index": "cached" if linker.index_cached else "built",
        "aliases": str(len(linker.aliases)),
    }
    items = [linker(qa) for qa in _tracked("link", records)]
    if runner is not None and cfg.chain.extract_entities:
        # MedReason: the LLM's typed entities beside the scispaCy mentions
        items = extract_entities(
            items,
            runner,
            linker,
            sorted(set(kg.types)),
            disambiguate=cfg.chain.disambiguate,
            max_entities=cfg.linking.max_entities,
        )
    linked: list[LinkedQA] = []
    rejects: list[Reject] = []
    for item in items:
        qa = item.qa
        if not item.answer_entities:
            rejects.append(_reject(qa, "link", "no_answer_entity", f"answer '{qa.answer[:80]}'"))
        elif not item.question_entities:
            rejects.append(_reject(qa, "link", "no_question_entity", "no KG entity in question"))
        else:
            linked.append(item)
    info |= {
        "question_linked": str(sum(bool(i.question_entities) for i in items)),
        "answer_linked": str(sum(bool(i.answer_entities) for i in items)),
    }
    return linked, rejects, info


@_task
def find_paths(
    linked: list[LinkedQA], kg: KnowledgeGraph, cfg: BuildConfig, runner: Runner | None
) -> tuple[list[PathedQA], list[Reject]]:
    finder = PathFinder(kg, cfg.paths)
    prune = runner is not None and cfg.chain.prune_paths
    per_pair = cfg.chain.max_candidates if prune else None
    found = [finder.groups(item, per_pair) for item in _tracked("paths", linked)]
    if prune:
        assert runner is not None
        # MedReason: per (start, end) group the LLM keeps up to k of the candidates, in the
        # light of the question reformulated as description + conclusion
        contexts = (
            reformulate([i.qa for i in linked], runner)
            if cfg.chain.reformulate
            else [None] * len(linked)
        )
        flat = [g for groups, _ in found for g in groups]
        flat_ctx = [c for (groups, _), c in zip(found, contexts, strict=True) for _ in groups]
        kept = iter(
            prune_paths(
                flat, flat_ctx, runner, k=cfg.paths.k, max_candidates=cfg.chain.max_candidates
            )
        )
        found = [([next(kept) for _ in groups], total) for groups, total in found]
    pathed: list[PathedQA] = []
    rejects: list[Reject] = []
    for item, (groups, total) in zip(linked, found, strict=True):
        p = finder.finish(item, groups, total)
        if p.paths:
            pathed.append(p)
        else:
            detail = f"no path within {cfg.paths.max_hops} hops"
            rejects.append(_reject(item.qa, "paths", "no_path", detail))
    return pathed, rejects


@_task
def generate(
    pathed: list[PathedQA], cfg: BuildConfig, client: LLMClient | None
) -> tuple[list[GeneratedQA], list[Reject], dict[str, str], dict[str, Any]]:
    gen = make_generator(cfg, client)
    info = {"name": gen.name, "model": gen.model, "prompt_version": gen.prompt_version}
    progress.start("generate", len(pathed))
    results = gen.generate(pathed)
    progress.finish("generate")
    # tokens, requests, cache hits and cost of this run, for build.json and the card
    usage = gen.usage_report() if isinstance(gen, ReportsUsage) else {}
    out: list[GeneratedQA] = []
    rejects: list[Reject] = []
    for item, res in zip(pathed, results, strict=True):
        if isinstance(res, Generation):
            out.append(GeneratedQA(pathed=item, generation=res))
        else:
            rejects.append(res)
    return out, rejects, info, usage


@_task
def verify(
    generated: list[GeneratedQA], kg: KnowledgeGraph, cfg: BuildConfig
) -> tuple[list[VerifiedQA], list[Reject]]:
    verifier = Verifier(kg, cfg.verify)
    passed: list[VerifiedQA] = []
    rejects: list[Reject] = []
    for item in _tracked("verify", generated):
        v = verifier(item)
        if v.checks.passed:
            passed.append(v)
        else:
            qa = item.pathed.linked.qa
            failed = [
                name
                for name, ok in (
                    ("kg_faithful", v.checks.kg_faithful),
                    ("answer_match", v.checks.answer_match),
                    ("no_leakage", v.checks.no_leakage),
                )
                if not ok
            ]
            rejects.append(_reject(qa, "verify", "+".join(failed), "; ".join(v.checks.reasons)))
    return passed, rejects


@_task
def quality(verified: list[VerifiedQA], runner: Runner) -> tuple[list[VerifiedQA], list[Reject]]:
    """MedReason's filter: answer from the reasoning with its conclusion cut off, judged
    against gold; rows that fail leave as rejects, rows that pass record it in checks."""
    qas = [v.generated.pathed.linked.qa for v in verified]
    reasonings = [v.generated.generation.reasoning for v in verified]
    kept: list[VerifiedQA] = []
    rejects: list[Reject] = []
    for v, qa, verdict in zip(verified, qas, quality_filter(qas, reasonings, runner), strict=True):
        if verdict.passed:
            checks = v.checks.model_copy(update={"quality_filter": True})
            kept.append(v.model_copy(update={"checks": checks}))
        else:
            detail = f"{verdict.reason}; predicted '{verdict.predicted[:80]}'"
            rejects.append(_reject(qa, "quality", "quality_filter", detail))
    return kept, rejects


@_task
def export(
    verified: list[VerifiedQA], kg: KnowledgeGraph, report: BuildReport, cfg: BuildConfig
) -> dict[str, Path]:
    report.check_balance()
    chain = chain_versions(cfg.chain.enabled()) if cfg.generator == "openai" else {}
    rows = rows_frame(verified, kg.name, kg.hash, chain=chain)
    return write_outputs(cfg.out, rows, report, cfg)


def _reject(qa: QARecord, stage: str, reason: str, detail: str) -> Reject:
    return Reject(
        id=qa.id,
        stage=stage,
        reason=reason,
        detail=detail,
        source_file=qa.meta.get("file"),
        line=int(qa.meta["line"]) if qa.meta.get("line", "").isdigit() else None,
    )


def _timed(report: BuildReport, name: str, fn: Callable[..., T], *args: object) -> T:
    t0 = time.perf_counter()
    out = fn(*args)
    report.seconds[name] = round(time.perf_counter() - t0, 3)
    return out


@flow(name="build_dataset", persist_result=False, log_prints=True)
def build_dataset(config: BuildConfig) -> BuildResult:
    """QA pairs + medical KG -> verified thinking-path dataset (Parquet + card)."""
    cfg = config
    report = BuildReport()

    batch = _timed(report, "read_input", read_input, cfg)
    report.rejects += batch.rejects
    report.counts["input"] = batch.n_input

    kg = _timed(report, "load_kg", load_graph, cfg)
    report.kg = kg_summary(kg)

    # one LLM client per build: every step shares its cache, rate limits and usage counts
    client = LLMClient(cfg.llm, cache_dir=cfg.cache_dir) if cfg.generator == "openai" else None
    runner = StructuredRunner(client) if client is not None else None

    linked, rej, report.linker = _timed(
        report, "link", link_entities, batch.records, kg, cfg, runner
    )
    report.rejects += rej
    report.counts["linked"] = len(linked)

    pathed, rej = _timed(report, "paths", find_paths, linked, kg, cfg, runner)
    report.rejects += rej
    report.counts["with_path"] = len(pathed)

    generated, rej, report.generator, report.llm_usage = _timed(
        report, "generate", generate, pathed, cfg, client
    )
    report.rejects += rej
    report.counts["generated"] = len(generated)

    verified, rej = _timed(report, "verify", verify, generated, kg, cfg)
    report.rejects += rej
    report.counts["verified"] = len(verified)

    if runner is not None and cfg.chain.quality_filter:
        verified, rej = _timed(report, "quality", quality, verified, runner)
        report.rejects += rej
        report.counts["quality_passed"] = len(verified)
    if client is not None:
        report.llm_usage = client.usage_report()  # every step, not only the CoT
        client.close()

    report.counts["exported"] = len(verified)
    files = _timed(report, "export", export, verified, kg, report, cfg)
    return BuildResult(report=report, files=files)
