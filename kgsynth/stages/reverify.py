"""Re-verification of an exported dataset (`kgsynth verify DATASET`, flows/verify.py).

The dataset's rows go back to the records the checks read (kgsynth.export.rows.generated_of),
through the same checks a build runs (kgsynth.verify.suite), and out as rows that keep every
column they had except the ones the checks write. Rows that fail join the dataset's own
rejects, so the source build's input = exported + rejected still holds.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl

from kgsynth.config import BuildConfig
from kgsynth.errors import KGSynthError
from kgsynth.export.card import render_card
from kgsynth.export.hub import SUMMARY_FILE, read_dataset, read_rejects
from kgsynth.export.rows import check_columns, generated_of, row_schema, rows_frame
from kgsynth.kg.graph import KnowledgeGraph
from kgsynth.records import Checks, GeneratedQA, Reject, VerifiedQA
from kgsynth.report import BuildReport
from kgsynth.stages import BuildContext, Stage, StageBase, StageResult
from kgsynth.stages.verify import build_suite, split_verified
from kgsynth.verify.registry import registered


def source_config(dataset: Path) -> dict[str, Any]:
    """The build config recorded beside a dataset (build.json), or {} when there is none."""
    f = dataset / SUMMARY_FILE if dataset.is_dir() else dataset.parent / SUMMARY_FILE
    if not f.is_file():
        return {}
    try:
        return dict(json.loads(f.read_text("utf-8")).get("config") or {})
    except (json.JSONDecodeError, AttributeError) as e:
        raise KGSynthError(f"{f}: not a kgsynth build summary ({e})") from e


@dataclass
class Dataset:
    """An exported dataset as read back: its rows and the rejects of the build behind it."""

    path: Path
    rows: pl.DataFrame
    prior_rejects: list[Reject]

    @classmethod
    def read(cls, path: Path) -> Dataset:
        rows = read_dataset(path)
        written = check_columns()
        missing = [c for c in row_schema() if c not in rows.columns and c not in written]
        if missing:
            raise KGSynthError(f"{path}: not kgsynth rows, missing column(s) {missing}")
        prior = read_rejects(path) if path.is_dir() else None
        rejects = [Reject(**r) for r in prior.iter_rows(named=True)] if prior is not None else []
        return cls(path, rows, rejects)

    def check_kg(self, kg: KnowledgeGraph, spec: str) -> None:
        built_on = sorted(set(self.rows["kg_hash"].drop_nulls().to_list()))
        if built_on and built_on != [kg.hash]:
            raise KGSynthError(
                f"{self.path}: rows were built on KG hash "
                f"{', '.join(h[:12] for h in built_on)}, but '{spec}' is now {kg.hash[:12]}; "
                "pass the KG the dataset was built on (--kg)"
            )

    def records(self) -> list[tuple[GeneratedQA, Checks]]:
        return [generated_of(r) for r in self.rows.iter_rows(named=True)]

    def rows_of(self, kept: list[VerifiedQA], kg: KnowledgeGraph) -> pl.DataFrame:
        """The kept rows: every column as it was, the check columns as they are now."""
        ids = [v.generated.pathed.linked.qa.id for v in kept]
        written = check_columns()
        checked = rows_frame(kept, kg.name, kg.hash).select(written)
        old = self.rows.drop([c for c in written if c in self.rows.columns])
        # the kept rows are in the dataset's order (split_verified keeps it)
        new = old.filter(pl.col("id").is_in(ids)).hstack(checked)
        return new.select(row_schema().names())


class ReverifyStage(StageBase):
    """The checks over a dataset's records; the checks a re-run cannot redo (KG-first
    synthesis' chain checks, the LLM quality filter) are carried over from the rows."""

    stage = Stage.VERIFY

    def __init__(self, dataset: Dataset, cfg: BuildConfig) -> None:
        self.dataset, self.cfg = dataset, cfg

    def run(
        self, batch: list[tuple[GeneratedQA, Checks]], ctx: BuildContext
    ) -> StageResult[VerifiedQA]:
        verified = build_suite(self.cfg, ctx).run(
            [g for g, _ in batch], prior=[c for _, c in batch]
        )
        kept, rejects = split_verified(verified, source_file=str(self.dataset.path))
        return StageResult(kept=kept, rejects=rejects)


def reverify_card(report: BuildReport, dataset: Path, ctx: BuildContext) -> str:
    v = ctx.cfg.verify
    # every registered check with a function that this config switches on
    checks = [c.name for c in registered() if c.run is not None and c.enabled(v)]
    notes = [
        f"Checks run: {', '.join(checks)}; free-text answers matched by `{v.free_text.method}`."
    ]
    if v.likelihood.model_path is not None:
        notes.append(
            f"Likelihood verifier: model `{v.likelihood.model_path.name}`, score "
            f"`{v.likelihood.score}`, margin >= {v.likelihood.margin}."
        )
    return render_card(
        report,
        "kgsynth dataset (re-verified)",
        [
            f"The rows of `{dataset.name}` checked again with `kgsynth verify`; rows that fail"
            " now join the source build's rejects (stage `verify`).",
        ],
        [f"- Dataset: `{dataset}`", f"- KG: `{report.kg.get('name')}`"],
        notes,
    )
