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
    """The build config recorded beside a dataset (build.json), or {} when there is none.
    It is untrusted data: `dataset_settings` says what of it a re-verification uses."""
    f = dataset / SUMMARY_FILE if dataset.is_dir() else dataset.parent / SUMMARY_FILE
    if not f.is_file():
        return {}
    try:
        config = json.loads(f.read_text("utf-8")).get("config") or {}
        if not isinstance(config, dict):
            raise TypeError("config is not a table")
        return dict(config)
    except (json.JSONDecodeError, AttributeError, TypeError) as e:
        raise KGSynthError(f"{f}: not a kgsynth build summary ({e})") from e


# A shared dataset is untrusted input: from its recorded config, a re-verification takes only
# the settings that decide what the checks check. Nothing that reaches the network, the file
# system or code comes from it: no endpoint, API-key variable, cache or output folder, model
# path, NER model, KG file, writer or chain settings; those come from the user's flags,
# config file and environment. (README, "Verifying": the list a user reads.)
_SECTIONS_TAKEN = ("linking", "paths", "evidence", "verify")
_NEVER_TAKEN = {
    ("linking", "ner_model"),  # a spaCy model name or folder: code and pickles
    ("verify", "likelihood", "model_path"),
    ("verify", "likelihood", "device"),
    ("verify", "free_text", "model_path"),
    ("verify", "free_text", "device"),
}


def dataset_settings(recorded: dict[str, Any]) -> dict[str, Any]:
    """What `kgsynth verify` reuses of a dataset's recorded config (see _NEVER_TAKEN)."""
    from kgsynth.kg.registry import builtin_names

    out: dict[str, Any] = {}
    kg = recorded.get("kg")
    if isinstance(kg, str) and kg in builtin_names():
        out["kg"] = kg  # a built-in KG by name; a file the dataset names is never opened
    for section in _SECTIONS_TAKEN:
        value = recorded.get(section)
        if isinstance(value, dict):
            out[section] = _without(value, (section,))
    free_text = out.get("verify", {}).get("free_text", {})
    if free_text.get("method") == "judge":
        del free_text["method"]  # an LLM judge calls an endpoint: only the user turns it on
    return out


def _without(table: dict[str, Any], at: tuple[str, ...]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in table.items():
        here = (*at, str(k))
        if here in _NEVER_TAKEN:
            continue
        out[k] = _without(v, here) if isinstance(v, dict) else v
    return out


def dataset_kg_unusable(recorded: dict[str, Any]) -> str | None:
    """The KG a dataset names when it is a file (which verify will not open), else None."""
    from kgsynth.kg.registry import builtin_names

    kg = recorded.get("kg")
    if isinstance(kg, str) and kg and kg not in builtin_names():
        return kg
    return None


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
