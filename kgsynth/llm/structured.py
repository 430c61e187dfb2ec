"""Curator-style LLM blocks with JSON replies: a prompt in, a validated pydantic model out.

A block (any object with `name`, `version` and `reply`, e.g. kgsynth.llm.blocks.PromptBlock)
names its versioned prompt and the pydantic model its reply must fit. `StructuredRunner`
sends one request per prompt through `LLMClient` (so caching, limits and retries happen
there), parses each reply as JSON (tolerating ```json fences and chatter around one JSON
value), validates it, and gives a reply that fails one repair request: the error and the
raw text go back, asking for valid JSON of the schema. What still fails becomes a
`StepFailure` holding the raw text and the reason (`invalid_json` / `schema_mismatch`), or
`llm_error` when no reply came at all.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal, Protocol, TypeVar

from pydantic import BaseModel, ValidationError

from kgsynth.llm.client import LLMClient, Request
from kgsynth.records import Reject

R = TypeVar("R", bound=BaseModel)
JsonMode = Literal["json_schema", "json_object", "prompt"]

MAX_RAW_IN_REJECT = 4000  # characters of a bad reply kept in the reject row's detail


class Block(Protocol[R]):
    name: str  # usage is counted under this name
    version: str  # prompt version: part of the cache key
    reply: type[R]


class RunsBlocks(Protocol):
    """What the chain and the verifiers need of a runner: `StructuredRunner`, or a test's
    scripted stand-in."""

    def run(self, block: Block[R], prompts: Sequence[str]) -> list[R | StepFailure]:
        """One result per prompt, in order."""
        ...


@dataclass(frozen=True)
class StepFailure:
    reason: str  # "llm_error", "invalid_json" or "schema_mismatch"
    detail: str = ""
    raw: str = ""  # the reply text that failed ("" when there was none)

    def to_reject(self, id: str | None, stage: str) -> Reject:  # noqa: A002 - record field
        """A reject row: the reason, and the raw reply after the error so it can be read."""
        detail = self.detail
        if self.raw:
            detail += f" | raw reply: {self.raw[:MAX_RAW_IN_REJECT]}"
        return Reject(id=id, stage=stage, reason=self.reason, detail=detail)


def _json_text(text: str) -> str:
    """The JSON part of a reply: inside a ``` fence if there is one, else from the first
    brace or bracket on."""
    t = text.strip()
    if "```" in t:
        inner = t.split("```", 2)[1]
        t = inner.split("\n", 1)[1] if inner.lower().startswith("json") else inner
        t = t.strip()
    starts = [i for i in (t.find("{"), t.find("[")) if i >= 0]
    return t[min(starts) :] if starts else t


def parse_reply(text: str, model: type[R]) -> R | StepFailure:
    """Validate one reply against `model`: invalid_json when no JSON value can be read,
    schema_mismatch when the value does not fit the model."""
    body = _json_text(text)
    try:
        value, _ = json.JSONDecoder().raw_decode(body)  # chatter after the JSON is ignored
    except ValueError as e:
        return StepFailure("invalid_json", f"not valid JSON: {e}", text)
    try:
        return model.model_validate(value)
    except ValidationError as e:
        errs = "; ".join(
            f"{'.'.join(map(str, err['loc'])) or '(root)'}: {err['msg']}" for err in e.errors()
        )
        return StepFailure("schema_mismatch", f"does not fit {model.__name__}: {errs}", text)


def schema_of(model: type[BaseModel]) -> dict[str, Any]:
    return model.model_json_schema()


def response_format(block: Block[Any], mode: JsonMode) -> dict[str, Any] | None:
    if mode == "json_schema":
        # strict=False: pydantic schemas have optional fields and defaults, which OpenAI's
        # strict mode rejects; the reply is validated here anyway
        spec = {"name": block.name, "schema": schema_of(block.reply), "strict": False}
        return {"type": "json_schema", "json_schema": spec}
    if mode == "json_object":
        return {"type": "json_object"}
    return None


def _instructions(model: type[BaseModel]) -> str:
    schema = json.dumps(schema_of(model), separators=(",", ":"))
    return (
        "Reply with one JSON object only (no prose, no code fence) that is valid against "
        f"this JSON Schema: {schema}"
    )


class StructuredRunner:
    """Runs blocks through one client: `run(block, prompts)` -> one model or StepFailure
    per prompt, in order."""

    def __init__(self, client: LLMClient, json_mode: JsonMode | None = None) -> None:
        self.client = client
        self.json_mode: JsonMode = json_mode or client.cfg.json_mode

    def request(self, block: Block[Any], prompt: str, tag: str = "") -> Request:
        messages = [{"role": "user", "content": prompt}]
        if self.json_mode != "json_schema":  # without a schema on the wire, say it in words
            messages.insert(0, {"role": "system", "content": _instructions(block.reply)})
        return Request(
            messages=messages,
            step=block.name,
            prompt_version=block.version,
            response_format=response_format(block, self.json_mode),
            tag=tag,
        )

    def repair_request(self, first: Request, failure: StepFailure, block: Block[Any]) -> Request:
        ask = (
            f"That reply could not be used: {failure.detail}\n"
            f"{_instructions(block.reply)}\nReply again with the corrected JSON only."
        )
        messages = [
            *first.messages,
            {"role": "assistant", "content": failure.raw},
            {"role": "user", "content": ask},
        ]
        return Request(
            messages=messages,
            step=f"{block.name}.repair",
            prompt_version=first.prompt_version,
            response_format=first.response_format,
            tag=first.tag,
        )

    def run(
        self, block: Block[R], prompts: Sequence[str], tags: Sequence[str] | None = None
    ) -> list[R | StepFailure]:
        tags = list(tags) if tags is not None else [""] * len(prompts)
        reqs = [self.request(block, p, t) for p, t in zip(prompts, tags, strict=True)]
        out: list[R | StepFailure] = []
        to_repair: list[tuple[int, StepFailure]] = []
        for i, res in enumerate(self.client.run_batch(reqs)):
            if res.error is not None or res.text is None:
                out.append(StepFailure("llm_error", f"{res.error}: {res.detail}"))
                continue
            parsed = parse_reply(res.text, block.reply)
            out.append(parsed)
            if isinstance(parsed, StepFailure):
                to_repair.append((i, parsed))
        if not to_repair:
            return out
        repairs = [self.repair_request(reqs[i], f, block) for i, f in to_repair]
        for (i, first), res in zip(to_repair, self.client.run_batch(repairs), strict=True):
            if res.error is not None or res.text is None:  # keep the first failure and its text
                detail = f"{first.detail} (repair request: {res.error})"
                out[i] = StepFailure(first.reason, detail, first.raw)
                continue
            again = parse_reply(res.text, block.reply)
            if isinstance(again, StepFailure):
                again = StepFailure(again.reason, f"after one repair: {again.detail}", again.raw)
            out[i] = again
        return out
