"""Input stage: QA files -> normalised QA records (kgsynth.qa.read), one reject per row that
cannot be read or normalised; the stage's count is every row read."""

from __future__ import annotations

from pathlib import Path

from kgsynth.config import BuildConfig
from kgsynth.qa.read import read_qa
from kgsynth.records import QARecord
from kgsynth.stages import BuildContext, Stage, StageBase, StageResult


class ReadStage(StageBase):
    stage = Stage.INPUT

    def __init__(self, cfg: BuildConfig) -> None:
        self.limit = cfg.limit

    def run(self, batch: list[Path], ctx: BuildContext) -> StageResult[QARecord]:
        read = read_qa(batch, limit=self.limit)
        return StageResult(kept=read.records, rejects=read.rejects)
