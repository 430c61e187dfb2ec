"""Path queries: kgsynth's CSR engine vs networkx (MedReason's approach), side by side.

Two graphs: the built-in HPO KG, and a generated graph with PrimeKG's node/edge counts,
type mix and heavy-tailed degrees (bench/synthetic_primekg.py, fixed seed), as kg.csv.
Each engine runs in its own process so peak RSS is its own:
  - kgsynth: graph ready from the source files (no cache), then again from the on-disk cache;
    per query, all shortest paths counted exactly and the best k enumerated (hub-aware):
    shortest_paths, the one engine behind the build's path stage (PathFinder, which adds
    only the KGPath records), `kgsynth kg paths` and the claim check;
  - networkx: nx.Graph from the same edges, per query list(nx.all_shortest_paths(...)).
Both return full path sets on every pair whose paths number at most --full-limit, and the
sets are compared. networkx enumeration stops at --nx-limit paths so hub pairs cannot stall
the run (its time is then a lower bound, which only flatters networkx).
Usage: python bench/paths.py [--pairs 200] [--graphs hpo,primekg]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

MAX_HOPS = 10  # networkx has no hop bound: search far enough that both see the same pairs
TOP_K = 3


def _rss_mb() -> int:
    """Peak RSS of this process. VmHWM, not ru_maxrss: Linux carries ru_maxrss across
    fork+exec, so a worker would report its parent's peak."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return round(int(line.split()[1]) / 1024)
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)


def _digest(paths: list[tuple[str, ...]]) -> str:
    return hashlib.sha256("\n".join(sorted("|".join(p) for p in paths)).encode()).hexdigest()


def _pct(xs: list[float], q: float) -> float:
    return round(float(np.percentile(np.array(xs) * 1000, q)), 3)


# -- workers (one process each) ---------------------------------------------------------
def worker_kgsynth(spec: str, pairs: list[tuple[str, str]], cache: Path, full: int) -> dict:
    from kgsynth.kg import load_kg
    from kgsynth.paths.search import cached_node_costs, shortest_paths

    t0 = time.perf_counter()
    kg = load_kg(spec, cache_dir=cache)  # cold: parses the files and writes the cache
    build_s = time.perf_counter() - t0
    rss_build = _rss_mb()
    del kg
    t0 = time.perf_counter()
    kg = load_kg(spec, cache_dir=cache)
    cached_s = time.perf_counter() - t0
    cached_node_costs(kg)  # part of getting ready, not of a query
    idx = [(kg.index_of(a), kg.index_of(b)) for a, b in pairs]
    times, results = [], []
    for s, t in idx:
        q0 = time.perf_counter()
        res = shortest_paths(kg, s, t, max_hops=MAX_HOPS, cap=TOP_K)
        times.append(time.perf_counter() - q0)
        row: dict = {"count": res.count, "length": res.length}
        if 0 < res.count <= full:
            allp = shortest_paths(kg, s, t, max_hops=MAX_HOPS, cap=full)
            row["digest"] = _digest([p.ids(kg) for p in allp.paths])
        results.append(row)
    return {
        "build_s": round(build_s, 2),
        "cached_load_s": round(cached_s, 2),
        "peak_rss_mb": max(rss_build, _rss_mb()),
        "nodes": kg.n_nodes,
        "edges": kg.n_edges,
        "query_s": times,
        "results": results,
    }


