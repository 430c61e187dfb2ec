"""The built-in medkg against hpo on MedQA, and what medkg costs to load.

In one run:
- cold assembly of medkg from the installed packages, in a fresh process: wall seconds and
  peak RSS; then a load from the KG cache in another fresh process (seconds for load_kg);
- gold answers linked on the MedQA test file with each KG (the link stage's rule: gold is
  its option's links), per node type of the linked answers;
- a full offline build with each KG (`kgsynth build`, no shard cache): exported rows and
  rejects by reason, from each build's build.json;
- 50 medkg answer links (ordered by a hash of seed and row id) written to
  bench/results/medkg_answer_sample.json for a person to judge; the answer and the node
  name are printed (stderr), never stored; with bench/medkg_answer_verdicts.json
  ({"row_id->kg_id": bool}) the share judged correct.
Writes bench/results/medkg.json; the summary is the last line printed.
Usage: python bench/medkg.py [--cache-dir DIR] [--sample 50] [--seed 11]
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
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from kgsynth.config import LinkingConfig  # noqa: E402
from kgsynth.defaults import DEFAULT_CACHE_DIR  # noqa: E402
from kgsynth.kg import load_kg  # noqa: E402
from kgsynth.linking.linker import Linker  # noqa: E402
from kgsynth.qa import read_qa  # noqa: E402

MEDQA = REPO.parent / "shared" / "data" / "qa" / "medqa_usmle_test.jsonl"
OUT = REPO / "bench" / "results" / "medkg.json"
SAMPLE_OUT = REPO / "bench" / "results" / "medkg_answer_sample.json"
VERDICTS = REPO / "bench" / "medkg_answer_verdicts.json"
PY = sys.executable


def timed_child(code: str) -> tuple[float, float, str]:
    """Run `code` in a fresh interpreter: (wall seconds, peak RSS MiB, its stdout)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    t0 = time.perf_counter()
    out = subprocess.run([PY, "-c", code], check=True, capture_output=True, text=True, cwd=REPO)
    wall = time.perf_counter() - t0
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    # ru_maxrss of children is the largest child so far: the assembly runs first
    return wall, max(peak, before) / 1024, out.stdout.strip()


def load_cost(cache: Path) -> dict:
    cold_wall, cold_rss, _ = timed_child("from kgsynth.kg.medkg import build_medkg; build_medkg()")
    # fill the cache, then time the cached load in a process of its own (imports excluded)
    load_kg("medkg", cache_dir=cache)
    _, _, cached = timed_child(
        "import time; from pathlib import Path; from kgsynth.kg import load_kg; "
        f"t = time.perf_counter(); load_kg('medkg', cache_dir=Path({str(cache)!r})); "
        "print(time.perf_counter() - t)"
    )
    return {
        "cold_assembly_s": round(cold_wall, 1),
        "cold_peak_rss_mib": round(cold_rss),
        "cached_load_s": round(float(cached), 2),
    }


def answer_links(kg_name: str, cache: Path, records: list) -> tuple[dict, list]:
    kg = load_kg(kg_name, cache_dir=cache)
    linker = Linker(kg, LinkingConfig(), cache)
    items = [linker(qa) for qa in records]
    linked = [(it.qa, it.answer_entities[0]) for it in items if it.answer_entities]
    by_type = Counter(lk.type for _, lk in linked)
    summary = {
        "nodes": kg.n_nodes,
        "edges": kg.n_edges,
        "answers_linked": len(linked),
        "answers_linked_pct": round(100 * len(linked) / len(records), 1),
        "answers_linked_by_type": dict(by_type.most_common()),
    }
    return summary, linked


def build(kg_name: str, cache: Path, out: Path) -> dict:
    cmd = [PY, "-m", "kgsynth.cli", "build", "--qa", str(MEDQA), "--kg", kg_name]
    cmd += ["--out", str(out), "--cache-dir", str(cache), "--no-cache-results"]
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True, capture_output=True, text=True, cwd=REPO)
    info = json.loads((out / "build.json").read_text())
    return {
        "build_s": round(time.perf_counter() - t0, 1),
        "exported": info["exported"],
        "exported_pct": round(100 * info["exported"] / info["counts"]["input"], 2),
        "counts": info["counts"],
        "rejected_by_reason": info["rejected_by_reason"],
    }


def sample(linked: list, n: int, seed: int) -> list[dict]:
    def draw(p: tuple) -> str:
        return hashlib.sha256(f"{seed}:{p[0].id}".encode()).hexdigest()

    picked = sorted(sorted(linked, key=draw)[:n], key=lambda p: p[0].id)
    for qa, lk in picked:  # for the person judging: shown, not stored
        print(f"{qa.id}->{lk.kg_id} '{qa.answer}' -> {lk.name} ({lk.type})", file=sys.stderr)
    return [
        {"key": f"{qa.id}->{lk.kg_id}", "id": qa.id, "kg_id": lk.kg_id, "name": lk.name,
         "type": lk.type, "method": lk.method}
        for qa, lk in picked
    ]  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--cache-dir", type=Path, default=DEFAULT_CACHE_DIR.expanduser())
    ap.add_argument("--sample", type=int, default=50)
    ap.add_argument("--seed", type=int, default=11)
    args = ap.parse_args()

    records = read_qa([MEDQA]).records
    result: dict = {"bench": "medkg", "input": len(records)}
    result["medkg_load"] = load_cost(args.cache_dir)
    kgs: dict[str, dict] = {}
    medkg_linked: list = []
    with tempfile.TemporaryDirectory() as tmp:
        for name in ("medkg", "hpo"):
            links, linked = answer_links(name, args.cache_dir, records)
            kgs[name] = {**links, **build(name, args.cache_dir, Path(tmp) / name)}
            if name == "medkg":
                medkg_linked = linked
    result["kgs"] = kgs
    rows = sample(medkg_linked, args.sample, args.seed)
    SAMPLE_OUT.write_text(json.dumps({"seed": args.seed, "sample": rows}, indent=1) + "\n")
    verdicts = json.loads(VERDICTS.read_text()) if VERDICTS.exists() else {}
    judged = [verdicts[r["key"]] for r in rows if r["key"] in verdicts]
    result["answer_link_audit"] = {
        "judged": len(judged),
        "correct": sum(map(bool, judged)),
        "wrong": [r["key"] for r in rows if verdicts.get(r["key"]) is False],
    }
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(result, indent=1) + "\n")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
