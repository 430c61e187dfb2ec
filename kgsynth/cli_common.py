"""What every CLI command shares: the stderr console and how an error ends a command."""

from __future__ import annotations

import atexit
import gc
import logging
import os
import re
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, NoReturn, TypeVar

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from kgsynth.defaults import DEFAULT_CACHE_DIR
from kgsynth.kg.registry import kg_option_help

T = TypeVar("T")

# the LLM endpoint flags, the same for every command that can call a model
LLMBaseUrl = Annotated[str | None, typer.Option("--base-url", help="OpenAI-compatible URL")]
LLMModel = Annotated[str | None, typer.Option(help="LLM model name")]
LLMKeyEnv = Annotated[
    str | None, typer.Option("--api-key-env", help="env variable holding the API key")
]
# the build config file (build and verify)
ConfigOption = Annotated[
    Path | None, typer.Option("--config", "-c", help="TOML or YAML build config")
]
# the cache folder every command shares (KG, alias index, LLM replies)
CacheDirOption = Annotated[
    Path | None,
    typer.Option("--cache-dir", help=f"cache folder (default {DEFAULT_CACHE_DIR})"),
]
# the KG a command reads: a built-in name, files or FORMAT:PATH[,PATH]; the help lists the
# registered formats (the registry imports no loader, so --help stays quick)
KG_HELP = kg_option_help()
KgOption = Annotated[str, typer.Option("--kg", help=KG_HELP)]

err = Console(stderr=True)

# A build imports some 4,000 modules (Prefect, spaCy, torch, polars, matplotlib) and holds
# mostly acyclic data: with the default thresholds (700, 10, 10) the collector ran ~1,200
# times in a warm sample build, walking all of it now and then (1.2-1.4 s of a 10 s build
# on a loaded 2-core machine), and the interpreter's exit, collecting once more, took
# another 1.6-2 s. Young cycles are still collected, only less often.
GC_THRESHOLDS = (50_000, 20, 100)
_gc_tuned = False


def tune_gc() -> None:
    """The kgsynth process's collector: rarer collections, and none at exit (what is alive
    then is frozen: the process ends anyway, and the exit hooks that flush and close, Prefect's
    and kgsynth's, have run by then)."""
    global _gc_tuned
    if _gc_tuned:
        return
    _gc_tuned = True
    gc.set_threshold(*GC_THRESHOLDS)
    # registered before a command imports Prefect: exit hooks run last-in first-out, so
    # this one runs after those registered later
    atexit.register(_freeze_at_exit)


def _freeze_at_exit() -> None:
    # nanobind extensions (triton, which torch loads for some models) print every object of
    # theirs left uncollected at exit as a leak: with one loaded, the final collection runs
    if "triton" not in sys.modules:
        gc.freeze()


def fail(message: str) -> NoReturn:
    """Print `error: message` on stderr and exit with status 2 (bad input or config)."""
    # soft_wrap: a file path in the message must stay on one line to be copied
    err.print(f"[bold red]error:[/] {escape(message)}", soft_wrap=True)
    raise typer.Exit(2)


class RichListener:
    """Shows the pipeline's stage progress (kgsynth.progress) as rich progress bars."""

    def __init__(self, bar: Progress) -> None:
        self.bar = bar
        self.tasks: dict[str, Any] = {}

    def start(self, stage: str, total: int) -> None:
        self.tasks[stage] = self.bar.add_task(stage, total=total)

    def advance(self, stage: str, done: int) -> None:
        self.bar.update(self.tasks[stage], completed=done)

    def finish(self, stage: str) -> None:
        task_id = self.tasks[stage]
        self.bar.update(task_id, completed=self.bar.tasks[task_id].total)


# the exception class a Prefect state message names: "Task run encountered an exception
# InputError: ...", "Flow run encountered an exception: InputError: ..."
_STATE_EXC = re.compile(r"encountered an exception:? ([A-Za-z_]\w*):")


def _error_classes() -> set[str]:
    from kgsynth.errors import KGSynthError

    names, todo = set(), [KGSynthError]
    while todo:
        cls = todo.pop()
        names.add(cls.__name__)
        todo += cls.__subclasses__()
    return names


