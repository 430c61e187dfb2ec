"""Benchmark decontamination: n-gram, MinHash and KG overlap with benchmark items, the cached
index, the stage (build and KG-first rows) and `kgsynth decontam` on a built dataset."""

from __future__ import annotations

import hashlib
import importlib.util
import json
import logging
import random
from pathlib import Path

import numpy as np
import polars as pl
import pytest
import typer
from typer.testing import CliRunner

from kgsynth import cache_layout as layout
from kgsynth import manifest, resources
from kgsynth.cli_decontam import decontam
from kgsynth.config import DEFAULT_SAMPLE_QA, BuildConfig, DecontamConfig, LLMConfig
from kgsynth.decontam.index import benchmark_fingerprint, build_index, load_index
from kgsynth.decontam.match import Candidates, check, rates, verdicts
from kgsynth.decontam.text import EMPTY, Words, densify, normalised, signatures
from kgsynth.errors import InputError
from kgsynth.qa import read_qa
from kgsynth.qa.dedup import normalised_texts
from kgsynth.records import EntityLink, LinkedQA, PathedQA, QARecord
from kgsynth.report import BuildReport
from kgsynth.stages import Stage, StageContext

REPO = Path(__file__).resolve().parents[1]
TEXT = ["ngram", "minhash"]


def _perturb_module():
    spec = importlib.util.spec_from_file_location("bench_perturb", REPO / "bench" / "perturb.py")
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


perturb = _perturb_module()


def settings(**kw) -> DecontamConfig:
    return DecontamConfig(against=[Path("unused.jsonl")], **kw)


def qa(i: int | str, question: str, options: dict[str, str] | None = None) -> QARecord:
    opts = {"A": "Alpha", "B": "Beta", "C": "Gamma"} if options is None else options
    return QARecord(
        id=f"q{i}",
        source="t",
        question=question,
        options=opts,
        answer=next(iter(opts.values()), "x"),
        answer_idx="A" if opts else None,
    )


def words(rng: random.Random, n: int) -> str:
    return " ".join(f"w{rng.randrange(10**6)}" for _ in range(n))


@pytest.fixture(scope="module")
def medqa(medqa_path: Path) -> list[QARecord]:
    return read_qa([medqa_path]).records


# -- text features ------------------------------------------------------------------------------


def test_normalised_text_is_dedups(medqa: list[QARecord]):
    odd = [
        qa(1, "  Ａ 30-year-old ＭＡＮ… has ‘fever’!  ", {"B": "Zeta", "A": "alpha, beta"}),
        qa(2, "No options here?", {}),
        qa(3, "Same (option) twice", {"A": "x", "B": "x"}),
    ]
    records = medqa[:300] + odd
    assert normalised(records).to_list() == normalised_texts(records).to_list()


def test_windows_are_the_same_for_the_same_words_and_stay_inside_a_row():
    texts = pl.Series(["a b c d e", "x a b c d", "c d", ""])
    w = Words(texts)
    g3 = w.windows(3, short=False)
    by_row = {r: set(g3.h[g3.rows == r].tolist()) for r in range(4)}
    assert len(by_row[0]) == 3 and len(by_row[1]) == 3  # "a b c" "b c d" "c d e" / "x a b" ...
    assert len(by_row[0] & by_row[1]) == 2  # "a b c" and "b c d" in both rows
    assert by_row[2] == set() and by_row[3] == set()  # too short: no window, none across rows
    assert len(g3.rows) == 6  # no window spans "e" and "x" (rows 0 and 1)
    short = w.windows(3, short=True)
    assert int((short.rows == 2).sum()) == 1 and int((short.rows == 3).sum()) == 0
    assert np.all(np.diff(short.rows) >= 0)
    # a repeated window counts once
    rep = Words(pl.Series(["a b a b a b"])).windows(2, short=False)
    assert len(rep.h) == 2


