"""Verified records -> the exported table (one polars frame, explicit schema)."""

from __future__ import annotations

from datetime import UTC, datetime

import polars as pl

from kgsynth.records import (
    Checks,
    EntityLink,
    EvidenceReport,
    FindingSupport,
    GeneratedQA,
    Generation,
    Hop,
    KGPath,
    LinkedQA,
    OptionEvidence,
    OptionFact,
    PathedQA,
    QARecord,
    Reject,
    VerifiedQA,
)
from kgsynth.verify.registry import check_names, evidence_columns

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
        "assertion": pl.String,
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
SUPPORT = pl.Struct(
    {
        "finding_id": pl.String,
        "finding_name": pl.String,
        "assertion": pl.String,
        "weight": pl.Float64,
        "hops": pl.List(HOP),
    }
)
FACT = pl.Struct({"relation": pl.String, "id": pl.String, "name": pl.String, "weight": pl.Float64})
EVIDENCE = pl.Struct(
    {
        "options": pl.List(
            pl.Struct(
                {
                    "letter": pl.String,
                    "text": pl.String,
                    "kg_ids": pl.List(pl.String),
                    "score": pl.Float64,
                    "supports": pl.List(SUPPORT),
                    "contradictions": pl.List(SUPPORT),
                    "unmatched": pl.List(FACT),
                }
            )
        ),
        "ranking": pl.List(pl.String),
        "best": pl.String,
        "gold": pl.String,
        "margin": pl.Float64,
    }
)
# the columns before the checks' and after them; the checks' columns come from the registry
HEAD = {
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
    "evidence": EVIDENCE,
    "reasoning": pl.String,
    "conclusion": pl.String,
}
TAIL = {
    "generator": pl.String,
    "model": pl.String,
    "prompt_version": pl.String,
    "chain_prompts": pl.List(pl.Struct({"step": pl.String, "version": pl.String})),
    "kg_name": pl.String,
    "kg_hash": pl.String,
    "created_at": pl.Datetime("us", "UTC"),
}


def checks_struct() -> pl.Struct:
    """The `checks` column: every registered check (null where it did not run), in
    registry order, then whether the row passed and the reasons of any that failed."""
    fields = {name: pl.Boolean for name in check_names()}
    return pl.Struct(fields | {"passed": pl.Boolean, "reasons": pl.List(pl.String)})


def check_columns() -> list[str]:
    """The columns the checks write: `checks` and every registered evidence column."""
    return ["checks", *(e.column for e in evidence_columns())]


def row_schema() -> pl.Schema:
    """The exported table's schema, with the columns of every registered check."""
    evidence = {e.column: e.dtype for e in evidence_columns()}
    return pl.Schema(HEAD | {"checks": checks_struct()} | evidence | TAIL)


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


def _support_row(s: FindingSupport) -> dict:
    hops = [h.model_dump() for h in s.path.hops]
    return s.model_dump(exclude={"path"}) | {"hops": hops}


def evidence_row(report: EvidenceReport | None) -> dict | None:
    """The `evidence` column's value: the report with each support's path as its hops."""
    if report is None:
        return None
    options = [
        o.model_dump(exclude={"supports", "contradictions"})
        | {
            "supports": [_support_row(s) for s in o.supports],
            "contradictions": [_support_row(c) for c in o.contradictions],
        }
        for o in report.options
    ]
    return report.model_dump(exclude={"options"}) | {"options": options}


def row_of(
    v: VerifiedQA,
    kg_name: str,
    kg_hash: str,
    created_at: datetime,
    chain: dict[str, str] | None = None,
) -> dict:
    names, columns = check_names(), [e.column for e in evidence_columns()]
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
        "evidence": evidence_row(pathed.evidence),
        "reasoning": gen.reasoning,
        "conclusion": gen.conclusion,
        "checks": {
            **{name: v.checks[name] for name in names},
            "passed": v.checks.passed,
            "reasons": v.checks.reasons,
        },
        **{col: ev.model_dump() if (ev := v.evidence.get(col)) else None for col in columns},
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
    return pl.DataFrame(rows, schema=row_schema())


