"""The dataset card of a KG-first synthesis run."""

from __future__ import annotations

from kgsynth.export.card import usage_lines
from kgsynth.export.hub import REJECTS_FILE
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


def synth_card(report: BuildReport, cfg: SynthConfig, sampling: dict[str, str]) -> str:
    """The card's body; the writer adds the statistics of the rows it writes."""
    n_in = report.counts.get("input", 0) or 1
    kg = report.kg
    lines = [
        "# kgsynth KG-first dataset",
        "",
        "Multiple-choice questions synthesised from chains of a medical KG by kgsynth",
        "(`kgsynth synth-kg`), each with a thinking trace that follows its chain. Every",
        "exported row passed the checks listed below; every other attempt is in",
        f"`{REJECTS_FILE}` with its stage and reason. Hops, answer types and relation",
        "chains are under Statistics.",
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
    lines.append("")
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
        "- Rows have source `kg`; a rejected attempt is one row of the rejects.",
        "",
    ]
    lines += usage_lines(report.llm_usage)  # requests and tokens, when an LLM wrote them
    return "\n".join(lines)
