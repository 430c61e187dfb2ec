"""Curator-style LLM blocks with JSON replies: a prompt in, a validated pydantic model out.

A block (any object with `name`, `version` and `reply`, e.g. kgsynth.llm.blocks.PromptBlock)
names its versioned prompt and the pydantic model its reply must fit. `StructuredRunner`
sends one request per prompt through `LLMClient` (so caching, limits and retries happen
there), parses each reply as JSON (tolerating ```json fences and chatter around one JSON
value), validates it, and gives a reply that fails one repair request: the error and the
raw text go back, asking for valid JSON of the schema. What still fails becomes a
`StepFailure` holding the raw text and the reason (`invalid_json` / `schema_mismatch`), or,
when no reply came at all, the client's error code (`http_503`, `timeout`, ...) with
`no_reply` set. Only replies that parse and validate are cached; a repaired reply is cached
as the answer to the first request too, so a re-run needs neither request again.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
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
    # "invalid_json" or "schema_mismatch" for a bad reply; without a reply, the client's
    # error code ("http_503", "timeout", "connection_error", "unparseable_response", ...)
    reason: str
    detail: str = ""
    raw: str = ""  # the reply text that failed ("" when there was none)
    no_reply: bool = False  # the endpoint gave no reply at all (after retries)
    step: str = ""  # the block that failed

    def describe(self) -> str:
        """The step, the error, and the raw reply after it so it can be read."""
        detail = f"{self.step}: {self.detail}" if self.step else self.detail
        if self.raw:
            detail += f" | raw reply: {self.raw[:MAX_RAW_IN_REJECT]}"
        return detail

    def to_reject(self, id: str | None, stage: str) -> Reject:  # noqa: A002 - record field
        """A reject row: the reason, and the raw reply after the error so it can be read."""
        return Reject(id=id, stage=stage, reason=self.reason, detail=self.describe())


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
            accept=_accepts(block),
        )

    def repair_request(self, first: Request, failure: StepFailure, block: Block[Any]) -> Request:
        ask = (
            f"That reply could not be used: {failure.detail}\n"
            f"{_instructions(block.reply)}\nReply again with the corrected JSON only."
        )
        return first.repair(failure.raw, ask)  # first.step is the block's name

    def run(
        self, block: Block[R], prompts: Sequence[str], tags: Sequence[str] | None = None
    ) -> list[R | StepFailure]:
        tags = list(tags) if tags is not None else [""] * len(prompts)
        reqs = [self.request(block, p, t) for p, t in zip(prompts, tags, strict=True)]
        out: list[R | StepFailure] = []
        to_repair: list[tuple[int, StepFailure]] = []
        for i, res in enumerate(self.client.run_batch(reqs)):
            if res.error is not None or res.text is None:
                out.append(_no_reply(res.error, res.detail, block.name))
                continue
            parsed = parse_reply(res.text, block.reply)
            if isinstance(parsed, StepFailure):
                parsed = replace(parsed, step=block.name)
                to_repair.append((i, parsed))
            out.append(parsed)
        if not to_repair:
            return out
        repairs = [self.repair_request(reqs[i], f, block) for i, f in to_repair]
        for (i, first), res in zip(to_repair, self.client.run_batch(repairs), strict=True):
            if res.error is not None or res.text is None:
                # no reply to the repair: an LLM failure (a re-run may fix it), the first
                # reply kept for reading
                detail = f"repair request after {first.reason}: {res.detail}"
                out[i] = replace(_no_reply(res.error, detail, block.name), raw=first.raw)
                continue
            again = parse_reply(res.text, block.reply)
            if isinstance(again, StepFailure):
                detail = f"after one repair: {again.detail}"
                again = StepFailure(again.reason, detail, again.raw, step=block.name)
            else:
                self.client.remember(reqs[i], res)  # a re-run gets the repaired reply at once
            out[i] = again
        return out


def _accepts(block: Block[Any]) -> Callable[[str], bool]:
    """Whether a reply parses and fits the block's model: only such replies are cached."""

    def accept(text: str) -> bool:
        return not isinstance(parse_reply(text, block.reply), StepFailure)

    return accept


def _no_reply(error: str | None, detail: str, step: str) -> StepFailure:
    return StepFailure(error or "llm_error", detail, no_reply=True, step=step)
