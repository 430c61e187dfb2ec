"""The dataset card of a KG-first synthesis run."""

from __future__ import annotations

from collections import Counter

from kgsynth.export.card import usage_lines
from kgsynth.records import VerifiedQA
from kgsynth.report import BuildReport
from kgsynth.synth.config import SynthConfig

STAGES = {
    "input": "attempts (chains tried)",
    "sampled": "walks completed",
    "unique": "answer unique in the KG (and not a repeat)",
    "posed": "with enough distractors that fail the chain",
    "generated": "written as a question with a thinking trace",
    "verified": "verified and exported",
}


def _composition(rows: list[VerifiedQA]) -> list[str]:
    """What the exported rows are made of: hops, answer types, commonest relation chains."""
    hops: Counter[int] = Counter()
    types: Counter[str] = Counter()
    shapes: Counter[str] = Counter()
    for v in rows:
        path = v.generated.pathed.paths[0]
        hops[len(path.hops)] += 1
        types[v.generated.pathed.linked.answer_entities[0].type] += 1
        shapes[" / ".join(h.relation for h in path.hops)] += 1
    return [
        "## Composition",
        "- Hops: " + ", ".join(f"{k}: {n}" for k, n in sorted(hops.items())),
        "- Answer types: " + ", ".join(f"{k}: {n}" for k, n in types.most_common()),
        "- Commonest relation chains: " + ", ".join(f"{k} ({n})" for k, n in shapes.most_common(8)),
        "",
    ]


def synth_card(
    report: BuildReport, cfg: SynthConfig, sampling: dict[str, str], rows: list[VerifiedQA]
) -> str:
    n_in = report.counts.get("input", 0) or 1
    kg = report.kg
    lines = [
        "# kgsynth KG-first dataset",
        "",
        "Multiple-choice questions synthesised from chains of a medical KG by kgsynth",
        "(`kgsynth synth-kg`), each with a thinking trace that follows its chain. Every",
        "exported row passed the checks listed below; every other attempt is in",
        "`rejects.parquet` with its stage and reason.",
        "",
        "## Source",
        f"- KG: `{kg.get('name')}` (hash `{kg.get('hash', '')[:16]}`, {kg.get('nodes')} nodes,"
        f" {kg.get('edges')} edges"
        + (f", release {kg['release']}" if kg.get("release") else "")
        + ")",
        f"- Chains: {sampling.get('plans')}; start entities with degree at or below the "
        f"{cfg.rare_percentile:g}th percentile ({sampling.get('thresholds')}); seed {cfg.seed}",
        f"- Options per question: {cfg.n_options}",
        f"- Generator: `{report.generator.get('name')}`, model `{report.generator.get('model')}`,"
        f" prompt `{report.generator.get('prompt_version')}`",
        "",
        "## Counts per stage",
        "| stage | attempts | % of attempts |",
        "| --- | ---: | ---: |",
    ]
    for key, label in STAGES.items():
        n = report.counts.get(key, 0)
        lines.append(f"| {label} | {n} | {100 * n / n_in:.1f}% |")
    lines += [
        "",
        f"Exported {report.exported} + rejected {len(report.rejects)} = "
        f"{report.exported + len(report.rejects)} (attempts {report.counts.get('input', 0)}).",
        "",
        "## Rejected, by stage and reason",
        "| stage | reason | attempts |",
        "| --- | --- | ---: |",
    ]
    lines += [f"| {s} | {r} | {n} |" for s, r, n in report.rejected_by_reason()]
    lines += ["", *_composition(rows)]
    lines += [
        "## What a row means",
        "- A chain is a simple KG path from a rare start entity. Its constraint is its steps,",
        "  each a relation and a direction, anchored at the start; the question names the start",
        "  and describes each step by its relation.",
        "- `answer_unique`: of all nodes the constraint reaches from the start (any walk,",
        "  intermediate types free: a superset of any narrower reading), exactly one has the",
        "  answer's type, and it is the answer.",
        "- `distractors_fail_chain`: every other option is a KG node of the answer's type",
        "  outside that set, and shares its name with no node in it.",
        "- `kg_faithful`, `answer_match`, `no_leakage`: as for built rows (every cited hop is a",
        "  KG edge, the conclusion states the answer option, no leakage wording).",
        "",
        "## Files",
        "- `data.parquet`: exported rows (schema: `schemas/output_row.schema.json`), source `kg`.",
        "- `rejects.parquet`: id, stage, reason, detail (one row per rejected attempt).",
        "- `build.json`: counts, timings and the run's config.",
        "",
    ]
    lines += usage_lines(report.llm_usage)  # requests and tokens, when an LLM wrote them
    return "\n".join(lines)
