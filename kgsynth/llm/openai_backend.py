"""Thinking paths from any OpenAI-compatible endpoint (OpenAI, Azure, vLLM, Ollama, ...).

Requests run concurrently up to `llm.concurrency`; retries with backoff on 429/5xx/timeouts
are the openai client's own (`llm.max_retries`). The API key is read from the environment
variable named in config and never logged or stored.
"""

from __future__ import annotations

import logging
import os
from concurrent.futures import ThreadPoolExecutor

import openai

from kgsynth.config import LLMConfig
from kgsynth.errors import ConfigError
from kgsynth.llm.prompts import THINKING_PATH, template
from kgsynth.llm.sections import split_sections
from kgsynth.paths.format import format_path
from kgsynth.progress import progress
from kgsynth.records import Generation, PathedQA, Reject

log = logging.getLogger(__name__)


def render_prompt(item: PathedQA) -> str:
    qa = item.linked.qa
    return template(THINKING_PATH).render(
        question=qa.question,
        options=qa.options,
        answer=qa.answer,
        paths=[format_path(p) for p in item.paths],
    )


def _reply(resp: object) -> tuple[str, str | None]:
    """(text, model) of a chat completion. Whatever else a server sent back (plain text, a
    list, a choice without a message, content that is not a string) gives ("", None), so a
    broken reply rejects its row instead of crashing the whole generate stage."""
    choices = getattr(resp, "choices", None)
    first = choices[0] if isinstance(choices, list) and choices else None
    content = getattr(getattr(first, "message", None), "content", None)
    model = getattr(resp, "model", None)
    text = content.strip() if isinstance(content, str) else ""
    return text, model if isinstance(model, str) and model else None


class OpenAIGenerator:
    name = "openai"
    prompt_version = THINKING_PATH

    def __init__(self, cfg: LLMConfig) -> None:
        key = os.environ.get(cfg.api_key_env)
        if not key:
            raise ConfigError(
                f"llm.api_key_env: environment variable {cfg.api_key_env} is not set "
                f"(it must hold the API key for the endpoint)"
            )
        self.cfg = cfg
        self.model = cfg.model
        self.client = openai.OpenAI(
            base_url=cfg.base_url, api_key=key, timeout=cfg.timeout_s, max_retries=cfg.max_retries
        )

    def _one(self, item: PathedQA) -> Generation | Reject:
        qa = item.linked.qa
        prompt = render_prompt(item)
        try:
            resp = self.client.chat.completions.create(
                model=self.cfg.model,
                messages=[{"role": "user", "content": prompt}],
                temperature=self.cfg.temperature,
                max_tokens=self.cfg.max_tokens,
                seed=self.cfg.seed,
            )
        except openai.OpenAIError as e:
            status = getattr(e, "status_code", None)
            detail = f"{type(e).__name__}" + (f" (HTTP {status})" if status else "")
            log.warning("LLM request for %s failed: %s", qa.id, detail)
            return Reject(id=qa.id, stage="generate", reason="llm_error", detail=detail)
        except ValueError as e:  # HTTP 200 with a body that is not JSON: one row, not the build
            log.warning("LLM response for %s is not JSON: %s", qa.id, type(e).__name__)
            return Reject(
                id=qa.id,
                stage="generate",
                reason="unparseable_response",
                detail=f"response body is not valid JSON ({type(e).__name__})",
            )
        text, served_model = _reply(resp)
        parts = split_sections(text)
        if parts is None:
            excerpt = " ".join(text.split())[:160]
            return Reject(
                id=qa.id,
                stage="generate",
                reason="unparseable_response",
                detail=f"response lacks the three sections: '{excerpt}'",
            )
        return Generation(
            reasoning=text,
            conclusion=parts[2],
            generator=self.name,
            model=served_model or self.cfg.model,
            prompt_version=self.prompt_version,
        )

    def generate(self, items: list[PathedQA]) -> list[Generation | Reject]:
        if not items:
            return []
        done = 0
        results: list[Generation | Reject] = []
        with ThreadPoolExecutor(max_workers=self.cfg.concurrency) as pool:
            for res in pool.map(self._one, items):  # map keeps input order
                results.append(res)
                done += 1
                progress.advance("generate", done)
        return results
