"""The checks a row can go through, registered by name.

A check is one `register_check(Check(...))`: its name (the key in a row's `checks` and in a
reject's reason), what it means (the card's line), a batch function over written rows that
returns one Verdict per row, when it runs (from the `[verify]` config), its own settings
model (read from `[verify.checks.NAME]`), and, when it keeps evidence, the row column that
holds it (polars type and JSON Schema). The row table, the JSON Schema of a row, the card's
pass-rate table, `kgsynth verify` and the verify stage all read this registry, so a new
check is one module (plus its test) and nothing else.

Checks with no function are decided by another stage (KG-first synthesis' chain checks, the
LLM quality filter): they are columns of `checks`, carried over by a re-verification.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import polars as pl
from pydantic import BaseModel, ValidationError

from kgsynth.errors import ConfigError
from kgsynth.records import GeneratedQA
from kgsynth.stages import Stage

if TYPE_CHECKING:
    from kgsynth.config import VerifyConfig
    from kgsynth.kg.graph import KnowledgeGraph
    from kgsynth.llm.structured import StructuredRunner
    from kgsynth.verify.claims import MentionFinder


@dataclass(frozen=True)
class Evidence:
    """A row column a check fills with what it found (null on rows it did not judge)."""

    column: str
    dtype: pl.DataType
    schema: dict[str, Any]  # JSON Schema of one value (the column is also nullable)
    model: type[BaseModel]  # the record held in VerifiedQA.evidence[column]


@dataclass
class Verdict:
    """One row's result: passed (None: not judged), why not, and the evidence kept."""

    passed: bool | None
    reasons: list[str] = field(default_factory=list)
    evidence: BaseModel | None = None


@dataclass
class CheckContext:
    """What a check function may use for one batch."""

    kg: KnowledgeGraph
    cfg: VerifyConfig
    finder: MentionFinder | None = None  # the linker, to find entities in text
    runner: StructuredRunner | None = None  # JSON blocks over the LLM endpoint (the judge)

    def settings(self, check: Check) -> BaseModel | None:
        """The check's own `[verify.checks.NAME]` settings, validated by its model."""
        if check.config is None:
            return None
        raw = self.cfg.checks.get(check.name, {})
        try:
            return check.config.model_validate(raw)
        except ValidationError as e:
            errs = "; ".join(
                f"verify.checks.{check.name}.{'.'.join(map(str, err['loc']))}: {err['msg']}"
                for err in e.errors()
            )
            raise ConfigError(f"invalid check settings: {errs}") from e


CheckFn = Callable[[CheckContext, Sequence[GeneratedQA]], list[Verdict]]


def _always(cfg: VerifyConfig) -> bool:
    return True


@dataclass(frozen=True)
class Check:
    name: str
    description: str
    run: CheckFn | None = None  # None: decided by another stage, carried by re-verification
    enabled: Callable[[VerifyConfig], bool] = _always
    config: type[BaseModel] | None = None  # settings under [verify.checks.NAME]
    evidence: Evidence | None = None
    judged_at: Stage = Stage.VERIFY  # the stage whose rejects this check judged


_lock = threading.Lock()
_CHECKS: dict[str, Check] = {}


def register_check(check: Check, replace: bool = False) -> Check:
    """Add a check (at the end of the order, after the built-ins). Names are unique unless
    `replace`."""
    import kgsynth.verify.builtin  # noqa: F401 - the built-ins come first

    if not check.name.isidentifier():
        raise ValueError(f"check name {check.name!r} must be an identifier")
    with _lock:
        if check.name in _CHECKS and not replace:
            raise ValueError(f"a check named {check.name!r} is registered already")
        taken = {c.evidence.column for n, c in _CHECKS.items() if c.evidence and n != check.name}
        if check.evidence is not None and check.evidence.column in taken:
            raise ValueError(f"evidence column {check.evidence.column!r} is taken")
        _CHECKS[check.name] = check
    return check


def unregister_check(name: str) -> None:
    with _lock:
        _CHECKS.pop(name, None)


def registered() -> list[Check]:
    """Every check, in order: the built-ins first (importing them registers them)."""
    import kgsynth.verify.builtin  # noqa: F401

    with _lock:
        return list(_CHECKS.values())


def check_names() -> list[str]:
    return [c.name for c in registered()]


def evidence_columns() -> list[Evidence]:
    return [c.evidence for c in registered() if c.evidence is not None]


def judged_at() -> dict[str, Stage]:
    return {c.name: c.judged_at for c in registered()}
