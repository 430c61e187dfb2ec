"""Every check a generated row goes through, over a batch: the build flow's verify stage and
`kgsynth verify DATASET` both run this, so a dataset re-verified later gets the same columns.

Per batch, in order:
1. free-text answer matching (rows without options): the embedding matcher's cosines or the
   LLM judge, batched; rows with options are matched by letter in the rule checks;
2. the rule checks (kgsynth.verify.checks): cited hops in the KG, answer agrees, no leakage;
3. claim-level faithfulness (kgsynth.verify.claims), when `claims.enabled`;
4. the likelihood verifier (kgsynth.verify.likelihood), batched over all rows, when
   `likelihood.model_path` is set.
Each check keeps its evidence on the VerifiedQA (AnswerMatch, ClaimReport, OptionScores) and
its verdict in Checks; a failing check adds its reason.

torch and transformers are imported only when a model-based check is configured (they are an
optional extra); the models are loaded once per process and reused by every batch.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from kgsynth.chain.steps import JUDGE
from kgsynth.config import FreeTextMatchConfig, LikelihoodVerifierConfig, VerifyConfig
from kgsynth.errors import ConfigError
from kgsynth.kg.graph import KnowledgeGraph
from kgsynth.llm.structured import StepFailure, StructuredRunner
from kgsynth.progress import progress
from kgsynth.records import AnswerMatch, Checks, GeneratedQA, OptionScores, VerifiedQA
from kgsynth.resources import per_process
from kgsynth.verify.checks import Verifier
from kgsynth.verify.claims import ClaimChecker, MentionFinder

if TYPE_CHECKING:
    from kgsynth.verify.embed import Embedder
    from kgsynth.verify.likelihood import LikelihoodVerifier

# likelihood skips that mean "nothing to choose between", not a failure
_NOT_APPLICABLE = {"no_options", "single_option"}
Verdict = tuple[bool, str | None]  # (agrees, reason when not)
# checks decided before re-verification that it cannot redo (KG-first synthesis, LLM filter)
_CARRIED = ("answer_unique", "distractors_fail_chain", "quality_filter")


def load_likelihood(cfg: LikelihoodVerifierConfig) -> LikelihoodVerifier | None:
    """The configured likelihood verifier, loaded once per process; None when off."""
    if cfg.model_path is None:
        return None

    def load() -> LikelihoodVerifier:
        from kgsynth.verify.likelihood import LikelihoodVerifier

        return LikelihoodVerifier.load(cfg)

    return per_process("likelihood", cfg.model_dump_json(), load)


def load_embedder(cfg: FreeTextMatchConfig) -> Embedder | None:
    """The embedding matcher's model, loaded once per process; None unless configured."""
    if cfg.method != "embedding":
        return None
    path = cfg.model_path
    if path is None:
        raise ConfigError("verify.free_text.method = 'embedding' needs free_text.model_path")

    def load() -> Embedder:
        from kgsynth.verify.embed import Embedder

        return Embedder.load(path, cfg.device, cfg.batch_size)

    return per_process("embedder", cfg.model_dump_json(), load)


