"""Evidence stage: linked rows -> rows with per-option KG evidence (kgsynth.evidence).

Every option is scored from the question's present findings (specific findings and short
paths count more; denied findings an option predicts count against it). A row leaves when no
present finding reaches gold (`no_support`), when none that does is specific
(`nonspecific_support`, `[evidence] min_clue_weight`) or when gold is not first by at least
`[evidence] min_margin` (`not_discriminative`, the ranking with scores as detail). The kept
rows are PathedQA with `evidence` set and no paths yet: the paths stage picks gold's
discriminative supports from the evidence.
"""

from __future__ import annotations

from kgsynth.config import BuildConfig
from kgsynth.records import LinkedQA, PathedQA
from kgsynth.stages import BuildContext, Stage, StageBase, StageInfo, StageResult, reject, tracked


class EvidenceInfo(StageInfo):
    scored: int  # rows scored
    gold_first: int  # rows whose evidence puts gold strictly first

    def merge(self, other: StageInfo) -> EvidenceInfo:
        assert isinstance(other, EvidenceInfo)
        return EvidenceInfo(
            scored=self.scored + other.scored, gold_first=self.gold_first + other.gold_first
        )


class EvidenceStage(StageBase):
    stage = Stage.EVIDENCE

    def __init__(self, cfg: BuildConfig) -> None:
        # evidence paths are ranked and filtered like the build's paths ([paths] settings)
        self.settings, self.paths = cfg.evidence, cfg.paths

    def run(self, batch: list[LinkedQA], ctx: BuildContext) -> StageResult[PathedQA]:
        # imported here: a build whose shards all come from the shard cache needs none of it
        from kgsynth.evidence.score import EvidenceScorer, judge

        scorer = EvidenceScorer(ctx.graph, self.settings, self.paths)
        out = StageResult[PathedQA](kept=[])
        first = 0
        for item in tracked(self.stage, batch):
            scored = scorer.score(item)
            report = scored.report
            first += report.margin is not None and report.margin > 0
            why = judge(report, self.settings)
            if why is not None:
                out.rejects.append(reject(item.qa, self.stage, *why))
                continue
            out.kept.append(
                PathedQA(linked=item, paths=[], n_paths_found=scored.gold_paths, evidence=report)
            )
        out.info = EvidenceInfo(scored=len(batch), gold_first=first)
        return out
