"""The dataset card written beside the Parquet files."""

from __future__ import annotations

from typing import Any

from kgsynth.config import BuildConfig
from kgsynth.report import STAGES, BuildReport

_STAGE_LABEL = {
    "input": "QA rows read",
    "linked": "with a question and an answer entity",
    "with_path": "with at least one KG path",
    "generated": "with a generated thinking path",
    "verified": "passed the rule checks",
    "quality_passed": "passed the LLM quality filter",
    "exported": "exported",
}


def dataset_card(report: BuildReport, cfg: BuildConfig) -> str:
    n_in = report.counts.get("input", 0) or 1
    lines = [
        "# kgsynth dataset",
        "",
        "Thinking-path chain-of-thought rows built by kgsynth from QA pairs and a medical KG.",
        "Every exported row passed the checks listed below; everything else is in",
        "`rejects.parquet` with its stage and reason.",
        "",
        "## Source",
        f"- QA files: {', '.join(str(p) for p in cfg.qa_files())}",
        f"- KG: `{report.kg.get('name')}` (hash `{report.kg.get('hash', '')[:16]}`, "
        f"{report.kg.get('nodes')} nodes, {report.kg.get('edges')} edges"
        + (f", release {report.kg['release']}" if report.kg.get("release") else "")
        + ")",
        f"- Generator: `{report.generator.get('name')}`, model `{report.generator.get('model')}`,"
        f" prompt `{report.generator.get('prompt_version')}`",
        f"- Linking threshold {cfg.linking.threshold}; paths: max_hops {cfg.paths.max_hops},"
        f" k {cfg.paths.k} per pair, max {cfg.paths.max_paths} per question",
        "",
        "## Counts per stage",
        "| stage | rows | % of input |",
        "| --- | ---: | ---: |",
    ]
    for s in (s for s in STAGES if s in report.counts):
        n = report.counts[s]
        lines.append(f"| {_STAGE_LABEL[s]} | {n} | {100 * n / n_in:.1f}% |")
    lines += [
        "",
        f"Exported {report.exported} + rejected {len(report.rejects)} = "
        f"{report.exported + len(report.rejects)} (input {report.counts.get('input', 0)}).",
        "",
        "## Rejected, by stage and reason",
        "| stage | reason | rows |",
        "| --- | --- | ---: |",
    ]
    lines += [f"| {s} | {r} | {n} |" for s, r, n in report.rejected_by_reason()]
    lines += usage_lines(report.llm_usage)
    lines += [
        "",
        "## Checks",
        "- `kg_faithful`: every hop of every path written in the reasoning is a KG edge.",
        "- `answer_match`: the conclusion states the gold option (letter or normalised text).",
        "- `no_leakage`: no wording that betrays the answer or the paths were handed over.",
        "",
        "## Files",
        "- `data.parquet`: exported rows (schema: `schemas/output_row.schema.json`).",
        "- `rejects.parquet`: id, stage, reason, detail, source_file, line.",
        "- `build.json`: counts, timings and the build config.",
        "",
        "QA text keeps the licence of its source dataset.",
        "",
    ]
    return "\n".join(lines)


def usage_lines(usage: dict[str, Any]) -> list[str]:
    """LLM requests, tokens and cost of this run, per step (nothing for an offline build)."""
    steps = usage.get("steps") or {}
    if not steps:
        return []

    def cost(v: float | None) -> str:
        return "n/a" if v is None else f"${v:.4f}"

    lines = [
        "",
        "## LLM usage (this run)",
        "| step | model | requests | retries | cache hits | prompt tokens | completion tokens"
        " | cost |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for name, su in steps.items():
        lines.append(
            f"| {name} | `{su['model']}` | {su['requests']} | {su['retries']} | "
            f"{su['cache_hits']} | {su['prompt_tokens']} | {su['completion_tokens']} | "
            f"{cost(su['cost_usd'])} |"
        )
    t = usage.get("total", {})
    lines.append(
        f"| **total** | | {t.get('requests', 0)} | {t.get('retries', 0)} | "
        f"{t.get('cache_hits', 0)} | {t.get('prompt_tokens', 0)} | "
        f"{t.get('completion_tokens', 0)} | {cost(t.get('cost_usd'))} |"
    )
    prices = usage.get("prices") or {}
    if prices:
        listed = ", ".join(
            f"`{m}` ${p['input_per_1m']}/${p['output_per_1m']} per 1M input/output tokens"
            for m, p in prices.items()
        )
        lines.append(f"\nPrices (from the build config): {listed}.")
    else:
        lines.append("\nNo prices configured (`llm.prices`): cost not computed.")
    lines.append(
        "Cache hits are replies reused from the response cache: no request, no cost this run."
    )
    return lines