def test_one_permutation_minhash_estimates_jaccard():
    rng = np.random.default_rng(0)
    base = rng.integers(0, 2**40, size=400, dtype=np.uint64)
    other = np.concatenate([base[:240], rng.integers(0, 2**40, size=160, dtype=np.uint64)])
    exact = 240 / 560
    from kgsynth.decontam.text import Grams

    g = Grams(
        np.repeat(np.arange(3, dtype=np.int64), [400, 400, 400]),
        np.concatenate([base, other, base]),
    )
    sig = signatures(g, 3, 128, seed=1)
    assert np.array_equal(sig[0], sig[2])  # the same set, the same signature
    estimate = float(np.mean(sig[0] == sig[1]))
    assert abs(estimate - exact) < 0.12, (estimate, exact)
    assert not np.array_equal(signatures(g, 3, 128, seed=2)[0], sig[0])


def test_densify_fills_empty_bins_from_the_right_and_leaves_empty_rows_empty():
    sig = np.full((3, 4), EMPTY, dtype=np.uint32)
    sig[0, 1] = 7
    sig[1] = [1, 2, 3, 4]
    out = densify(sig.copy())
    assert out[0, 1] == 7 and np.all(out[0] != EMPTY)
    assert out[0, 0] != 7 and out[0, 2] != out[0, 3]  # shifted by their distance
    assert np.array_equal(out[1], [1, 2, 3, 4])
    assert np.all(out[2] == EMPTY)


# -- the three methods ---------------------------------------------------------------------------


def test_medqa_against_itself_flags_every_item_as_itself(medqa: list[QARecord]):
    s = settings(methods=TEXT)
    idx = build_index("medqa", "h", medqa, None, s)
    flags = check(Candidates.from_records(medqa), [idx], s)
    for method in TEXT:
        mine = flags.filter(method=method)
        assert mine.height == len(medqa), method
        assert mine["item_id"].to_list() == [r.id for r in medqa]
    assert flags.filter(method="minhash")["score"].min() == 1.0


def test_perturbed_copies_are_flagged_and_point_at_their_source(medqa: list[QARecord]):
    s = settings(methods=TEXT)
    idx = build_index("medqa", "h", medqa, None, s)
    copies = list(perturb.perturbed(medqa, seed=3))
    changed = sum(c.question != r.question for c, r in zip(copies, medqa, strict=True))
    assert changed == len(medqa)
    flags = check(Candidates.from_records(copies), [idx], s)
    flagged = flags["row"].n_unique()
    assert flagged >= 0.95 * len(copies)
    assert (flags["item_id"] == pl.Series([copies[r].meta["of"] for r in flags["row"]])).all()


def test_different_questions_are_rarely_flagged(medqa: list[QARecord]):
    s = settings(methods=TEXT)
    order = list(range(len(medqa)))
    random.Random(0).shuffle(order)
    half = len(order) // 2
    bench = [medqa[i] for i in order[:half]]
    others = [medqa[i] for i in order[half:]]
    flags = check(Candidates.from_records(others), [build_index("b", "h", bench, None, s)], s)
    # MedQA's test set holds a few real near copies (one vignette, two questions)
    assert flags["row"].n_unique() <= 0.02 * len(others)
    sample = read_qa([DEFAULT_SAMPLE_QA]).records
    idx = build_index("medqa", "h", medqa, None, s)
    assert check(Candidates.from_records(sample), [idx], s).is_empty()


def test_boilerplate_shared_by_many_items_flags_nothing():
    rng = random.Random(1)
    stem = "which of the following is the most likely diagnosis in this patient with these"
    bench = [qa(i, f"{words(rng, 40)} {stem}", {}) for i in range(30)]
    row = qa("x", f"{words(rng, 8)} {stem}", {})
    for min_items, flagged in ((10, False), (100, True)):
        s = settings(methods=TEXT, boilerplate_min_items=min_items)
        idx = build_index("b", "h", bench, None, s)
        assert (idx.facts["boilerplate_ngrams"] > 0) is not flagged
        flags = check(Candidates.from_records([row]), [idx], s)
        assert (not flags.filter(method="ngram").is_empty()) is flagged, min_items


