"""Typed records that flow between the pipeline stages.

A row's journey reads top to bottom: QARecord -> LinkedQA -> PathedQA -> GeneratedQA ->
VerifiedQA -> (exported row or Reject). Each stage adds one thing and never mutates the
record it was given.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

ScoreKind = Literal["letter", "text", "both"]


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class QARecord(_Frozen):
    """One question-answer pair, normalised from any supported source layout."""

    id: str
    source: str  # e.g. "medqa", "medmcqa", "pubmedqa", "mmlu", "kg"
    question: str
    options: dict[str, str] = Field(default_factory=dict)  # letter -> option text
    answer: str  # answer text
    answer_idx: str | None = None  # answer letter, when the row has options
    meta: dict[str, str] = Field(default_factory=dict)


class Reject(_Frozen):
    """A row that left the pipeline, with where it came from and why."""

    id: str | None
    stage: str  # "input", "link", "paths", "generate", "verify"
    reason: str  # short machine-friendly code, e.g. "missing_answer"
    detail: str = ""  # human-readable message
    source_file: str | None = None
    line: int | None = None


Assertion = Literal["present", "absent", "family", "historical", "hypothetical"]


class EntityLink(_Frozen):
    """A mention in text linked to a KG node, with what the text asserts about it: present
    (the patient has it), absent (denied or negated), family (a relative has it),
    historical (in the past) or hypothetical (asked about, to rule out)."""

    kg_id: str
    name: str
    type: str
    mention: str
    start: int  # character offsets into the linked text
    end: int
    score: float
    method: str  # "exact", "normalised", "tfidf", "ner+tfidf", ...
    assertion: Assertion = "present"


class Hop(_Frozen):
    """One KG edge, oriented as stored in the KG (head -relation-> tail)."""

    head_id: str
    head_name: str
    relation: str
    tail_id: str
    tail_name: str


class KGPath(_Frozen):
    """A path from a question entity to an answer entity, as a list of hops.

    Hops are listed in walking order (from the question entity); each hop keeps the KG's own
    orientation, so a hop may be walked tail->head. `start_id`/`end_id` make that explicit.
    """

    start_id: str
    end_id: str
    hops: list[Hop]
    score: float  # lower is better: summed log-degree of intermediate nodes


class LinkedQA(_Frozen):
    qa: QARecord
    question_entities: list[EntityLink]
    answer_entities: list[EntityLink]
    # every option linked like the gold answer (letter -> links; [] when it did not link)
    option_entities: dict[str, list[EntityLink]] = Field(default_factory=dict)


class FindingSupport(_Frozen):
    """One question finding tied to an option through the KG."""

    finding_id: str
    finding_name: str
    assertion: Assertion  # "present" supports; an "absent" one the option predicts contradicts
    weight: float  # how specific the finding is (rare findings weigh more)
    path: KGPath  # finding -> option, the best such path


class OptionFact(_Frozen):
    """A KG fact of an option that the case does not show: a clinical feature it would
    usually bring (has_phenotype) or what it is used for (used_for)."""

    relation: str
    id: str
    name: str
    weight: float  # the feature's specificity


class OptionEvidence(_Frozen):
    """What the KG says for and against one option."""

    letter: str
    text: str
    kg_ids: list[str]  # the option's linked nodes ([] when it did not link)
    score: float  # sum of the supports' weights (by path length) less the contradictions'
    supports: list[FindingSupport] = Field(default_factory=list)
    contradictions: list[FindingSupport] = Field(default_factory=list)
    # what it would bring that the case does not show (kgsynth.evidence.features)
    unmatched: list[OptionFact] = Field(default_factory=list)


class EvidenceReport(_Frozen):
    """Per-option evidence and the ranking it gives (best first)."""

    options: list[OptionEvidence]
    ranking: list[str]  # option letters, best first
    best: str | None  # the top option (the conclusion the evidence leads to)
    gold: str | None
    margin: float | None  # gold's score minus the best other option's


class PathedQA(_Frozen):
    linked: LinkedQA
    paths: list[KGPath]
    n_paths_found: int  # total shortest paths counted before capping and ranking
    evidence: EvidenceReport | None = None  # per-option evidence (rows built from QA pairs)


class Generation(_Frozen):
    reasoning: str  # the whole text, three parts
    conclusion: str
    generator: str  # "offline" | "openai"
    model: str
    prompt_version: str


class GeneratedQA(_Frozen):
    pathed: PathedQA
    generation: Generation


class Checks(_Frozen):
    """Each check's verdict by name (True, False, or None when it did not run), in the order
    of the check registry (kgsynth.verify.registry), and the reasons of any that failed."""

    results: dict[str, bool | None] = Field(default_factory=dict)
    reasons: list[str] = Field(default_factory=list)

    def __getitem__(self, name: str) -> bool | None:
        return self.results.get(name)

    def with_results(self, reasons: list[str] | None = None, **verdicts: bool | None) -> Checks:
        """A copy with these verdicts set and these reasons added."""
        return Checks(results=self.results | verdicts, reasons=self.reasons + list(reasons or []))

    def failed(self) -> list[str]:
        """Names of the checks that failed, in registry order (the reject reason)."""
        return [k for k, v in self.results.items() if v is False]

    @property
    def passed(self) -> bool:
        return not self.failed()


class OptionScore(_Frozen):
    letter: str
    letter_logprob: float  # sum over the letter's tokens
    letter_tokens: int
    text_logprob: float  # sum over the text's tokens
    text_tokens: int
    text_mean: float  # text_logprob / text_tokens
    score: float  # the configured score (per-token means)


class OptionScores(_Frozen):
    """One row's verdict, with every option's scores (serialisable into the exported row)."""

    id: str
    options: list[OptionScore] = Field(default_factory=list)
    gold: str | None = None
    best: str | None = None  # top-scoring option
    rank: int | None = None  # gold's rank, 1 = first; ties count against gold
    margin: float | None = None  # gold score - best other score
    passed: bool
    skipped: str | None = None  # why the row was not scored ("no_options", "too_long", ...)
    score_kind: ScoreKind
    prompt_version: str  # of the scoring prompt (kgsynth.verify.lm_prompt)
    model: str = ""  # the scoring model's folder name


class ClaimReport(_Frozen):
    """Per-row counts (serialisable into the exported row)."""

    sentences: int
    claims: int  # sentences naming >= 2 KG entities
    supported: int
    unsupported: int
    unsupported_claims: list[str] = Field(default_factory=list)
    passed: bool

    @property
    def unsupported_ratio(self) -> float:
        return self.unsupported / self.claims if self.claims else 0.0


class AnswerMatch(_Frozen):
    """How answer_match was decided for a row (the evidence behind the boolean)."""

    method: Literal["letter", "rule", "embedding", "judge"]
    similarity: float | None = None  # embedding: best cosine of the conclusion vs gold
    judged: str | None = None  # judge: what was compared with gold


class VerifiedQA(_Frozen):
    generated: GeneratedQA
    checks: Checks
    # what the checks found, by row column (AnswerMatch, ClaimReport, OptionScores, ...)
    evidence: dict[str, Any] = Field(default_factory=dict)
