"""Fault matrix: `kgsynth build` (every chain step on) against an OpenAI-compatible server that
injects one kind of fault at a time, compared with a clean run.

Each cell runs the real CLI in a subprocess (its exit code is part of the result) against
the test suite's server (tests/llm_server.py) in this process, with a deterministic chain
responder. A fault hits a request when a hash of its messages falls under the rate, so the
same prompts are hit however the requests interleave:
  - transient: a hit prompt fails its first attempt only (retries or the repair request can
    cover it): the build must export exactly the clean run's rows;
  - persistent: a hit prompt fails every attempt: its rows are rejected at stage `llm`, and
    the build must fail (exit 2) once they pass `[llm] max_failure_ratio`; a re-run with the
    fault gone on the same cache must resend what failed and export the clean run's rows.
Repair requests (they carry an assistant turn) are never hit: a transient fault is one bad
first reply. Per cell: rows exported, rows lost against the clean run, requests, duplicate
requests (one prompt answered 200 more than once), exit code and the first error line.

Usage: python bench/faults.py [--limit N] [--quick]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "tests")]

from llm_server import Fault, LLMServer, RecordedRequest  # noqa: E402
from test_chain_http import API_KEY, KEY_ENV, MODEL, ChainResponder  # noqa: E402

from kgsynth.defaults import DEFAULT_CACHE_DIR  # noqa: E402
from kgsynth.qa import read_qa  # noqa: E402

MEDQA = REPO.parent / "shared" / "data" / "qa" / "medqa_usmle_test.jsonl"
HTML = "text/html"
TIMEOUT_S = 2.0  # per attempt; the "timeout" fault holds a reply longer than this


def _fault(kind: str, rec: RecordedRequest) -> Fault:
    json_step = rec.json_schema is not None or "JSON Schema" in json.dumps(rec.body)
    return {
        "http_500": lambda: Fault(500),
        "http_503": lambda: Fault(503),
        "http_429": lambda: Fault(429, retry_after=0.2),
        "http_401": lambda: Fault(401, message="Incorrect API key provided."),
        "reset": lambda: Fault(reset=True),
        "timeout": lambda: Fault(delay_s=TIMEOUT_S + 1.0),
        "non_json_200": lambda: Fault(200, body="<html>bad gateway</html>", content_type=HTML),
        "truncated_body": lambda: Fault(truncate=True),
        # a 200 chat completion whose content is unusable: cut JSON, or no sections
        "bad_reply": lambda: Fault(reply='{"answer' if json_step else "Let me think about"),
    }[kind]()


class FaultServer(LLMServer):
    """Hits a prompt when the hash of its messages falls under `rate`."""

    def __init__(self, responder: ChainResponder) -> None:
        super().__init__(api_key=API_KEY, responder=responder)
        self.kind: str | None = None
        self.rate = 0.0
        self.persistent = False
        self._tries: Counter[str] = Counter()
        self._plock = threading.Lock()
        self.faulted: set[int] = set()  # id() of the recorded requests given a fault

    def plan(self, kind: str | None, rate: float = 0.0, persistent: bool = False) -> None:
        self.kind, self.rate, self.persistent = kind, rate, persistent
        with self._plock:
            self._tries.clear()

    def _begin(self, rec: RecordedRequest) -> Fault | None:
        queued = super()._begin(rec)
        if queued is not None or self.kind is None or not isinstance(rec.body, dict):
            return queued
        msgs = rec.body.get("messages", [])
        if any(m.get("role") == "assistant" for m in msgs):
            # a repair request: never hit (the first reply was the fault); the responder
            # answers the step's own prompt, as a model that fixes its reply would
            first = next(i for i, m in enumerate(msgs) if m.get("role") == "assistant")
            rec.body = {**rec.body, "messages": msgs[:first]}
            return None
        key = prompt_key(msgs)
        if int(key[:8], 16) / 0xFFFFFFFF >= self.rate:
            return None
        with self._plock:
            n = self._tries[key]
            self._tries[key] += 1
        if n and not self.persistent:
            return None
        with self._plock:
            self.faulted.add(id(rec))
        return _fault(self.kind, rec)


def prompt_key(messages: Any) -> str:
    return hashlib.sha256(json.dumps(messages, sort_keys=True).encode()).hexdigest()


@dataclass
class Run:
    exit_code: int
    exported: int
    fates: dict[str, str]  # row id -> "exported" or "stage/reason" (empty: nothing written)
    requests: int
    duplicates: int
    llm_rejects: int
    error: str
    wall_s: float


def duplicates(reqs: list[RecordedRequest], faulted: set[int]) -> int:
    """Prompts answered with a good 200 more than once (the cache or the in-flight marker
    should have served the second); a reply the fault spoiled does not count."""
    ok = Counter(
        prompt_key(r.body.get("messages"))
        for r in reqs
        if r.status == 200 and r.completed and isinstance(r.body, dict) and id(r) not in faulted
    )
    return sum(n - 1 for n in ok.values() if n > 1)


def build(srv: FaultServer, cache: Path, out: Path, config: Path, limit: int) -> Run:
    before = len(srv.chat_requests)
    env = os.environ | {KEY_ENV: API_KEY, "NO_PROXY": "127.0.0.1,localhost"}
    cmd = [
        sys.executable, "-m", "kgsynth.cli", "build",
        "--qa", str(MEDQA), "--limit", str(limit), "--generator", "openai",
        "--base-url", srv.base_url, "--model", MODEL, "--api-key-env", KEY_ENV,
        "--cache-dir", str(cache), "--out", str(out), "--config", str(config),
    ]  # fmt: skip
    if out.exists():
        cmd.append("--overwrite")
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=REPO)
    wall = time.perf_counter() - t0
    reqs = srv.chat_requests[before:]
    exported = llm_rejects = 0
    summary = out / "build.json"
    if proc.returncode == 0 and summary.exists():
        counts = json.loads(summary.read_text())
        exported = int(counts.get("exported", 0))
        llm_rejects = sum(
            int(r.get("rows", 0))
            for r in counts.get("rejected_by_reason", [])
            if r.get("stage") == "llm"
        )
    fates: dict[str, str] = {}
    if proc.returncode == 0 and (out / "rejects.parquet").exists():
        import polars as pl

        rejects = pl.read_parquet(out / "rejects.parquet")
        for rid, stage, reason in rejects.select("id", "stage", "reason").iter_rows():
            fates[str(rid)] = f"{stage}/{reason}"
        for f in (out / "data").glob("*.parquet"):
            fates.update({str(rid): "exported" for rid in pl.read_parquet(f)["id"].to_list()})
    error = next((ln for ln in proc.stderr.splitlines() if ln.startswith("error:")), "")
    if not error and proc.returncode != 0:  # an unexpected failure: its last line
        error = (proc.stderr.strip().splitlines() or [""])[-1]
    return Run(
        proc.returncode,
        exported,
        fates,
        len(reqs),
        duplicates(reqs, srv.faulted),
        llm_rejects,
        error,
        wall,
    )


def changed(clean: Run, run: Run) -> int | None:
    """Rows that ended differently from the clean run (None: the run wrote nothing)."""
    if not run.fates:
        return None
    return sum(run.fates.get(rid) != fate for rid, fate in clean.fates.items())


def fresh_cache(root: Path, name: str) -> Path:
    """A new LLM cache whose KG and alias index come from the usual (warm) cache."""
    cache = root / name
    cache.mkdir()
    shared = DEFAULT_CACHE_DIR.expanduser()
    for sub in ("kg", "linker"):
        (shared / sub).mkdir(parents=True, exist_ok=True)
        (cache / sub).symlink_to(shared / sub, target_is_directory=True)
    return cache


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--limit", type=int, default=150)
    ap.add_argument("--quick", action="store_true", help="two rates per kind (0.05, 0.2)")
    args = ap.parse_args()
    batch = read_qa([MEDQA], limit=args.limit)
    responder = ChainResponder({r.question: (r.answer_idx or "", r.answer) for r in batch.records})
    responder.wrong_for = responder.free_text_for = "(none)"  # every answer step gives gold
    root = Path(tempfile.mkdtemp(prefix="kgsynth-faults-"))
    config = root / "faults.toml"
    config.write_text(
        "[llm]\n"
        f"timeout_s = {TIMEOUT_S}\nmax_retries = 3\nbackoff_base_s = 0.05\n"
        "backoff_max_s = 1.0\nconcurrency = 16\nmax_failure_ratio = 0.05\n"
    )
    transient = ["http_500", "http_503", "http_429", "reset", "timeout", "non_json_200",
                 "truncated_body", "bad_reply"]  # fmt: skip
    rates = [0.05, 0.2] if args.quick else [0.05, 0.2, 0.5]
    cells: list[dict[str, Any]] = []
    with FaultServer(responder) as srv:
        srv.plan(None)
        clean = build(srv, fresh_cache(root, "clean"), root / "out-clean", config, args.limit)
        print(f"clean: {clean}", file=sys.stderr)
        plan = [(k, r, False) for k in transient for r in rates]
        plan += [("http_503", 0.02, True), ("http_503", 0.15, True), ("http_401", 1.0, True)]
        for n, (kind, rate, persistent) in enumerate(plan):
            cache = fresh_cache(root, f"c{n}")
            out = root / f"out{n}"
            srv.plan(kind, rate, persistent)
            run = build(srv, cache, out, config, args.limit)
            cell: dict[str, Any] = {
                "fault": kind,
                "rate": rate,
                "mode": "persistent" if persistent else "transient",
                "exit_code": run.exit_code,
                "exported": run.exported,
                "rows_lost": clean.exported - run.exported if run.exit_code == 0 else None,
                # rows whose end (exported, or the stage and reason of their reject) is not
                # the clean run's: the loss measure that covers every row, not just exports
                "rows_changed": changed(clean, run),
                "llm_rejects": run.llm_rejects,
                "requests": run.requests,
                "duplicate_requests": run.duplicates,
                "error": run.error,
                "wall_s": round(run.wall_s, 1),
            }
            if persistent:  # the fault is fixed: a re-run on the same cache recovers the rows
                srv.plan(None)
                again = build(srv, cache, out, config, args.limit)
                cell["rerun_fixed"] = {
                    "exit_code": again.exit_code,
                    "exported": again.exported,
                    "rows_changed": changed(clean, again),
                    "requests": again.requests,
                    "duplicate_requests": again.duplicates,
                }
            # a silent loss: exit 0 while more rows were lost than the threshold allows
            lost = cell["rows_changed"] or 0
            cell["silent_loss_over_threshold"] = run.exit_code == 0 and lost > 0.05 * args.limit
            cells.append(cell)
            print(json.dumps(cell), file=sys.stderr)
    transient_cells = [c for c in cells if c["mode"] == "transient"]
    summary = {
        "bench": "faults",
        "qa_rows": args.limit,
        "clean": {
            "exit_code": clean.exit_code,
            "exported": clean.exported,
            "requests": clean.requests,
            "wall_s": round(clean.wall_s, 1),
        },
        "cells": cells,
        "rows_lost_to_transient_faults": sum(c["rows_lost"] or 0 for c in transient_cells),
        "rows_changed_by_transient_faults": sum(c["rows_changed"] or 0 for c in transient_cells),
        "transient_cells_not_exit_0": sum(c["exit_code"] != 0 for c in transient_cells),
        "silent_exits_over_threshold": sum(c["silent_loss_over_threshold"] for c in cells),
        "duplicate_requests": sum(c["duplicate_requests"] for c in cells),
    }
    out_file = REPO / "bench" / "results" / "faults.json"
    out_file.write_text(json.dumps(summary, indent=2) + "\n")
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
