"""Paths stage: linked rows -> rows with the best KG paths from question to answer entities.

Per (question entity, answer entity) pair the hub-aware best shortest paths
(kgsynth.paths.select); with an LLM writer, MedReason's pruning keeps up to k of the
candidates per pair in the light of the question reformulated as description + conclusion.
A row leaves when no pair is joined within max_hops.
"""

from __future__ import annotations

from kgsynth.chain.run import prune_paths, reformulate
from kgsynth.paths.select import PathFinder
from kgsynth.records import LinkedQA, PathedQA
from kgsynth.stages import BuildContext, Stage, StageBase, StageResult, reject, tracked


class PathsStage(StageBase):
    stage = Stage.PATHS

    def run(self, batch: list[LinkedQA], ctx: BuildContext) -> StageResult[PathedQA]:
        cfg = ctx.cfg
        finder = PathFinder(ctx.graph, cfg.paths)
        prune = ctx.chain is not None and cfg.chain.prune_paths
        per_pair = cfg.chain.max_candidates if prune else None
        found = [finder.groups(item, per_pair) for item in tracked(self.stage, batch)]
        if prune:
            assert ctx.chain is not None
            contexts = (
                reformulate([i.qa for i in batch], ctx.chain)
                if cfg.chain.reformulate
                else [None] * len(batch)
            )
            flat = [g for groups, _ in found for g in groups]
            flat_ctx = [c for (groups, _), c in zip(found, contexts, strict=True) for _ in groups]
            kept = iter(
                prune_paths(
                    flat,
                    flat_ctx,
                    ctx.chain,
                    k=cfg.paths.k,
                    max_candidates=cfg.chain.max_candidates,
                )
            )
            found = [([next(kept) for _ in groups], total) for groups, total in found]
        out = StageResult[PathedQA](kept=[])
        for item, (groups, total) in zip(batch, found, strict=True):
            p = finder.finish(item, groups, total)
            if p.paths:
                out.kept.append(p)
            else:
                detail = f"no path within {cfg.paths.max_hops} hops"
                out.rejects.append(reject(item.qa, self.stage, "no_path", detail))
        return out
