"""What a MedQA build exports, measured against the row rubric (../shared/docs/quality.md).

Builds the shared MedQA test file offline on the built-in KG (or reads an existing dataset
with --dataset) and reports: the exported share, rejects by stage and reason, the
distribution of evidence margins, per-check pass counts, how often the conclusion names the
evidence's best option, and paths starting at a non-present finding. When a verdict file
from a by-eye audit exists (bench/quality_audit_verdicts.json for hpo,
quality_audit_verdicts_KG.json for another KG; keyed by row id, each verdict naming the
prompt version of the text it read), its tallies over the exported rows are added.
Writes bench/results/quality.json (quality_KG.json); the last line printed is that JSON.

Usage: python bench/quality.py [--dataset DIR] [--kg hpo] [--cache-dir DIR]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import polars as pl

REPO = Path(__file__).resolve().parents[1]
MEDQA = REPO.parent / "shared" / "data" / "qa" / "medqa_usmle_test.jsonl"
KGSYNTH = Path(sys.executable).parent / "kgsynth"


def verdicts_file(kg: str) -> Path:
    """The by-eye audit of a build on this KG: one file per KG (the rows differ)."""
    suffix = "" if kg == "hpo" else f"_{kg}"
    return REPO / "bench" / f"quality_audit_verdicts{suffix}.json"


def result_file(kg: str) -> Path:
    suffix = "" if kg == "hpo" else f"_{kg}"
    return REPO / "bench" / "results" / f"quality{suffix}.json"


def build(out: Path, kg: str, cache: Path) -> None:
    cmd = [str(KGSYNTH), "build", "--qa", str(MEDQA), "--kg", kg, "--out", str(out)]
    cmd += ["--cache-dir", str(cache), "--no-cache-results"]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        sys.exit(f"build failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")


def margins(rows: pl.DataFrame) -> dict[str, Any]:
    if "evidence" not in rows.columns or rows.is_empty():
        return {}
    m = rows.select(pl.col("evidence").struct.field("margin")).to_series().drop_nulls()
    if m.is_empty():
        return {}
    qs = [0.0, 0.1, 0.25, 0.5, 0.75, 0.9, 1.0]
    return {
        "n": m.len(),
        "quantiles": {str(q): round(float(m.quantile(q)), 4) for q in qs},
        "mean": round(float(m.mean()), 4),
    }


def negated_starts(rows: pl.DataFrame) -> int:
    """Kept paths whose first node is a question entity not asserted present."""
    from kgsynth.export.rows import path_of

    n = 0
    for r in rows.select("question_entities", "paths").iter_rows(named=True):
        ents = r["question_entities"] or []
        q_ids = {e["kg_id"] for e in ents}
        bad = {e["kg_id"] for e in ents if e.get("assertion", "present") != "present"}
        n += sum(path_of(p, q_ids).start_id in bad for p in r["paths"] or [] if p)
    return n


def audit(rows: pl.DataFrame, kg: str) -> dict[str, Any]:
    path = verdicts_file(kg)
    if not path.exists():
        return {}
    verdicts = json.loads(path.read_text())
    version = dict(zip(rows["id"].to_list(), rows["prompt_version"].to_list(), strict=True))
    # a verdict read one text; one that names the prompt version it read is stale once the
    # row is written by another version
    judged = {
        k: v
        for k, v in verdicts.items()
        if k in version and v.get("prompt_version", version[k]) == version[k]
    }
    stale = sum(k in version for k in verdicts) - len(judged)
    keys = ("paths_support", "reads_as_reasoning", "distractors_dismissed")
    return {
        "rows_judged": len(judged),
        "rows_exported_not_judged": len(version) - len(judged),
        "stale_verdicts": stale,
        **{k: sum(bool(v.get(k)) for v in judged.values()) for k in keys},
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--dataset", type=Path)
    ap.add_argument("--kg", default="hpo")
    ap.add_argument("--cache-dir", type=Path, default=Path("~/.cache/kgsynth").expanduser())
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="kgsynth-quality-") as tmp:
        out = args.dataset or Path(tmp) / "out"
        if args.dataset is None:
            build(out, args.kg, args.cache_dir)
        rows = pl.read_parquet(sorted((out / "data").glob("*.parquet")))
        rejects = pl.read_parquet(out / "rejects.parquet")
        summary = json.loads((out / "build.json").read_text())
    n_in = summary["counts"]["input"]
    flat = rows.select(pl.col("checks").struct.unnest()) if rows.height else pl.DataFrame()
    checks = {
        c: int(flat[c].sum())
        for c in flat.columns
        if c not in ("passed", "reasons") and flat[c].null_count() < flat.height
    }
    result = {
        "bench": "quality",
        "kg": args.kg,
        "input": n_in,
        "exported": rows.height,
        "exported_pct": round(100 * rows.height / n_in, 2) if n_in else 0.0,
        "rejects_by_reason": [
            {"stage": s, "reason": r, "rows": n}
            for s, r, n in rejects.group_by("stage", "reason")
            .len()
            .sort("len", descending=True)
            .iter_rows()
        ],
        "evidence_margins": margins(rows),
        "checks_passed_on_exported": checks,
        "paths_starting_at_non_present_finding": negated_starts(rows),
        "prompt_versions": sorted(set(rows["prompt_version"].to_list())) if rows.height else [],
        "audit": audit(rows, args.kg),
    }
    out_file = result_file(args.kg)
    out_file.parent.mkdir(parents=True, exist_ok=True)
    out_file.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
