"""Prompt and template files shipped with the package; their version is in the file name."""

from __future__ import annotations

import tomllib
from functools import cache
from importlib import resources

from jinja2 import Environment, StrictUndefined, Template

# v1: paths and the reference answer only; v2: the differential evidence and the reference
# answer; v3: the evidence without the reference answer (the model decides)
THINKING_PATH = "thinking_path.v5"
RELATIONS = "relations.v2"
KG_QUESTION = "kg_question.v1"


def _read(filename: str) -> str:
    return resources.files("kgsynth.llm").joinpath("prompts", filename).read_text("utf-8")


@cache
def template(name: str) -> Template:
    env = Environment(undefined=StrictUndefined, keep_trailing_newline=True, autoescape=False)
    return env.from_string(_read(f"{name}.j2"))


@cache
def template_file(name: str) -> dict:
    """A TOML template file, checked to declare the version its file name carries."""
    data = tomllib.loads(_read(f"{name}.toml"))
    if data.get("version") != name:
        raise ValueError(f"{name}.toml declares version {data.get('version')!r}")
    return data


@cache
def relation_templates(name: str = RELATIONS) -> dict[str, str]:
    return dict(template_file(name)["templates"])
