"""kgsynth's own checks, registered in the order they run (and the order of a row's `checks`):

kg_faithful, answer_match, no_leakage (rules, kgsynth.verify.checks); answer_unique and
distractors_fail_chain (KG-first synthesis, decided by its verify stage); quality_filter
(MedReason's LLM filter, its own stage); claims (kgsynth.verify.claims) and likelihood
(kgsynth.verify.likelihood, with a local causal LM).

torch and transformers are imported only when a model-based check is configured (they are an
optional extra); models are loaded once per process and reused by every batch.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import polars as pl

from kgsynth.config import FreeTextMatchConfig, LikelihoodVerifierConfig
from kgsynth.errors import ConfigError
from kgsynth.llm.blocks import JUDGE
from kgsynth.llm.structured import StepFailure
from kgsynth.records import AnswerMatch, ClaimReport, GeneratedQA, OptionScores
from kgsynth.resources import per_process
from kgsynth.sections import conclusion_body
from kgsynth.stages import Stage
from kgsynth.verify.checks import Verifier
from kgsynth.verify.claims import ClaimChecker
from kgsynth.verify.registry import Check, CheckContext, Evidence, Verdict, register_check

if TYPE_CHECKING:
    from kgsynth.verify.embed import Embedder
    from kgsynth.verify.likelihood import LikelihoodVerifier

# likelihood skips that mean "nothing to choose between", not a failure
_NOT_APPLICABLE = {"no_options", "single_option"}


def rules(ctx: CheckContext) -> Verifier:
    # its name index takes a KG scan: once per process and KG, not once per batch
    key = (ctx.kg.hash, ctx.cfg.model_dump_json())
    return per_process("rule_checks", key, lambda: Verifier(ctx.kg, ctx.cfg))


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


def _from_reasons(reasons: list[str]) -> Verdict:
    return Verdict(passed=not reasons, reasons=reasons)


# -- the rules ------------------------------------------------------------------------------
def kg_faithful(ctx: CheckContext, items: Sequence[GeneratedQA]) -> list[Verdict]:
    v = rules(ctx)
    return [_from_reasons(v.kg_faithful(it)) for it in items]


def no_leakage(ctx: CheckContext, items: Sequence[GeneratedQA]) -> list[Verdict]:
    v = rules(ctx)
    return [_from_reasons(v.leakage(it.generation.reasoning)) for it in items]


def answer_match(ctx: CheckContext, items: Sequence[GeneratedQA]) -> list[Verdict]:
    """Rows with options: by letter (or the option's text); rows without: normalised-text
    containment ("rule"), the embedding matcher's cosine, or the LLM judge, batched."""
    method = ctx.cfg.free_text.method
    out: list[Verdict | None] = [None] * len(items)
    todo = [i for i, it in enumerate(items) if not it.pathed.linked.qa.options]
    if todo and method != "rule":
        golds = [items[i].pathed.linked.qa.answer for i in todo]
        concls = [conclusion_body(items[i].generation.conclusion) for i in todo]
        verdicts = (
            _by_embedding(ctx, golds, concls)
            if method == "embedding"
            else _by_judge(ctx, [items[i] for i in todo], golds, concls)
        )
        for i, verdict in zip(todo, verdicts, strict=True):
            out[i] = verdict
    for i, it in enumerate(items):
        if out[i] is None:
            why = Verifier.answer_agrees(it.pathed.linked.qa, it.generation.conclusion)
            out[i] = Verdict(passed=why is None, reasons=[why] if why else [])
    return [v for v in out if v is not None]


def _by_embedding(ctx: CheckContext, golds: list[str], concls: list[str]) -> list[Verdict]:
    embedder = load_embedder(ctx.cfg.free_text)
    assert embedder is not None
    thr = ctx.cfg.free_text.threshold
    out = []
    sims = embedder.best_similarity(list(zip(golds, concls, strict=True)))
    for gold, sim in zip(golds, sims, strict=True):
        why = [] if sim >= thr else [f"answer similarity {sim:.3f} < {thr} to '{gold}'"]
        evidence = AnswerMatch(method="embedding", similarity=round(sim, 6))
        out.append(Verdict(passed=not why, reasons=why, evidence=evidence))
    return out


def _by_judge(
    ctx: CheckContext, items: list[GeneratedQA], golds: list[str], concls: list[str]
) -> list[Verdict]:
    if ctx.runner is None:
        raise ConfigError("verify.free_text.method = 'judge' needs an LLM endpoint (llm.base_url)")
    prompts = [
        JUDGE.prompt(question=it.pathed.linked.qa.question, gold=g, predicted=c)
        for it, g, c in zip(items, golds, concls, strict=True)
    ]
    out = []
    for gold, concl, j in zip(golds, concls, ctx.runner.run(JUDGE, prompts), strict=True):
        if isinstance(j, StepFailure):  # no verdict is not a pass
            why = [f"judge step failed: {j.reason}"]
        elif getattr(j, "correct", False) is True:
            why = []
        else:
            why = [f"judge: conclusion does not mean gold '{gold}'"]
        out.append(Verdict(not why, why, AnswerMatch(method="judge", judged=concl[:500])))
    return out


# -- claims and likelihood -----------------------------------------------------------------
def claims(ctx: CheckContext, items: Sequence[GeneratedQA]) -> list[Verdict]:
    if ctx.finder is None:
        raise ConfigError("verify.claims needs an entity finder (the linker)")
    checker = ClaimChecker(ctx.kg, ctx.finder, ctx.cfg.claims)
    out = []
    limit = ctx.cfg.claims.max_unsupported_ratio
    for it in items:
        report = checker.check(it)
        why = (
            []
            if report.passed
            else [
                f"claims: {report.unsupported} of {report.claims} unsupported by the KG "
                f"(max ratio {limit})"
            ]
        )
        out.append(Verdict(report.passed, why, report))
    return out


def likelihood(ctx: CheckContext, items: Sequence[GeneratedQA]) -> list[Verdict]:
    scorer = load_likelihood(ctx.cfg.likelihood)
    assert scorer is not None
    margin = ctx.cfg.likelihood.margin
    out = []
    for s in scorer.score(list(items)):
        ok = None if s.skipped in _NOT_APPLICABLE else s.passed
        out.append(Verdict(ok, [_likelihood_reason(s, margin)] if ok is False else [], s))
    return out


def _likelihood_reason(s: OptionScores, margin: float) -> str:
    if s.skipped:
        return f"likelihood: not scored ({s.skipped})"
    return (
        f"likelihood: gold {s.gold} ranked {s.rank} (best {s.best}), "
        f"margin {s.margin:.3f} < {margin}"
    )


# -- evidence columns ------------------------------------------------------------------------
ANSWER_CHECK = Evidence(
    "answer_check",
    pl.Struct({"method": pl.String, "similarity": pl.Float64, "judged": pl.String}),
    {
        "type": ["object", "null"],
        "additionalProperties": False,
        "required": ["method"],
        "description": "free-text rows under the embedding matcher or the LLM judge: how "
        "answer_match was decided; null otherwise",
        "properties": {
            "method": {"type": "string", "enum": ["letter", "rule", "embedding", "judge"]},
            "similarity": {"type": ["number", "null"]},
            "judged": {"type": ["string", "null"]},
        },
    },
    AnswerMatch,
)
_COUNT = {"type": "integer", "minimum": 0}
CLAIMS = Evidence(
    "claims",
    pl.Struct(
        {
            "sentences": pl.Int32,
            "claims": pl.Int32,
            "supported": pl.Int32,
            "unsupported": pl.Int32,
            "unsupported_claims": pl.List(pl.String),
            "passed": pl.Boolean,
        }
    ),
    {
        "type": ["object", "null"],
        "additionalProperties": False,
        "required": [
            "sentences",
            "claims",
            "supported",
            "unsupported",
            "unsupported_claims",
            "passed",
        ],
        "description": "claim-level KG faithfulness: sentences of the reasoning naming two KG "
        "entities, backed or not by a KG edge or short path; null when the check did not run",
        "properties": {
            "sentences": _COUNT,
            "claims": _COUNT,
            "supported": _COUNT,
            "unsupported": _COUNT,
            "unsupported_claims": {"type": "array", "items": {"type": "string"}},
            "passed": {"type": "boolean"},
        },
    },
    ClaimReport,
)
_OPTION_SCORE = {
    "letter": (pl.String, "string"),
    "letter_logprob": (pl.Float64, "number"),
    "letter_tokens": (pl.Int32, "integer"),
    "text_logprob": (pl.Float64, "number"),
    "text_tokens": (pl.Int32, "integer"),
    "text_mean": (pl.Float64, "number"),
    "score": (pl.Float64, "number"),
}
LIKELIHOOD = Evidence(
    "likelihood",
    pl.Struct(
        {
            "id": pl.String,
            "options": pl.List(pl.Struct({k: t for k, (t, _) in _OPTION_SCORE.items()})),
            "gold": pl.String,
            "best": pl.String,
            "rank": pl.Int32,
            "margin": pl.Float64,
            "passed": pl.Boolean,
            "skipped": pl.String,
            "score_kind": pl.String,
            "prompt_version": pl.String,
            "model": pl.String,
        }
    ),
    {
        "type": ["object", "null"],
        "additionalProperties": False,
        "required": ["id", "options", "passed", "score_kind", "prompt_version", "model"],
        "description": "the likelihood verifier's scores: every option's letter and text "
        "log-probabilities given the reasoning (conclusion removed), gold's rank and margin; "
        "null when it did not run",
        "properties": {
            "id": {"type": "string"},
            "options": {
                "type": "array",
                "items": {
                    "type": "object",
                    "additionalProperties": False,
                    "required": list(_OPTION_SCORE),
                    "properties": {k: {"type": j} for k, (_, j) in _OPTION_SCORE.items()},
                },
            },
            "gold": {"type": ["string", "null"]},
            "best": {"type": ["string", "null"]},
            "rank": {"type": ["integer", "null"]},
            "margin": {"type": ["number", "null"]},
            "passed": {"type": "boolean"},
            "skipped": {"type": ["string", "null"]},
            "score_kind": {"type": "string", "enum": ["letter", "text", "both"]},
            "prompt_version": {"type": "string"},
            "model": {"type": "string"},
        },
    },
    OptionScores,
)

# -- the registrations, in order -------------------------------------------------------------
register_check(
    Check(
        "kg_faithful",
        "every hop of every path written in the reasoning is a KG edge",
        kg_faithful,
        enabled=lambda cfg: cfg.kg_faithful,
    ),
    replace=True,
)
register_check(
    Check(
        "answer_match",
        "the conclusion states the gold option (letter or normalised text; free-text answers "
        "by the configured matcher)",
        answer_match,
        enabled=lambda cfg: cfg.answer_match,
        evidence=ANSWER_CHECK,
    ),
    replace=True,
)
register_check(
    Check(
        "no_leakage",
        "no wording that betrays the answer or the paths were handed over",
        no_leakage,
        enabled=lambda cfg: cfg.no_leakage,
    ),
    replace=True,
)
register_check(
    Check(
        "answer_unique",
        "KG-first synthesis (source 'kg'): the answer is the only node of its type the chain "
        "reaches; null on rows built from QA pairs",
    ),
    replace=True,
)
register_check(
    Check(
        "distractors_fail_chain",
        "KG-first synthesis (source 'kg'): every other option is a KG node of the answer's type "
        "the chain does not reach; null on rows built from QA pairs",
    ),
    replace=True,
)
register_check(
    Check(
        "quality_filter",
        "MedReason's filter: the answer reached from the reasoning with its conclusion cut off "
        "agrees with gold; null unless the LLM quality filter ran",
        judged_at=Stage.QUALITY,
    ),
    replace=True,
)
register_check(
    Check(
        "claims",
        "claim-level KG faithfulness (see the row's claims); null when the claim check did not run",
        claims,
        enabled=lambda cfg: cfg.claims.enabled,
        evidence=CLAIMS,
    ),
    replace=True,
)
register_check(
    Check(
        "likelihood",
        "the likelihood verifier put the gold option first by the margin; null when it did not "
        "run or the row has fewer than two options",
        likelihood,
        enabled=lambda cfg: cfg.likelihood.model_path is not None,
        evidence=LIKELIHOOD,
    ),
    replace=True,
)

# checks reading the per-option evidence, registered after the ones above
import kgsynth.verify.differential  # noqa: E402, F401
