"""Stage progress reporting, decoupled from any UI.

Flow tasks call `progress.start/advance/finish`; the CLI plugs in a rich progress bar. With
no listener (a scheduled Prefect run) the calls cost nothing.
"""

from __future__ import annotations

from typing import Protocol


class Listener(Protocol):
    def start(self, stage: str, total: int) -> None: ...
    def advance(self, stage: str, done: int) -> None: ...
    def finish(self, stage: str) -> None: ...


class _Progress:
    def __init__(self) -> None:
        self.listener: Listener | None = None

    def start(self, stage: str, total: int) -> None:
        if self.listener:
            self.listener.start(stage, total)

    def advance(self, stage: str, done: int) -> None:
        if self.listener:
            self.listener.advance(stage, done)

    def finish(self, stage: str) -> None:
        if self.listener:
            self.listener.finish(stage)


progress = _Progress()
