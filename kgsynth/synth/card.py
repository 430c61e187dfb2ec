"""The dataset card of a KG-first synthesis run."""

from __future__ import annotations

from kgsynth.export.card import generator_line, kg_line, render_card
from kgsynth.export.hub import REJECTS_FILE
from kgsynth.report import BuildReport
from kgsynth.synth.config import SynthConfig


def synth_card(report: BuildReport, cfg: SynthConfig, sampling: dict[str, str]) -> str:
    """The card's body; the writer adds the statistics of the rows it writes."""
    return render_card(
        report,
        "kgsynth KG-first dataset",
        [
            "Multiple-choice questions synthesised from chains of a medical KG by kgsynth",
            "(`kgsynth synth-kg`), each with a thinking trace that follows its chain. Every",
            "exported row passed the checks listed below; every other attempt is in",
            f"`{REJECTS_FILE}` with its stage and reason. Hops, answer types and relation",
            "chains are under Statistics.",
        ],
        [
            kg_line(report.kg),
            f"- Chains: {sampling.get('plans')}; start entities with degree at or below the "
            f"{cfg.rare_percentile:g}th percentile ({sampling.get('thresholds')}); seed "
            f"{cfg.seed}",
            f"- Options per question: {cfg.n_options}",
            generator_line(report),
        ],
        [
            "## What a row means",
            "- A chain is a simple KG path from a rare start entity. Its constraint is its steps,",
            "  each a relation and a direction, anchored at the start; the question names the",
            "  start and describes each step by its relation.",
            "- `answer_unique`: of all nodes the constraint reaches from the start (any walk,",
            "  intermediate types free: a superset of any narrower reading), exactly one has the",
            "  answer's type, and it is the answer.",
            "- `distractors_fail_chain`: every other option is a KG node of the answer's type",
            "  outside that set, and shares its name with no node in it.",
            "- `kg_faithful`, `answer_match`, `no_leakage`: as for built rows (every cited hop is",
            "  a KG edge, the conclusion states the answer option, no leakage wording).",
            "- Rows have source `kg`; a rejected attempt is one row of the rejects.",
        ],
        unit="attempts",
    )
