"""LLM client throughput against the local OpenAI-compatible server with a fixed latency.

The server (tests/llm_server.py) runs as a separate process so that the CPU time measured
here is the client's alone: building requests, the openai SDK, HTTP, parsing, and the
SQLite response cache (on, as in a build). Ideal throughput is concurrency / latency
(64 / 0.2 s = 320 requests/s); the target is >= 90% of it. A second pass over the same
requests with the cache warm must send nothing, which the server's own counter confirms.

    python bench/llm_throughput.py [--requests 2000] [--concurrency 64] [--latency-ms 200]

Prints one JSON object as the last line and writes bench/results/llm_throughput.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import openai  # noqa: E402

from kgsynth.config import LLMConfig  # noqa: E402
from kgsynth.llm.client import LLMClient, Request  # noqa: E402

KEY_ENV = "KGSYNTH_BENCH_LLM_KEY"
CASE = (
    "A 34-year-old woman comes to the physician because of fatigue, joint pain in both hands "
    "and a facial rash that worsens in sunlight for the past 3 months. Her temperature is "
    "37.8 C. Examination shows a malar rash sparing the nasolabial folds and tenderness of "
    "the metacarpophalangeal joints. Which of the following is the most likely diagnosis?"
)


class Server:
    """tests/llm_server.py in its own process; it stops when its stdin closes."""

    def __init__(self, latency_ms: float, api_key: str) -> None:
        script = REPO / "tests" / "llm_server.py"
        cmd = [sys.executable, str(script), "--latency-ms", str(latency_ms)]
        env = os.environ | {"KGSYNTH_TEST_SERVER_KEY": api_key}  # not on the command line
        self.proc = subprocess.Popen(
            cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env
        )
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline().split()
        if len(line) != 2 or line[0] != "LISTENING":
            raise RuntimeError(f"server did not start: {line}")
        self.base = f"http://127.0.0.1:{line[1]}"

    def stats(self) -> dict[str, float]:
        with urllib.request.urlopen(f"{self.base}/_stats", timeout=10) as r:
            return json.loads(r.read())

    def stop(self) -> float:
        """Stop it; return its CPU seconds (user + system)."""
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        self.proc.wait(timeout=30)
        ru = resource.getrusage(resource.RUSAGE_CHILDREN)
        return ru.ru_utime + ru.ru_stime


def _cpu() -> float:
    ru = resource.getrusage(resource.RUSAGE_SELF)
    return ru.ru_utime + ru.ru_stime


def one_pass(cfg: LLMConfig, cache_dir: Path, requests: list[Request], srv: Server) -> dict:
    before = srv.stats()["chat_requests"]
    client = LLMClient(cfg, cache_dir=cache_dir)
    c0, t0 = _cpu(), time.perf_counter()
    results = client.run_batch(requests)
    wall, cpu = time.perf_counter() - t0, _cpu() - c0
    client.close()
    n = len(requests)
    return {
        "ok": sum(r.ok for r in results),
        "cached": sum(r.cached for r in results),
        "server_requests": int(srv.stats()["chat_requests"] - before),
        "wall_s": round(wall, 3),
        "requests_per_s": round(n / wall, 1),
        "client_cpu_ms_per_request": round(1000 * cpu / n, 3),
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--requests", type=int, default=2000)
    ap.add_argument("--concurrency", type=int, default=64)
    ap.add_argument("--latency-ms", type=float, default=200.0)
    ap.add_argument("--repeat", type=int, default=3, help="cold passes (fresh cache each)")
    ap.add_argument("--out", type=Path, default=REPO / "bench" / "results" / "llm_throughput.json")
    args = ap.parse_args()

    api_key = "sk-bench-" + secrets.token_hex(8)
    os.environ[KEY_ENV] = api_key
    os.environ.setdefault("NO_PROXY", "127.0.0.1,localhost")
    ideal = args.concurrency / (args.latency_ms / 1000.0)
    requests = [
        Request.user(f"Case {i}: {CASE}", step="bench", prompt_version="bench.v1")
        for i in range(args.requests)
    ]
    srv = Server(args.latency_ms, api_key)
    try:
        cfg = LLMConfig(
            base_url=f"{srv.base}/v1",
            model="bench-model",
            api_key_env=KEY_ENV,
            concurrency=args.concurrency,
            timeout_s=30,
            max_retries=3,
        )
        cold: list[dict] = []
        with tempfile.TemporaryDirectory(prefix="kgsynth-bench-") as tmp:
            for i in range(args.repeat):
                cold.append(one_pass(cfg, Path(tmp) / f"cache{i}", requests, srv))
                print(f"cold pass {i + 1}: {json.dumps(cold[-1])}", file=sys.stderr)
            warm = one_pass(cfg, Path(tmp) / f"cache{args.repeat - 1}", requests, srv)
            print(f"warm pass: {json.dumps(warm)}", file=sys.stderr)
        stats = srv.stats()
    finally:
        server_cpu = srv.stop()

    rps = statistics.median(p["requests_per_s"] for p in cold)
    served = sum(p["server_requests"] for p in cold)
    result = {
        "bench": "llm_throughput",
        "requests": args.requests,
        "concurrency": args.concurrency,
        "latency_ms": args.latency_ms,
        "ideal_requests_per_s": round(ideal, 1),
        "requests_per_s": rps,  # median of the cold passes
        "pct_of_ideal": round(100 * rps / ideal, 1),
        "client_cpu_ms_per_request": statistics.median(
            p["client_cpu_ms_per_request"] for p in cold
        ),
        "cold_passes": cold,
        "warm_cache": warm,
        "warm_cache_server_requests": warm["server_requests"],
        "server_max_in_flight": stats["max_in_flight"],
        "server_mean_service_ms": stats["mean_service_ms"],
        "server_cpu_ms_per_request": round(1000 * server_cpu / max(1, served), 3),
        "machine": {
            "cpus": os.cpu_count(),
            "load_avg_1m_at_end": round(os.getloadavg()[0], 2),
            "python": platform.python_version(),
            "openai": openai.__version__,
        },
    }
    result["pass"] = (
        result["pct_of_ideal"] >= 90.0
        and warm["server_requests"] == 0
        and warm["cached"] == args.requests
        and all(p["ok"] == args.requests for p in cold)
    )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result))
    return 0 if result["pass"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