def link(kg_id: str, assertion: str = "present") -> EntityLink:
    return EntityLink(
        kg_id=kg_id,
        name=kg_id,
        type="t",
        mention=kg_id,
        start=0,
        end=1,
        score=1.0,
        method="exact",
        assertion=assertion,  # type: ignore[arg-type]
    )


def linked(i: int | str, text: str, answer: str, present: list[str], absent=()) -> LinkedQA:
    return LinkedQA(
        qa=qa(i, text),
        question_entities=[link(p) for p in present] + [link(a, "absent") for a in absent],
        answer_entities=[link(answer)],
    )


def test_kg_method_needs_the_same_answer_and_shared_present_findings():
    rng = random.Random(2)
    items = [
        linked(0, words(rng, 60), "D:1", ["P:a", "P:b", "P:c"]),
        linked(1, words(rng, 60), "D:2", ["P:a", "P:b"]),
        linked(2, words(rng, 60), "D:3", ["P:x"], absent=["P:y"]),
    ]
    s = settings(kg_min_shared=2)
    idx = build_index("b", "h", [i.qa for i in items], items, s)
    rows = [
        linked(10, words(rng, 60), "D:1", ["P:a", "P:c", "P:z"]),  # 2 shared: flagged
        linked(11, words(rng, 60), "D:1", ["P:a", "P:z", "P:w"]),  # 1 of 3: not
        linked(12, words(rng, 60), "D:9", ["P:a", "P:b"]),  # another answer: not
        linked(13, words(rng, 60), "D:2", ["P:b"]),  # its one finding (KG-first): flagged
        linked(14, words(rng, 60), "D:3", ["P:y"]),  # the item denies P:y: not
        linked(15, words(rng, 60), "D:1", [], absent=["P:a", "P:b"]),  # nothing present: not
    ]
    flags = check(Candidates.from_linked(rows), [idx], s)
    assert set(flags["method"]) == {"kg"}  # the texts share nothing
    got = {r["row"]: (r["item_id"], r["shared"], r["of"]) for r in flags.to_dicts()}
    assert got == {0: ("q0", 2, 3), 3: ("q1", 1, 1)}
    strict = settings(kg_min_shared=3)
    assert set(check(Candidates.from_linked(rows), [idx], strict)["row"]) == {3}


def test_a_rows_reject_names_the_first_method_and_benchmark_and_lists_every_flag():
    rng = random.Random(3)
    text = words(rng, 60)
    a = linked(0, text, "D:1", ["P:a", "P:b"])
    b = linked(0, words(rng, 60), "D:1", ["P:a", "P:b"])
    s = settings()
    first = build_index("first.jsonl", "1", [b.qa], [b], s)  # KG overlap only
    second = build_index("second.jsonl", "2", [a.qa], [a], s)  # the same text and KG
    flags = check(Candidates.from_linked([a]), [first, second], s)
    assert rates(flags, ["first.jsonl", "second.jsonl"]) == {
        "first.jsonl": {"ngram": 0, "minhash": 0, "kg": 1, "any": 1},
        "second.jsonl": {"ngram": 1, "minhash": 1, "kg": 1, "any": 1},
    }
    v = verdicts(flags, ["first.jsonl", "second.jsonl"], s)[0]
    assert (v.method, v.file, v.item_id, v.score) == ("ngram", "second.jsonl", "q0", 1.0)
    assert v.detail.startswith("first.jsonl: item 'q0' kg 1.000")
    assert "second.jsonl: item 'q0' ngram 1.000" in v.detail and "minhash 1.000" in v.detail


# -- the cached index ----------------------------------------------------------------------------


def write_jsonl(path: Path, records: list[QARecord]) -> Path:
    path.write_text("".join(json.dumps(perturb.to_row(r)) + "\n" for r in records))
    return path


