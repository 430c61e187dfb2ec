"""The build flow: the one place where kgsynth's stages are wired together.

QA rows -> linked entities -> KG paths -> thinking-path text -> checks -> Parquet + card.
Each stage takes and returns typed records; every row that leaves becomes a Reject, so
input = exported + rejected holds at the end (checked before anything is written).

The per-row stages (`run_stages`) run over shards of the QA rows, one Prefect task per shard
(`build_shard`), in-process or on Dask workers, each shard's result cached on disk
(kgsynth/runs.py); the shards are merged back in input order, so the rows do not depend on
the shard size or the number of workers.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, TypeVar

from prefect import flow, task
from prefect.cache_policies import NO_CACHE

from kgsynth import resources, runs
from kgsynth.chain.run import (
    chain_versions,
    extract_entities,
    prune_paths,
    quality_filter,
    reformulate,
)
from kgsynth.chain.steps import JUDGE
from kgsynth.config import BuildConfig
from kgsynth.export.rows import rows_frame
from kgsynth.export.write import write_outputs
from kgsynth.kg import KnowledgeGraph, load_kg
from kgsynth.llm import make_generator
from kgsynth.llm.client import LLMClient
from kgsynth.llm.structured import StructuredRunner
from kgsynth.llm.usage import ReportsUsage, Usage
from kgsynth.paths.select import PathFinder
from kgsynth.progress import progress
from kgsynth.qa import QABatch, read_qa
from kgsynth.qa.dedup import dedup_batch
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
from kgsynth.verify.suite import VerifySuite

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


# Tasks of the flow itself; the per-row stages below are plain functions that build_shard
# runs (its caching and retries are set per build from cfg.run, see kgsynth/runs.py).
_task = task(cache_policy=NO_CACHE, persist_result=False)


@_task
def read_input(cfg: BuildConfig) -> QABatch:
    return read_qa(cfg.qa_files(), limit=cfg.limit)


@_task
def load_graph(cfg: BuildConfig) -> KnowledgeGraph:
    # also fills the on-disk cache that Dask workers load from; local shards reuse this object
    return resources.share_kg(cfg.kg, cfg.cache_dir, load_kg(cfg.kg, cache_dir=cfg.cache_dir))


def link_entities(
    records: list[QARecord], kg: KnowledgeGraph, cfg: BuildConfig, runner: Runner | None
) -> tuple[list[LinkedQA], list[Reject], dict[str, str]]:
    linker = resources.worker_linker(kg, cfg.linking, cfg.cache_dir)
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


def verify(
    generated: list[GeneratedQA], kg: KnowledgeGraph, cfg: BuildConfig, runner: Runner | None
) -> tuple[list[VerifiedQA], list[Reject]]:
    # claims are found in the reasoning by the same linker that linked the questions
    finder = (
        resources.worker_linker(kg, cfg.linking, cfg.cache_dir)
        if cfg.verify.claims.enabled
        else None
    )
    suite = VerifySuite.for_config(kg, cfg.verify, finder=finder, runner=runner)
    passed: list[VerifiedQA] = []
    rejects: list[Reject] = []
    for v in suite.run(generated):
        if v.checks.passed:
            passed.append(v)
        else:
            qa = v.generated.pathed.linked.qa
            reason = "+".join(v.checks.failed())
            rejects.append(_reject(qa, "verify", reason, "; ".join(v.checks.reasons)))
    return passed, rejects


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
    if cfg.verify.answer_match and cfg.verify.free_text.method == "judge":
        chain["verify_judge"] = JUDGE.version  # the judge that passed free-text rows
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


class _Timings(Protocol):
    seconds: dict[str, float]


def _timed(report: _Timings, name: str, fn: Callable[..., T], *args: object) -> T:
    t0 = time.perf_counter()
    out = fn(*args)
    report.seconds[name] = round(time.perf_counter() - t0, 3)
    return out


def _needs_llm(cfg: BuildConfig) -> bool:
    return cfg.generator == "openai" or cfg.verify.free_text.method == "judge"


@dataclass
class ShardResult:
    """One shard's share of a build: the rows that passed, in input order, and what left."""

    verified: list[VerifiedQA] = field(default_factory=list)
    rejects: dict[str, list[Reject]] = field(default_factory=dict)  # stage -> rejects, in order
    counts: dict[str, int] = field(default_factory=dict)  # stage -> rows that reached it
    seconds: dict[str, float] = field(default_factory=dict)  # stage -> wall time
    linker: dict[str, str] = field(default_factory=dict)
    generator: dict[str, str] = field(default_factory=dict)
    usage: Usage | None = None  # this shard's LLM calls; None without an LLM
    worker: dict[str, Any] = field(default_factory=dict)  # host, pid, loads (kgsynth.resources)


