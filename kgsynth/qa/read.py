"""QA files (JSONL/JSON, CSV, Parquet) -> QARecords plus Rejects; nothing dropped silently.

Each file's layout (kgsynth.qa.layouts) is detected once from the fields its rows use, and
what the layout must know about the whole file (MedMCQA's cop numbering) is settled before
its first row is read.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from kgsynth.errors import InputError
from kgsynth.qa.fields import FileFacts, FileProblem
from kgsynth.qa.files import read_rows, reject
from kgsynth.qa.layouts import BY_NAME, Layout, Rows, detect_layout
from kgsynth.qa.normalise import RowRejected, normalise_row
from kgsynth.records import QARecord, Reject

SUPPORTED = (".jsonl", ".json", ".csv", ".parquet")


@dataclass
class QABatch:
    records: list[QARecord] = field(default_factory=list)
    rejects: list[Reject] = field(default_factory=list)
    n_input: int = 0  # invariant: n_input == len(records) + len(rejects)


def _check(path: Path) -> None:
    if path.suffix not in SUPPORTED:
        raise InputError(
            str(path), f"unsupported QA file type '{path.suffix}' (use {', '.join(SUPPORTED)})"
        )
    if not path.is_file():
        raise InputError(str(path), "QA file not found")


def read_qa(
    paths: list[Path],
    *,
    source: str | None = None,
    limit: int | None = None,
    max_question_chars: int = 20_000,
    cop_base: int | None = None,
) -> QABatch:
    """Read and normalise QA rows from one or more files.

    `source` forces one layout on every file (default: detect per file); `cop_base` (0 or 1)
    says how MedMCQA files number 'cop' when the file cannot tell.
    """
    if source is not None and source not in BY_NAME:
        raise ValueError(f"unknown QA layout '{source}' (known: {', '.join(BY_NAME)})")
    batch = QABatch()
    seen: set[str] = set()
    for path in map(Path, paths):
        _check(path)
        if limit is not None and batch.n_input >= limit:
            return batch
        rows = read_rows(path)
        good = [(line, row) for line, row in rows if not isinstance(row, Reject)]
        layout = BY_NAME[source] if source else detect_layout(k for _, r in good for k in r)
        facts = _facts(path, layout, good, cop_base)
        for line, row in rows:
            if limit is not None and batch.n_input >= limit:
                return batch
            batch.n_input += 1
            if isinstance(row, Reject):
                batch.rejects.append(row)
                continue
            default_id = f"{path.stem}-{line}"
            try:
                rec = normalise_row(
                    row,
                    layout=layout.name,
                    default_id=default_id,
                    max_question_chars=max_question_chars,
                    facts=facts,
                )
            except RowRejected as e:
                where = f"field '{e.field}': " if e.field else ""
                rid = str(row["id"]) if row.get("id") is not None else default_id
                batch.rejects.append(reject(path, line, e.reason, where + e.detail, rid))
                continue
            if rec.id in seen:
                detail = f"id '{rec.id}' seen before"
                batch.rejects.append(reject(path, line, "duplicate_id", detail, rec.id))
                continue
            seen.add(rec.id)
            meta = {**rec.meta, "file": str(path), "line": str(line)}
            batch.records.append(rec.model_copy(update={"meta": meta}))
    return batch


def _facts(path: Path, layout: Layout, good: Rows, cop_base: int | None) -> FileFacts:
    if cop_base is not None:
        if cop_base not in (0, 1):
            raise ValueError(f"cop_base must be 0 or 1, not {cop_base}")
        return FileFacts(cop_base=cop_base)
    try:
        return layout.scan(good)
    except FileProblem as e:
        raise InputError(str(path), e.message, line=e.line, field=e.field) from e
