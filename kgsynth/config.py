"""The one validated config object that drives a build (flags and/or a TOML/YAML file)."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from kgsynth.errors import ConfigError

DEFAULT_SAMPLE_QA = Path(__file__).resolve().parent.parent / "data" / "sample_qa.jsonl"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class LinkingConfig(_Strict):
    threshold: float = Field(0.85, ge=0.0, le=1.0)  # min candidate score to accept a link
    ner_model: str | None = None  # optional scispaCy NER model (e.g. en_core_sci_sm)
    max_entities: int = Field(8, ge=1)  # per text, best scores first
    # nodes never linked: ontology roots and HPO's bookkeeping subtrees (clinical modifiers
    # such as onset/severity, frequency terms, blood groups, past medical history)
    exclude_ids: list[str] = Field(default_factory=lambda: ["HP:0000001", "HP:0000118"])
    exclude_subtrees: list[str] = Field(
        default_factory=lambda: ["HP:0012823", "HP:0040279", "HP:0032223", "HP:0032443"]
    )


class PathsConfig(_Strict):
    max_hops: int = Field(3, ge=1, le=6)
    k: int = Field(3, ge=1)  # kept per (question entity, answer entity) pair
    max_paths: int = Field(10, ge=1)  # kept per question
    enum_cap: int = Field(1000, ge=1)  # paths enumerated per pair; the total is still counted


class ModelPrice(_Strict):
    """US dollars per million tokens, as providers publish them."""

    input_per_1m: float = Field(ge=0)
    output_per_1m: float = Field(ge=0)


class LLMConfig(_Strict):
    base_url: str | None = None
    model: str = "gpt-4o-mini"
    api_key_env: str = "OPENAI_API_KEY"  # name of the variable; the key never enters config
    temperature: float = Field(0.0, ge=0.0, le=2.0)
    max_tokens: int = Field(1024, ge=1)
    timeout_s: float = Field(60.0, gt=0)  # per request (per attempt), end to end
    max_retries: int = Field(3, ge=0)  # on 429, 408/409, 5xx, timeouts and dropped connections
    concurrency: int = Field(8, ge=1)  # requests in flight at once
    seed: int | None = 0
    rpm: int | None = Field(None, ge=1)  # requests per minute; None: no limit
    tpm: int | None = Field(None, ge=1)  # tokens per minute (prompt estimate + max_tokens)
    backoff_base_s: float = Field(0.5, gt=0)  # retry n waits up to base * 2**n (full jitter)
    backoff_max_s: float = Field(30.0, gt=0)  # cap on one wait, a server's Retry-After included
    prices: dict[str, ModelPrice] = Field(default_factory=dict)  # model -> price, for the card
    cache: bool = True  # persistent response cache under <cache_dir>/llm/
    # how structured (JSON) replies are requested: "json_schema" where the endpoint supports
    # response_format json_schema, "json_object" for plain JSON mode, "prompt" for neither
    json_mode: Literal["json_schema", "json_object", "prompt"] = "prompt"


class VerifyConfig(_Strict):
    kg_faithful: bool = True
    answer_match: bool = True
    no_leakage: bool = True


class ChainConfig(_Strict):
    """MedReason's LLM steps around the core pipeline. They run only with an LLM generator
    (`generator = "openai"`); the offline writer has no model to ask."""

    extract_entities: bool = True  # typed entities beside the scispaCy mentions
    disambiguate: bool = True  # the LLM picks among linker candidates (or none)
    reformulate: bool = True  # description + conclusion, the context for pruning
    prune_paths: bool = True  # keep up to paths.k of at most max_candidates per pair
    max_candidates: int = Field(50, ge=1)
    quality_filter: bool = True  # answer from the reasoning (conclusion cut), judge vs gold

    def enabled(self) -> dict[str, bool]:
        """Step name -> whether it runs (the judge runs with the quality filter)."""
        return {
            "extract_entities": self.extract_entities,
            "disambiguate": self.extract_entities and self.disambiguate,
            "reformulate": self.prune_paths and self.reformulate,
            "prune_paths": self.prune_paths,
            "answer_from_reasoning": self.quality_filter,
            "judge": self.quality_filter,
        }


class BuildConfig(_Strict):
    qa: list[Path] = Field(default_factory=list)  # empty: the team's sample in data/
    kg: str = "hpo"
    out: Path = Path("out")
    # KG and alias-index caches, shared by builds; validate_default so "~" is expanded here
    # too (polars expands "~" itself while os.mkdir does not: two different folders)
    cache_dir: Path = Field(Path("~/.cache/kgsynth"), validate_default=True)
    generator: Literal["offline", "openai"] = "offline"
    limit: int | None = Field(None, ge=1)  # only the first N QA rows, for quick runs
    linking: LinkingConfig = Field(default_factory=LinkingConfig)
    paths: PathsConfig = Field(default_factory=PathsConfig)
    llm: LLMConfig = Field(default_factory=LLMConfig)
    verify: VerifyConfig = Field(default_factory=VerifyConfig)
    chain: ChainConfig = Field(default_factory=ChainConfig)

    @field_validator("cache_dir")
    @classmethod
    def _expand(cls, v: Path) -> Path:
        return v.expanduser()

    def qa_files(self) -> list[Path]:
        return list(self.qa) or [DEFAULT_SAMPLE_QA]

    @field_validator("qa", mode="before")
    @classmethod
    def _one_or_many(cls, v: Any) -> Any:
        return [v] if isinstance(v, (str, Path)) else v


def read_config_file(path: Path) -> dict[str, Any]:
    """Read a TOML or YAML config file into a plain dict (validated later)."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as e:
        raise ConfigError(f"{path}: cannot read config file ({e.strerror})") from e
    try:
        if path.suffix == ".toml":
            data = tomllib.loads(text)
        elif path.suffix in {".yaml", ".yml"}:
            data = yaml.safe_load(text) or {}
        else:
            raise ConfigError(f"{path}: config must be .toml, .yaml or .yml")
    except (tomllib.TOMLDecodeError, yaml.YAMLError) as e:
        raise ConfigError(f"{path}: not valid {path.suffix[1:].upper()}: {e}") from e
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: top level must be a table/mapping")
    return data


def _merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, val in over.items():
        if isinstance(val, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], val)
        else:
            out[key] = val
    return out


def load_config(file: Path | None = None, overrides: dict[str, Any] | None = None) -> BuildConfig:
    """File values first, then flag overrides (None values are ignored); validated once."""
    data: dict[str, Any] = read_config_file(file) if file else {}
    if overrides:
        data = _merge(data, _drop_none(overrides))
    try:
        return BuildConfig.model_validate(data)
    except ValidationError as e:
        src = str(file) if file else "flags"
        lines = [f"  {'.'.join(str(p) for p in err['loc'])}: {err['msg']}" for err in e.errors()]
        raise ConfigError(f"invalid build config ({src}):\n" + "\n".join(lines)) from e


def _drop_none(d: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in d.items():
        if isinstance(v, dict):
            sub = _drop_none(v)
            if sub:
                out[k] = sub
        elif v is not None:
            out[k] = v
    return out
