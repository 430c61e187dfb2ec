"""The public benchmarks' QA layouts as published, one test each, on rows written here.

Each file's layout is detected from its fields; every bad row becomes a reject naming the
file, line, field and reason, or the file fails with an InputError that names them.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from kgsynth.errors import InputError
from kgsynth.qa import QABatch, read_qa
from kgsynth.qa.choices import split_choices
from kgsynth.schemas import SCHEMAS_DIR


def write_jsonl(path: Path, rows: list[Any]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def parsed(batch: QABatch) -> list[tuple[str, str, dict[str, str], str, str | None]]:
    return [(r.id, r.question, r.options, r.answer, r.answer_idx) for r in batch.records]


def rejected(batch: QABatch) -> list[tuple[str | None, int | None, str]]:
    assert batch.n_input == len(batch.records) + len(batch.rejects)
    return [(j.id, j.line, j.reason) for j in batch.rejects]


def detail(batch: QABatch, rid: str) -> str:
    return next(j.detail for j in batch.rejects if j.id == rid)


# -- MedXpertQA ------------------------------------------------------------------------------

SEPSIS = {"A": "Norepinephrine", "B": "Dopamine", "C": "Vasopressin", "D": "Epinephrine"}


def test_medxpertqa(tmp_path: Path) -> None:
    listed = " ".join(f"({k}) {v}" for k, v in SEPSIS.items())
    base = {"options": SEPSIS, "medical_task": "Treatment", "body_system": "Cardiovascular"}
    rows = [
        {
            **base,
            "id": "x-1",
            "question": f"First vasopressor in septic shock?\nAnswer Choices: {listed}",
            "label": "A",
            "question_type": "Reasoning",
        },
        # no choices in the text; the label written "(D)"
        {**base, "id": "x-2", "question": "Drug for anaphylaxis?", "label": "(D)"},
        # the choices in the text differ from options: the question is kept whole
        {**base, "id": "x-3", "question": "Pick one.\nAnswer Choices: (A) a (B) b", "label": "C"},
        {**base, "id": "x-4", "question": "Which?", "label": "F"},
        {**base, "id": "x-5", "question": "Which?", "label": ""},
        {
            **base,
            "id": "x-6",
            "question": "What does the film show?",
            "label": "A",
            "images": ["i.png"],
        },
    ]
    batch = read_qa([write_jsonl(tmp_path / "mx.jsonl", rows)])
    assert parsed(batch) == [
        ("x-1", "First vasopressor in septic shock?", SEPSIS, "Norepinephrine", "A"),
        ("x-2", "Drug for anaphylaxis?", SEPSIS, "Epinephrine", "D"),
        ("x-3", "Pick one.\nAnswer Choices: (A) a (B) b", SEPSIS, "Vasopressin", "C"),
    ]
    assert {r.source for r in batch.records} == {"medxpertqa"}
    assert batch.records[0].meta["question_type"] == "Reasoning"
    assert batch.records[0].meta["body_system"] == "Cardiovascular"
    assert rejected(batch) == [
        ("x-4", 4, "answer_not_in_options"),
        ("x-5", 5, "missing_answer"),
        ("x-6", 6, "needs_image"),
    ]
    assert "field 'label'" in detail(batch, "x-4") and "'F'" in detail(batch, "x-4")
    assert f"{tmp_path / 'mx.jsonl'}, line 4:" in detail(batch, "x-4")
    assert "field 'images'" in detail(batch, "x-6")


# -- answers written as a letter -------------------------------------------------------------

IRON = {"A": "Ferritin", "B": "Transferrin", "C": "Hepcidin", "D": "Haptoglobin"}


def test_answer_written_as_letter_must_agree_with_answer_idx(tmp_path: Path) -> None:
    q = "Which hormone blocks iron export?"
    rows = [
        {"id": "a-1", "question": q, "options": IRON, "answer": "C. Hepcidin", "answer_idx": "C"},
        {"id": "a-2", "question": q, "options": IRON, "answer": "(C)", "answer_idx": "C"},
        {"id": "a-3", "question": q, "options": IRON, "answer": "C", "answer_idx": "C"},
        {"id": "a-4", "question": q, "options": IRON, "answer": "(C) hepcidin"},  # no answer_idx
        {
            "id": "a-5",
            "question": q,
            "options": IRON,
            "answer": "B. Transferrin",
            "answer_idx": "C",
        },
        {"id": "a-6", "question": q, "options": IRON, "answer": "C. Ferritin", "answer_idx": "C"},
        {"id": "a-7", "question": q, "options": IRON, "answer": "(B)", "answer_idx": "C"},
        {"id": "a-8", "question": q, "options": IRON, "answer": "E. Albumin"},
    ]
    batch = read_qa([write_jsonl(tmp_path / "medqa.jsonl", rows)])
    assert parsed(batch) == [(f"a-{i}", q, IRON, "Hepcidin", "C") for i in range(1, 5)]
    assert {r.source for r in batch.records} == {"medqa"}
    assert rejected(batch) == [
        ("a-5", 5, "answer_mismatch"),
        ("a-6", 6, "answer_mismatch"),
        ("a-7", 7, "answer_mismatch"),
        ("a-8", 8, "answer_not_in_options"),
    ]
    assert "names option B but 'answer_idx' is 'C'" in detail(batch, "a-5")
    assert "disagrees with option C 'Hepcidin'" in detail(batch, "a-6")
    assert "names option B but 'answer_idx' is 'C'" in detail(batch, "a-7")
    assert "names no option (E)" in detail(batch, "a-8")


# -- MedMCQA ---------------------------------------------------------------------------------

THYROID = {"opa": "Iodine", "opb": "Iron", "opc": "Zinc", "opd": "Copper"}


def medmcqa_rows(cops: list[Any]) -> list[dict[str, Any]]:
    return [
        {"id": f"m-{i}", "question": f"Trace element {i} for thyroxine?", **THYROID, "cop": c}
        for i, c in enumerate(cops, 1)
    ]


def test_medmcqa_cop_base_is_detected_per_file(tmp_path: Path) -> None:
    letters = {"A": "Iodine", "B": "Iron", "C": "Zinc", "D": "Copper"}
    zero = medmcqa_rows([0, 2, 3, 5, "", "b"])  # a 0: 0-based
    zero[0]["exp"] = "Thyroxine carries iodine."
    batch = read_qa([write_jsonl(tmp_path / "hf.jsonl", zero)])
    got = [(r.id, r.options, r.answer, r.answer_idx) for r in batch.records]
    assert got == [
        ("m-1", letters, "Iodine", "A"),
        ("m-2", letters, "Zinc", "C"),
        ("m-3", letters, "Copper", "D"),
        ("m-6", letters, "Iron", "B"),
    ]
    assert batch.records[0].meta["exp"] == "Thyroxine carries iodine."
    assert {r.source for r in batch.records} == {"medmcqa"}
    assert rejected(batch) == [("m-4", 4, "answer_not_in_options"), ("m-5", 5, "missing_answer")]
    assert "'cop' 5 is out of range (this file numbers options 0..3)" in detail(batch, "m-4")

    one = read_qa([write_jsonl(tmp_path / "orig.jsonl", medmcqa_rows([4, 1, 2, 0.5]))])
    assert [(r.id, r.answer_idx) for r in one.records] == [("m-1", "D"), ("m-2", "A"), ("m-3", "B")]
    assert rejected(one) == [("m-4", 4, "missing_answer")]  # 0.5 is no index

    # only 1..3: either numbering fits, so the file is an error, not a guess
    unsure = write_jsonl(tmp_path / "unsure.jsonl", medmcqa_rows(["a", 1, 2]))
    with pytest.raises(InputError) as err:
        read_qa([unsure])
    assert (err.value.path, err.value.line, err.value.field) == (str(unsure), 2, "cop")
    assert "counts from 0" in str(err.value)
    told = read_qa([unsure], cop_base=1)
    assert [r.answer_idx for r in told.records] == ["A", "A", "B"]

    both = write_jsonl(tmp_path / "both.jsonl", medmcqa_rows([1, 0, 4]))
    with pytest.raises(InputError) as err:
        read_qa([both])
    assert (err.value.line, err.value.field) == (3, "cop")
    assert "0 on line 2 and 4 on line 3" in str(err.value)


def test_medmcqa_file_detected_as_one_layout(tmp_path: Path) -> None:
    # a row without cop is still read as MedMCQA (by the file's fields), not as a generic row
    rows = medmcqa_rows([1, 0])
    del rows[0]["cop"]
    batch = read_qa([write_jsonl(tmp_path / "m.jsonl", rows)])
    assert rejected(batch) == [("m-1", 1, "missing_answer")]
    assert "field 'cop'" in detail(batch, "m-1")


# -- PubMedQA --------------------------------------------------------------------------------


def test_pubmedqa_object_keyed_by_pmid(tmp_path: Path) -> None:
    rows = {
        "1001": {
            "QUESTION": "Does daily walking lower resting blood pressure?",
            "CONTEXTS": ["Adults walked daily for a year.", "Pressure fell by 5 mmHg."],
            "LONG_ANSWER": "Walking lowered pressure.",
            "final_decision": "yes",
        },
        "1002": {
            "QUESTION": "Is tea linked to migraine?",
            "CONTEXTS": [],
            "final_decision": "maybe",
        },
        "1003": {"QUESTION": "Does salt cure colds?", "final_decision": "perhaps"},
        "1004": "not a row",
    }
    path = tmp_path / "ori_pqal.json"
    path.write_text(json.dumps(rows), encoding="utf-8")
    batch = read_qa([path])
    yn = {"A": "yes", "B": "no", "C": "maybe"}
    assert parsed(batch) == [
        ("1001", "Does daily walking lower resting blood pressure?", yn, "yes", "A"),
        ("1002", "Is tea linked to migraine?", yn, "maybe", "C"),
    ]
    assert {r.source for r in batch.records} == {"pubmedqa"}
    meta = batch.records[0].meta
    assert meta["contexts"] == "Adults walked daily for a year.\n\nPressure fell by 5 mmHg."
    assert meta["long_answer"] == "Walking lowered pressure."
    assert rejected(batch) == [("1003", 3, "answer_not_in_options"), ("1004", 4, "not_an_object")]
    assert "field 'final_decision'" in detail(batch, "1003")

    # the Hugging Face shape: lower-case question, context.contexts, one row per line
    hf = {
        "pubid": 7,
        "question": "Is fever common after vaccination?",
        "context": {"contexts": ["Half of children had fever."], "labels": ["RESULTS"]},
        "long_answer": "Fever was common.",
        "final_decision": "no",
    }
    (rec,) = read_qa([write_jsonl(tmp_path / "pqa.jsonl", [hf])]).records
    assert (rec.answer, rec.answer_idx, rec.meta["contexts"]) == (
        "no",
        "B",
        "Half of children had fever.",
    )


# -- MMLU ------------------------------------------------------------------------------------

BONES = ["Scaphoid", "Femur", "Patella", "Talus"]
BONE_OPTIONS = dict(zip("ABCD", BONES, strict=True))


def test_mmlu_json_and_headerless_csv(tmp_path: Path) -> None:
    rows = [
        {
            "question": "Which bone is in the wrist?",
            "subject": "anatomy",
            "choices": BONES,
            "answer": 0,
        },
        {"question": "Which bone is the kneecap?", "choices": BONES, "answer": "C"},
        {"question": "Which bone is in the ankle?", "choices": BONES, "answer": 4},
    ]
    batch = read_qa([write_jsonl(tmp_path / "mmlu.jsonl", rows)])
    assert parsed(batch) == [
        ("mmlu-1", "Which bone is in the wrist?", BONE_OPTIONS, "Scaphoid", "A"),
        ("mmlu-2", "Which bone is the kneecap?", BONE_OPTIONS, "Patella", "C"),
    ]
    assert batch.records[0].meta["subject"] == "anatomy"
    assert rejected(batch) == [("mmlu-3", 3, "answer_not_in_options")]

    # MMLU's own CSVs: no header; question, A, B, C, D, answer letter
    path = tmp_path / "anatomy_test.csv"
    path.write_text(
        "Which bone is in the ankle?,Scaphoid,Femur,Patella,Talus,D\n"
        '"Which bone,\nof these, is longest?",Scaphoid,Femur,Patella,Talus,B\n'
        "Which bone is in the hip?,Scaphoid,Femur,Patella,Talus,F\n",
        encoding="utf-8",
    )
    batch = read_qa([path])
    assert parsed(batch) == [
        ("anatomy_test-1", "Which bone is in the ankle?", BONE_OPTIONS, "Talus", "D"),
        ("anatomy_test-2", "Which bone,\nof these, is longest?", BONE_OPTIONS, "Femur", "B"),
    ]
    assert {r.source for r in batch.records} == {"mmlu"}
    assert rejected(batch) == [("anatomy_test-4", 4, "answer_not_in_options")]


# -- HLE -------------------------------------------------------------------------------------


def test_hle_multiple_choice_and_exact_match(tmp_path: Path) -> None:
    mc = (
        "Which valve lesion gives an opening snap?\n\nAnswer Choices:\n"
        "A. Aortic stenosis\nB. Mitral stenosis\nC. Mitral\nregurgitation"  # C runs on
    )
    rows = [
        {"id": "h-1", "question": mc, "answer": "B", "answer_type": "multipleChoice", "image": ""},
        {
            "id": "h-2",
            "question": "Normal adult count of teeth?",
            "answer": "32",
            "answer_type": "exactMatch",
            "image": "",
        },
        {"id": "h-3", "question": mc, "answer": "E", "answer_type": "multipleChoice", "image": ""},
        {
            "id": "h-4",
            "question": "Name it.",
            "answer": "A",
            "answer_type": "multipleChoice",
            "image": "",
        },
        {
            "id": "h-5",
            "question": "How many?",
            "answer": "3",
            "answer_type": "numeric",
            "image": "",
        },
        {
            "id": "h-6",
            "question": mc,
            "answer": "A",
            "answer_type": "multipleChoice",
            "image": "data:image/png;base64,xx",
        },
        {
            "id": "h-7",
            "question": "Half-life of X?",
            "answer": "",
            "answer_type": "exactMatch",
            "image": "",
        },
    ]
    batch = read_qa([write_jsonl(tmp_path / "hle.jsonl", rows)])
    valves = {"A": "Aortic stenosis", "B": "Mitral stenosis", "C": "Mitral\nregurgitation"}
    assert parsed(batch) == [
        ("h-1", "Which valve lesion gives an opening snap?", valves, "Mitral stenosis", "B"),
        ("h-2", "Normal adult count of teeth?", {}, "32", None),  # open-ended: no options
    ]
    assert {r.source for r in batch.records} == {"hle"}
    assert rejected(batch) == [
        ("h-3", 3, "answer_not_in_options"),
        ("h-4", 4, "bad_options"),
        ("h-5", 5, "bad_answer_type"),
        ("h-6", 6, "needs_image"),
        ("h-7", 7, "missing_answer"),
    ]
    assert "no 'Answer Choices:'" in detail(batch, "h-4")
    assert "field 'answer_type'" in detail(batch, "h-5")


def test_choices_in_question_text() -> None:
    assert split_choices("Q?\nAnswer Choices: (A) one (B) two (C) has (A) inside") == (
        "Q?",
        {"A": "one", "B": "two", "C": "has (A) inside"},
    )
    assert split_choices("Q?\nAnswer Choices:\nA. one\nB) two") == ("Q?", {"A": "one", "B": "two"})
    assert split_choices("Q? no choices here") is None
    assert split_choices("Q?\nAnswer Choices:\nB. starts late\nC. x") is None


# -- the input schema ------------------------------------------------------------------------


def test_input_schema_names_every_layout() -> None:
    schema = json.loads((SCHEMAS_DIR / "qa_input.schema.json").read_text())
    titles = {b["title"] for b in schema["anyOf"]}
    assert {"MedQA", "MedXpertQA", "MedMCQA", "PubMedQA", "MMLU", "HLE", "Generic"} <= titles
    v = jsonschema.Draft202012Validator(schema)
    good = [
        {"question": "q", "options": SEPSIS, "label": "A"},
        {"question": "q", **THYROID, "cop": 4},
        {"QUESTION": "q", "CONTEXTS": ["c"], "final_decision": "yes"},
        {"question": "q", "choices": BONES, "answer": "B"},
        {"question": "q", "answer": "B", "answer_type": "multipleChoice"},
    ]
    assert all(v.is_valid(r) for r in good)
    assert not v.is_valid({"question": "q", **THYROID, "cop": 7})