def run_stages(
    records: list[QARecord], kg: KnowledgeGraph, cfg: BuildConfig, client: LLMClient | None
) -> ShardResult:
    """link -> paths -> generate -> verify (-> quality) over one shard's QA rows."""
    out = ShardResult()
    runner = StructuredRunner(client) if client is not None else None
    # MedReason's chain steps run with an LLM generator only (the judge may run without)
    chain = runner if cfg.generator == "openai" else None

    linked, out.rejects["link"], out.linker = _timed(
        out, "link", link_entities, records, kg, cfg, chain
    )
    out.counts["linked"] = len(linked)

    pathed, out.rejects["paths"] = _timed(out, "paths", find_paths, linked, kg, cfg, chain)
    out.counts["with_path"] = len(pathed)

    # (the generator's own usage report is part of the client's, taken whole below)
    generated, out.rejects["generate"], out.generator, _ = _timed(
        out, "generate", generate, pathed, cfg, client
    )
    out.counts["generated"] = len(generated)

    verified, out.rejects["verify"] = _timed(out, "verify", verify, generated, kg, cfg, runner)
    out.counts["verified"] = len(verified)

    if chain is not None and cfg.chain.quality_filter:
        verified, out.rejects["quality"] = _timed(out, "quality", quality, verified, chain)
        out.counts["quality_passed"] = len(verified)

    out.verified = verified
    out.usage = client.usage if client is not None else None  # every step, not only the CoT
    return out


class ShardRows:
    """One shard's QA rows, in a wrapper Prefect does not look into: it would otherwise walk
    every field of every record (twice on submission, again in the worker) looking for
    futures to wait on, a tenth of a second per shard of a few hundred rows."""

    __slots__ = ("records",)

    def __init__(self, records: list[QARecord]) -> None:
        self.records = records


def _build_shard(
    index: int,
    rows: ShardRows,
    cfg: BuildConfig,
    kg_hash: str,
    show_progress: bool = True,
) -> ShardResult:
    """One shard through run_stages, on whichever process runs it. It is handed the KG's spec
    and hash, never the KG: each process loads it once from the on-disk cache."""
    started = time.time()
    kg = resources.worker_kg(cfg.kg, cfg.cache_dir, kg_hash)
    # a client per shard (clients do not pickle); its responses cache is shared on disk
    client = LLMClient(cfg.llm, cache_dir=cfg.cache_dir) if _needs_llm(cfg) else None
    try:
        with progress.muted(not show_progress):
            out = run_stages(rows.records, kg, cfg, client)
    finally:
        if client is not None:
            client.close()
    # wall clock (not perf_counter): the flow compares shards that ran in other processes
    out.worker = resources.stats() | {"started": started, "ended": time.time()}
    return out


# The task wraps a function that the module names: Dask then pickles it by reference, not by
# value with the globals it uses. Caching and retries are set per build (runs.py).
build_shard = task(
    _build_shard,
    name="build_shard",
    task_run_name="build_shard-{index}",
    cache_policy=NO_CACHE,
    persist_result=False,
)


def run_shards(
    records: list[QARecord], kg: KnowledgeGraph, cfg: BuildConfig
) -> tuple[list[ShardResult], list[bool]]:
    """Every shard on the configured task runner; results in input order, and for each
    whether it came from the shard cache. Raises the first failed shard's error once every
    shard has ended (the finished ones are cached for the next run)."""
    chunks = runs.split(records, cfg.run.shard_size)
    shard_task = runs.configure_shard_task(build_shard, cfg)
    one = len(chunks) == 1  # one shard shows its stage bars; several, one bar over all rows
    with runs.task_runner(cfg.run) as task_runner:
        futures = [
            task_runner.submit(
                shard_task,
                {
                    "index": i,
                    "rows": ShardRows(c),
                    "cfg": cfg,
                    "kg_hash": kg.hash,
                    "show_progress": one,
                },
            )
            for i, c in enumerate(chunks)
        ]
        if not one:
            progress.start("rows", len(records))
        done = 0
        for fut, chunk in zip(futures, chunks, strict=True):
            fut.wait()
            done += len(chunk)
            if not one:
                progress.advance("rows", done)
        if not one:
            progress.finish("rows")
        cached = [fut.state.name == "Cached" for fut in futures]
        return [fut.result() for fut in futures], cached