def worker_networkx(spec: str, pairs: list[tuple[str, str]], cache: Path, limit: int) -> dict:
    import networkx as nx
    import polars as pl

    t0 = time.perf_counter()
    if spec == "hpo":
        # the HPO files need kgsynth's OBO/annotation parsing; networkx's part is add_edges
        from kgsynth.kg.hpo import build_hpo_kg

        kg = build_hpo_kg()
        e = kg.edge_frame()
        ids = np.array(kg.ids, dtype=object)
        heads, tails = ids[e["head"].to_numpy()], ids[e["tail"].to_numpy()]
        del kg, e
    else:
        df = pl.read_csv(spec, columns=["x_id", "x_source", "y_id", "y_source"], infer_schema=False)
        heads = (df["x_source"] + ":" + df["x_id"]).to_list()
        tails = (df["y_source"] + ":" + df["y_id"]).to_list()
        del df
    g = nx.Graph()
    g.add_edges_from(zip(heads, tails, strict=True))
    del heads, tails
    build_s = time.perf_counter() - t0
    times, results = [], []
    for a, b in pairs:
        q0 = time.perf_counter()
        try:
            found = []
            for p in nx.all_shortest_paths(g, a, b):
                found.append(tuple(p))
                if len(found) >= limit:
                    break
        except nx.NetworkXNoPath:
            found = []
        times.append(time.perf_counter() - q0)
        length = len(found[0]) - 1 if found else None
        row: dict = {"count": len(found), "length": length, "truncated": len(found) >= limit}
        if found and length is not None and length <= MAX_HOPS and len(found) < limit:
            row["digest"] = _digest(found)
        results.append(row)
    return {
        "build_s": round(build_s, 2),
        "peak_rss_mb": _rss_mb(),
        "nodes": g.number_of_nodes(),
        "edges": g.number_of_edges(),
        "query_s": times,
        "results": results,
    }


# -- orchestration ----------------------------------------------------------------------
def sample_pairs(spec: str, cache: Path, n: int, seed: int) -> list[tuple[str, str]]:
    """Random pairs of connected-to-something nodes (what entity linking could yield)."""
    from kgsynth.kg import load_kg

    kg = load_kg(spec, cache_dir=cache)
    live = np.nonzero(kg.degree > 0)[0]
    rng = np.random.default_rng(seed)
    picks = rng.choice(live, size=(n, 2))
    picks = picks[picks[:, 0] != picks[:, 1]]
    return [(kg.ids[a], kg.ids[b]) for a, b in picks.tolist()]


