"""How a build's shards run: the split, the task runner, retries and the shard cache.

`run_shards` cuts a build's rows into shards of `run.shard_size` rows and submits one task
per shard, each running the per-row stages (kgsynth/stages) in order, to a task runner:
in-process one shard after another ("local"), or on Dask worker processes ("dask": a
LocalCluster started for the build, or an existing cluster at `run.dask_address`). Each
shard's result is persisted under a key made of everything that decides it (its rows, the
stages, the config, the KG content and the kgsynth code), so a re-run after a crash takes
finished shards from disk and redoes only the rest; shards are handed on in input order
(`ShardMerger`), so the rows do not depend on the shard size or the number of workers. A
build streams: its input waits on disk until each shard is submitted, a bounded window of
shards is in flight (`in_flight`), and as each finished shard's turn comes its rows and its
rejects are written to Parquet parts (the build's spool, kgsynth.export.parts) and leave
memory, so memory does not grow with the input: the report keeps counts only. A shard
with rows that got no usable LLM reply is not kept in that cache (`_settle_cache`):
its replies are worth asking for again once the endpoint works, and a re-run must not take
the failures from disk. An endpoint that refuses the API key stops every shard at once.
Prefect unpickles whatever record it finds under a key, so each record a shard wrote is
sealed as soon as the shard is handed on and unsealed ones are moved aside before a run
(kgsynth.shard_store).
"""

from __future__ import annotations

import ctypes
import hashlib
import logging
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from kgsynth import cache_layout, shard_store
from kgsynth.errors import KGSynthError, LLMAuthError
from kgsynth.llm.usage import Usage
from kgsynth.progress import progress
from kgsynth.redact import redact_url
from kgsynth.report import BuildReport, Rejects, RunInfo, WorkerInfo
from kgsynth.stages import PipelineStage, StageContext

if TYPE_CHECKING:
    from prefect import Task
    from prefect.client.schemas.objects import TaskRun
    from prefect.context import TaskRunContext
    from prefect.states import State
    from prefect.task_runners import TaskRunner

    from kgsynth.config import BuildConfig, RunConfig
    from kgsynth.export.parts import BuildSpool, RejectParts

T = TypeVar("T")
log = logging.getLogger(__name__)

# config fields that do not decide a shard's rows: where the input came from (the rows
# themselves are in the key), where the output goes, caches, and how the work is run
_NOT_IN_KEY = {"qa", "out", "limit", "cache_dir", "run"}
_PACKAGE = Path(__file__).resolve().parent


def split(items: Sequence[T], size: int | None) -> list[list[T]]:
    """Consecutive shards of `size` items (None: one shard); always at least one, so an
    empty input still runs the stages once and reports what they are."""
    if not items or size is None or size >= len(items):
        return [list(items)]
    return [list(items[i : i + size]) for i in range(0, len(items), size)]


