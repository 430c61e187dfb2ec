"""Thinking paths from any OpenAI-compatible endpoint (OpenAI, Azure, vLLM, Ollama, ...).

One request per item through `LLMClient` (kgsynth/llm/client.py): concurrency, RPM/TPM
limits, retries with backoff on 429/5xx/timeouts/dropped connections, and the persistent
response cache under the build's cache dir (a re-run sends nothing, a killed build resumes).
The API key is read from the environment variable named in config and never logged or stored.

The prompt (thinking_path.v5) is a differential: the findings (present ones and pertinent
negatives), every option's KG evidence for and against it, and the row's kept paths.

A reply that is empty or lacks the three sections gets one repair request (the reply goes
back, asking for the sections), as the JSON steps do; only a reply with all three sections
is cached. A row the endpoint gave no reply for leaves at stage `llm`; one whose reply is
still unusable after the repair at `generate` (unparseable_response).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from kgsynth.config import LLMConfig
from kgsynth.llm.client import LLMClient, Request, Result
from kgsynth.llm.prompts import THINKING_PATH, template
from kgsynth.paths.format import format_path
from kgsynth.progress import progress
from kgsynth.records import Generation, PathedQA, Reject
from kgsynth.sections import split_sections

_HISTORY = {"family": "family history of {}", "historical": "past history of {}"}
REPAIR_ASK = (
    "That reply could not be used: {why}. Write your answer again, complete, in the three "
    'sections, each header on a line of its own: "Finding reasoning paths:", '
    '"Reasoning Process:" and "Conclusion:" (the conclusion must not be empty).'
)


def has_sections(text: str) -> bool:
    """Whether a thinking-path reply is usable (and so may be cached)."""
    return split_sections(text) is not None


def prompt_findings(item: PathedQA) -> tuple[list[str], list[str]]:
    """(present findings, most specific first; pertinent negatives and history, as phrases
    such as "no Fever" or "family history of Deafness"), each finding once. Specificity is
    the heaviest weight the evidence gives a finding; ties keep the question's order."""
    weights: dict[str, float] = {}
    if item.evidence is not None:
        for o in item.evidence.options:
            for s in (*o.supports, *o.contradictions):
                weights[s.finding_id] = max(weights.get(s.finding_id, 0.0), s.weight)
    present: list[tuple[float, int, str]] = []
    other: list[str] = []
    seen: set[str] = set()
    for i, e in enumerate(item.linked.question_entities):
        if e.kg_id in seen:
            continue
        seen.add(e.kg_id)
        if e.assertion == "present":
            present.append((-weights.get(e.kg_id, 0.0), i, e.name))
        elif e.assertion == "absent":
            other.append(f"no {e.name}")
        elif e.assertion in _HISTORY:
            other.append(_HISTORY[e.assertion].format(e.name))
    return [name for *_, name in sorted(present)], other


def prompt_evidence(item: PathedQA) -> list[dict[str, Any]]:
    """Per option, in the question's order: its supports and contradictions (finding name and
    the path written as in the paths list) and whether it is a KG concept at all."""
    ev = item.evidence
    if ev is None:
        return []
    texts = item.linked.qa.options
    by_letter = {o.letter: o for o in ev.options}
    letters = list(texts) or [o.letter for o in ev.options]
    out: list[dict[str, Any]] = []
    for letter in letters:
        o = by_letter.get(letter)
        if o is None:
            out.append(
                {
                    "letter": letter,
                    "text": texts[letter],
                    "linked": False,
                    "score": None,
                    "supports": [],
                    "contradictions": [],
                    "unmatched": [],
                }
            )
            continue
        out.append(
            {
                "letter": letter,
                "text": texts.get(letter, o.text),
                "linked": bool(o.kg_ids),
                "score": round(o.score, 2),
                "supports": [
                    {"finding": s.finding_name, "path": format_path(s.path)} for s in o.supports
                ],
                "contradictions": [
                    {"finding": s.finding_name, "path": format_path(s.path)}
                    for s in o.contradictions
                ],
                "unmatched": [{"relation": f.relation, "name": f.name} for f in o.unmatched],
            }
        )
    return out


def render_prompt(item: PathedQA) -> str:
    """The thinking-path prompt: the question, its findings, every option's evidence and the
    kept paths. The gold answer is not shown: the model decides, and the checks then require
    its conclusion to match gold."""
    qa = item.linked.qa
    findings, negatives = prompt_findings(item)
    return template(THINKING_PATH).render(
        question=qa.question,
        options=qa.options,
        findings=findings,
        negatives=negatives,
        evidence=prompt_evidence(item),
        paths=[format_path(p) for p in item.paths],
    )


class OpenAIGenerator:
    name = "openai"
    prompt_version = THINKING_PATH

    def __init__(
        self, cfg: LLMConfig, cache_dir: Path | None = None, client: LLMClient | None = None
    ) -> None:
        self.cfg = cfg
        self.model = cfg.model
        # one client per build when given, so every chain step shares its limits and usage
        self.client = client or LLMClient(cfg, cache_dir=cache_dir)  # raises without a key

    def request(self, item: PathedQA) -> Request:
        return Request.user(
            render_prompt(item),
            step="thinking_path",
            prompt_version=self.prompt_version,
            tag=item.linked.qa.id,
            accept=has_sections,
        )

    def repair_request(self, first: Request, raw: str) -> Request:
        """The conversation so far and one more ask: the reply again, in the sections."""
        why = "it was empty" if not raw.strip() else "it lacks the three sections"
        return first.repair(raw, REPAIR_ASK.format(why=why))

    def _row(self, item: PathedQA, res: Result, repaired: bool) -> Generation | Reject:
        qa_id = item.linked.qa.id
        if res.error is not None or res.text is None:
            # no reply at all: an LLM failure, not the writer's verdict on the row
            step = "thinking_path repair request" if repaired else "thinking_path"
            reason = res.error or "llm_error"
            return Reject(id=qa_id, stage="llm", reason=reason, detail=f"{step}: {res.detail}")
        text = res.text
        parts = split_sections(text)
        if parts is None:
            excerpt = " ".join(text.split())[:160]
            after = " after one repair" if repaired else ""
            return Reject(
                id=qa_id,
                stage="generate",
                reason="unparseable_response",
                detail=f"response lacks the three sections{after}: '{excerpt}'",
            )
        return Generation(
            reasoning=text,
            conclusion=parts[2],
            generator=self.name,
            model=res.model or self.cfg.model,
            prompt_version=self.prompt_version,
        )

    def generate(self, items: list[PathedQA]) -> list[Generation | Reject]:
        if not items:
            return []
        reqs = [self.request(it) for it in items]
        results = self.client.run_batch(
            reqs, progress=lambda done, _total: progress.advance("generate", done)
        )
        bad = [i for i, r in enumerate(results) if r.text is not None and not has_sections(r.text)]
        if bad:
            repairs = [self.repair_request(reqs[i], results[i].text or "") for i in bad]
            for i, res in zip(bad, self.client.run_batch(repairs), strict=True):
                if res.text is not None and has_sections(res.text):
                    self.client.remember(reqs[i], res)  # a re-run needs no repair
                results[i] = res
        fixed = set(bad)
        return [
            self._row(it, res, i in fixed)
            for i, (it, res) in enumerate(zip(items, results, strict=True))
        ]

    def usage_report(self) -> dict[str, Any]:
        return self.client.usage_report()
