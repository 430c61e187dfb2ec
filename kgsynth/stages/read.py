"""Input stage: QA files -> normalised QA records (kgsynth.qa.read), one reject per row that
cannot be read or normalised; the stage's count is every row read. An input without a
single row is an InputError: an empty dataset from an empty file hides the mistake."""

from __future__ import annotations

from pathlib import Path

from kgsynth.config import BuildConfig
from kgsynth.errors import InputError
from kgsynth.qa.read import read_qa
from kgsynth.records import QARecord
from kgsynth.stages import BuildContext, Stage, StageBase, StageResult


class ReadStage(StageBase):
    stage = Stage.INPUT

    def __init__(self, cfg: BuildConfig) -> None:
        self.limit = cfg.limit

    def run(self, batch: list[Path], ctx: BuildContext) -> StageResult[QARecord]:
        read = read_qa(batch, limit=self.limit)
        if read.n_input == 0:  # rejects count: a file of broken rows is read, and reported
            files = ", ".join(str(p) for p in batch)
            what = "the file is" if len(batch) == 1 else "every file is"
            raise InputError(files, f"no QA rows ({what} empty, or a header only)")
        return StageResult(kept=read.records, rejects=read.rejects)
