"""Per-option KG evidence: which question findings reach each option, how specific they are,
which denied findings an option predicts, and the ranking of the options that follows
(kgsynth.evidence.score). The evidence stage rejects rows whose evidence does not single out
the gold option; the paths stage keeps gold's discriminative supports as the row's paths."""

from kgsynth.evidence.score import EvidenceScorer, gold_option, judge
from kgsynth.evidence.specificity import specificity

__all__ = ["EvidenceScorer", "gold_option", "judge", "specificity"]
