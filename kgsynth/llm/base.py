"""One interface for every thinking-path writer; the config picks which."""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

from kgsynth.config import BuildConfig
from kgsynth.records import Generation, PathedQA, Reject

if TYPE_CHECKING:
    from kgsynth.llm.client import LLMClient


class Generator(Protocol):
    name: str
    model: str
    prompt_version: str

    def generate(self, items: list[PathedQA]) -> list[Generation | Reject]:
        """One result per item, in order: a Generation, or a Reject saying why not."""
        ...


def make_generator(cfg: BuildConfig, client: LLMClient | None = None) -> Generator:
    if cfg.generator == "openai":
        from kgsynth.llm.openai_backend import OpenAIGenerator

        return OpenAIGenerator(cfg.llm, cache_dir=cfg.cache_dir, client=client)
    from kgsynth.writer.offline import OfflineWriter

    return OfflineWriter()
