"""The one validated config object that drives a build (flags and/or a TOML/YAML file)."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SerializationInfo,
    ValidationError,
    field_serializer,
    field_validator,
    model_validator,
)

from kgsynth.defaults import DEFAULT_CACHE_DIR, CacheDir
from kgsynth.errors import ConfigError
from kgsynth.records import ScoreKind
from kgsynth.redact import redact_url

# the team's sample QA, shipped inside the package (kgsynth/data/, see data/README.md)
DEFAULT_SAMPLE_QA = Path(__file__).resolve().parent / "data" / "sample_qa.jsonl"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


def _url_out(url: str | None, info: SerializationInfo) -> str | None:
    # JSON is what leaves the process (build.json, the card, Prefect's stored flow-run
    # parameters): no credentials there; the in-memory config keeps the working URL
    return redact_url(url) if url and info.mode == "json" else url


class LinkingConfig(_Strict):
    threshold: float = Field(0.85, ge=0.0, le=1.0)  # min candidate score to accept a link
    ner_model: str | None = None  # optional scispaCy NER model (e.g. en_core_sci_sm)
    max_entities: int = Field(8, ge=1)  # per text, best scores first
    # a row with options leaves (options_unlinked) when more than this share of them link to
    # no KG node, or to a node another option shares
    max_unlinked_options: float = Field(0.5, ge=0.0, le=1.0)
    # node types a question mention never stands for as a finding: "serum", "prenatal care"
    # or "cell proliferation" name no sign the patient has (a broad KG such as medkg holds
    # them; the answer and the options still link to them)
    question_skip_types: list[str] = Field(
        default_factory=lambda: ["anatomy", "procedure", "biological_process"]
    )
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
    # ranking among equally short paths: a node costs hub_penalty * log1p(degree), a path the
    # sum over its intermediate nodes (lower first); 0 ranks by node order only
    hub_penalty: float = Field(1.0, ge=0.0, allow_inf_nan=False)
    # leave out edges whose relation's confidence (the KG's meta `relation_confidence`:
    # derived edges, e.g. medkg's used_for at 0.7; stated edges are 1.0) is below this
    min_edge_confidence: float = Field(0.0, ge=0.0, le=1.0)


class EvidenceWeights(_Strict):
    """How a support counts: a present finding of specificity w reached in h hops adds
    w * hop_decay ** (h - 1); an absent finding the option predicts takes off contradiction * w."""

    hop_decay: float = Field(0.5, gt=0.0, le=1.0)
    contradiction: float = Field(1.0, ge=0.0)


class EvidenceConfig(_Strict):
    """Per-option KG evidence (kgsynth.evidence): present findings -> each option."""

    max_hops: int = Field(3, ge=1, le=6)
    # intermediate nodes of an evidence path have at most this KG degree (hubs such as
    # "Autosomal recessive inheritance" would join every finding to every option)
    max_intermediate_degree: int | None = Field(250, ge=1)
    # node types never in the middle of an evidence path: a drug class joins two drugs that
    # share a role, which says nothing of a finding
    skip_intermediate_types: list[str] = Field(default_factory=lambda: ["pharmacologic_class"])
    # among equally short paths, intermediates of these types come last: a finding reached
    # through a gene ("Nausea - CDKN2B - Melanoma") is no clinical reason when a disease
    # that has the finding leads there too
    avoid_intermediate_types: list[str] = Field(default_factory=lambda: ["gene"])
    # support paths take the shapes of clinical reasoning only (kgsynth.evidence.clinical):
    # the option has the finding, possibly through is_a steps on either side (or, for a
    # drug, is used for it or a class of it). A finding joined to the option through
    # another disease or a gene ("a feature of rare syndrome B, which has the option") made
    # 69 of the 110 gold supports of the 38 rows (of 50) whose paths a physician found
    # unsound in the medkg MedQA audit. False: any path within max_hops, as before
    clinical_paths: bool = True
    # with clinical_paths: may a finding of an is_a *subtype* of a disease (or drug) count
    # for the class? Off: in medkg the subtypes that list a finding are mostly
    # susceptibility loci and monogenic forms ("thyrotoxic periodic paralysis,
    # susceptibility to, 2"), not the class's picture; what a class has, its kinds inherit
    subtype_support: bool = False
    # with clinical_paths: the most is_a steps a path takes from the finding, up or down,
    # before its clinical edge. A finding stands for its parent or child term, not for a
    # whole branch: two steps down from "Neoplasm" or "Pain" reach "Neoplasm of the skin"
    # or "Episodic abdominal pain", which many options of that organ have. The same bound
    # holds for an option that is a kind of the finding (Enzymes > Multienzyme complexes >
    # the option: a category word of the question, no clue); a pure is_a chain up from the
    # finding to the option, and the option's own classes, may be longer
    finding_is_a_steps: int = Field(1, ge=0, le=6)
    # a support counts as specifically as its finding (kgsynth.evidence.specificity), or as
    # the class a clinical path climbs to by is_a, if less ("Petechiae is a kind of
    # Purpura, which the option has" is evidence of Purpura); below this floor it counts for
    # nothing: "Signs and Symptoms" or "Abnormality of the skin" fit nearly any option
    min_support_weight: float = Field(0.2, ge=0.0, le=1.0)
    # a finding that supports more than this share of the linked options (and at least
    # two) supports none: fever, headache or bleeding signs that the options share do not
    # tell them apart, and would only decide by accidents of path length
    max_shared_share: float = Field(0.5, ge=0.0, le=1.0)
    # gold needs a support that is a clue: a finding not among the common presenting ones
    # (None: kgsynth/evidence/common_findings.toml; ids or names) whose specificity reaches
    # min_clue_weight. "Vomiting", "Cough" or "Chest pain" reach gold only because the KG
    # happens not to list them for the distractors, which have them too: in the medkg MedQA
    # audit, 11 of the 15 rows whose paths a physician found unsound rested on nothing
    # more. The list, not the IDF alone, tells them apart from rare-syndrome signs that
    # many syndromes share ("Ectopia lentis" 0.55, "Low posterior hairline" 0.47 on hpo),
    # which do tell a vignette's options apart (a row leaves as `nonspecific_support`)
    common_findings: list[str] | None = None
    min_clue_weight: float = Field(0.45, ge=0.0, le=1.0)
    # gold's score minus the best other option's must reach this (and be > 0)
    min_margin: float = Field(0.05, ge=0.0)
    # precision over yield: keep a row only when every linked distractor has a KG reason
    # against it (a denied finding it predicts, or a usual feature the case lacks), not
    # merely less support; a row short of that leaves as `distractor_unexplained`
    require_distractor_reasons: bool = False
    weights: EvidenceWeights = Field(default_factory=EvidenceWeights)


class ModelPrice(_Strict):
    """US dollars per million tokens, as providers publish them."""

    input_per_1m: float = Field(ge=0)
    output_per_1m: float = Field(ge=0)
    # the Batch API's price ([llm] mode = "batch"); None: half the online price, OpenAI's
    # published batch discount. Here, not on LLMConfig, so every report of a Usage (a build's
    # merged shards included) prices batch tokens from `prices` alone
    batch_input_per_1m: float | None = Field(None, ge=0)
    batch_output_per_1m: float | None = Field(None, ge=0)

    def batch_rates(self) -> tuple[float, float]:
        """(input, output) per million tokens sent through the Batch API."""
        i, o = self.batch_input_per_1m, self.batch_output_per_1m
        return (
            self.input_per_1m / 2 if i is None else i,
            self.output_per_1m / 2 if o is None else o,
        )


class LLMBatchConfig(_Strict):
    """The OpenAI Batch API ([llm] mode = "batch", kgsynth.llm.batch): each step's requests
    go out as one JSONL file and come back within the completion window."""

    # the wait between status polls starts here and grows by half each poll up to the cap:
    # quick for a small batch, a few requests an hour for one that takes the whole window
    poll_s: float = Field(10.0, gt=0)
    poll_max_s: float = Field(300.0, gt=0)
    completion_window: str = Field("24h", pattern=r"^[1-9][0-9]*h$")  # OpenAI takes "24h"
    # failed lines (5xx, 429, batch_expired, a reply that is no completion) go out again in
    # a new batch this many times; after that they are failures, as online ones after retries
    max_resubmits: int = Field(1, ge=0)
    # longest this process waits for one batch: the window plus time to finalise; a batch
    # still running then is kept on record, so the next run polls it instead of resubmitting
    max_wait_s: float = Field(26 * 3600.0, gt=0)
    # one batch file holds at most this many lines and bytes (OpenAI's limits: 50,000 lines,
    # 200 MB); a step with more requests goes out as several batches, polled side by side
    max_lines: int = Field(50_000, ge=1, le=50_000)
    max_bytes: int = Field(190_000_000, ge=10_000, le=200_000_000)


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
    # rows without a usable LLM reply (rejects at stage llm, and unparseable thinking paths)
    # per input row above which a run fails before it writes a thinned dataset
    max_failure_ratio: float = Field(0.05, ge=0.0, le=1.0)
    # "online": concurrent chat completions; "batch": each step's misses go through the
    # Batch API (half the price, replies within the completion window; see LLMBatchConfig)
    mode: Literal["online", "batch"] = "online"
    batch: LLMBatchConfig = Field(default_factory=LLMBatchConfig)

    @field_serializer("base_url")
    def _base_url_out(self, url: str | None, info: SerializationInfo) -> str | None:
        return _url_out(url, info)


class LikelihoodVerifierConfig(_Strict):
    """The likelihood verifier (kgsynth.verify.likelihood): runs when model_path is set."""

    # a local Hugging Face causal-LM folder (nothing is downloaded); only `load` reads it
    model_path: Path | None = None
    dtype: Literal["auto", "fp32", "bf16", "fp16"] = "auto"  # auto: bf16 on CUDA, fp32 on CPU
    device: Literal["auto", "cpu", "cuda"] = "auto"  # auto: CUDA when available
    margin: float = Field(0.0, ge=0.0)  # gold score minus best other score must reach this
    score: ScoreKind = "both"  # both: mean of the letter and text per-token log-probs
    # padded tokens per forward (see lm_batches); auto: from free memory and the model's shape
    max_batch_tokens: int | Literal["auto"] = "auto"
    batch_size: int | None = Field(None, ge=1)  # cap on rows per batch (None: budget only)
    memory_fraction: float = Field(0.5, gt=0.0, le=0.95)  # of free memory, for "auto"
    padding_side: Literal["left", "right"] = "left"
    longest_first: bool = True
    attn_implementation: str | None = "sdpa"
    # torch.compile the model (dynamic shapes): fuses the elementwise work between GEMMs,
    # which pays on a GPU; the first batches then take tens of seconds to compile
    compile: bool = False


class ClaimCheckConfig(_Strict):
    """Claim-level KG faithfulness (kgsynth.verify.claims)."""

    enabled: bool = True
    max_hops: int = Field(2, ge=1, le=6)
    max_intermediate_degree: int | None = Field(1000, ge=1)  # None: any hub may connect
    max_unsupported_ratio: float = Field(0.2, ge=0.0, le=1.0)  # unsupported / claims
    include_conclusion: bool = False


class FreeTextMatchConfig(_Strict):
    """How answer_match reads rows without options (free-text answers). Rows with options
    are matched by letter; "rule" is normalised-text containment, "embedding" the cosine of
    a local sentence-embedding model, "judge" an LLM judge through the OpenAI client."""

    method: Literal["rule", "embedding", "judge"] = "rule"
    model_path: Path | None = None  # embedding: a local Hugging Face encoder folder
    device: Literal["auto", "cpu", "cuda"] = "auto"
    threshold: float = Field(0.85, ge=-1.0, le=1.0)  # embedding: min cosine to gold
    batch_size: int = Field(64, ge=1)


class VerifyConfig(_Strict):
    kg_faithful: bool = True
    answer_match: bool = True
    no_leakage: bool = True
    free_text: FreeTextMatchConfig = Field(default_factory=FreeTextMatchConfig)
    claims: ClaimCheckConfig = Field(default_factory=ClaimCheckConfig)
    likelihood: LikelihoodVerifierConfig = Field(default_factory=LikelihoodVerifierConfig)
    # settings of registered checks beyond kgsynth's own, by check name ([verify.checks.NAME]),
    # each validated by the settings model its registration names (kgsynth.verify.registry)
    checks: dict[str, dict[str, Any]] = Field(default_factory=dict)


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


class DedupConfig(_Strict):
    """Duplicate questions across the input files, dropped before linking (first one kept).

    Exact: the same normalised text (NFKC, lower case, punctuation and spacing folded) of the
    question and its sorted options. Near: MinHash + LSH over word shingles of that text,
    each candidate confirmed by its exact shingle Jaccard.
    """

    enabled: bool = True
    near: bool = True  # off: exact duplicates only
    # Jaccard of word 3-shingles at or above which two questions are one. A one-word edit
    # of a 100-word vignette scores ~0.94; the same vignette asking another question with
    # other options 0.75-0.85 (MedQA's closest pair: 0.75), and a one-word edit of a short
    # question, which may change its meaning, ~0.7-0.8: 0.9 merges the first only
    threshold: float = Field(0.9, gt=0.0, le=1.0)
    ngram: int = Field(3, ge=1, le=10)  # words per shingle
    include_options: bool = True  # the options are part of the question
    num_perm: int = Field(128, ge=16, le=1024)  # MinHash permutations
    seed: int = 1


DecontamMethod = Literal["ngram", "minhash", "kg"]


class DecontamConfig(_Strict):
    """Benchmark contamination (kgsynth.decontam): rows that overlap a benchmark item leave
    at stage `decontam`, after linking and evidence and before any text is generated.

    Each benchmark file (any QA layout kgsynth reads) is indexed once per content, KG and
    settings (cached under <cache_dir>/decontam/). A row is checked by
    - ngram: word n-grams of its normalised question + options shared with one item, as a
      share of the row's n-grams (n-grams in many benchmark items are boilerplate, ignored);
    - minhash: Jaccard of word shingles (boilerplate ones left out) with one item, found by
      MinHash + LSH and confirmed exactly; the same normalised text scores 1.0;
    - kg: the same answer entity as an item and at least `kg_min_shared` of the same
      present question findings (all of the row's, when it has fewer).
    """

    # on when benchmark files are named; `enabled = false` turns it off while they stay listed
    enabled: bool = True
    against: list[Path] = Field(default_factory=list)  # benchmark QA files
    methods: list[DecontamMethod] = Field(default_factory=lambda: ["ngram", "minhash", "kg"])
    ngram: int = Field(13, ge=5, le=50)  # words per n-gram
    # share of the row's n-grams found in one item at or above which the row is flagged: a
    # perturbed copy of a MedQA question (10 % of words replaced, a sentence dropped) keeps
    # ~30 %; two different ones sharing stock phrases or a lab panel ("... which of the
    # following is the most likely cause of this patient's ...") up to ~14 %
    ngram_min_share: float = Field(0.15, gt=0.0, le=1.0)
    shingle: int = Field(3, ge=1, le=10)  # words per MinHash shingle
    # Jaccard at or above which a row is a near duplicate of an item: a perturbed copy of a
    # MedQA question scores 0.33 or more (median 0.53), two different ones rarely over 0.1
    minhash_threshold: float = Field(0.3, gt=0.0, le=1.0)
    num_perm: int = Field(128, ge=16, le=1024)  # MinHash bins (one-permutation MinHash)
    seed: int = 1
    # LSH candidates per row and benchmark confirmed by their exact Jaccard (best first)
    minhash_confirm: int = Field(3, ge=1)
    kg_min_shared: int = Field(2, ge=1)  # present question findings shared with an item
    # an n-gram or shingle in more than max(boilerplate_min_items, boilerplate_fraction *
    # items) benchmark items is template text, ignored on both sides
    boilerplate_fraction: float = Field(0.01, gt=0.0, le=1.0)
    boilerplate_min_items: int = Field(10, ge=1)

    @property
    def active(self) -> bool:
        """Whether the stage checks anything (on, with benchmark files named)."""
        return self.enabled and bool(self.against) and bool(self.methods)

    @field_validator("against", mode="before")
    @classmethod
    def _one_or_many(cls, v: Any) -> Any:
        return [v] if isinstance(v, (str, Path)) else v

    @field_validator("against")
    @classmethod
    def _each_once(cls, v: list[Path]) -> list[Path]:
        return list(dict.fromkeys(v))

    @field_validator("methods")
    @classmethod
    def _distinct(cls, v: list[str]) -> list[str]:
        return list(dict.fromkeys(v))


class RunConfig(_Strict):
    """How a build's work is split and where it runs (kgsynth/runs.py, flows/build.py)."""

    shard_size: int | None = Field(128, ge=1)  # QA rows per shard task; None: one shard
    # local: shards one after another in this process; dask: on Dask worker processes
    task_runner: Literal["local", "dask"] = "local"
    dask_address: str | None = None  # an existing Dask scheduler, e.g. tcp://host:8786
    n_workers: int = Field(2, ge=1)  # worker processes of the LocalCluster (no address)
    threads_per_worker: int = Field(1, ge=1)  # the stages are CPU-bound Python: keep 1
    # persist each shard's result keyed by its rows, config, KG and code: a re-run (after a
    # crash, say) takes finished shards from disk and redoes only the rest
    cache_results: bool = True
    result_dir: Path | None = None  # None: <cache_dir>/prefect-results
    retries: int = Field(1, ge=0)  # per shard; config errors are never retried
    retry_delay_s: float = Field(2.0, ge=0)

    @model_validator(mode="after")
    def _address_means_dask(self) -> RunConfig:
        if self.dask_address and self.task_runner != "dask":
            raise ValueError("dask_address is set: task_runner must be 'dask'")
        return self

    @field_serializer("dask_address")
    def _dask_address_out(self, url: str | None, info: SerializationInfo) -> str | None:
        return _url_out(url, info)


class BuildConfig(_Strict):
    qa: list[Path] = Field(default_factory=list)  # empty: the team's sample (DEFAULT_SAMPLE_QA)
    kg: str = "hpo"
    out: Path = Path("out")
    # replace an existing kgsynth dataset at `out`; never a folder holding other files
    overwrite: bool = False
    # KG and alias-index caches, shared by builds; validate_default so "~" is expanded here
    # too (polars expands "~" itself while os.mkdir does not: two different folders)
    cache_dir: CacheDir = Field(DEFAULT_CACHE_DIR, validate_default=True)
    generator: Literal["offline", "openai"] = "offline"
    limit: int | None = Field(None, ge=1)  # only the first N QA rows, for quick runs
    linking: LinkingConfig = Field(default_factory=LinkingConfig)
    evidence: EvidenceConfig = Field(default_factory=EvidenceConfig)
    paths: PathsConfig = Field(default_factory=PathsConfig)
    llm: LLMConfig = Field(default_factory=LLMConfig)
    verify: VerifyConfig = Field(default_factory=VerifyConfig)
    chain: ChainConfig = Field(default_factory=ChainConfig)
    dedup: DedupConfig = Field(default_factory=DedupConfig)
    decontam: DecontamConfig = Field(default_factory=DecontamConfig)
    run: RunConfig = Field(default_factory=RunConfig)

    def qa_files(self) -> list[Path]:
        return list(self.qa) or [DEFAULT_SAMPLE_QA]

    @model_validator(mode="after")
    def _margin_check_follows_evidence(self) -> BuildConfig:
        # the evidence_margin check re-judges the evidence: a build that lowers its clue
        # floor or changes its common findings must not have its own rows refused by the
        # check's defaults
        ev, default = self.evidence, EvidenceConfig()
        raw = dict(self.verify.checks.get("evidence_margin", {}))
        for key in ("min_clue_weight", "common_findings"):
            if getattr(ev, key) != getattr(default, key) and key not in raw:
                raw[key] = getattr(ev, key)
        if raw:
            self.verify.checks["evidence_margin"] = raw
        return self

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


def load_config(
    file: Path | None = None,
    overrides: dict[str, Any] | None = None,
    base: dict[str, Any] | None = None,
) -> BuildConfig:
    """`base` (e.g. a dataset's recorded build config), then the file's values, then flag
    overrides (None values are ignored); validated once."""
    data: dict[str, Any] = _merge(base or {}, read_config_file(file) if file else {})
    if overrides:
        data = _merge(data, drop_none(overrides))
    try:
        return BuildConfig.model_validate(data)
    except ValidationError as e:
        src = str(file) if file else "flags"
        lines = [f"  {'.'.join(str(p) for p in err['loc'])}: {err['msg']}" for err in e.errors()]
        raise ConfigError(f"invalid build config ({src}):\n" + "\n".join(lines)) from e


def drop_none(d: dict[str, Any]) -> dict[str, Any]:
    """`d` without its None values, at any depth; tables left empty are dropped too."""
    out: dict[str, Any] = {}
    for k, v in d.items():
        if isinstance(v, dict):
            sub = drop_none(v)
            if sub:
                out[k] = sub
        elif v is not None:
            out[k] = v
    return out
