"""QA readers: every layout in every file type, the shared MedQA file, and bad input.

Nothing is dropped silently: each input row ends as a record or a reject that names the file,
the line and the reason, and n_input == len(records) + len(rejects).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from kgsynth.errors import InputError
from kgsynth.qa import QABatch, read_qa
from kgsynth.records import QARecord

# -- writers ---------------------------------------------------------------------------------


def write_jsonl(path: Path, rows: list[Any]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def write_csv(path: Path, rows: list[dict[str, Any]]) -> Path:
    """Nested values (options dicts, choices lists) go in as JSON text, as the reader expects."""
    flat = [
        {k: json.dumps(v) if isinstance(v, (dict, list)) else v for k, v in r.items()} for r in rows
    ]
    pl.DataFrame(flat).write_csv(path)
    return path


def write_parquet(path: Path, rows: list[dict[str, Any]]) -> Path:
    """Nested values stay nested: dicts become structs, lists become list columns."""
    pl.DataFrame(rows).write_parquet(path)
    return path


WRITERS = {"jsonl": write_jsonl, "csv": write_csv, "parquet": write_parquet}
FIRST_LINE = {"jsonl": 1, "csv": 2, "parquet": 1}  # CSV line 1 is the header


def check_counts(batch: QABatch) -> None:
    assert batch.n_input == len(batch.records) + len(batch.rejects)


# -- each layout -----------------------------------------------------------------------------

SCURVY = {"A": "Vitamin A", "B": "Vitamin C", "C": "Vitamin D", "D": "Vitamin K"}

LAYOUTS: dict[str, dict[str, Any]] = {
    "medqa": {
        "rows": [
            {
                "question": "Deficiency of which vitamin causes scurvy?",
                "answer": "Vitamin C",
                "options": SCURVY,
                "meta_info": "step1",
                "answer_idx": "B",
            },
            {
                "question": "Which vitamin is needed for clotting factor synthesis?",
                "answer": "vitamin  k",  # case and spacing differ from the option
                "options": SCURVY,
                "meta_info": "step2&3",
                "answer_idx": "D",
            },
        ],
        "want": [
            ("Deficiency of which vitamin causes scurvy?", SCURVY, "Vitamin C", "B"),
            ("Which vitamin is needed for clotting factor synthesis?", SCURVY, "Vitamin K", "D"),
        ],
        "meta": [{"meta_info": "step1"}, {"meta_info": "step2&3"}],
        "ids": None,
    },
    "medmcqa": {
        # the Hugging Face release numbers the correct option (cop) 0..3 for opa..opd
        "rows": [
            {
                "id": "mm-1",
                "question": "Nerve supply of the deltoid?",
                "opa": "Axillary",
                "opb": "Radial",
                "opc": "Ulnar",
                "opd": "Median",
                "cop": 0,
                "subject_name": "Anatomy",
                "exp": "The axillary nerve.",
            },
            {
                "id": "mm-2",
                "question": "Drug of choice for absence seizures?",
                "opa": "Phenytoin",
                "opb": "Carbamazepine",
                "opc": "Phenobarbital",
                "opd": "Ethosuximide",
                "cop": 3,
                "subject_name": "Pharmacology",
                "exp": "",
            },
        ],
        "want": [
            (
                "Nerve supply of the deltoid?",
                {"A": "Axillary", "B": "Radial", "C": "Ulnar", "D": "Median"},
                "Axillary",
                "A",
            ),
            (
                "Drug of choice for absence seizures?",
                {"A": "Phenytoin", "B": "Carbamazepine", "C": "Phenobarbital", "D": "Ethosuximide"},
                "Ethosuximide",
                "D",
            ),
        ],
        "meta": [
            {"subject_name": "Anatomy", "exp": "The axillary nerve."},
            {"subject_name": "Pharmacology"},  # an empty explanation is left out
        ],
        "ids": ["mm-1", "mm-2"],
    },
    "pubmedqa": {
        "rows": [
            {
                "pubid": 1,
                "question": "Does aspirin reduce the risk of colorectal cancer?",
                "long_answer": "Long-term aspirin use lowers the risk.",
                "final_decision": "yes",
            },
            {
                "pubid": 2,
                "question": "Is coffee a cause of ulcers?",
                "long_answer": "The evidence is mixed.",
                "final_decision": "Maybe",
            },
        ],
        "want": [
            (
                "Does aspirin reduce the risk of colorectal cancer?",
                {"A": "yes", "B": "no", "C": "maybe"},
                "yes",
                "A",
            ),
            ("Is coffee a cause of ulcers?", {"A": "yes", "B": "no", "C": "maybe"}, "maybe", "C"),
        ],
        "meta": [
            {"long_answer": "Long-term aspirin use lowers the risk."},
            {"long_answer": "The evidence is mixed."},
        ],
        "ids": None,
    },
    "mmlu": {
        "rows": [
            {
                "question": "Which bone is in the forearm?",
                "subject": "anatomy",
                "choices": ["Femur", "Radius", "Tibia", "Fibula"],
                "answer": 1,
            },
            {
                "question": "Which chamber pumps blood to the aorta?",
                "subject": "anatomy",
                "choices": ["Right atrium", "Right ventricle", "Left atrium", "Left ventricle"],
                "answer": 3,
            },
        ],
        "want": [
            (
                "Which bone is in the forearm?",
                {"A": "Femur", "B": "Radius", "C": "Tibia", "D": "Fibula"},
                "Radius",
                "B",
            ),
            (
                "Which chamber pumps blood to the aorta?",
                {
                    "A": "Right atrium",
                    "B": "Right ventricle",
                    "C": "Left atrium",
                    "D": "Left ventricle",
                },
                "Left ventricle",
                "D",
            ),
        ],
        "meta": [{"subject": "anatomy"}, {"subject": "anatomy"}],
        "ids": None,
    },
    "generic": {
        "rows": [
            {"id": "g1", "question": "What is the capital of France?", "answer": "Paris"},
            {"id": "g2", "question": "What organ makes insulin?", "answer": " Pancreas "},
        ],
        "want": [
            ("What is the capital of France?", {}, "Paris", None),
            ("What organ makes insulin?", {}, "Pancreas", None),
        ],
        "meta": [{}, {}],
        "ids": ["g1", "g2"],
    },
}


@pytest.mark.parametrize("fmt", list(WRITERS))
@pytest.mark.parametrize("layout", list(LAYOUTS))
def test_layout_in_each_file_type(tmp_path: Path, layout: str, fmt: str) -> None:
    case = LAYOUTS[layout]
    path = WRITERS[fmt](tmp_path / f"{layout}_set.{fmt}", case["rows"])
    batch = read_qa([path])
    assert batch.rejects == []
    assert batch.n_input == len(case["rows"]) == len(batch.records)
    first = FIRST_LINE[fmt]
    for i, (rec, want, meta) in enumerate(
        zip(batch.records, case["want"], case["meta"], strict=True)
    ):
        assert isinstance(rec, QARecord)
        assert (rec.question, rec.options, rec.answer, rec.answer_idx) == want
        assert rec.source == layout
        assert rec.meta == {**meta, "file": str(path), "line": str(first + i)}
        want_id = case["ids"][i] if case["ids"] else f"{layout}_set-{first + i}"
        assert rec.id == want_id
        if rec.options:
            assert rec.options[rec.answer_idx] == rec.answer


@pytest.mark.parametrize("fmt", list(WRITERS))
def test_generic_with_options_finds_the_letter(tmp_path: Path, fmt: str) -> None:
    rows = [
        {"question": "Which is a vitamin?", "options": ["Iron", "Folate"], "answer": "folate"},
        {"question": "Which is a metal?", "options": ["Iron", "Folate"], "answer": "Iron"},
    ]
    batch = read_qa([WRITERS[fmt](tmp_path / f"g.{fmt}", rows)])
    assert [(r.source, r.answer, r.answer_idx) for r in batch.records] == [
        ("generic", "Folate", "B"),
        ("generic", "Iron", "A"),
    ]


def test_parquet_struct_options_with_a_missing_option(tmp_path: Path) -> None:
    # a struct column has every key on every row: a row with fewer options holds nulls
    rows = [
        {"question": "q1", "options": {"A": "x", "B": "y", "C": "z"}, "answer_idx": "C"},
        {"question": "q2", "options": {"A": "x", "B": "y", "C": None}, "answer_idx": "B"},
    ]
    batch = read_qa([write_parquet(tmp_path / "s.parquet", rows)])
    assert [r.options for r in batch.records] == [
        {"A": "x", "B": "y", "C": "z"},
        {"A": "x", "B": "y"},
    ]
    assert [r.answer for r in batch.records] == ["z", "y"]


def test_pubmedqa_original_upper_case_question(tmp_path: Path) -> None:
    rows = [{"QUESTION": "Is it true?", "final_decision": "no", "LONG_ANSWER": "No."}]
    (rec,) = read_qa([write_jsonl(tmp_path / "p.jsonl", rows)]).records
    assert (rec.source, rec.question, rec.answer, rec.answer_idx) == (
        "pubmedqa",
        "Is it true?",
        "no",
        "B",
    )


def test_medmcqa_cop_letter_and_out_of_range(tmp_path: Path) -> None:
    base = {"question": "q", "opa": "w", "opb": "x", "opc": "y", "opd": "z"}
    rows = [
        {**base, "id": "ok-letter", "cop": "c"},
        {**base, "id": "ok-string", "cop": "2"},
        {**base, "id": "ok-zero", "cop": 0},  # a 0 makes the whole file 0-based
        {**base, "id": "too-big", "cop": 5},
        {**base, "id": "negative", "cop": -1},
        {**base, "id": "missing", "cop": None},
    ]
    batch = read_qa([write_jsonl(tmp_path / "m.jsonl", rows)])
    assert [(r.id, r.answer_idx, r.answer) for r in batch.records] == [
        ("ok-letter", "C", "y"),
        ("ok-string", "C", "y"),
        ("ok-zero", "A", "w"),
    ]
    assert [(j.id, j.reason) for j in batch.rejects] == [
        ("too-big", "answer_not_in_options"),
        ("negative", "answer_not_in_options"),
        ("missing", "missing_answer"),
    ]
    assert all("out of range" in j.detail for j in batch.rejects[:2])
    check_counts(batch)


def test_option_keys_are_normalised_and_ordered(tmp_path: Path) -> None:
    row = {
        "question": "q",
        "options": {"c": "gamma", " A ": "alpha", "B": "beta"},
        "answer_idx": "b",
        "answer": "beta",
    }
    (rec,) = read_qa([write_jsonl(tmp_path / "k.jsonl", [row])]).records
    assert list(rec.options.items()) == [("A", "alpha"), ("B", "beta"), ("C", "gamma")]
    assert (rec.answer_idx, rec.answer) == ("B", "beta")


def test_explicit_source_overrides_detection(tmp_path: Path) -> None:
    rows = [{"question": "q", "options": {"A": "x", "B": "y"}, "answer": "y"}]
    path = write_jsonl(tmp_path / "x.jsonl", rows)
    assert read_qa([path]).records[0].source == "generic"  # no answer_idx: not MedQA-shaped
    forced = read_qa([path], source="medqa")
    assert [(r.source, r.answer_idx) for r in forced.records] == [("medqa", "B")]


def test_json_array_file(tmp_path: Path) -> None:
    path = tmp_path / "a.json"
    path.write_text(
        json.dumps([{"question": "q1", "answer": "a"}, 5, {"question": "q3", "answer": "c"}])
    )
    batch = read_qa([path])
    assert [(r.id, r.meta["line"]) for r in batch.records] == [("a-1", "1"), ("a-3", "3")]
    assert [(j.line, j.reason) for j in batch.rejects] == [(2, "not_an_object")]
    check_counts(batch)


# -- the shared MedQA file -------------------------------------------------------------------


def test_shared_medqa_file(medqa_path: Path) -> None:
    batch = read_qa([medqa_path])
    assert batch.rejects == []
    assert len(batch.records) == 1273 == batch.n_input
    check_counts(batch)
    ids = [r.id for r in batch.records]
    assert len(set(ids)) == len(ids)
    raw = [json.loads(line) for line in medqa_path.read_text(encoding="utf-8").splitlines()]
    assert len(raw) == 1273
    for i, (rec, row) in enumerate(zip(batch.records, raw, strict=True), 1):
        assert rec.source == "medqa"
        assert rec.answer_idx in rec.options
        assert rec.options[rec.answer_idx] == rec.answer
        # agrees with the file as written, line by line
        assert rec.answer_idx == row["answer_idx"]
        assert rec.answer == row["answer"].strip()
        assert rec.options == {k: v.strip() for k, v in row["options"].items()}
        assert rec.question == row["question"].strip()
        assert rec.meta["line"] == str(i)
        assert rec.meta["meta_info"] == row["meta_info"]


def test_shared_medqa_limit(medqa_path: Path) -> None:
    batch = read_qa([medqa_path], limit=10)
    assert batch.n_input == len(batch.records) == 10
    assert [r.meta["line"] for r in batch.records] == [str(i) for i in range(1, 11)]


# -- bad input -------------------------------------------------------------------------------

GOOD_1 = {"id": "q-1", "question": "Good question one?", "answer": "yes"}
GOOD_2 = {"id": "q-2", "question": "Good question two?", "answer": "no"}


def test_bad_jsonl_lines_become_rejects(tmp_path: Path) -> None:
    lines: list[bytes] = [
        json.dumps(GOOD_1).encode(),  # 1
        b'{"id": "broken", "question": "unterminated',  # 2 malformed JSON
        json.dumps({"id": "no-answer", "question": "q?"}).encode(),  # 3 missing answer
        json.dumps(  # 4 answer letter is not an option
            {"id": "bad-letter", "question": "q?", "options": SCURVY, "answer_idx": "E"}
        ).encode(),
        json.dumps(  # 5 answer text is not among the options
            {"id": "bad-text", "question": "q?", "options": ["x", "y"], "answer": "z"}
        ).encode(),
        json.dumps({"id": "empty-q", "question": "   ", "answer": "a"}).encode(),  # 6
        b'{"id": "latin1", "question": "caf\xe9?", "answer": "a"}',  # 7 not UTF-8
        json.dumps({"id": "huge", "question": "x" * 1_000_000, "answer": "a"}).encode(),  # 8
        json.dumps({**GOOD_1, "question": "Same id again?"}).encode(),  # 9 duplicate id
        b"[1, 2, 3]",  # 10 not an object
        b"",  # 11 blank: not a row
        json.dumps({"id": "no-q", "answer": "a"}).encode(),  # 12 no question field
        json.dumps(  # 13 letter and text disagree
            {
                "id": "disagree",
                "question": "q?",
                "options": SCURVY,
                "answer_idx": "A",
                "answer": "Vitamin C",
            }
        ).encode(),
        json.dumps({"id": "bad-opts", "question": "q?", "options": 7, "answer": "a"}).encode(),
        json.dumps(GOOD_2).encode(),  # 15
    ]
    path = tmp_path / "mixed.jsonl"
    path.write_bytes(b"\n".join(lines) + b"\n")
    batch = read_qa([path])

    assert [(r.id, r.meta["line"]) for r in batch.records] == [("q-1", "1"), ("q-2", "15")]
    assert [(j.line, j.reason) for j in batch.rejects] == [
        (2, "malformed_json"),
        (3, "missing_answer"),
        (4, "answer_not_in_options"),
        (5, "answer_not_in_options"),
        (6, "empty_question"),
        (7, "invalid_utf8"),
        (8, "question_too_long"),
        (9, "duplicate_id"),
        (10, "not_an_object"),
        (12, "missing_question"),
        (13, "answer_mismatch"),
        (14, "bad_options"),
    ]
    assert batch.n_input == 14  # the blank line is not a row
    check_counts(batch)
    for j in batch.rejects:
        assert j.stage == "input"
        assert j.source_file == str(path)
        assert f"{path}, line {j.line}:" in j.detail
    by_line = {j.line: j for j in batch.rejects}
    # rows that parsed keep their id; the duplicate names the id it repeats
    assert by_line[3].id == "no-answer"
    assert by_line[9].id == "q-1" and "q-1" in by_line[9].detail
    assert by_line[2].id is None and by_line[7].id is None
    assert "1,000,000" in by_line[8].detail
    assert "'answer_idx'" in by_line[4].detail and "'E'" in by_line[4].detail
    assert "is option B but 'answer_idx' is 'A'" in by_line[13].detail
    col = lines[6].index(b"\xe9") + 1
    assert f"column {col}" in by_line[7].detail  # where the bad byte is


def test_question_length_limit_is_configurable(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "q.jsonl", [{"question": "x" * 50, "answer": "a"}])
    assert len(read_qa([path]).records) == 1
    batch = read_qa([path], max_question_chars=49)
    assert [j.reason for j in batch.rejects] == ["question_too_long"]
    assert len(read_qa([path], max_question_chars=50).records) == 1


def test_too_many_options_is_a_reject(tmp_path: Path) -> None:
    row = {"question": "q", "options": [f"opt {i}" for i in range(30)], "answer": "opt 3"}
    batch = read_qa([write_jsonl(tmp_path / "o.jsonl", [row, GOOD_1])])
    assert [j.reason for j in batch.rejects] == ["bad_options"]
    assert [r.id for r in batch.records] == ["q-1"]


def test_utf8_bom_before_the_first_line(tmp_path: Path) -> None:
    path = tmp_path / "bom.jsonl"
    path.write_bytes(b"\xef\xbb\xbf" + json.dumps(GOOD_1).encode() + b"\n")
    batch = read_qa([path])
    assert batch.rejects == []
    assert [r.id for r in batch.records] == ["q-1"]


def test_crlf_line_endings(tmp_path: Path) -> None:
    path = tmp_path / "crlf.jsonl"
    path.write_bytes(json.dumps(GOOD_1).encode() + b"\r\n" + json.dumps(GOOD_2).encode() + b"\r\n")
    assert [r.id for r in read_qa([path]).records] == ["q-1", "q-2"]


def test_csv_rejects_name_the_physical_line(tmp_path: Path) -> None:
    path = tmp_path / "m.csv"
    path.write_text(
        "id,question,answer\n"
        'a,"A question\nthat spans\nthree lines",yes\n'  # lines 2-4
        "b,Second question,\n"  # line 5: no answer
        "\n"  # line 6: blank, not a row
        "c,Third question,no\n",  # line 7
        encoding="utf-8",
    )
    batch = read_qa([path])
    assert [(r.id, r.meta["line"]) for r in batch.records] == [("a", "2"), ("c", "7")]
    assert batch.records[0].question == "A question\nthat spans\nthree lines"
    assert [(j.id, j.line, j.reason) for j in batch.rejects] == [(("b", 5, "missing_answer"))]
    assert batch.n_input == 3
    check_counts(batch)


def test_parquet_rejects_carry_row_numbers(tmp_path: Path) -> None:
    rows = [GOOD_1, {"id": "x", "question": "", "answer": "a"}, GOOD_2]
    batch = read_qa([write_parquet(tmp_path / "r.parquet", rows)])
    assert [(j.id, j.line, j.reason) for j in batch.rejects] == [("x", 2, "empty_question")]
    assert batch.rejects[0].source_file == str(tmp_path / "r.parquet")


def test_ragged_csv_names_the_line(tmp_path: Path) -> None:
    path = tmp_path / "r.csv"
    path.write_text("question,answer\nq1,a\nq2,b,extra\n", encoding="utf-8")
    with pytest.raises(InputError) as err:
        read_qa([path])
    assert (err.value.path, err.value.line) == (str(path), 3)


def test_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "absent.jsonl"
    with pytest.raises(InputError) as err:
        read_qa([path])
    assert err.value.path == str(path)
    assert "not found" in str(err.value)


@pytest.mark.parametrize("name", ["questions.txt", "questions.xlsx", "questions"])
def test_unsupported_extension(tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    path.write_text("question,answer\nq,a\n")
    with pytest.raises(InputError) as err:
        read_qa([path])
    assert err.value.path == str(path)
    assert "unsupported" in str(err.value)
    assert ".jsonl" in str(err.value)  # says what is supported


def test_unreadable_parquet_and_empty_csv(tmp_path: Path) -> None:
    bad = tmp_path / "bad.parquet"
    bad.write_text("this is not parquet")
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    for path in (bad, empty):
        with pytest.raises(InputError) as err:
            read_qa([path])
        assert err.value.path == str(path)


def test_empty_jsonl_is_an_empty_batch(tmp_path: Path) -> None:
    path = tmp_path / "e.jsonl"
    path.write_text("\n\n")
    batch = read_qa([path])
    assert (batch.records, batch.rejects, batch.n_input) == ([], [], 0)


def test_two_files_share_one_id_space(tmp_path: Path) -> None:
    a = write_jsonl(tmp_path / "a.jsonl", [GOOD_1, GOOD_2])
    b = write_csv(tmp_path / "b.csv", [{**GOOD_1, "question": "Other"}, {**GOOD_2, "id": "q-3"}])
    batch = read_qa([a, b])
    assert [(r.id, r.meta["file"]) for r in batch.records] == [
        ("q-1", str(a)),
        ("q-2", str(a)),
        ("q-3", str(b)),
    ]
    assert [(j.id, j.source_file, j.line, j.reason) for j in batch.rejects] == [
        ("q-1", str(b), 2, "duplicate_id")
    ]
    check_counts(batch)


# -- limit -----------------------------------------------------------------------------------


def test_limit_counts_rejects_and_spans_files(tmp_path: Path) -> None:
    a = tmp_path / "a.jsonl"
    a.write_text(
        "\n".join(
            [
                json.dumps(GOOD_1),
                "not json",
                json.dumps(GOOD_2),
            ]
        )
        + "\n"
    )
    b = write_jsonl(
        tmp_path / "b.jsonl",
        [{"id": f"b-{i}", "question": f"q{i}", "answer": "a"} for i in range(5)],
    )
    two = read_qa([a, b], limit=2)
    assert (two.n_input, [r.id for r in two.records], len(two.rejects)) == (2, ["q-1"], 1)
    five = read_qa([a, b], limit=5)
    assert five.n_input == 5
    assert [r.id for r in five.records] == ["q-1", "q-2", "b-0", "b-1"]
    check_counts(five)
    assert read_qa([a, b], limit=0).n_input == 0
    everything = read_qa([a, b], limit=100)
    assert everything.n_input == 8 == len(everything.records) + 1
    assert read_qa([a, b]).n_input == 8


# -- the sample QA shipped with the package --------------------------------------------------


def test_sample_qa_ships_inside_the_package() -> None:
    import kgsynth
    from kgsynth.config import DEFAULT_SAMPLE_QA, BuildConfig

    assert DEFAULT_SAMPLE_QA.is_relative_to(Path(kgsynth.__file__).resolve().parent)
    assert BuildConfig().qa_files() == [DEFAULT_SAMPLE_QA]
    batch = read_qa([DEFAULT_SAMPLE_QA])
    assert batch.rejects == [] and len(batch.records) == batch.n_input == 34
    assert {r.source for r in batch.records} == {"medqa"}
    check_counts(batch)
