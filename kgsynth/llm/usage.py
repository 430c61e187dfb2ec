"""Token and cost accounting for one run, per step (thinking_path, judge, ...).

Only live responses cost money in this run; replies served from the cache are counted
separately (hits and the tokens they saved), so a fully cached re-run reports zero cost.
Tokens of replies that came through the Batch API ([llm] mode = "batch") are part of the
prompt/completion totals and also counted apart (`batch_*`), priced at the model's batch
rates (`ModelPrice.batch_rates`: half the online price unless the config says otherwise).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import Any, Protocol, runtime_checkable

from kgsynth.config import ModelPrice


@dataclass
class StepUsage:
    model: str
    requests: int = 0  # HTTP requests sent, retries included
    responses: int = 0  # successful replies received in this run
    retries: int = 0
    errors: int = 0  # items that ended without a reply (after retries)
    cache_hits: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cached_prompt_tokens: int = 0  # tokens the cache saved this run
    cached_completion_tokens: int = 0
    # of prompt_tokens / completion_tokens: those of Batch API replies (the batch price)
    batch_prompt_tokens: int = 0
    batch_completion_tokens: int = 0

    def cost(self, prices: dict[str, ModelPrice]) -> float | None:
        price = prices.get(self.model)
        if price is None:
            return None
        b_in, b_out = price.batch_rates()
        online_p = self.prompt_tokens - self.batch_prompt_tokens
        online_c = self.completion_tokens - self.batch_completion_tokens
        return (
            online_p * price.input_per_1m
            + online_c * price.output_per_1m
            + self.batch_prompt_tokens * b_in
            + self.batch_completion_tokens * b_out
        ) / 1e6


@dataclass
class Usage:
    steps: dict[str, StepUsage] = field(default_factory=dict)

    def step(self, name: str, model: str) -> StepUsage:
        su = self.steps.get(name)
        if su is None:
            su = self.steps[name] = StepUsage(model=model)
        return su

    def add(self, other: Usage) -> None:
        """Fold in another client's counts (the shards of one build each have a client)."""
        for name, su in other.steps.items():
            mine = self.step(name, su.model)
            for f in fields(StepUsage):
                if f.name != "model":
                    setattr(mine, f.name, getattr(mine, f.name) + getattr(su, f.name))

    def report(self, prices: dict[str, ModelPrice]) -> dict[str, Any]:
        """A JSON-ready summary for build.json and the dataset card."""
        steps: dict[str, Any] = {}
        total: dict[str, Any] = {}
        costs: list[float | None] = []
        for name, su in sorted(self.steps.items()):
            c = su.cost(prices)
            costs.append(c)
            steps[name] = asdict(su) | {"cost_usd": None if c is None else round(c, 6)}
            for k, v in asdict(su).items():
                if isinstance(v, int):
                    total[k] = total.get(k, 0) + v
        # a total cost only when every step has a price: a partial sum would mislead
        if any(c is None for c in costs):
            total["cost_usd"] = None
        else:
            total["cost_usd"] = round(sum(c for c in costs if c is not None), 6)
        models = sorted({su.model for su in self.steps.values()})
        return {
            "steps": steps,
            "total": total,
            # batch rates only where set (the default, half the price, is said in the docs)
            "prices": {m: prices[m].model_dump(exclude_none=True) for m in models if m in prices},
        }


@runtime_checkable
class ReportsUsage(Protocol):
    """A generator that talked to an LLM and can say what it cost."""

    def usage_report(self) -> dict[str, Any]: ...
