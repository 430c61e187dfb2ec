"""Verify stage: written rows -> rows that passed every configured check.

The checks (kgsynth.verify.suite) run over the batch; a row that fails any leaves with the
failed checks' names joined by "+" as its reason and their explanations as its detail. The
build, KG-first synthesis and `kgsynth verify DATASET` all split their rows here.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from kgsynth import resources
from kgsynth.config import BuildConfig
from kgsynth.records import GeneratedQA, QARecord, Reject, VerifiedQA
from kgsynth.stages import BuildContext, Stage, StageBase, StageResult, reject

if TYPE_CHECKING:
    from kgsynth.verify.suite import VerifySuite


def split_verified(
    rows: Sequence[VerifiedQA], source_file: str | None = None
) -> tuple[list[VerifiedQA], list[Reject]]:
    """(rows whose checks passed, a reject for every other row), in order."""
    passed: list[VerifiedQA] = []
    rejects: list[Reject] = []
    for v in rows:
        if v.checks.passed:
            passed.append(v)
            continue
        qa: QARecord = v.generated.pathed.linked.qa
        reason, detail = "+".join(v.checks.failed()), "; ".join(v.checks.reasons)
        where = {"source_file": source_file} if source_file is not None else {}
        rejects.append(reject(qa, Stage.VERIFY, reason, detail, **where))
    return passed, rejects


def build_suite(cfg: BuildConfig, ctx: BuildContext) -> VerifySuite:
    """The configured checks; claims are found in the reasoning by the build's linker."""
    # imported here: a build whose shards all come from the shard cache needs none of it
    from kgsynth.verify.suite import VerifySuite

    finder = (
        resources.worker_linker(ctx.graph, cfg.linking, cfg.cache_dir)
        if cfg.verify.claims.enabled
        else None
    )
    return VerifySuite(ctx.graph, cfg.verify, finder=finder, runner=ctx.runner)


class VerifyStage(StageBase):
    stage = Stage.VERIFY

    def __init__(self, cfg: BuildConfig) -> None:
        self.cfg = cfg  # the checks' settings, and the linker's that the claim check uses

    def run(self, batch: list[GeneratedQA], ctx: BuildContext) -> StageResult[VerifiedQA]:
        kept, rejects = split_verified(build_suite(self.cfg, ctx).run(batch))
        return StageResult(kept=kept, rejects=rejects)
