"""Paths stage: rows with per-option evidence -> rows with the KG paths their text will use.

From the evidence (the evidence stage runs first): gold's supports that tell it from the
distractors, the question's most specific present finding first when it supports gold
(kgsynth.paths.select.discriminative_paths). With an LLM writer and MedReason's pruning, the
old way: per (present question entity, answer entity) pair the hub-aware best shortest
paths, of which the LLM keeps up to k per pair in the light of the question reformulated as
description + conclusion; the evidence stays on the row. Rows without evidence (a flow with
no evidence stage) take the per-pair paths too. A row leaves when no path remains, or, at
stage `llm`, when its reformulation or one of its pruning requests got no usable reply.
"""

from __future__ import annotations

from kgsynth.config import BuildConfig
from kgsynth.records import KGPath, LinkedQA, PathedQA, Reject
from kgsynth.stages import (
    BuildContext,
    Stage,
    StageBase,
    StageResult,
    llm_reject,
    reject,
    tracked,
)


class PathsStage(StageBase):
    stage = Stage.PATHS

    def __init__(self, cfg: BuildConfig) -> None:
        self.settings, self.chain = cfg.paths, cfg.chain

    def run(self, batch: list[PathedQA | LinkedQA], ctx: BuildContext) -> StageResult[PathedQA]:
        # imported here: a build whose shards all come from the shard cache needs none of it
        from kgsynth.chain.run import prune_paths, reformulate
        from kgsynth.llm.structured import StepFailure
        from kgsynth.paths.select import PathFinder

        finder = PathFinder(ctx.graph, self.settings)
        prune = ctx.chain is not None and self.chain.prune_paths
        items = [i if isinstance(i, PathedQA) else None for i in batch]
        linked = [i.linked if isinstance(i, PathedQA) else i for i in batch]
        if not prune and all(i is not None and i.evidence is not None for i in items):
            done = [finder.from_evidence(i) for i in tracked(self.stage, items) if i is not None]
            return self._split(done, self.settings.max_hops)
        per_pair = self.chain.max_candidates if prune else None
        found = [finder.groups(item, per_pair) for item in tracked(self.stage, linked)]
        failed: list[Reject] = []
        if prune:
            assert ctx.chain is not None
            contexts = (
                reformulate([i.qa for i in linked], ctx.chain)
                if self.chain.reformulate
                else [None] * len(linked)
            )
            # a row whose reformulation failed leaves now: its groups are not asked about
            lost = {i: c for i, c in enumerate(contexts) if isinstance(c, StepFailure)}
            ok = [i for i in range(len(linked)) if i not in lost]
            flat = [g for i in ok for g in found[i][0]]
            flat_ctx = [contexts[i] for i in ok for _ in found[i][0]]
            kept = iter(
                prune_paths(
                    flat,
                    flat_ctx,  # type: ignore[arg-type]  # no StepFailure left in it
                    ctx.chain,
                    k=self.settings.k,
                    max_candidates=self.chain.max_candidates,
                )
            )
            pruned: dict[int, list[list[KGPath]]] = {}
            for i in ok:
                groups = [next(kept) for _ in found[i][0]]
                bad = next((g for g in groups if isinstance(g, StepFailure)), None)
                if bad is not None:
                    lost[i] = bad
                else:
                    pruned[i] = groups  # type: ignore[assignment]  # no StepFailure in it
            failed = [llm_reject(linked[i].qa, f) for i, f in sorted(lost.items())]
            keep = [i for i in range(len(linked)) if i not in lost]
            items = [items[i] for i in keep]
            found = [(pruned[i], found[i][1]) for i in keep]
            linked = [linked[i] for i in keep]
        done = []
        for item, lk, (groups, total) in zip(items, linked, found, strict=True):
            p = finder.finish(lk, groups, total)
            if item is not None and item.evidence is not None:
                p = p.model_copy(update={"evidence": item.evidence})
            done.append(p)
        out = self._split(done, self.settings.max_hops)
        out.rejects = failed + out.rejects
        return out

    def _split(self, done: list[PathedQA], max_hops: int) -> StageResult[PathedQA]:
        out = StageResult[PathedQA](kept=[])
        for p in done:
            if p.paths:
                out.kept.append(p)
            else:
                detail = f"no path within {max_hops} hops"
                out.rejects.append(reject(p.linked.qa, self.stage, "no_path", detail))
        return out
