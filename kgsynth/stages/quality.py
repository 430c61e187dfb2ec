"""Quality stage (LLM writer only): MedReason's filter. A model answers the question from
the reasoning with its conclusion cut off; the answer is judged against gold. Rows that pass
record it in their checks (`quality_filter`); the others leave, at stage `llm` when the
answer or judge step got no usable reply (that is no verdict on the reasoning)."""

from __future__ import annotations

from kgsynth.config import BuildConfig
from kgsynth.records import VerifiedQA
from kgsynth.stages import BuildContext, Stage, StageBase, StageResult, llm_reject, reject


class QualityStage(StageBase):
    stage = Stage.QUALITY

    def __init__(self, cfg: BuildConfig) -> None:
        self.on = cfg.chain.quality_filter

    def enabled(self, ctx: BuildContext) -> bool:
        return ctx.chain is not None and self.on

    def run(self, batch: list[VerifiedQA], ctx: BuildContext) -> StageResult[VerifiedQA]:
        # imported here: a build that runs no LLM step (or no shard) needs none of it
        from kgsynth.chain.run import quality_filter

        assert ctx.chain is not None
        qas = [v.generated.pathed.linked.qa for v in batch]
        reasonings = [v.generated.generation.reasoning for v in batch]
        verdicts = quality_filter(qas, reasonings, ctx.chain)
        out = StageResult[VerifiedQA](kept=[])
        for v, qa, verdict in zip(batch, qas, verdicts, strict=True):
            if verdict.passed:
                checks = v.checks.with_results(quality_filter=True)
                out.kept.append(v.model_copy(update={"checks": checks}))
            elif verdict.failure is not None:
                out.rejects.append(llm_reject(qa, verdict.failure))
            else:
                detail = f"{verdict.reason}; predicted '{verdict.predicted[:80]}'"
                out.rejects.append(reject(qa, self.stage, "quality_filter", detail))
        return out
