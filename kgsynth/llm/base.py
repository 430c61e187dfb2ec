"""One interface for every thinking-path writer; the config picks which."""

from __future__ import annotations

from typing import Protocol

from kgsynth.config import BuildConfig
from kgsynth.records import Generation, PathedQA, Reject


class Generator(Protocol):
    name: str
    model: str
    prompt_version: str

    def generate(self, items: list[PathedQA]) -> list[Generation | Reject]:
        """One result per item, in order: a Generation, or a Reject saying why not."""
        ...


def make_generator(cfg: BuildConfig) -> Generator:
    if cfg.generator == "openai":
        from kgsynth.llm.openai_backend import OpenAIGenerator

        return OpenAIGenerator(cfg.llm)
    from kgsynth.llm.offline import OfflineGenerator

    return OfflineGenerator()
