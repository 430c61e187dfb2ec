"""JSON Schema of the build config, generated from the pydantic model.

`python -m kgsynth.schemas` rewrites schemas/build_config.schema.json; a test fails when
the committed file and the model drift apart.
"""

from __future__ import annotations

import json
from pathlib import Path

from kgsynth.config import BuildConfig

CONFIG_SCHEMA_PATH = Path(__file__).resolve().parent.parent / "schemas" / "build_config.schema.json"


def config_schema() -> dict:
    schema = BuildConfig.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["$id"] = "https://kgsynth.dev/schemas/build_config.schema.json"
    return schema


def render_config_schema() -> str:
    return json.dumps(config_schema(), indent=2) + "\n"


if __name__ == "__main__":
    CONFIG_SCHEMA_PATH.write_text(render_config_schema())
    print(f"wrote {CONFIG_SCHEMA_PATH}")
