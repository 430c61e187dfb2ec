"""JSON Schemas generated from the code: the build config (from the pydantic model) and an
exported row (the row columns, with the checks' columns from the check registry).

`python -m kgsynth.schemas` rewrites schemas/build_config.schema.json and
schemas/output_row.schema.json; a test fails when a committed file and the code drift apart.
"""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path
from typing import Any

from kgsynth.config import BuildConfig

SCHEMAS_DIR = Path(__file__).resolve().parent.parent / "schemas"
CONFIG_SCHEMA_PATH = SCHEMAS_DIR / "build_config.schema.json"
ROW_SCHEMA_PATH = SCHEMAS_DIR / "output_row.schema.json"


def config_schema() -> dict:
    schema = BuildConfig.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["$id"] = "https://kgsynth.dev/schemas/build_config.schema.json"
    return schema


def row_schema_json() -> dict[str, Any]:
    """An exported row: the fixed columns (kgsynth/export/row_base.schema.json), `checks`
    with one nullable boolean per registered check, and each check's evidence column."""
    from kgsynth.export.rows import row_schema
    from kgsynth.verify.registry import registered

    text = resources.files("kgsynth.export").joinpath("row_base.schema.json").read_text("utf-8")
    base = json.loads(text)
    checks = registered()
    props: dict[str, Any] = dict(base["properties"])
    props["checks"] = props["checks"] | {
        "required": ["passed", "reasons"],
        "properties": {
            **{c.name: {"type": ["boolean", "null"], "description": c.description} for c in checks},
            "passed": {"type": "boolean"},
            "reasons": {"type": "array", "items": {"type": "string"}},
        },
    }
    for c in checks:
        if c.evidence is not None:
            props[c.evidence.column] = _nullable(c.evidence.schema)
    names = row_schema().names()
    missing = [n for n in names if n not in props]
    if missing:
        raise RuntimeError(f"row columns without a JSON Schema: {missing}")
    return base | {"required": names, "properties": {n: props[n] for n in names}}


def _nullable(schema: dict[str, Any]) -> dict[str, Any]:
    """An evidence column is null on rows its check did not judge."""
    kind = schema.get("type")
    if kind == "null" or (isinstance(kind, list) and "null" in kind):
        return schema
    return {"anyOf": [schema, {"type": "null"}]}


def render(schema: dict) -> str:
    return json.dumps(schema, indent=2) + "\n"


if __name__ == "__main__":
    CONFIG_SCHEMA_PATH.write_text(render(config_schema()))
    ROW_SCHEMA_PATH.write_text(render(row_schema_json()))
    print(f"wrote {CONFIG_SCHEMA_PATH} and {ROW_SCHEMA_PATH}")