def test_index_is_cached_reused_and_rebuilt_when_damaged(
    tmp_path: Path, medqa: list[QARecord], caplog: pytest.LogCaptureFixture
):
    bench = write_jsonl(tmp_path / "bench.jsonl", medqa[:50])
    s = DecontamConfig(against=[bench], methods=TEXT)
    cache = tmp_path / "cache"
    resources.clear()
    built = load_index(bench, s, cache)
    assert built.source == "built" and built.n_items == 50
    folders = list(layout.decontam_root(cache).iterdir())
    assert len(folders) == 1
    assert manifest.problem(folders[0], layout.DECONTAM, layout.DECONTAM_VERSION) is None
    assert load_index(bench, s, cache) is built  # this process keeps it
    resources.clear()
    cached = load_index(bench, s, cache)
    assert cached.source == "cached"
    assert cached.items.equals(built.items) and cached.bands.equals(built.bands)
    (folders[0] / "ngrams.parquet").write_bytes(b"not parquet")
    resources.clear()
    with caplog.at_level(logging.WARNING):
        again = load_index(bench, s, cache)
    assert again.source == "built" and again.items.equals(built.items)
    assert any("decontamination index" in r.getMessage() for r in caplog.records)
    # other content, or settings that shape the index: another entry
    before = benchmark_fingerprint(s)
    write_jsonl(bench, medqa[:51])
    assert benchmark_fingerprint(s) != before
    assert load_index(bench, s, cache).n_items == 51
    load_index(bench, s.model_copy(update={"ngram": 8}), cache)
    assert len(list(layout.decontam_root(cache).iterdir())) == 3
    resources.clear()


def test_bad_benchmark_files_are_errors_naming_file_and_line(tmp_path: Path):
    s = DecontamConfig(methods=TEXT)
    bad = tmp_path / "bad.jsonl"
    bad.write_text(
        '{"question": "What is A?", "options": {"A": "x", "B": "y"}, "answer_idx": "A"}\n'
        '{"question": "What is B?", "options": {"A": "x", "B": "y"}}\n'
    )
    with pytest.raises(InputError) as e:
        load_index(bad, s, tmp_path / "c")
    assert (e.value.path, e.value.line) == (str(bad), 2) and "answer" in str(e.value)
    with pytest.raises(InputError, match="not found"):
        load_index(tmp_path / "missing.jsonl", s, tmp_path / "c")
    (tmp_path / "empty.jsonl").write_text("")
    with pytest.raises(InputError, match="no QA items"):
        load_index(tmp_path / "empty.jsonl", s, tmp_path / "c")


# -- the stage ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def sample_rows(hpo_kg, cache_dir: Path) -> list[PathedQA]:
    """The team's sample QA through the link and evidence stages."""
    from kgsynth.stages.evidence import EvidenceStage
    from kgsynth.stages.link import LinkStage

    cfg = BuildConfig(cache_dir=cache_dir)
    ctx = StageContext(cfg=cfg, kg=hpo_kg)
    records = read_qa([DEFAULT_SAMPLE_QA]).records
    rows = EvidenceStage(cfg).run(LinkStage(cfg).run(records, ctx).kept, ctx).kept
    assert len(rows) > 20
    return rows