def merge_shards(
    report: BuildReport, shards: list[ShardResult], cached: list[bool], cfg: BuildConfig
) -> list[VerifiedQA]:
    """Fold the shards into the report as one run over all rows would have filled it."""
    # stage by stage, shards in input order: the reject order a single shard gives
    for stage in dict.fromkeys(s for sh in shards for s in sh.rejects):
        for sh in shards:
            report.rejects += sh.rejects.get(stage, [])
    for sh in shards:
        for key, n in sh.counts.items():
            report.counts[key] = report.counts.get(key, 0) + n
    ran = [sh for sh, hit in zip(shards, cached, strict=True) if not hit]
    # time and LLM usage of this run: a shard taken from the cache cost nothing now
    for sh in ran:
        for key, sec in sh.seconds.items():
            report.seconds[key] = round(report.seconds.get(key, 0.0) + sec, 3)
    report.linker = dict(shards[0].linker)
    for key in ("question_linked", "answer_linked"):
        report.linker[key] = str(sum(int(sh.linker.get(key, 0)) for sh in shards))
    if any(sh.linker.get("index") == "built" for sh in shards):
        report.linker["index"] = "built"
    report.generator = shards[0].generator
    if _needs_llm(cfg):
        usage = Usage()
        for sh in ran:
            if sh.usage is not None:
                usage.add(sh.usage)
        report.llm_usage = usage.report(cfg.llm.prices)
    workers: dict[tuple[str, int], dict[str, Any]] = {}
    for sh in ran:
        w = workers.setdefault(
            (sh.worker["host"], sh.worker["pid"]),
            {"host": sh.worker["host"], "pid": sh.worker["pid"], "shards": 0, "busy_s": 0.0},
        )
        w["shards"] += 1
        # busy_s / the shards' wall time: how well the workers were kept busy
        w["busy_s"] = round(w["busy_s"] + sh.worker["ended"] - sh.worker["started"], 3)
        w["loads"] = sh.worker["loads"]  # cumulative in that process: the last shard's
    report.run = {
        "task_runner": cfg.run.task_runner,
        "dask_address": cfg.run.dask_address,
        "shard_size": cfg.run.shard_size,
        "shards": len(shards),
        "cached_shards": sum(cached),
        # stage seconds are summed over the shards that ran (in parallel on Dask)
        "workers": list(workers.values()),
    }
    return [v for sh in shards for v in sh.verified]


@flow(name="build_dataset", persist_result=False, log_prints=True)
def build_dataset(config: BuildConfig) -> BuildResult:
    """QA pairs + medical KG -> verified thinking-path dataset (Parquet + card)."""
    cfg = config
    report = BuildReport()

    batch = _timed(report, "read_input", read_input, cfg)
    # duplicates across the whole input leave first, as rejects (before any split of the work)
    batch, report.dedup = _timed(report, "dedup", dedup_batch, batch, cfg.dedup)
    report.rejects += batch.rejects
    report.counts["input"] = batch.n_input
    report.counts["deduplicated"] = len(batch.records)

    kg = _timed(report, "load_kg", load_graph, cfg)
    report.kg = kg_summary(kg)
    if _needs_llm(cfg):
        LLMClient(cfg.llm).close()  # a missing API key fails here, before any shard starts

    # link -> paths -> generate -> verify (-> quality), shard by shard: run_stages
    shards, cached = _timed(report, "shards", run_shards, batch.records, kg, cfg)
    verified = merge_shards(report, shards, cached, cfg)

    report.counts["exported"] = len(verified)
    files = _timed(report, "export", export, verified, kg, report, cfg)
    return BuildResult(report=report, files=files)
