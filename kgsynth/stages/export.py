"""Export stage: verified rows -> a dataset folder (Parquet rows, rejects, card, build.json).

It counts the rows it exports, checks that input = exported + rejected (nothing lost
silently) and only then writes (kgsynth.export.write), whole or not at all, replacing an
existing dataset only with the config's `overwrite` (kgsynth.export.out). The rows come as
records, or as the part files a streamed build wrote as its shards finished
(kgsynth.export.parts.RowParts: already in the exported table's form).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import polars as pl

from kgsynth.export.parts import RowParts
from kgsynth.export.rows import rows_frame
from kgsynth.export.write import write_dataset
from kgsynth.records import VerifiedQA
from kgsynth.stages import BuildContext, Stage, StageBase, StageInfo, StageResult


class ExportInfo(StageInfo):
    files: dict[str, Path]  # data, rejects, card, summary, plots


class ExportStage(StageBase):
    """`card` renders the dataset card's body from the finished report; `summary` adds a
    flow's own keys to build.json; `chain` lists the LLM steps (and versions) that shaped
    every row; `frame` turns the rows into the exported table (default: rows_frame);
    `out` is the dataset folder (default: the config's `out`)."""

    stage = Stage.EXPORT

    def __init__(
        self,
        card: Callable[[Any], str],
        summary: dict[str, Any] | None = None,
        chain: dict[str, str] | None = None,
        frame: Callable[[list[VerifiedQA]], pl.DataFrame] | None = None,
        out: Path | None = None,
    ) -> None:
        self.out = out
        self.card = card
        self.frame = frame
        self.summary = summary or {}
        self.chain = chain

    def run(self, batch: list[VerifiedQA] | RowParts, ctx: BuildContext) -> StageResult[VerifiedQA]:
        report = ctx.report
        assert report is not None
        if isinstance(batch, RowParts):
            result: StageResult[VerifiedQA] = StageResult(kept=[])
            report.counts[self.stage] = report.counts.get(self.stage, 0) + batch.height
        else:
            result = StageResult(kept=batch)
            report.record(self.stage, result)
        report.check_balance()
        rows: pl.DataFrame | RowParts
        if isinstance(batch, RowParts):
            rows = batch
        elif self.frame is not None:
            rows = self.frame(batch)
        else:
            rows = rows_frame(batch, ctx.graph.name, ctx.graph.hash, chain=self.chain)
        summary = report.summary() | self.summary
        files = write_dataset(
            self.out or ctx.cfg.out,
            rows,
            report.rejects,
            self.card(report),
            summary,
            overwrite=ctx.cfg.overwrite,
            plot_cache=ctx.cfg.cache_dir,
        )
        result.info = ExportInfo(files=files)
        return result
