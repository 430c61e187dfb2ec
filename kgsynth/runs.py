"""How a build's shards run: the split, the task runner, retries and the shard cache.

The flow (flows/build.py) cuts the QA rows into shards of `run.shard_size` rows and submits
one task per shard to a task runner: in-process one shard after another ("local"), or on
Dask worker processes ("dask": a LocalCluster started for the build, or an existing cluster
at `run.dask_address`). Each shard's result is persisted under a key made of everything
that decides it (its rows, the config, the KG content and the kgsynth code), so a re-run
after a crash takes finished shards from disk and redoes only the rest.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from kgsynth.errors import KGSynthError

if TYPE_CHECKING:
    from prefect import Task
    from prefect.client.schemas.objects import TaskRun
    from prefect.context import TaskRunContext
    from prefect.states import State
    from prefect.task_runners import TaskRunner

    from kgsynth.config import BuildConfig, RunConfig

T = TypeVar("T")

# config fields that do not decide a shard's rows: where the input came from (the rows
# themselves are in the key), where the output goes, caches, and how the work is run
_NOT_IN_KEY = {"qa", "out", "limit", "cache_dir", "run"}
_PACKAGE = Path(__file__).resolve().parent
_FLOW = _PACKAGE.parent / "flows" / "build.py"


def split(items: Sequence[T], size: int | None) -> list[list[T]]:
    """Consecutive shards of `size` items (None: one shard); always at least one, so an
    empty input still runs the stages once and reports what they are."""
    if not items or size is None or size >= len(items):
        return [list(items)]
    return [list(items[i : i + size]) for i in range(0, len(items), size)]


@cache
def code_fingerprint() -> str:
    """A hash of kgsynth's source, prompts and templates and of the build flow: any code
    change invalidates cached shard results (the version string alone would not)."""
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
    if _FLOW.exists():
        files.append(_FLOW)
    for p in files:
        h.update(p.relative_to(_PACKAGE.parent).as_posix().encode())
        h.update(p.read_bytes())
    return h.hexdigest()


def shard_key(records: Sequence[Any], cfg: BuildConfig, kg_hash: str) -> str:
    """What a shard's result depends on: its rows, the config, the KG and the code."""
    h = hashlib.sha256()
    for part in (code_fingerprint(), kg_hash, cfg.model_dump_json(exclude=_NOT_IN_KEY)):
        h.update(part.encode())
        h.update(b"\0")
    for rec in records:
        h.update(rec.model_dump_json().encode())
        h.update(b"\n")
    return f"kgsynth-shard-{h.hexdigest()}"


def _cache_key(context: TaskRunContext, parameters: dict[str, Any]) -> str:
    return shard_key(parameters["rows"].records, parameters["cfg"], parameters["kg_hash"])


def _retry_unless_config_error(task: Task[Any, Any], task_run: TaskRun, state: State) -> bool:
    # a bad config or a missing API key fails the same way every time: do not wait and retry
    return not isinstance(state.data, KGSynthError)


def result_dir(cfg: BuildConfig) -> Path:
    return cfg.run.result_dir or cfg.cache_dir / "prefect-results"


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
