"""The validated config of a KG-first synthesis run (`kgsynth synth-kg`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from kgsynth.config import DecontamConfig, LLMConfig, VerifyConfig, drop_none
from kgsynth.defaults import DEFAULT_CACHE_DIR, CacheDir
from kgsynth.errors import ConfigError
from kgsynth.synth.giveaway import FORM_WORDS, GENERIC_WORDS

MIN_HOPS, MAX_HOPS = 2, 5


class SynthConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kg: str = "hpo"
    out: Path = Path("out/synth")
    # replace an existing kgsynth dataset at `out`; never a folder holding other files
    overwrite: bool = False
    cache_dir: CacheDir = Field(DEFAULT_CACHE_DIR, validate_default=True)
    generator: Literal["offline", "openai"] = "offline"
    n: int = Field(100, ge=1)  # rows to export
    min_hops: int = Field(2, ge=MIN_HOPS, le=MAX_HOPS)
    max_hops: int = Field(5, ge=MIN_HOPS, le=MAX_HOPS)
    # a start entity is rare when its degree is at or below this percentile of the degrees
    # of the connected nodes it may be chosen from ("at or below": KG degrees tie heavily,
    # HPO's 10th percentile is 1, and "strictly below" would leave nothing)
    rare_percentile: float = Field(25.0, gt=0.0, le=100.0)
    start_types: list[str] | None = None  # None: any node type
    answer_types: list[str] | None = None
    relations: list[str] | None = None  # relations a chain may use; None: all
    # metapaths ("phenotype -has_phenotype- disease -associated_with- gene", `*` any,
    # `|` or); when given, each attempt follows one of them and its length sets the hops
    metapaths: list[str] = Field(default_factory=list)
    n_options: int = Field(5, ge=2, le=10)
    # answers too generic to ask for (kgsynth.synth.giveaway): nodes fewer than this many
    # is_a steps below their ontology's root (HPO: "All" 0, "Phenotypic abnormality" 1,
    # organ systems 2, their first split 3; 0: off), grouping terms with more is_a
    # descendants than `max_answer_descendants` (None: off), names of nothing but
    # `generic_words` (empty: off). Never an answer, never a distractor.
    min_answer_depth: int = Field(4, ge=0)
    max_answer_descendants: int | None = Field(500, ge=0)
    generic_words: list[str] = Field(default_factory=lambda: list(GENERIC_WORDS))
    # options must not give the answer away by their wording: the answer's leading word,
    # head noun, shape and `form_words` must each be shared by a distractor; a leading word
    # or head noun is a class of its own when `wording_min_names` names of the type share it
    wording_check: bool = True
    wording_min_names: int = Field(50, ge=1)
    form_words: list[str] = Field(default_factory=lambda: list(FORM_WORDS))
    seed: int = Field(0, ge=0)  # with the attempt number, seeds each attempt's own RNG
    max_attempts: int | None = Field(None, ge=1)  # None: 50 per requested row
    llm: LLMConfig = Field(default_factory=LLMConfig)
    verify: VerifyConfig = Field(default_factory=VerifyConfig)
    # benchmark files whose items no written question may overlap (kgsynth.decontam)
    decontam: DecontamConfig = Field(default_factory=DecontamConfig)

    @model_validator(mode="after")
    def _hops_in_order(self) -> SynthConfig:
        if self.min_hops > self.max_hops:
            raise ValueError(f"min_hops {self.min_hops} > max_hops {self.max_hops}")
        return self

    @property
    def generic_rules(self) -> bool:
        """Whether any generic-answer rule is on."""
        return bool(
            self.min_answer_depth or self.max_answer_descendants is not None or self.generic_words
        )

    @property
    def attempt_budget(self) -> int:
        return self.max_attempts or 50 * self.n


def parse_hops(text: str) -> tuple[int, int]:
    """`3` or `2-5` -> (min, max)."""
    lo, _, hi = text.partition("-")
    try:
        a, b = int(lo), int(hi or lo)
    except ValueError as e:
        raise ConfigError(f"--hops wants N or MIN-MAX, got {text!r}") from e
    return a, b


def load_synth_config(overrides: dict[str, Any]) -> SynthConfig:
    """Flag values (None ignored) validated once; errors name the offending field."""
    try:
        return SynthConfig.model_validate(drop_none(overrides))
    except ValidationError as e:
        lines = [f"  {'.'.join(str(p) for p in err['loc'])}: {err['msg']}" for err in e.errors()]
        raise ConfigError("invalid synth-kg config:\n" + "\n".join(lines)) from e