@cache
def code_fingerprint() -> str:
    """A hash of kgsynth's source, prompts and templates (every stage lives in the package;
    the flows only wire them): any code change invalidates cached shard results (the
    version string alone would not)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        h = hashlib.sha256(version("kgsynth").encode())
    except PackageNotFoundError:  # run from a source tree that was never installed
        h = hashlib.sha256()
    files = sorted(
        p
        for p in _PACKAGE.rglob("*")
        if p.is_file() and p.suffix in {".py", ".j2", ".toml", ".txt", ".json", ".md"}
    )
    for p in files:
        h.update(p.relative_to(_PACKAGE.parent).as_posix().encode())
        h.update(p.read_bytes())
    return h.hexdigest()


def shard_key(
    records: Sequence[Any], cfg: BuildConfig, kg_hash: str, stages: Sequence[str] = ()
) -> str:
    """What a shard's result depends on: its rows, the stages, the config, the KG, the code
    and the registered checks (a check registered from outside kgsynth is code too)."""
    from kgsynth.verify.registry import registered

    h = hashlib.sha256()
    config = cfg.model_dump_json(exclude=_NOT_IN_KEY)
    checks = ",".join(
        f"{c.name}={getattr(c.run, '__module__', '')}.{getattr(c.run, '__qualname__', '')}"
        for c in registered()
    )
    from kgsynth.decontam.index import benchmark_fingerprint

    # the config names the benchmark files; an edit of one must miss the cache too
    benchmarks = benchmark_fingerprint(cfg.decontam)
    for part in (code_fingerprint(), kg_hash, config, ",".join(stages), checks, benchmarks):
        h.update(part.encode())
        h.update(b"\0")
    for rec in records:
        h.update(rec.model_dump_json().encode())
        h.update(b"\n")
    return f"kgsynth-shard-{h.hexdigest()}"


def _cache_key(context: TaskRunContext, parameters: dict[str, Any]) -> str:
    stages = [s.stage.value for s in parameters["stages"]]
    return shard_key(parameters["rows"].records, parameters["cfg"], parameters["kg_hash"], stages)


def _retry_unless_config_error(task: Task[Any, Any], task_run: TaskRun, state: State) -> bool:
    # a bad config or a missing API key fails the same way every time: do not wait and retry
    return not isinstance(state.data, KGSynthError)


def result_dir(cfg: BuildConfig) -> Path:
    return cfg.run.result_dir or cache_layout.shard_root(cfg.cache_dir)


def configure_shard_task(shard_task: Task[Any, T], cfg: BuildConfig) -> Task[Any, T]:
    """The shard task with this build's retries and, when on, its persisted result cache."""
    from prefect.cache_policies import NO_CACHE, CacheKeyFnPolicy

    retry = {
        "retries": cfg.run.retries,
        "retry_delay_seconds": cfg.run.retry_delay_s,
        "retry_condition_fn": _retry_unless_config_error,
    }
    if not cfg.run.cache_results:
        return shard_task.with_options(cache_policy=NO_CACHE, persist_result=False, **retry)
    folder = result_dir(cfg)
    folder.mkdir(parents=True, exist_ok=True)
    return shard_task.with_options(
        cache_policy=CacheKeyFnPolicy(cache_key_fn=_cache_key),
        persist_result=True,
        # a local folder: with a remote Dask cluster it must be one path every worker and
        # the flow's machine share (see README, "Scaling out with Dask")
        result_storage=folder,  # a Path: a local folder, no block saved on the server
        result_serializer="pickle",
        **retry,
    )


def task_runner(run: RunConfig) -> TaskRunner[Any]:
    """A fresh task runner for one build (used as a context manager by the flow)."""
    from prefect.task_runners import ThreadPoolTaskRunner

    if run.task_runner == "local":
        # one shard at a time: the stages are CPU-bound Python, threads would only contend
        return ThreadPoolTaskRunner(max_workers=1)
    from prefect_dask import DaskTaskRunner

    if run.dask_address:
        return DaskTaskRunner(address=run.dask_address)
    return DaskTaskRunner(
        cluster_class="distributed.LocalCluster",
        cluster_kwargs={
            "n_workers": run.n_workers,
            "processes": True,
            "threads_per_worker": run.threads_per_worker,
            "dashboard_address": ":0",  # any free port: two builds must not collide on 8787
            # the workers report to this flow's Prefect API; without it each worker process
            # would start an ephemeral API server of its own
            "env": {"PREFECT_API_URL": prefect_api_url()},
        },
    )


def prefect_api_url() -> str:
    """The Prefect API this process reports to (a temporary local server when none is set)."""
    from prefect.client.orchestration import get_client

    with get_client(sync_client=True) as client:
        return str(client.api_url)


# -- the shard engine ------------------------------------------------------------------------


def needs_llm(cfg: BuildConfig) -> bool:
    """Whether a build talks to an LLM endpoint (the writer, or the free-text judge)."""
    return cfg.generator == "openai" or cfg.verify.free_text.method == "judge"