def test_stage_rejects_rows_found_in_a_benchmark_and_reports_rates(
    tmp_path: Path, hpo_kg, cache_dir: Path, sample_rows: list[PathedQA], medqa_path: Path
):
    from kgsynth.export.card import render_card
    from kgsynth.stages.decontam import DecontamInfo, DecontamStage

    # a benchmark holding 10 of the rows, lightly edited, and MedQA (disjoint from them)
    originals = [r.linked.qa for r in sample_rows[:10]]
    edited = [
        c.model_copy(update={"id": f"bench-{i}"})
        for i, c in enumerate(perturb.perturbed(originals, seed=1))
    ]
    bench = write_jsonl(tmp_path / "bench.jsonl", edited)
    cfg = BuildConfig(cache_dir=cache_dir, decontam={"against": [medqa_path, bench]})
    ctx = StageContext(cfg=cfg, kg=hpo_kg)
    stage = DecontamStage(cfg)
    assert stage.enabled(ctx)
    res = stage.run(sample_rows, ctx)
    assert len(res.kept) + len(res.rejects) == len(sample_rows)
    assert all(isinstance(k, PathedQA) for k in res.kept)
    assert {r.id for r in res.rejects} == {q.id for q in originals}
    for r in res.rejects:
        assert r.stage == "decontam" and r.reason.startswith("benchmark_")
        assert f"{bench}: item 'bench-" in r.detail
        assert r.reason.removeprefix("benchmark_") + " " in r.detail  # method and score
    info = res.info
    assert isinstance(info, DecontamInfo)
    assert (info.checked, info.flagged) == (len(sample_rows), 10)
    rates_ = {b.file: b.flagged for b in info.benchmarks}
    assert rates_[str(medqa_path)]["any"] == 0 and rates_[str(bench)]["any"] == 10
    assert info.benchmarks[1].kg_items is not None and info.benchmarks[1].items == 10
    report = BuildReport()
    report.record(Stage.DECONTAM, res)
    merged = info.merge(info)
    assert merged.checked == 2 * info.checked and merged.benchmarks[1].flagged["any"] == 20
    card = render_card(report, "t", [], [], [])
    assert "## Contamination" in card and f"{len(sample_rows)} rows were checked" in card
    assert f"| `{bench}` | 10 | any | 10 | {100 * 10 / len(sample_rows):.1f}% |" in card
    assert "decontam | benchmark_" in card  # the rejects table


def test_stage_is_off_without_benchmark_files(hpo_kg, cache_dir: Path):
    from kgsynth.stages.decontam import DecontamStage

    cfg = BuildConfig(cache_dir=cache_dir)
    assert not DecontamStage(cfg).enabled(StageContext(cfg=cfg, kg=hpo_kg))
    off = BuildConfig(cache_dir=cache_dir, decontam={"against": ["x.jsonl"], "enabled": False})
    assert not DecontamStage(off).enabled(StageContext(cfg=off, kg=hpo_kg))
    from kgsynth.export.card import contamination_lines

    assert contamination_lines({}) == []  # a stage that did not run: no card section


def test_kg_first_question_with_a_benchmark_items_finding_and_answer_is_flagged(
    tmp_path: Path, hpo_kg, cache_dir: Path
):
    """No sentence matches, but the question asks for the same (finding -> answer)."""
    from kgsynth.stages.decontam import DecontamStage
    from kgsynth.stages.synth import PoseStage, SampleStage, WriteStage
    from kgsynth.synth.config import SynthConfig

    cfg = SynthConfig(kg="hpo", cache_dir=cache_dir)
    ctx = StageContext(cfg=cfg, kg=hpo_kg)
    posed = PoseStage().run(SampleStage().run(list(range(60)), ctx).kept, ctx).kept
    rows = WriteStage().run(posed, ctx).kept
    assert len(rows) >= 4
    # vignettes that state each chain's start as a finding and ask for its answer
    bench = []
    for i, row in enumerate(rows):
        chain = row.posed.chain
        bench.append(
            QARecord(
                id=f"vignette-{i}",
                source="t",
                question=f"A 40-year-old woman comes to the clinic. Examination shows "
                f"{chain.start.name.lower()}. What is the most likely underlying finding?",
                options={"A": chain.answer.name, "B": "Fever"},
                answer=chain.answer.name,
                answer_idx="A",
            )
        )
    path = write_jsonl(tmp_path / "vignettes.jsonl", bench)
    scfg = cfg.model_copy(update={"decontam": DecontamConfig(against=[path])})
    res = DecontamStage(scfg).run(rows, StageContext(cfg=scfg, kg=hpo_kg))
    assert len(res.kept) + len(res.rejects) == len(rows)
    assert res.rejects, "no KG-first row matched its vignette"
    assert {r.reason for r in res.rejects} == {"benchmark_kg"}
    by_id = {r.generated.pathed.linked.qa.id: i for i, r in enumerate(rows)}
    for r in res.rejects:
        assert f"item 'vignette-{by_id[r.id]}' kg " in r.detail
    # the linker found start and answer in most vignettes
    assert len(res.rejects) >= len(rows) // 2
    # the text methods alone flag none of them
    text_only = cfg.model_copy(update={"decontam": DecontamConfig(against=[path], methods=TEXT)})
    kept = DecontamStage(text_only).run(rows, StageContext(cfg=text_only, kg=hpo_kg))
    assert not kept.rejects and kept.kept == rows  # the same SynthQA records, in order


