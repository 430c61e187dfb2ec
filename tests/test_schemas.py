"""The committed JSON Schemas match the code and accept what the pipeline reads and writes."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest

from kgsynth.schemas import CONFIG_SCHEMA_PATH, config_schema, row_schema_json

SCHEMAS = CONFIG_SCHEMA_PATH.parent


def load(name: str) -> dict:
    return json.loads((SCHEMAS / name).read_text())


@pytest.mark.parametrize(
    "name", ["qa_input.schema.json", "output_row.schema.json", "build_config.schema.json"]
)
def test_schemas_are_valid_json_schema(name):
    jsonschema.Draft202012Validator.check_schema(load(name))


def test_config_schema_is_in_sync_with_the_model():
    assert load("build_config.schema.json") == config_schema(), "run: python -m kgsynth.schemas"


def test_row_schema_is_in_sync_with_the_columns_and_the_check_registry():
    assert load("output_row.schema.json") == row_schema_json(), "run: python -m kgsynth.schemas"


def test_config_schema_rejects_unknown_and_bad_values():
    v = jsonschema.Draft202012Validator(load("build_config.schema.json"))
    assert v.is_valid({"kg": "hpo", "paths": {"max_hops": 3}})
    assert not v.is_valid({"kg": "hpo", "pathz": {}})
    assert not v.is_valid({"paths": {"max_hops": 0}})
    assert not v.is_valid({"generator": "gpt"})


def test_qa_schema_accepts_every_shared_medqa_row(medqa_path):
    v = jsonschema.Draft202012Validator(load("qa_input.schema.json"))
    rows = [json.loads(line) for line in medqa_path.read_text().splitlines() if line.strip()]
    assert len(rows) == 1273
    bad = [i for i, r in enumerate(rows) if not v.is_valid(r)]
    assert bad == []
    assert not v.is_valid({"question": "", "answer": "x"})
    assert not v.is_valid({"options": {"A": "x"}, "answer": "x"})


def test_default_cache_dir_is_expanded():
    from kgsynth.config import BuildConfig

    cfg = BuildConfig()
    assert cfg.cache_dir.is_absolute() and "~" not in str(cfg.cache_dir)
    assert BuildConfig(cache_dir="~/x").cache_dir == Path.home() / "x"


def test_output_row_schema_matches_the_exported_columns():
    from kgsynth.export.rows import checks_struct, row_schema

    schema = load("output_row.schema.json")
    assert list(schema["properties"]) == list(row_schema().names())
    checks = schema["properties"]["checks"]
    assert list(checks["properties"]) == [f.name for f in checks_struct().fields]
    # the KG-first checks are null on rows built from QA pairs
    for name in ("answer_unique", "distractors_fail_chain", "quality_filter"):
        assert checks["properties"][name]["type"] == ["boolean", "null"]
        assert name not in checks["required"]