def rejects_frame(rejects: list[Reject]) -> pl.DataFrame:
    return pl.DataFrame([r.model_dump() for r in rejects], schema=REJECT_SCHEMA)


# -- back: exported rows -> records (re-verification of an existing dataset) ---------------
def path_of(hops: list[dict], question_ids: set[str], score: float = 0.0) -> KGPath:
    """Hops keep the KG's orientation, so the walking start is the first hop's end not shared
    with the second hop (one hop: the end that is a question entity)."""
    hs = [Hop(**h) for h in hops]
    first = hs[0]
    if len(hs) > 1:
        nxt = {hs[1].head_id, hs[1].tail_id}
        start = first.tail_id if first.head_id in nxt else first.head_id
    else:
        start = first.tail_id if first.tail_id in question_ids else first.head_id
    end = start
    for h in hs:
        end = h.tail_id if h.head_id == end else h.head_id
    return KGPath(start_id=start, end_id=end, hops=hs, score=score)


def walked(start: str, hops: list[dict], score: float = 0.0) -> KGPath:
    """A path from a known start through hops in walking order (each in KG orientation)."""
    hs = [Hop(**h) for h in hops]
    end = start
    for h in hs:
        end = h.tail_id if h.head_id == end else h.head_id
    return KGPath(start_id=start, end_id=end, hops=hs, score=score)


def _support_of(d: dict) -> FindingSupport:
    path = walked(d["finding_id"], d["hops"] or [])
    return FindingSupport(
        finding_id=d["finding_id"],
        finding_name=d["finding_name"],
        assertion=d["assertion"],
        weight=d["weight"],
        path=path,
    )


def evidence_of(d: dict | None) -> EvidenceReport | None:
    """The `evidence` column's value back as the report (None stays None)."""
    if not d:
        return None
    options = [
        OptionEvidence(
            letter=o["letter"],
            text=o["text"],
            kg_ids=list(o["kg_ids"] or []),
            score=o["score"],
            supports=[_support_of(s) for s in o["supports"] or []],
            contradictions=[_support_of(c) for c in o["contradictions"] or []],
            # absent from datasets written before kgsynth recorded it
            unmatched=[OptionFact(**f) for f in o.get("unmatched") or []],
        )
        for o in d["options"] or []
    ]
    return EvidenceReport(
        options=options,
        ranking=list(d["ranking"] or []),
        best=d["best"],
        gold=d["gold"],
        margin=d["margin"],
    )


def _link_of(e: dict) -> EntityLink:
    # rows written before entities had an assertion read back as present
    return EntityLink(**{k: v for k, v in e.items() if not (k == "assertion" and v is None)})


def generated_of(row: dict) -> tuple[GeneratedQA, Checks]:
    """An exported row back as the record the verifiers read, with the checks it had."""
    qa = QARecord(
        id=row["id"],
        source=row["source"],
        question=row["question"],
        options={o["letter"]: o["text"] for o in row["options"] or []},
        answer=row["answer"],
        answer_idx=row["answer_idx"],
    )
    q_ents = [_link_of(e) for e in row["question_entities"] or []]
    linked = LinkedQA(
        qa=qa,
        question_entities=q_ents,
        answer_entities=[_link_of(e) for e in row["answer_entities"] or []],
    )
    q_ids = {e.kg_id for e in q_ents}
    paths = [
        path_of(hops, q_ids, score)
        for hops, score in zip(row["paths"] or [], row["path_scores"] or [], strict=True)
        if hops
    ]
    pathed = PathedQA(
        linked=linked,
        paths=paths,
        n_paths_found=row["n_paths_found"],
        evidence=evidence_of(row.get("evidence")),
    )
    gen = Generation(
        reasoning=row["reasoning"],
        conclusion=row["conclusion"],
        generator=row["generator"],
        model=row["model"],
        prompt_version=row["prompt_version"],
    )
    flat = row["checks"] or {}
    known = check_names()
    results = {k: v for k, v in flat.items() if k in known}
    return GeneratedQA(pathed=pathed, generation=gen), Checks(
        results=results, reasons=list(flat.get("reasons") or [])
    )