# -- the command --------------------------------------------------------------------------------

cli = typer.Typer()
cli.command("decontam")(decontam)


@cli.command("other")
def _other() -> None:  # a second command, so the app keeps its subcommand names
    """(placeholder)"""


@pytest.fixture(scope="module")
def dataset(cache_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    from kgsynth.cli import app

    out = tmp_path_factory.mktemp("decontam") / "ds"
    args = ["build", "--qa", str(DEFAULT_SAMPLE_QA), "--kg", "hpo", "--out", str(out)]
    res = CliRunner().invoke(app, [*args, "--cache-dir", str(cache_dir)])
    assert res.exit_code == 0, res.output
    return out


def folder_digest(folder: Path) -> str:
    h = hashlib.sha256()
    for p in sorted(folder.rglob("*")):
        if p.is_file():
            h.update(p.relative_to(folder).as_posix().encode() + p.read_bytes())
    return h.hexdigest()


def test_cli_reports_flagged_rows_and_leaves_the_dataset_alone(
    dataset: Path, tmp_path: Path, cache_dir: Path, medqa_path: Path
):
    rows = pl.read_parquet(next((dataset / "data").glob("*.parquet")))
    before = folder_digest(dataset)
    report = tmp_path / "flags.json"
    args = ["decontam", str(dataset), "-a", str(DEFAULT_SAMPLE_QA), "-a", str(medqa_path)]
    res = CliRunner().invoke(
        cli,
        [*args, "--out", str(report), "--cache-dir", str(cache_dir)],
        env={"COLUMNS": "220"},
    )
    assert res.exit_code == 0, res.output
    assert f"decontamination: {rows.height} rows checked" in res.output
    assert f"flagged rows ({rows.height})" in res.output
    doc = json.loads(report.read_text())
    assert doc["checked"] == doc["flagged"] == rows.height
    # each row is its own item, linked the same way: every method flags every row
    n = rows.height
    assert doc["rates"][str(DEFAULT_SAMPLE_QA)] == {"ngram": n, "minhash": n, "kg": n, "any": n}
    assert doc["rates"][str(medqa_path)]["any"] == 0
    assert {f["id"] for f in doc["flags"]} == set(rows["id"])
    assert all(f["item_id"] == f["id"] for f in doc["flags"])
    parquet = tmp_path / "flags.parquet"
    res = CliRunner().invoke(
        cli,
        [*args[:4], "-m", "ngram", "--out", str(parquet), "--cache-dir", str(cache_dir)],
    )
    assert res.exit_code == 0, res.output
    flags = pl.read_parquet(parquet)
    assert flags.height == rows.height and set(flags["method"]) == {"ngram"}
    assert folder_digest(dataset) == before


def test_cli_refuses_bad_arguments(dataset: Path, tmp_path: Path, cache_dir: Path):
    def run(*extra: str) -> tuple[int, str]:
        res = CliRunner().invoke(cli, ["decontam", str(dataset), *extra])
        return res.exit_code, " ".join(res.output.split())

    sample = str(DEFAULT_SAMPLE_QA)
    code, out = run("-a", sample, "--out", str(dataset / "flags.json"))
    assert code == 2 and "inside the dataset folder" in out
    code, out = run("-a", sample, "--out", str(tmp_path / "flags.csv"))
    assert code == 2 and ".parquet or .json" in out
    code, out = run("-a", str(tmp_path / "nope.jsonl"), "--cache-dir", str(cache_dir))
    assert code == 2 and "nope.jsonl" in out and "not found" in out
    code, out = run("-a", sample, "-m", "bogus", "--cache-dir", str(cache_dir))
    assert code == 2 and "methods" in out


# -- wired into the build flow ---------------------------------------------------------------


def test_build_rejects_benchmark_rows_at_decontam_before_linking(cache_dir: Path, tmp_path: Path):
    """A build of the sample against a copy of the sample: every row leaves at decontam,
    the first per-row stage (so none is linked further or written), counts add up, and the
    card says so."""
    from flows.build import build_dataset
    from kgsynth.config import load_config
    from kgsynth.runs import shard_key

    bench = tmp_path / "bench.jsonl"
    bench.write_bytes(DEFAULT_SAMPLE_QA.read_bytes())
    cfg = load_config(
        None,
        {
            "cache_dir": cache_dir,
            "out": tmp_path / "out",
            "decontam": {"against": [bench]},
            "run": {"cache_results": False},
        },
    )
    report = build_dataset(cfg).report
    reached = report.counts[Stage.DEDUP]
    assert reached > 0
    assert report.counts[Stage.DECONTAM] == 0 and report.exported == 0
    assert Stage.LINK not in report.counts or report.counts[Stage.LINK] == 0
    flagged = [r for r in report.rejects if r.stage == Stage.DECONTAM]
    assert len(flagged) == reached
    assert all(r.reason.startswith("benchmark_") and "bench.jsonl" in r.detail for r in flagged)
    assert report.n_input == report.exported + len(report.rejects)
    card = (tmp_path / "out" / "README.md").read_text()
    assert "## Contamination" in card and "bench.jsonl" in card
    # the shard cache key follows the benchmark file's content, not only its name
    before = shard_key([], cfg, "kg")
    bench.write_text(bench.read_text() + "\n")
    assert shard_key([], cfg, "kg") != before


def test_chain_build_spends_no_llm_call_on_a_benchmark_row(
    cache_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    """With the LLM writer (entity extraction on), rows a benchmark holds leave before the
    first LLM request: the server never sees their questions; the others are asked."""
    from llm_server import LLMServer, use_key

    from flows.build import build_dataset
    from kgsynth.config import load_config

    rows = read_qa([DEFAULT_SAMPLE_QA]).records
    held = rows[::2]  # every other sample row is in the benchmark
    bench = write_jsonl(tmp_path / "bench.jsonl", held)
    key_env, key = "KGSYNTH_DECONTAM_TEST_KEY", "sk-decontam-test"
    use_key(monkeypatch, key_env, key)
    with LLMServer(api_key=key, responder=lambda p: "not json") as srv:
        cfg = load_config(
            None,
            {
                "cache_dir": cache_dir,
                "out": tmp_path / "out",
                "generator": "openai",
                "llm": {
                    "base_url": srv.base_url,
                    "api_key_env": key_env,
                    "max_retries": 0,
                    "max_failure_ratio": 1.0,
                    "cache": False,
                },
                "decontam": {"against": [bench]},
                "run": {"cache_results": False},
            },
        )
        report = build_dataset(cfg).report
        prompts = [r.prompt for r in srv.chat_requests]
    flagged = {r.id for r in report.rejects if r.stage == Stage.DECONTAM}
    assert flagged == {r.id for r in held}
    assert prompts, "the rows no benchmark holds were not asked about"
    for r in held:
        assert not any(r.question[:80] in p for p in prompts), f"{r.id} reached the LLM"
    asked = [r for r in rows if r.id not in flagged and any(r.question[:80] in p for p in prompts)]
    assert asked
    assert report.n_input == report.exported + len(report.rejects)


def test_kg_first_llm_writer_is_not_asked_for_a_chain_a_benchmark_holds(
    tmp_path: Path, hpo_kg, cache_dir: Path
):
    """A KG-first run with an LLM question writer: chains whose (finding -> answer) a
    benchmark item asks leave at decontam before their question prompt is sent."""
    from flows.synth import synth_from_kg
    from kgsynth.stages.synth import PoseStage, SampleStage
    from kgsynth.synth.config import SynthConfig

    cfg = SynthConfig(kg="hpo", cache_dir=cache_dir, n=6, seed=3, out=tmp_path / "plain")
    ctx = StageContext(cfg=cfg, kg=hpo_kg)
    posed = PoseStage().run(SampleStage().run(list(range(40)), ctx).kept, ctx).kept
    assert len(posed) >= 4
    bench = [
        QARecord(
            id=f"vignette-{i}",
            source="t",
            question=f"A 40-year-old woman comes to the clinic. Examination shows "
            f"{p.chain.start.name.lower()}. What is the most likely underlying finding?",
            options={"A": p.chain.answer.name, "B": "Fever"},
            answer=p.chain.answer.name,
            answer_idx="A",
        )
        for i, p in enumerate(posed)
    ]
    path = write_jsonl(tmp_path / "vignettes.jsonl", bench)
    asked: list[str] = []

    def complete(prompt: str) -> str:  # the writer's LLM; never a valid question here
        asked.append(prompt)
        return "no question"

    scfg = cfg.model_copy(
        update={
            "generator": "openai",
            "decontam": DecontamConfig(against=[path]),
            "max_attempts": 40,
            "out": tmp_path / "out",
            "llm": LLMConfig(max_failure_ratio=1.0),  # every reply here is refused
        }
    )
    result = synth_from_kg(scfg, complete=complete)
    flagged = {r.id for r in result.report.rejects if r.stage == Stage.DECONTAM}
    assert flagged, "no chain matched its vignette"
    chains = {p.chain.id: p.chain for p in posed}
    for cid in flagged & set(chains):
        name = chains[cid].start.name
        assert not any(name in a for a in asked), f"{cid} was sent to the writer"
    assert all(r.reason == "benchmark_kg" for r in result.report.rejects if r.id in flagged)
    # the two passes report as one stage: every method, each row counted as checked once
    info = result.report.info_of(Stage.DECONTAM)
    assert set(info["methods"]) == {"ngram", "minhash", "kg"}
    assert info["checked"] <= result.report.counts[Stage.INPUT]


def test_benchmark_files_are_checked_before_the_run_starts(tmp_path: Path, cache_dir: Path):
    """A missing benchmark file fails a build or a KG-first run at its path check, naming
    the file; one inside the output folder (replaced whole) is refused."""
    from kgsynth.errors import OutputError
    from kgsynth.paths_check import check_build_paths, check_synth_paths
    from kgsynth.synth.config import SynthConfig

    missing = tmp_path / "nope.jsonl"
    build = BuildConfig(cache_dir=cache_dir, out=tmp_path / "o", decontam={"against": [missing]})
    synth = SynthConfig(cache_dir=cache_dir, out=tmp_path / "s", decontam={"against": [missing]})
    for check_paths, cfg in ((check_build_paths, build), (check_synth_paths, synth)):
        with pytest.raises(InputError, match="nope.jsonl.*no such decontam benchmark file"):
            check_paths(cfg)
    inside = tmp_path / "o" / "bench.jsonl"
    inside.parent.mkdir()
    inside.write_bytes(DEFAULT_SAMPLE_QA.read_bytes())
    cfg = build.model_copy(update={"decontam": DecontamConfig(against=[inside])})
    with pytest.raises(OutputError, match="bench.jsonl"):
        check_build_paths(cfg)
    off = build.model_copy(
        update={"decontam": DecontamConfig(against=[missing], enabled=False), "out": tmp_path / "x"}
    )
    check_build_paths(off)  # a switched-off stage reads nothing
