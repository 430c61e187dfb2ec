"""Every check a written row goes through, over a batch: the verify stages of a build and of
KG-first synthesis, and `kgsynth verify DATASET`, all run this, so a dataset re-verified
later gets the same columns.

The checks come from the registry (kgsynth.verify.registry; kgsynth's own in
kgsynth.verify.builtin), in its order; each enabled check with a function runs over the
whole batch and returns one verdict per row. A row's Checks hold every registered check
(None where it did not run), its reasons, and its evidence by row column. Checks decided by
another stage (chain checks, the LLM quality filter) keep the value the row had before.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from kgsynth.config import VerifyConfig
from kgsynth.errors import ConfigError
from kgsynth.kg.graph import KnowledgeGraph
from kgsynth.llm.structured import StructuredRunner
from kgsynth.progress import progress
from kgsynth.records import Checks, GeneratedQA, VerifiedQA
from kgsynth.verify.builtin import load_embedder, load_likelihood
from kgsynth.verify.claims import MentionFinder
from kgsynth.verify.registry import Check, CheckContext, registered


class VerifySuite:
    """The registered checks that `cfg` switches on; their models (the likelihood
    verifier, the embedding matcher) are loaded once per process before any row is checked."""

    def __init__(
        self,
        kg: KnowledgeGraph,
        cfg: VerifyConfig,
        *,
        finder: MentionFinder | None = None,
        runner: StructuredRunner | None = None,
    ) -> None:
        load_likelihood(cfg.likelihood)
        load_embedder(cfg.free_text)
        self.cfg = cfg
        self.ctx = CheckContext(kg, cfg, finder=finder, runner=runner)
        self.checks = registered()
        unknown = sorted(set(cfg.checks) - {c.name for c in self.checks})
        if unknown:
            raise ConfigError(f"verify.checks: no check named {', '.join(unknown)}")
        self.active: list[Check] = [c for c in self.checks if c.run and c.enabled(cfg)]
        for c in self.active:
            self.ctx.settings(c)  # a bad [verify.checks.NAME] fails now, not mid-build
        if cfg.claims.enabled and finder is None:
            raise ConfigError("verify.claims needs an entity finder (the linker)")
        if cfg.answer_match and cfg.free_text.method == "judge" and runner is None:
            raise ConfigError(
                "verify.free_text.method = 'judge' needs an LLM endpoint (llm.base_url)"
            )

    def run(
        self, items: Sequence[GeneratedQA], prior: Sequence[Checks | None] | None = None
    ) -> list[VerifiedQA]:
        """One VerifiedQA per item, in order. `prior` carries the checks a re-verification
        cannot redo (those with no function in the registry)."""
        results: list[dict[str, bool | None]] = [{c.name: None for c in self.checks} for _ in items]
        reasons: list[list[str]] = [[] for _ in items]
        evidence: list[dict[str, Any]] = [{} for _ in items]
        if prior is not None:
            carried = [c.name for c in self.checks if c.run is None]
            for res, old in zip(results, prior, strict=True):
                if old is not None:
                    res |= {name: old[name] for name in carried}
        progress.start("verify", len(self.active))
        for done, check in enumerate(self.active, 1):
            verdicts = check.run(self.ctx, items) if items else []  # type: ignore[misc]
            for i, v in enumerate(verdicts):
                results[i][check.name] = v.passed
                reasons[i] += v.reasons
                if check.evidence is not None and v.evidence is not None:
                    evidence[i][check.evidence.column] = v.evidence
            progress.advance("verify", done)
        progress.finish("verify")
        return [
            VerifiedQA(generated=it, checks=Checks(results=r, reasons=why), evidence=ev)
            for it, r, why, ev in zip(items, results, reasons, evidence, strict=True)
        ]
