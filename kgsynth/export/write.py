"""Write a finished build: Parquet rows, rejects, dataset card and a JSON summary."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import polars as pl

from kgsynth.config import BuildConfig
from kgsynth.export.card import dataset_card
from kgsynth.export.rows import rejects_frame
from kgsynth.records import Reject
from kgsynth.report import BuildReport


def write_dataset(
    out: Path, rows: pl.DataFrame, rejects: list[Reject], card: str, summary: dict[str, Any]
) -> dict[str, Path]:
    """The four files of any kgsynth dataset folder (a build's or a KG-first synthesis')."""
    out.mkdir(parents=True, exist_ok=True)
    paths = {
        "data": out / "data.parquet",
        "rejects": out / "rejects.parquet",
        "card": out / "README.md",
        "summary": out / "build.json",
    }
    # write to temp names then rename, so a crash never leaves a half-written dataset
    for key, frame in (("data", rows), ("rejects", rejects_frame(rejects))):
        tmp = paths[key].with_suffix(".parquet.tmp")
        frame.write_parquet(tmp)
        tmp.replace(paths[key])
    paths["card"].write_text(card, encoding="utf-8")
    paths["summary"].write_text(json.dumps(summary, indent=2), encoding="utf-8")
    return paths


def write_outputs(
    out: Path, rows: pl.DataFrame, report: BuildReport, cfg: BuildConfig
) -> dict[str, Path]:
    summary = {
        "counts": report.counts,
        "exported": report.exported,
        "rejected": len(report.rejects),
        "rejected_by_reason": [
            {"stage": s, "reason": r, "rows": n} for s, r, n in report.rejected_by_reason()
        ],
        "seconds": report.seconds,
        "kg": report.kg,
        "linker": report.linker,
        "generator": report.generator,
        "llm_usage": report.llm_usage,
        "config": json.loads(cfg.model_dump_json()),
    }
    return write_dataset(out, rows, report.rejects, dataset_card(report, cfg), summary)
