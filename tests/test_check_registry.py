"""A check defined here, in the test, and registered: it runs in the build and appears in the
rows, the card's pass-rate table, the JSON Schema of a row and `kgsynth verify`, with no edit
to kgsynth's code."""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from pathlib import Path

import jsonschema
import polars as pl
import pytest
from pydantic import BaseModel

from flows.build import build_dataset
from kgsynth.config import DEFAULT_SAMPLE_QA, load_config
from kgsynth.export import read_dataset
from kgsynth.export.rows import generated_of, row_schema
from kgsynth.records import GeneratedQA
from kgsynth.schemas import row_schema_json
from kgsynth.verify.registry import (
    Check,
    CheckContext,
    Evidence,
    Verdict,
    register_check,
    registered,
    unregister_check,
)
from kgsynth.verify.suite import VerifySuite

NAME = "mentions_findings"


class MentionSettings(BaseModel):
    min_mentions: int = 1


class MentionCount(BaseModel):
    mentioned: int
    of: int


def mentions_findings(ctx: CheckContext, items: Sequence[GeneratedQA]) -> list[Verdict]:
    """The reasoning names at least `min_mentions` of the question's linked entities."""
    settings = ctx.settings(CHECK)
    assert isinstance(settings, MentionSettings)
    out = []
    for it in items:
        text = it.generation.reasoning.lower()
        names = {e.name.lower() for e in it.pathed.linked.question_entities}
        n = sum(name in text for name in names)
        ok = n >= settings.min_mentions
        why = [] if ok else [f"{NAME}: {n} of {len(names)} findings named"]
        out.append(Verdict(ok, why, MentionCount(mentioned=n, of=len(names))))
    return out


CHECK = Check(
    NAME,
    "the reasoning names the question's findings",
    mentions_findings,
    config=MentionSettings,
    evidence=Evidence(
        "mention_count",
        pl.Struct({"mentioned": pl.Int64, "of": pl.Int64}),
        {
            "type": "object",
            "required": ["mentioned", "of"],
            "properties": {"mentioned": {"type": "integer"}, "of": {"type": "integer"}},
        },
        MentionCount,
    ),
)


@pytest.fixture
def registered_check() -> Iterator[Check]:
    register_check(CHECK)
    try:
        yield CHECK
    finally:
        unregister_check(NAME)


def test_a_test_defined_check_reaches_rows_card_and_schema(
    registered_check: Check, tmp_path: Path, cache_dir: Path
):
    assert [c.name for c in registered()][-1] == NAME  # after kgsynth's own
    schema = row_schema_json()
    assert schema["properties"]["checks"]["properties"][NAME]["type"] == ["boolean", "null"]
    assert "mention_count" in schema["properties"] and "mention_count" in schema["required"]
    assert row_schema()["mention_count"] == registered_check.evidence.dtype  # type: ignore[union-attr]

    out = tmp_path / "o"
    cfg = load_config(
        None, {"qa": [DEFAULT_SAMPLE_QA], "kg": "hpo", "out": out, "cache_dir": cache_dir}
    )
    report = build_dataset(cfg).report
    rows = read_dataset(out)
    assert rows.height == report.exported > 0
    flat = rows.select(pl.col("checks").struct.unnest())
    assert flat[NAME].to_list() == [True] * rows.height  # every exported row passed it
    counts = rows["mention_count"].to_list()
    assert all(c["mentioned"] >= 1 and c["of"] >= c["mentioned"] for c in counts)
    # every row validates against the schema the registry now renders
    validator = jsonschema.Draft202012Validator(schema)
    for row in rows.to_dicts():
        row["created_at"] = row["created_at"].isoformat()
        assert validator.is_valid(row), next(iter(validator.iter_errors(row))).message
    card = (out / "README.md").read_text()
    assert f"- `{NAME}`: the reasoning names the question's findings." in card  # ## Checks
    assert f"| `{NAME}` | {rows.height} | {rows.height} | 100.0% |" in card  # pass rates
    summary = json.loads((out / "build.json").read_text())
    assert summary["config"]["verify"]["checks"] == {}

    # its settings come from [verify.checks.NAME]; a strict one fails rows, with its reason
    strict = cfg.verify.model_copy(update={"checks": {NAME: {"min_mentions": 99}}})
    items = [generated_of(r)[0] for r in rows.head(3).to_dicts()]
    from kgsynth.kg import load_kg

    suite = VerifySuite(
        load_kg("hpo", cache_dir=cache_dir),
        strict.model_copy(update={"claims": strict.claims.model_copy(update={"enabled": False})}),
    )
    for v in suite.run(items):
        assert v.checks.failed() == [NAME]
        assert any(r.startswith(f"{NAME}: ") for r in v.checks.reasons)
        assert v.evidence["mention_count"].of >= 1


def test_bad_settings_and_unknown_checks_are_config_errors(registered_check: Check, hpo_kg):
    from kgsynth.config import VerifyConfig
    from kgsynth.errors import ConfigError

    off = {"claims": {"enabled": False}}
    with pytest.raises(ConfigError, match=f"verify.checks.{NAME}.min_mentions"):
        VerifySuite(hpo_kg, VerifyConfig(**off, checks={NAME: {"min_mentions": "many"}}))
    with pytest.raises(ConfigError, match="no check named nosuch"):
        VerifySuite(hpo_kg, VerifyConfig(**off, checks={"nosuch": {}}))


def test_names_and_evidence_columns_are_unique(registered_check: Check):
    with pytest.raises(ValueError, match="registered already"):
        register_check(CHECK)
    clash = Check("another", "x", mentions_findings, evidence=registered_check.evidence)
    with pytest.raises(ValueError, match="is taken"):
        register_check(clash)