class KnownErrorFilter(logging.Filter):
    """Drops Prefect's terminal lines about a KGSynthError: the task's and flow's
    traceback and their "Finished in state Failed(... InputError: ...)" line. `fail` prints
    the error once, plainly; any other exception keeps its traceback. Sits on the console
    handlers only, so the Prefect server's log of the run keeps everything."""

    def filter(self, record: logging.LogRecord) -> bool:
        from kgsynth.errors import KGSynthError

        if record.exc_info and isinstance(record.exc_info[1], KGSynthError):
            return False
        if record.levelno >= logging.ERROR and record.name.startswith("prefect"):
            m = _STATE_EXC.search(record.getMessage())
            if m and m.group(1) in _error_classes():
                return False
        return True


def _filter_console() -> None:
    # Prefect's console handler sits on the root logger, set up when prefect is imported.
    # prefect.main (what `from prefect import flow` loads) sets logging up at import, even
    # when it was set up before (again, incrementally: ~0.2 s of settings serialised into
    # the logging template): imported first, it is set up once
    import prefect.main  # noqa: F401
    from prefect.logging.configuration import ensure_logging_setup

    ensure_logging_setup()
    for handler in logging.getLogger().handlers:
        if not any(isinstance(f, KnownErrorFilter) for f in handler.filters):
            handler.addFilter(KnownErrorFilter())


def quiet_prefect() -> None:
    # An ad-hoc run needs no telemetry and no per-task log lines on the terminal.
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
    logging.getLogger("prefect").setLevel(logging.WARNING)
    _filter_console()
    # Dask's scheduler, nannies and workers log each start and stop at INFO; the variable
    # reaches the worker processes, which read it when they import distributed
    os.environ.setdefault("DASK_LOGGING__DISTRIBUTED", "warning")
    logging.getLogger("distributed").setLevel(logging.WARNING)


def run_with_progress(flow_fn: Callable[..., T], *args: Any) -> T:
    """Run a flow in-process with a progress bar per stage on stderr; the plot worker starts
    once a stage does per-row work here (kgsynth.export.plots: a warm build needs none)."""
    from kgsynth.export.plots import start_worker
    from kgsynth.progress import progress

    with Progress(
        TextColumn("{task.description:>10}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err,
        transient=False,
    ) as bar:
        progress.listener = RichListener(bar)
        progress.on_work = start_worker
        try:
            return flow_fn(*args)
        finally:
            progress.listener = None
            progress.on_work = None


def run_flow(title: str, start: Callable[[], T], unit: str = "input") -> T:
    """One CLI command's run: quiet Prefect, `start()` (load the config, call the flow) under
    progress bars, a KGSynthError ends the command with status 2, then the summary table."""
    from kgsynth.errors import KGSynthError

    quiet_prefect()
    try:
        from kgsynth.prefect_server import prefect_api

        # the configured Prefect API, or a temporary server that starts only if the run
        # needs it (see call_flow) and that a killed kgsynth does not leave running
        with prefect_api():
            result = run_with_progress(start)
    except KGSynthError as e:
        fail(str(e))
    print_summary(result, title, unit)
    return result


def print_summary(result: Any, title: str, unit: str = "input") -> None:
    """Stage counts (stages that ran), rejects by reason, timings and the balance line."""
    report = result.report
    n_in = report.n_input or 1
    table = Table(title=title)
    table.add_column("stage")
    table.add_column("rows" if unit == "input" else unit, justify="right")
    table.add_column(f"% of {unit}", justify="right")
    for stage, n in report.count_rows():  # a stage that did not run has no count
        table.add_row(stage.label, str(n), f"{100 * n / n_in:.1f}%")
    table.add_section()
    for stage, reason, n in report.rejected_by_reason():
        table.add_row(f"rejected: {stage}/{reason}", str(n), f"{100 * n / n_in:.1f}%")
    out = Console()
    out.print(table)
    out.print("time: " + ", ".join(f"{k} {v:.1f}s" for k, v in report.seconds.items()))
    out.print(
        f"{unit} {report.n_input} = exported {report.exported} + rejected {len(report.rejects)}"
    )
    out.print(f"wrote {result.files['data']} and {result.files['card']}")
