"""Re-verify an existing dataset: the checks a build runs (kgsynth.verify.suite), over the rows
of a dataset folder, written as a new dataset folder with the same columns.

rows -> records -> checks (rules, claims, free-text matcher or judge, likelihood) -> rows that
pass keep every column they had except the four the checks write (checks, answer_check,
claims, likelihood); rows that fail join the dataset's rejects with their reason. The
dataset's build config is the starting point (same KG, linker, checks), the caller's config
overrides it. Counts carry over: the source build's input = exported + rejected still holds.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl
from prefect import flow

from kgsynth import resources
from kgsynth.config import BuildConfig
from kgsynth.errors import KGSynthError
from kgsynth.export.hub import SUMMARY_FILE, read_dataset, read_rejects
from kgsynth.export.rows import ROW_SCHEMA, generated_of, rows_frame
from kgsynth.export.write import write_dataset
from kgsynth.kg import load_kg
from kgsynth.llm.client import LLMClient
from kgsynth.llm.structured import StructuredRunner
from kgsynth.records import Reject
from kgsynth.report import BuildReport, kg_summary
from kgsynth.verify.suite import VerifySuite

# the columns the checks write; every other column of a row is carried over untouched
CHECK_COLUMNS = ("checks", "answer_check", "claims", "likelihood")


@dataclass
class VerifyResult:
    report: BuildReport
    files: dict[str, Path]


def source_config(dataset: Path) -> dict[str, Any]:
    """The build config recorded beside a dataset (build.json), or {} when there is none."""
    f = dataset / SUMMARY_FILE if dataset.is_dir() else dataset.parent / SUMMARY_FILE
    if not f.is_file():
        return {}
    try:
        return dict(json.loads(f.read_text("utf-8")).get("config") or {})
    except (json.JSONDecodeError, AttributeError) as e:
        raise KGSynthError(f"{f}: not a kgsynth build summary ({e})") from e


@flow(name="verify_dataset", persist_result=False, log_prints=True)
def verify_dataset(dataset: Path, out: Path, config: BuildConfig) -> VerifyResult:
    """Run the configured checks over an exported dataset; write the result to `out`."""
    cfg = config
    if out.resolve() == dataset.resolve():
        raise KGSynthError(f"{out}: write the re-verified dataset to another folder")
    report = BuildReport()
    t0 = time.perf_counter()
    rows = read_dataset(dataset)
    missing = [c for c in ROW_SCHEMA if c not in rows.columns and c not in CHECK_COLUMNS]
    if missing:
        raise KGSynthError(f"{dataset}: not kgsynth rows, missing column(s) {missing}")
    prior = read_rejects(dataset) if dataset.is_dir() else None
    prior_rejects = [Reject(**r) for r in prior.iter_rows(named=True)] if prior is not None else []

    kg = resources.share_kg(cfg.kg, cfg.cache_dir, load_kg(cfg.kg, cache_dir=cfg.cache_dir))
    built_on = sorted(set(rows["kg_hash"].drop_nulls().to_list()))
    if built_on and built_on != [kg.hash]:
        raise KGSynthError(
            f"{dataset}: rows were built on KG hash {', '.join(h[:12] for h in built_on)}, "
            f"but '{cfg.kg}' is now {kg.hash[:12]}; pass the KG the dataset was built on (--kg)"
        )
    report.kg = kg_summary(kg)
    report.seconds["read"] = round(time.perf_counter() - t0, 3)

    pairs = [generated_of(r) for r in rows.iter_rows(named=True)]
    client = (
        LLMClient(cfg.llm, cache_dir=cfg.cache_dir)
        if cfg.verify.free_text.method == "judge"
        else None
    )
    finder = (
        resources.worker_linker(kg, cfg.linking, cfg.cache_dir)
        if cfg.verify.claims.enabled
        else None
    )
    t0 = time.perf_counter()
    suite = VerifySuite.for_config(
        kg, cfg.verify, finder=finder, runner=StructuredRunner(client) if client else None
    )
    verified = suite.run([g for g, _ in pairs], prior=[c for _, c in pairs])
    report.seconds["verify"] = round(time.perf_counter() - t0, 3)
    if client is not None:
        report.llm_usage = client.usage_report()
        client.close()

    checked = rows_frame(verified, kg.name, kg.hash).select(CHECK_COLUMNS)
    passed = pl.Series([v.checks.passed for v in verified], dtype=pl.Boolean)
    new = rows.drop([c for c in CHECK_COLUMNS if c in rows.columns]).hstack(checked)
    kept = new.filter(passed).select(ROW_SCHEMA.names())
    failed = [
        Reject(
            id=v.generated.pathed.linked.qa.id,
            stage="verify",
            reason="+".join(v.checks.failed()),
            detail="; ".join(v.checks.reasons),
            source_file=str(dataset),
        )
        for v in verified
        if not v.checks.passed
    ]
    report.rejects = prior_rejects + failed
    # the source build's input, so its balance still holds with the rows this run rejected
    report.counts = {
        "input": rows.height + len(prior_rejects),
        "verified": kept.height,
        "exported": kept.height,
    }
    report.check_balance()
    summary = report.summary() | {
        "source": str(dataset),
        "rows_read": rows.height,
        "kept": kept.height,
        "rejected_now": len(failed),
        "rejected_before": len(prior_rejects),
        "config": json.loads(cfg.model_dump_json()),
    }
    files = write_dataset(out, kept, report.rejects, _card(dataset, summary, cfg), summary)
    return VerifyResult(report=report, files=files)


def _card(dataset: Path, summary: dict[str, Any], cfg: BuildConfig) -> str:
    v = cfg.verify
    checks = [
        name
        for name, on in (
            ("kg_faithful", v.kg_faithful),
            ("answer_match", v.answer_match),
            ("no_leakage", v.no_leakage),
            ("claims", v.claims.enabled),
            ("likelihood", v.likelihood.model_path is not None),
        )
        if on
    ]
    lines = [
        "# kgsynth dataset (re-verified)",
        "",
        f"The rows of `{dataset.name}` checked again with `kgsynth verify`: "
        f"{summary['rows_read']} read, {summary['kept']} kept, {summary['rejected_now']} "
        f"rejected now (with their reasons in the rejects, stage `verify`), "
        f"{summary['rejected_before']} rejected by the source build.",
        "",
        f"Checks run: {', '.join(checks)}; free-text answers matched by `{v.free_text.method}`.",
    ]
    if v.likelihood.model_path is not None:
        lines.append(
            f"Likelihood verifier: model `{v.likelihood.model_path.name}`, score "
            f"`{v.likelihood.score}`, margin >= {v.likelihood.margin}."
        )
    lines.append("")
    return "\n".join(lines)