def run_stage(
    report: BuildReport, stage: PipelineStage[Any, T], batch: list[Any], ctx: StageContext[Any]
) -> list[T]:
    """One stage over a batch, timed and recorded in the report; returns the rows it kept
    (a stage that is not enabled passes its batch on and records nothing)."""
    if not stage.enabled(ctx):
        return batch
    with report.timed(stage.stage.value):
        result = stage.run(batch, ctx)
    report.record(stage.stage, result)
    return result.kept


@dataclass
class ShardResult:
    """One shard's share of a build: what each stage did, and the rows that came out."""

    report: BuildReport = field(default_factory=BuildReport)  # counts, rejects, time, info
    kept: list[Any] = field(default_factory=list)  # the last stage's rows, in input order
    usage: Usage | None = None  # this shard's LLM calls; None without an LLM
    worker: WorkerInfo | None = None
    started: float = 0.0  # wall clock (not perf_counter): shards run in other processes
    ended: float = 0.0


def run_stages(
    stages: Sequence[PipelineStage[Any, Any]], records: list[Any], ctx: StageContext[Any]
) -> ShardResult:
    """The stages in order over one shard's rows; each stage's kept rows feed the next."""
    out = ShardResult()
    batch = records
    for st in stages:
        batch = run_stage(out.report, st, batch, ctx)
    out.kept = batch
    out.usage = ctx.client.usage if ctx.client is not None else None  # every step's calls
    return out


class ShardRows:
    """One shard's rows, in a wrapper Prefect does not look into: it would otherwise walk
    every field of every record (twice on submission, again in the worker) looking for
    futures to wait on, a tenth of a second per shard of a few hundred rows."""

    __slots__ = ("records",)

    def __init__(self, records: list[Any]) -> None:
        self.records = records


def _build_shard(
    index: int,
    rows: ShardRows,
    stages: Sequence[PipelineStage[Any, Any]],
    cfg: BuildConfig,
    kg_hash: str,
    show_progress: bool = True,
) -> ShardResult:
    """One shard through the stages, on whichever process runs it. It is handed the KG's
    spec and hash, never the KG: each process loads it once from the on-disk cache."""
    from kgsynth import resources
    from kgsynth.llm.client import LLMClient
    from kgsynth.llm.structured import StructuredRunner

    started = time.time()
    kg = resources.worker_kg(cfg.kg, cfg.cache_dir, kg_hash)
    # a client per shard (clients do not pickle); its responses cache is shared on disk
    client = LLMClient(cfg.llm, cache_dir=cfg.cache_dir) if needs_llm(cfg) else None
    runner = StructuredRunner(client) if client is not None else None
    # MedReason's chain steps run with an LLM writer only (the judge may run without)
    chain = runner if cfg.generator == "openai" else None
    ctx = StageContext(cfg=cfg, kg=kg, client=client, runner=runner, chain=chain)
    try:
        with progress.muted(not show_progress):
            out = run_stages(stages, rows.records, ctx)
    finally:
        if client is not None:
            client.close()
    info = resources.stats()
    out.worker = WorkerInfo(host=info["host"], pid=info["pid"], loads=info["loads"])
    out.started, out.ended = started, time.time()
    return out


def _shard_task() -> Task[..., ShardResult]:
    # The task wraps a function that the module names: Dask then pickles it by reference,
    # not by value with the globals it uses. Caching and retries are set per build.
    from prefect import task
    from prefect.cache_policies import NO_CACHE

    from kgsynth.prefect_server import unpersisted_storage

    return task(
        _build_shard,
        name="build_shard",
        task_run_name="build_shard-{index}",
        cache_policy=NO_CACHE,
        persist_result=False,
        result_storage=unpersisted_storage(),  # the shard cache sets its own folder
    )


def in_flight(run: RunConfig) -> int:
    """Shards submitted and not yet handed on: what bounds the rows a build holds. Shards
    are handed on in input order, so a finished shard waits (its rows in memory) behind an
    earlier one still running; a few per Dask worker keep every worker busy meanwhile."""
    return 2 if run.task_runner == "local" else 3 * run.n_workers


