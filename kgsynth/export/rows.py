"""Verified records -> the exported table (one polars frame, explicit schema)."""

from __future__ import annotations

from datetime import UTC, datetime

import polars as pl

from kgsynth.records import EntityLink, Reject, VerifiedQA

ENTITY = pl.Struct(
    {
        "kg_id": pl.String,
        "name": pl.String,
        "type": pl.String,
        "mention": pl.String,
        "start": pl.Int32,
        "end": pl.Int32,
        "score": pl.Float64,
        "method": pl.String,
    }
)
HOP = pl.Struct(
    {
        "head_id": pl.String,
        "head_name": pl.String,
        "relation": pl.String,
        "tail_id": pl.String,
        "tail_name": pl.String,
    }
)
OPTION = pl.Struct({"letter": pl.String, "text": pl.String})
CHECKS = pl.Struct(
    {
        "kg_faithful": pl.Boolean,
        "answer_match": pl.Boolean,
        "no_leakage": pl.Boolean,
        "answer_unique": pl.Boolean,  # KG-first rows only; null on built rows
        "distractors_fail_chain": pl.Boolean,  # likewise
        "quality_filter": pl.Boolean,  # null unless the LLM quality filter ran
        "passed": pl.Boolean,
        "reasons": pl.List(pl.String),
    }
)
ROW_SCHEMA = pl.Schema(
    {
        "id": pl.String,
        "source": pl.String,
        "question": pl.String,
        "options": pl.List(OPTION),
        "answer": pl.String,
        "answer_idx": pl.String,
        "question_entities": pl.List(ENTITY),
        "answer_entities": pl.List(ENTITY),
        "paths": pl.List(pl.List(HOP)),
        "path_scores": pl.List(pl.Float64),
        "n_paths_found": pl.Int64,
        "reasoning": pl.String,
        "conclusion": pl.String,
        "checks": CHECKS,
        "generator": pl.String,
        "model": pl.String,
        "prompt_version": pl.String,
        "chain_prompts": pl.List(pl.Struct({"step": pl.String, "version": pl.String})),
        "kg_name": pl.String,
        "kg_hash": pl.String,
        "created_at": pl.Datetime("us", "UTC"),
    }
)
REJECT_SCHEMA = pl.Schema(
    {
        "id": pl.String,
        "stage": pl.String,
        "reason": pl.String,
        "detail": pl.String,
        "source_file": pl.String,
        "line": pl.Int64,
    }
)


def _entities(links: list[EntityLink]) -> list[dict]:
    return [lk.model_dump() for lk in links]


def row_of(
    v: VerifiedQA,
    kg_name: str,
    kg_hash: str,
    created_at: datetime,
    chain: dict[str, str] | None = None,
) -> dict:
    pathed = v.generated.pathed
    qa = pathed.linked.qa
    gen = v.generated.generation
    return {
        "id": qa.id,
        "source": qa.source,
        "question": qa.question,
        "options": [{"letter": k, "text": t} for k, t in qa.options.items()],
        "answer": qa.answer,
        "answer_idx": qa.answer_idx,
        "question_entities": _entities(pathed.linked.question_entities),
        "answer_entities": _entities(pathed.linked.answer_entities),
        "paths": [[h.model_dump() for h in p.hops] for p in pathed.paths],
        "path_scores": [p.score for p in pathed.paths],
        "n_paths_found": pathed.n_paths_found,
        "reasoning": gen.reasoning,
        "conclusion": gen.conclusion,
        "checks": {**v.checks.model_dump(), "passed": v.checks.passed},
        "generator": gen.generator,
        "model": gen.model,
        "prompt_version": gen.prompt_version,
        # the other LLM steps that shaped this row (MedReason chain), with their versions
        "chain_prompts": [{"step": k, "version": x} for k, x in (chain or {}).items()],
        "kg_name": kg_name,
        "kg_hash": kg_hash,
        "created_at": created_at,
    }


def rows_frame(
    items: list[VerifiedQA],
    kg_name: str,
    kg_hash: str,
    created_at: datetime | None = None,
    chain: dict[str, str] | None = None,
) -> pl.DataFrame:
    when = created_at or datetime.now(UTC)
    rows = [row_of(v, kg_name, kg_hash, when, chain) for v in items]
    return pl.DataFrame(rows, schema=ROW_SCHEMA)


def rejects_frame(rejects: list[Reject]) -> pl.DataFrame:
    return pl.DataFrame([r.model_dump() for r in rejects], schema=REJECT_SCHEMA)
