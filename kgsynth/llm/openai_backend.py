"""Thinking paths from any OpenAI-compatible endpoint (OpenAI, Azure, vLLM, Ollama, ...).

One request per item through `LLMClient` (kgsynth/llm/client.py): concurrency, RPM/TPM
limits, retries with backoff on 429/5xx/timeouts/dropped connections, and the persistent
response cache under the build's cache dir (a re-run sends nothing, a killed build resumes).
The API key is read from the environment variable named in config and never logged or stored.
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


def render_prompt(item: PathedQA) -> str:
    qa = item.linked.qa
    return template(THINKING_PATH).render(
        question=qa.question,
        options=qa.options,
        answer=qa.answer,
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
        )

    def _row(self, item: PathedQA, res: Result) -> Generation | Reject:
        qa_id = item.linked.qa.id
        if res.error is not None or res.text is None:
            reason = res.error or "llm_error"
            return Reject(id=qa_id, stage="generate", reason=reason, detail=res.detail)
        text = res.text
        parts = split_sections(text)
        if parts is None:
            excerpt = " ".join(text.split())[:160]
            return Reject(
                id=qa_id,
                stage="generate",
                reason="unparseable_response",
                detail=f"response lacks the three sections: '{excerpt}'",
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
        results = self.client.run_batch(
            [self.request(it) for it in items],
            progress=lambda done, _total: progress.advance("generate", done),
        )
        return [self._row(it, res) for it, res in zip(items, results, strict=True)]

    def usage_report(self) -> dict[str, Any]:
        return self.client.usage_report()
