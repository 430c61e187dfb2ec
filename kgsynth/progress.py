"""Stage progress reporting, decoupled from any UI.

Flow tasks call `progress.start/advance/finish`; the CLI plugs in a rich progress bar. With
no listener (a scheduled Prefect run) the calls cost nothing.

`on_work` is called once, the first time a stage starts its per-row work in this process
(muted or not; not the run's own "rows" bar): a warm build, whose shards all come from the
shard cache, never calls it. The CLI starts its plot worker there (kgsynth.export.plots).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Protocol


class Listener(Protocol):
    def start(self, stage: str, total: int) -> None: ...
    def advance(self, stage: str, done: int) -> None: ...
    def finish(self, stage: str) -> None: ...


# set inside one shard of a sharded build: its per-stage counts would restart with every
# shard, so the flow shows one bar over all rows instead (a context variable, so the shard's
# thread alone is muted, not the flow's)
_muted: ContextVar[bool] = ContextVar("kgsynth_progress_muted", default=False)
RUN_BAR = "rows"  # the bar over a run's rows (kgsynth.runs, flows/synth.py): no stage's work


class _Progress:
    def __init__(self) -> None:
        self.listener: Listener | None = None
        self.on_work: Callable[[], None] | None = None  # called once, see the module doc

    def _on(self) -> Listener | None:
        return None if _muted.get() else self.listener

    def start(self, stage: str, total: int) -> None:
        if stage != RUN_BAR and (hook := self.on_work) is not None:
            self.on_work = None
            hook()
        if listener := self._on():
            listener.start(stage, total)

    def advance(self, stage: str, done: int) -> None:
        if listener := self._on():
            listener.advance(stage, done)

    def finish(self, stage: str) -> None:
        if listener := self._on():
            listener.finish(stage)

    def __reduce__(self) -> tuple[object, tuple[()]]:
        # pickled (say, into a Dask worker) as "this process's progress": a listener with its
        # terminal and locks stays where it is
        return (_this_process, ())

    @contextmanager
    def muted(self, on: bool = True) -> Iterator[None]:
        """No progress reported from this context while `on`."""
        token = _muted.set(on)
        try:
            yield
        finally:
            _muted.reset(token)


progress = _Progress()


def _this_process() -> _Progress:
    return progress
