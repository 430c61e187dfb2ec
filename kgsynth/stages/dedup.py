"""Dedup stage: exact and near-duplicate questions across the whole input (kgsynth.qa.dedup),
run before the input is split into shards; every later copy leaves naming the row it
duplicates."""

from __future__ import annotations

from pydantic import ConfigDict

from kgsynth.config import BuildConfig
from kgsynth.qa.dedup import find_duplicates
from kgsynth.records import QARecord
from kgsynth.stages import BuildContext, Stage, StageBase, StageInfo, StageResult


class DedupInfo(StageInfo):
    """The dedup summary (kgsynth.qa.dedup): settings, counts and example pairs."""

    model_config = ConfigDict(extra="allow")


class DedupStage(StageBase):
    stage = Stage.DEDUP

    def __init__(self, cfg: BuildConfig) -> None:
        self.settings = cfg.dedup

    def run(self, batch: list[QARecord], ctx: BuildContext) -> StageResult[QARecord]:
        res = find_duplicates(batch, self.settings)
        return StageResult(kept=res.kept, rejects=res.rejects, info=DedupInfo(**res.summary))