def run_shards(
    stages: Sequence[PipelineStage[Any, Any]],
    records: list[Any],
    kg_hash: str,
    cfg: BuildConfig,
    spool: BuildSpool | None = None,
) -> ShardedReport:
    """Every shard through the stages on the configured task runner, merged back in input
    order into one report. Shards run in a sliding window of `in_flight` at a time. With a
    `spool` (a streamed build) the input records wait in it until their shard is submitted,
    and as each shard's turn comes (input order) its kept rows and its rejects are written
    to it and leave memory, so a build of any size holds the records of a few shards and the
    report counts its rejects; without one, the rows are gathered into the report's `kept`
    and the rejects held (see `merge_shards`). `records` is emptied: the shards hold its
    rows from now on. Raises the first failed shard's error once every shard has ended (the
    finished ones are cached for next time; the spool gets no rows after a failure, the
    build writes nothing)."""
    chunks: list[list[Any]] = split(records, cfg.run.shard_size)
    records.clear()  # the caller's list (and Prefect's reference to it): shards hold the rows
    sizes = [len(c) for c in chunks]
    shard_task = configure_shard_task(_shard_task(), cfg)
    stage_names = [s.stage.value for s in stages]
    keys = [shard_key(c, cfg, kg_hash, stage_names) for c in chunks]
    if spool is not None:  # the input waits on disk, not in memory, while the shards run
        for i, chunk in enumerate(chunks):
            spool.inputs.put(chunk)
            chunks[i] = []
        release_freed_heap()
    if cfg.run.cache_results:  # Prefect unpickles what it finds: only records kgsynth sealed
        shard_store.admit(result_dir(cfg), keys)
    one = len(chunks) == 1  # one shard shows its stage bars; several, one bar over all rows
    rejects = spool.rejects if spool is not None else None
    merged = ShardMerger(cfg, keep_rows=spool is None, spool=rejects)
    error: BaseException | None = None
    window = in_flight(cfg.run)
    with task_runner(cfg.run) as runner:

        def submit(i: int) -> Any:
            rows = spool.inputs.take(i) if spool is not None else chunks[i]
            params = {
                "index": i,
                "rows": ShardRows(rows),
                "stages": list(stages),
                "cfg": cfg,
                "kg_hash": kg_hash,
                "show_progress": one,
            }
            return runner.submit(shard_task, params)

        pending: deque[tuple[int, Any]] = deque()
        nxt = done = 0
        if not one:
            progress.start("rows", sum(sizes))
        while pending or nxt < len(chunks):
            while nxt < len(chunks) and len(pending) < window:
                pending.append((nxt, submit(nxt)))
                nxt += 1
            i, fut = pending.popleft()  # the earliest shard not handed on yet
            fut.wait()
            if fut.state.is_failed():
                _raise_if_auth_error(fut)  # leaving the runner cancels the shards not begun
            hit = _hit(fut)
            shard: ShardResult | None = None
            try:
                shard = fut.result()
            except Exception as e:  # noqa: BLE001 - raised below, once every shard ended
                error = error or e
            del fut  # a future holds its result: drop it once handed on
            if shard is not None:
                if cfg.run.cache_results:
                    _settle_cache(keys[i], shard, hit, i, cfg)
                if spool is not None and error is None:
                    spool.rows.add(shard.kept)
                merged.add(shard, hit)
            done += sizes[i]
            chunks[i] = []  # handed on: its input records may go (retries ran already)
            if not one:
                progress.advance("rows", done)
        if not one:
            progress.finish("rows")
    if error is not None:
        raise error
    return merged.finish(len(chunks))


def release_freed_heap() -> None:
    """Give the C heap's free pages back to the OS (glibc's malloc_trim; elsewhere nothing).
    Reading a large input leaves hundreds of MB freed but kept by malloc once its records
    are on disk; the shards' models (KG, linker) would otherwise load on top of them, and
    the build's peak would grow with its input."""
    try:
        trim = ctypes.CDLL(None).malloc_trim
    except (AttributeError, OSError):  # not glibc
        return
    trim(0)