def run_worker(engine: str, spec: str, pairs_file: Path, cache: Path, limit: int) -> dict:
    cmd = [sys.executable, __file__, "--worker", engine, "--spec", spec]
    cmd += ["--pairs-file", str(pairs_file), "--cache", str(cache), "--limit", str(limit)]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        sys.exit(f"{engine} worker failed on {spec}:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def compare(ours: dict, theirs: dict) -> dict:
    """Per pair: same shortest length; same path set where both enumerated it fully;
    otherwise the same count (or ours >= networkx's where networkx stopped early)."""
    sets_equal = counts_equal = 0
    mismatches = []
    for i, (a, b) in enumerate(zip(ours["results"], theirs["results"], strict=True)):
        if a["count"] == 0:
            ok = b["length"] is None or b["length"] > MAX_HOPS
        elif a["length"] != b["length"]:
            ok = False
        elif "digest" in a and "digest" in b:
            ok = a["digest"] == b["digest"]
            sets_equal += ok
        else:
            ok = a["count"] >= b["count"] if b["truncated"] else a["count"] == b["count"]
            counts_equal += ok
        if not ok:
            mismatches.append(i)
    return {
        "pairs_same_path_set": sets_equal,
        "pairs_same_count_only": counts_equal,
        "mismatched_pairs": mismatches,
        "all_equal": not mismatches,
    }


def bench_graph(name: str, spec: str, tmp: Path, n_pairs: int, full: int, nx_limit: int) -> dict:
    cache = tmp / f"cache-{name}"
    pairs = sample_pairs(spec, tmp / "pairs-cache", n_pairs, seed=11)
    pairs_file = tmp / f"pairs-{name}.json"
    pairs_file.write_text(json.dumps(pairs))
    ours = run_worker("kgsynth", spec, pairs_file, cache, full)
    theirs = run_worker("networkx", spec, pairs_file, cache, nx_limit)
    counts = [r["count"] for r in ours["results"]]
    p50_ours, p50_nx = _pct(ours["query_s"], 50), _pct(theirs["query_s"], 50)
    return {
        "graph": name,
        "nodes": ours["nodes"],
        "edges": ours["edges"],
        "pairs": len(pairs),
        "pairs_connected": sum(c > 0 for c in counts),
        "max_paths_one_pair": max(counts),
        "kgsynth": {
            "ready_from_files_s": ours["build_s"],
            "ready_from_cache_s": ours["cached_load_s"],
            "peak_rss_mb": ours["peak_rss_mb"],
            "query_p50_ms": p50_ours,
            "query_p99_ms": _pct(ours["query_s"], 99),
        },
        "networkx": {
            "build_s": theirs["build_s"],
            "peak_rss_mb": theirs["peak_rss_mb"],
            "query_p50_ms": p50_nx,
            "query_p99_ms": _pct(theirs["query_s"], 99),
            "pairs_truncated": sum(bool(r.get("truncated")) for r in theirs["results"]),
        },
        "speedup_p50": round(p50_nx / p50_ours, 1) if p50_ours else None,
        "speedup_p99": round(_pct(theirs["query_s"], 99) / _pct(ours["query_s"], 99), 1),
        "equality": compare(ours, theirs),
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--pairs", type=int, default=200)
    ap.add_argument("--graphs", default="hpo,primekg")
    ap.add_argument("--full-limit", type=int, default=20_000)
    ap.add_argument("--nx-limit", type=int, default=200_000)
    # worker mode (internal)
    ap.add_argument("--worker", choices=["kgsynth", "networkx"])
    ap.add_argument("--spec")
    ap.add_argument("--pairs-file", type=Path)
    ap.add_argument("--cache", type=Path)
    ap.add_argument("--limit", type=int)
    args = ap.parse_args()

    if args.worker:
        pairs = [tuple(p) for p in json.loads(args.pairs_file.read_text())]
        fn = worker_kgsynth if args.worker == "kgsynth" else worker_networkx
        print(json.dumps(fn(args.spec, pairs, args.cache, args.limit)))
        return

    from synthetic_primekg import write_primekg

    tmp = Path(tempfile.mkdtemp(prefix="kgsynth-bench-paths-"))
    graphs = []
    for name in args.graphs.split(","):
        spec = "hpo"
        if name == "primekg":
            spec = str(tmp / "kg.csv")
            t0 = time.perf_counter()
            rows = write_primekg(Path(spec), seed=0)
            print(f"generated {rows} rows in {time.perf_counter() - t0:.1f}s", file=sys.stderr)
        graphs.append(bench_graph(name, spec, tmp, args.pairs, args.full_limit, args.nx_limit))
        print(json.dumps(graphs[-1]), file=sys.stderr)
    by = {g["graph"]: g for g in graphs}
    result = {
        "bench": "paths",
        "machine": "2-core CPU (this sandbox)",
        "max_hops": MAX_HOPS,
        "top_k_per_query": TOP_K,
        "graphs": graphs,
        "targets": {
            "speedup_p50_min": 100,
            "primekg_ready_from_files_s_max": 45,
            "primekg_peak_rss_mb_max": 4096,
            "primekg_ready_from_cache_s_max": 5,
            "hpo_ready_s_max": 3,
        },
        "targets_met": {
            "speedup_p50": all((g["speedup_p50"] or 0) >= 100 for g in graphs),
            "paths_equal": all(g["equality"]["all_equal"] for g in graphs),
            **(
                {
                    "primekg_ready_from_files": by["primekg"]["kgsynth"]["ready_from_files_s"]
                    <= 45,
                    "primekg_peak_rss": by["primekg"]["kgsynth"]["peak_rss_mb"] <= 4096,
                    "primekg_ready_from_cache": by["primekg"]["kgsynth"]["ready_from_cache_s"] <= 5,
                }
                if "primekg" in by
                else {}
            ),
            **(
                {"hpo_ready": by["hpo"]["kgsynth"]["ready_from_files_s"] <= 3}
                if "hpo" in by
                else {}
            ),
        },
    }
    out = REPO / "bench" / "results" / "paths.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
