"""A full MedQA build through the local OpenAI-compatible server, every chain step on.

The server is the test suite's (tests/llm_server.py) with the chain responder of
tests/test_chain_http.py: deterministic JSON per structured step, the three-part text for
the CoT. Reports per-step requests and tokens (as in the dataset card), stage counts and
wall time, then runs again to show the warm cache makes no requests.
Usage: python bench/llm_chain_medqa.py [--limit N]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "tests")]

from llm_server import LLMServer  # noqa: E402
from test_chain_http import API_KEY, KEY_ENV, MODEL, ChainResponder  # noqa: E402

from kgsynth.config import load_config  # noqa: E402
from kgsynth.defaults import DEFAULT_CACHE_DIR  # noqa: E402
from kgsynth.qa import read_qa  # noqa: E402

MEDQA = REPO.parent / "shared" / "data" / "qa" / "medqa_usmle_test.jsonl"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--limit", type=int, default=None)
    ap.add_argument("--cache-dir", type=Path, default=DEFAULT_CACHE_DIR.expanduser())
    args = ap.parse_args()
    os.environ["PREFECT_LOGGING_LEVEL"] = "WARNING"
    os.environ["PREFECT_SERVER_ANALYTICS_ENABLED"] = "false"
    from flows.build import build_dataset

    batch = read_qa([MEDQA], limit=args.limit)
    responder = ChainResponder({r.question: (r.answer_idx or "", r.answer) for r in batch.records})
    llm_cache = Path(tempfile.mkdtemp(prefix="kgsynth-llm-bench-"))
    for sub in ("kg", "linker"):  # KG and alias index from the usual cache; a fresh LLM cache
        (args.cache_dir / sub).mkdir(parents=True, exist_ok=True)
        (llm_cache / sub).symlink_to(args.cache_dir / sub, target_is_directory=True)
    os.environ[KEY_ENV] = API_KEY
    runs = []
    with LLMServer(api_key=API_KEY, responder=responder) as srv:
        for i in range(2):
            out = llm_cache / f"out{i}"
            cfg = load_config(
                None,
                {
                    "qa": [MEDQA],
                    "kg": "hpo",
                    "out": out,
                    "cache_dir": llm_cache,
                    "limit": args.limit,
                    "generator": "openai",
                    "llm": {
                        "base_url": srv.base_url,
                        "model": MODEL,
                        "api_key_env": KEY_ENV,
                        "concurrency": 32,
                    },
                },
            )
            before = len(srv.chat_requests)
            t0 = time.perf_counter()
            result = build_dataset(cfg)
            wall = time.perf_counter() - t0
            runs.append((result, wall, len(srv.chat_requests) - before, out))
    (first, wall1, sent1, out1), (_, wall2, sent2, _) = runs
    usage = first.report.llm_usage
    card = (out1 / "README.md").read_text()
    summary = {
        "bench": "llm_chain_medqa",
        "qa_rows": first.report.counts["input"],
        "counts": first.report.counts,
        "rejected_by_reason": [
            {"stage": s, "reason": r, "rows": n} for s, r, n in first.report.rejected_by_reason()
        ],
        "requests_sent_first_run": sent1,
        "requests_sent_warm_run": sent2,
        "wall_s_first_run": round(wall1, 1),
        "wall_s_warm_run": round(wall2, 1),
        "llm_usage": usage,
        "card_has_per_step_usage": all(s in card for s in ("extract_entities", "prune_paths")),
    }
    out = REPO / "bench" / "results" / "llm_chain_medqa.json"
    out.write_text(json.dumps(summary, indent=2) + "\n")
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