def _settle_cache(key: str, shard: ShardResult, hit: bool, index: int, cfg: BuildConfig) -> None:
    """Seal the record a shard that ran just wrote, at once (a build killed later resumes
    from it), unless rows of it got no usable LLM reply: then its record is dropped."""
    failed = shard.report.llm_failures().total()
    if failed:
        shard_store.forget(result_dir(cfg), [key])
        log.info("shard %d: %d rows without a usable LLM reply; not cached", index, failed)
    elif not hit:
        shard_store.seal_records(result_dir(cfg), [key])


def _raise_if_auth_error(fut: Any) -> None:
    """A refused API key fails every shard alike: raise now rather than run the others."""
    try:
        fut.result()
    except LLMAuthError:
        raise
    except Exception:  # noqa: BLE001 - any other failure is raised once all shards ended
        pass


def _hit(fut: Any) -> bool:
    return bool(fut.state.name == "Cached")


@dataclass
class ShardedReport(BuildReport):
    """The shards' reports folded into one, with the rows that came out of the last stage
    (none when a spool took them as the shards finished: see `run_shards`)."""

    kept: list[Any] = field(default_factory=list)


class ShardMerger:
    """Folds shards, handed over in input order, into one report as one run over all rows
    would have filled it; keeps their rows only with `keep_rows` (else they were written),
    and writes their rejects to `spool` (one part per shard) when given one."""

    def __init__(
        self, cfg: BuildConfig, keep_rows: bool = True, spool: RejectParts | None = None
    ) -> None:
        self.cfg = cfg
        self.keep_rows = keep_rows
        self.out = ShardedReport()
        if spool is not None:
            self.out.rejects.spool_into(spool)
        self.usage = Usage()
        self.workers: dict[tuple[str, int], WorkerInfo] = {}
        self.cached = 0

    def add(self, sh: ShardResult, hit: bool) -> None:
        # time and LLM usage of this run: a shard taken from the cache cost nothing now;
        # its rejects join the report's (held, or written to the spool)
        self.out.absorb(sh.report, timings=not hit)
        if self.keep_rows:
            self.out.kept += sh.kept
        # the shard's rows and rejects are handed on: nothing here holds them any more (the
        # task runner may still hold the shard)
        sh.kept = []
        sh.report.rejects = Rejects()
        self.cached += hit
        if hit:
            return
        if sh.usage is not None:
            self.usage.add(sh.usage)
        assert sh.worker is not None
        w = self.workers.setdefault(
            (sh.worker.host, sh.worker.pid), WorkerInfo(host=sh.worker.host, pid=sh.worker.pid)
        )
        w.shards += 1
        w.busy_s = round(w.busy_s + sh.ended - sh.started, 3)
        w.loads = sh.worker.loads  # cumulative in that process: the last shard's

    def finish(self, n_shards: int) -> ShardedReport:
        out, cfg = self.out, self.cfg
        # stage by stage in pipeline order, shards in input order within a stage (a stable
        # sort): the reject order one shard over all rows gives (a spool reads its parts
        # back in that order: kgsynth.export.parts.RejectParts)
        out.rejects.sort_held()
        if needs_llm(cfg):
            out.llm_usage = self.usage.report(cfg.llm.prices)
        out.run = RunInfo(
            task_runner=cfg.run.task_runner,
            dask_address=redact_url(cfg.run.dask_address) if cfg.run.dask_address else None,
            shard_size=cfg.run.shard_size,
            shards=n_shards,
            cached_shards=self.cached,
            # stage seconds are summed over the shards that ran (in parallel on Dask)
            workers=list(self.workers.values()),
        )
        return out


def merge_shards(shards: list[ShardResult], cached: list[bool], cfg: BuildConfig) -> ShardedReport:
    """Fold the shards into one report as one run over all rows would have filled it."""
    merger = ShardMerger(cfg)
    for sh, hit in zip(shards, cached, strict=True):
        merger.add(sh, hit)
    return merger.finish(len(shards))