class VerifySuite:
    def __init__(
        self,
        kg: KnowledgeGraph,
        cfg: VerifyConfig,
        *,
        finder: MentionFinder | None = None,
        runner: StructuredRunner | None = None,
        likelihood: LikelihoodVerifier | None = None,
        embedder: Embedder | None = None,
    ) -> None:
        if cfg.claims.enabled and finder is None:
            raise ConfigError("verify.claims needs an entity finder (the linker)")
        if cfg.free_text.method == "judge" and runner is None:
            raise ConfigError(
                "verify.free_text.method = 'judge' needs an LLM endpoint (llm.base_url)"
            )
        if cfg.free_text.method == "embedding" and embedder is None:
            raise ConfigError("verify.free_text.method = 'embedding' needs an embedding model")
        self.cfg = cfg
        # its name index takes a KG scan: once per process and KG, not once per shard
        self.rules = per_process(
            "rule_checks", (kg.hash, cfg.model_dump_json()), lambda: Verifier(kg, cfg)
        )
        self.claims = ClaimChecker(kg, finder, cfg.claims) if finder is not None else None
        self.runner = runner
        self.likelihood = likelihood
        self.embedder = embedder

    @classmethod
    def for_config(
        cls,
        kg: KnowledgeGraph,
        cfg: VerifyConfig,
        *,
        finder: MentionFinder | None = None,
        runner: StructuredRunner | None = None,
    ) -> VerifySuite:
        """With the configured models, loaded once per process."""
        return cls(
            kg,
            cfg,
            finder=finder if cfg.claims.enabled else None,
            runner=runner,
            likelihood=load_likelihood(cfg.likelihood),
            embedder=load_embedder(cfg.free_text),
        )

    # -- free-text answers ----------------------------------------------------------------
    def free_text(self, items: Sequence[GeneratedQA]) -> list[tuple[AnswerMatch, Verdict] | None]:
        """(evidence, verdict) for rows without options under "embedding" or "judge"; None
        for the rest (letters and the "rule" containment are the rule checks' job)."""
        out: list[tuple[AnswerMatch, Verdict] | None] = [None] * len(items)
        method = self.cfg.free_text.method
        todo = [i for i, it in enumerate(items) if not it.pathed.linked.qa.options]
        if not self.cfg.answer_match or not todo or method == "rule":
            return out
        golds = [items[i].pathed.linked.qa.answer for i in todo]
        concls = [_conclusion_text(items[i].generation.conclusion) for i in todo]
        if method == "embedding":
            assert self.embedder is not None
            thr = self.cfg.free_text.threshold
            sims = self.embedder.best_similarity(list(zip(golds, concls, strict=True)))
            for i, gold, sim in zip(todo, golds, sims, strict=True):
                why = None if sim >= thr else f"answer similarity {sim:.3f} < {thr} to '{gold}'"
                out[i] = (
                    AnswerMatch(method="embedding", similarity=round(sim, 6)),
                    (why is None, why),
                )
            return out
        assert self.runner is not None
        prompts = [
            JUDGE.prompt(question=items[i].pathed.linked.qa.question, gold=g, predicted=c)
            for i, g, c in zip(todo, golds, concls, strict=True)
        ]
        replies = self.runner.run(JUDGE, prompts)
        for i, gold, concl, j in zip(todo, golds, concls, replies, strict=True):
            if isinstance(j, StepFailure):  # no verdict is not a pass
                verdict: Verdict = (False, f"judge step failed: {j.reason}")
            elif getattr(j, "correct", False) is True:
                verdict = (True, None)
            else:
                verdict = (False, f"judge: conclusion does not mean gold '{gold}'")
            out[i] = (AnswerMatch(method="judge", judged=concl[:500]), verdict)
        return out

    # -- everything -------------------------------------------------------------------------
    def run(
        self, items: Sequence[GeneratedQA], prior: Sequence[Checks | None] | None = None
    ) -> list[VerifiedQA]:
        """One VerifiedQA per item, in order. `prior` carries the checks a re-verification
        cannot redo (KG-first synthesis' chain checks, the LLM quality filter)."""
        matches = self.free_text(items)
        progress.start("verify", len(items))
        out: list[VerifiedQA] = []
        for i, item in enumerate(items):
            match = matches[i]
            v = self.rules(item, match[1] if match else None)
            checks: dict[str, Any] = {"reasons": list(v.checks.reasons)}
            update: dict[str, Any] = {"answer": match[0] if match else None}
            old = prior[i] if prior is not None else None
            if old is not None:
                checks |= {k: getattr(old, k) for k in _CARRIED}
            if self.claims is not None:
                report = self.claims.check(item)
                update["claims"] = report
                checks["claims"] = report.passed
                if not report.passed:
                    checks["reasons"].append(
                        f"claims: {report.unsupported} of {report.claims} unsupported by the "
                        f"KG (max ratio {self.cfg.claims.max_unsupported_ratio})"
                    )
            update["checks"] = v.checks.model_copy(update=checks)
            out.append(v.model_copy(update=update))
            progress.advance("verify", i + 1)
        progress.finish("verify")
        if self.likelihood is not None:
            out = self._with_likelihood(out)
        return out

    def _with_likelihood(self, rows: list[VerifiedQA]) -> list[VerifiedQA]:
        assert self.likelihood is not None
        progress.start("likelihood", len(rows))
        scores = self.likelihood.score([v.generated for v in rows])
        progress.finish("likelihood")
        out = []
        for v, s in zip(rows, scores, strict=True):
            ok: bool | None = None if s.skipped in _NOT_APPLICABLE else s.passed
            reasons = list(v.checks.reasons)
            if ok is False:
                reasons.append(_likelihood_reason(s, self.cfg.likelihood.margin))
            checks = v.checks.model_copy(update={"likelihood": ok, "reasons": reasons})
            out.append(v.model_copy(update={"likelihood": s, "checks": checks}))
        return out


def _conclusion_text(conclusion: str) -> str:
    text = conclusion.strip()
    head = "conclusion:"
    return text[len(head) :].strip() if text.lower().startswith(head) else text


def _likelihood_reason(s: OptionScores, margin: float) -> str:
    if s.skipped:
        return f"likelihood: not scored ({s.skipped})"
    return (
        f"likelihood: gold {s.gold} ranked {s.rank} (best {s.best}), "
        f"margin {s.margin:.3f} < {margin}"
    )
