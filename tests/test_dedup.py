"""Duplicate questions across sources: exact copies, near copies, and what must stay apart."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp

from kgsynth.config import DEFAULT_SAMPLE_QA, BuildConfig, DedupConfig, load_config
from kgsynth.qa import dedup, read_qa
from kgsynth.qa.dedup import (
    find_duplicates,
    jaccard,
    lsh_params,
    normalised_texts,
    shingles,
)
from kgsynth.records import QARecord
from kgsynth.stages import Stage, StageContext
from kgsynth.stages.dedup import DedupStage

STEM = (
    "A 34-year-old woman comes to the clinic because of fatigue, joint pain in both hands and a "
    "rash over her cheeks that worsens in sunlight for the past three months. She has had two "
    "episodes of painless oral ulcers. Her temperature is 37.9 C and blood pressure is 128/82 "
    "mm Hg. Examination shows swelling of the metacarpophalangeal joints. Laboratory studies "
    "show anaemia, a low platelet count and protein in the urine."
)
OPTS = {"A": "Lupus", "B": "Rheumatoid arthritis", "C": "Dermatomyositis", "D": "Gout"}


def qa(i: int, question: str, options: dict[str, str] | None = None, source: str = "a") -> QARecord:
    opts = OPTS if options is None else options
    return QARecord(
        id=f"q{i}",
        source=source,
        question=question,
        options=opts,
        answer=next(iter(opts.values()), "x"),
        answer_idx="A" if opts else None,
        meta={"file": f"{source}.jsonl", "line": str(i)},
    )


def diag(stem: str = STEM) -> str:
    return stem + " Which of the following is the most likely diagnosis?"


def test_exact_duplicate_despite_case_spacing_punctuation_and_option_order():
    messy = "  " + diag().upper().replace(" ", "   ").replace(".", " .") + "!!"
    reordered = dict(zip("ABCD", reversed(list(OPTS.values())), strict=True))
    recs = [qa(1, diag()), qa(2, "Unrelated question about gout?"), qa(3, messy, reordered)]
    res = find_duplicates(recs, DedupConfig())
    assert [r.id for r in res.kept] == ["q1", "q2"]
    (rej,) = res.rejects
    assert (rej.id, rej.stage, rej.reason) == ("q3", "dedup", "duplicate_exact")
    assert "'q1'" in rej.detail and rej.source_file == "a.jsonl" and rej.line == 3
    assert res.summary["exact"] == 1 and res.summary["near"] == 0


def test_normalised_text_folds_unicode_case_and_punctuation():
    a, b = normalised_texts([qa(1, "Ｃａｆé—LATTE,  ok?"), qa(2, "café latte ok")]).to_list()
    assert a == b


def test_near_duplicate_that_differs_by_one_word():
    edited = diag().replace("fatigue", "tiredness")
    recs = [qa(1, diag()), qa(2, edited)]
    j = jaccard(*(shingles(t, 3) for t in normalised_texts(recs)))
    assert 0.8 <= j < 1.0
    res = find_duplicates(recs, DedupConfig())
    (rej,) = res.rejects
    assert (rej.id, rej.reason) == ("q2", "duplicate_near")
    assert "'q1'" in rej.detail and f"{j:.3f}" in rej.detail
    assert res.pairs[0].jaccard == pytest.approx(j)


def test_shared_stem_with_another_question_and_options_stays():
    # the same vignette asked two ways (as MedQA does): a different question, other options
    other = STEM + " Which of the following is the most appropriate next step in management?"
    mgmt = {"A": "Hydroxychloroquine", "B": "Methotrexate", "C": "Renal biopsy", "D": "Colchicine"}
    recs = [qa(1, diag()), qa(2, other, mgmt)]
    j = jaccard(*(shingles(t, 3) for t in normalised_texts(recs)))
    assert 0.5 < j < DedupConfig().threshold  # close, but below the default threshold
    res = find_duplicates(recs, DedupConfig())
    assert [r.id for r in res.kept] == ["q1", "q2"] and not res.rejects
    assert res.summary["closest_kept"][0] == {"a": "q1", "b": "q2", "jaccard": round(j, 4)}
    # a looser threshold merges them: the threshold is what keeps them apart
    loose = find_duplicates(recs, DedupConfig(threshold=round(j, 2) - 0.01))
    assert [r.id for r in loose.kept] == ["q1"]


def test_first_occurrence_is_kept_and_counts_add_up():
    edited = diag().replace("three months", "two months")
    recs = [
        qa(1, "Short distinct question one?"),
        qa(2, edited, source="b"),  # the first of its cluster, from another source
        qa(3, diag(), source="a"),
        qa(4, diag().lower(), source="c"),
        qa(5, "Short distinct question two?"),
    ]
    res = find_duplicates(recs, DedupConfig())
    assert [r.id for r in res.kept] == ["q1", "q2", "q5"]
    # q4 is an exact copy of q3, which is a near copy of q2: both name the row that stays
    assert [(r.id, r.reason) for r in res.rejects] == [
        ("q3", "duplicate_near"),
        ("q4", "duplicate_near"),
    ]
    assert all("'q2'" in r.detail for r in res.rejects)
    assert res.pairs[0].jaccard == res.pairs[1].jaccard
    s = res.summary
    assert s["checked"] == 5 and s["kept"] + s["exact"] + s["near"] == 5
    assert len(res.kept) + len(res.rejects) == len(recs)


def test_deterministic_and_independent_of_the_sketch_seed(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(dedup, "ALL_PAIRS_MAX", 0)  # sketches even for three rows
    recs = [qa(i, diag().replace("fatigue", w)) for i, w in enumerate(["fatigue", "malaise"])]
    recs += [qa(9, "Another unrelated question?")]
    runs = [find_duplicates(recs, DedupConfig(seed=s)) for s in (1, 1, 7)]
    assert runs[0].summary == runs[1].summary
    # candidates are confirmed by exact Jaccard: a different sketch seed, the same verdicts
    assert [r.model_dump() for r in runs[0].rejects] == [r.model_dump() for r in runs[2].rejects]


def test_switches_and_batch_invariant():
    edited = diag().replace("fatigue", "tiredness")
    recs = [qa(1, diag()), qa(2, edited), qa(3, diag())]
    assert [r.id for r in find_duplicates(recs, DedupConfig(near=False)).kept] == ["q1", "q2"]
    off = find_duplicates(recs, DedupConfig(enabled=False))
    assert off.kept == recs and not off.rejects
    # the stage: kept rows go on, duplicates leave as rejects, the summary is its info
    res = DedupStage(BuildConfig()).run(recs, StageContext(cfg=BuildConfig()))
    assert len(res.kept) + len(res.rejects) == len(recs)
    assert {r.stage for r in res.rejects} == {Stage.DEDUP.value}
    summary = res.info.model_dump() if res.info is not None else {}
    assert summary["exact"] == 1 and summary["near"] == 1


def test_small_inputs_compare_all_pairs_and_agree_with_lsh(monkeypatch: pytest.MonkeyPatch):
    recs = read_qa([DEFAULT_SAMPLE_QA]).records
    recs += [qa(100, diag()), qa(101, diag().replace("fatigue", "tiredness"))]
    recs += [qa(102, diag().replace("three months", "two months").replace("fatigue", "pain"))]
    cfg = DedupConfig(threshold=0.5)
    exact = find_duplicates(recs, cfg)
    assert exact.summary["method"] == "all pairs" and exact.summary["lsh"] is None
    assert [p.id for p in exact.pairs] == ["q101", "q102"]
    monkeypatch.setattr(dedup, "ALL_PAIRS_MAX", 0)
    lsh = find_duplicates(recs, cfg)
    assert lsh.summary["method"] == "lsh" and lsh.summary["lsh"]
    assert lsh.pairs == exact.pairs
    assert [r.model_dump() for r in lsh.rejects] == [r.model_dump() for r in exact.rejects]
    # all pairs see every pair kept apart; LSH only its candidates, so never a closer one
    top = exact.summary["closest_kept"][0]["jaccard"]
    assert all(p["jaccard"] <= top for p in lsh.summary["closest_kept"])


def test_a_small_input_does_not_import_the_sketch_library():
    # datasketch pulls in scipy: ~0.6 s of an ad-hoc build's start-up
    code = (
        "import sys; from kgsynth.config import DedupConfig, DEFAULT_SAMPLE_QA;"
        "from kgsynth.qa import read_qa; from kgsynth.qa.dedup import find_duplicates;"
        "r = find_duplicates(read_qa([DEFAULT_SAMPLE_QA]).records, DedupConfig());"
        "assert r.summary['method'] == 'all pairs';"
        "print(sorted(m for m in ('datasketch', 'scipy') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_lsh_bands_catch_pairs_at_the_threshold():
    for t in (0.5, 0.8, 0.9):
        b, r = lsh_params(t, 128)
        assert b * r <= 128 and 1 - (1 - t**r) ** b >= 0.99


# -- the shared MedQA file --------------------------------------------------------------------


@pytest.fixture(scope="module")
def medqa(medqa_path: Path) -> list[QARecord]:
    return read_qa([medqa_path]).records


def _greedy_bruteforce(texts: list[str], t: float) -> list[tuple[int, int]]:
    """All-pairs Jaccard (sparse product, no LSH), then the same first-kept rule."""
    sets = [shingles(x, 3) for x in texts]
    vocab: dict[str, int] = {}
    ind = [vocab.setdefault(g, len(vocab)) for s in sets for g in s]
    ptr = np.cumsum([0] + [len(s) for s in sets])
    x = sp.csr_matrix((np.ones(len(ind)), ind, ptr), shape=(len(sets), len(vocab)))
    inter = (x @ x.T).toarray()
    size = np.array([len(s) for s in sets])
    jac = inter / (size[:, None] + size[None, :] - inter)
    kept: list[int] = []
    dropped: list[tuple[int, int]] = []
    for i in range(len(texts)):
        best = max(kept, key=lambda k: (jac[i, k], -k), default=None)
        if best is not None and jac[i, best] >= t:
            dropped.append((i, best))
        else:
            kept.append(i)
    return dropped


def test_medqa_has_no_duplicates_at_the_default_threshold(medqa):
    res = find_duplicates(medqa, DedupConfig())
    assert (res.summary["exact"], res.summary["near"]) == (0, 0)
    assert len(res.kept) == len(medqa) == 1273
    # its closest pair shares a vignette but asks another question with other options; at
    # 0.8 it is an LSH candidate, confirmed below the threshold, and stays
    res = find_duplicates(medqa, DedupConfig(threshold=0.8))
    assert res.summary["near"] == 0
    top = res.summary["closest_kept"][0]
    assert {top["a"], top["b"]} == {"medqa_usmle_test-536", "medqa_usmle_test-1130"}
    assert 0.7 < top["jaccard"] < 0.8


def test_medqa_lsh_finds_what_all_pairs_find_at_a_low_threshold(medqa):
    t = 0.4
    res = find_duplicates(medqa, DedupConfig(threshold=t))
    texts = normalised_texts(medqa).to_list()
    want = [(medqa[i].id, medqa[k].id) for i, k in _greedy_bruteforce(texts, t)]
    assert len(want) >= 4  # enough pairs near the threshold to test the bands
    assert sorted((p.id, p.kept_id) for p in res.pairs) == sorted(want)


def test_build_drops_duplicates_before_linking(tmp_path: Path, cache_dir: Path):
    from flows.build import build_dataset
    from kgsynth.export import read_dataset, read_rejects

    sample = DEFAULT_SAMPLE_QA
    rows = [json.loads(line) for line in sample.read_text().splitlines() if line.strip()][:6]
    copies = []
    for r in rows[:2]:  # an exact copy (other case and spacing) and a near copy
        c = dict(r, id=r["id"] + "-copy", question="  " + r["question"].upper() + "  ")
        copies.append(c)
    near = dict(rows[2], id=rows[2]["id"] + "-near")
    near["question"] = near["question"].replace(" the ", " a ", 1)
    second = tmp_path / "second.jsonl"
    second.write_text("".join(json.dumps(r) + "\n" for r in [*copies, near]))
    first = tmp_path / "first.jsonl"
    first.write_text("".join(json.dumps(r) + "\n" for r in rows))
    cfg = load_config(
        None, {"qa": [first, second], "kg": "hpo", "out": tmp_path / "o", "cache_dir": cache_dir}
    )
    report = build_dataset(cfg).report
    assert report.counts["input"] == 9 and report.counts["dedup"] == 6
    dups = read_rejects(tmp_path / "o").filter(stage="dedup")
    assert sorted(dups["reason"]) == ["duplicate_exact", "duplicate_exact", "duplicate_near"]
    assert set(dups["source_file"]) == {str(second)}
    assert read_dataset(tmp_path / "o").height + read_rejects(tmp_path / "o").height == 9
    card = (tmp_path / "o" / "README.md").read_text()
    assert "## Duplicates" in card and "2 were exact and 1 near duplicates" in card
    summary = json.loads((tmp_path / "o" / "build.json").read_text())
    assert summary["stages"]["dedup"]["exact"] == 2 and summary["stages"]["dedup"]["near"] == 1
