"""Pose a checked chain as a multiple-choice question: offline from templates, or by an LLM.

Both writers share the options (the answer and the checked distractors, shuffled by the
attempt's RNG) and the rules a question must keep: it names the start entity and never the
answer. The LLM writer is a function of a `complete(prompt) -> reply text` callable, so any
client can drive it; its JSON reply is parsed into `QuestionReply` and held to the options
it was given (an LLM cannot bring in an option the KG did not check).
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Callable

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from kgsynth.llm.prompts import KG_QUESTION, template, template_file
from kgsynth.paths.format import format_path
from kgsynth.records import QARecord, Reject
from kgsynth.synth.records import Chain, PosedChain

LETTERS = "ABCDEFGHIJ"

Complete = Callable[[str], str]


def type_text(node_type: str) -> str:
    return node_type.replace("_", " ")


def _with_article(text: str) -> str:
    return ("an " if text[:1] in "aeiou" else "a ") + text


def describe_steps(chain: Chain, name: str = KG_QUESTION) -> list[str]:
    """One clause per step, by relation and direction, naming no node but the start."""
    tpl = template_file(name)
    out = []
    for i, step in enumerate(chain.steps):
        prev = tpl["first"] if i == 0 else tpl["next"].format(type=type_text(chain.nodes[i].type))
        found = type_text(chain.nodes[i + 1].type)
        table = tpl["forward" if step.forward else "backward"]
        text = table.get(step.relation, table["_default"])
        out.append(
            text.format(a_type=_with_article(found), type=found, prev=prev, relation=step.relation)
        )
    return out


def offline_text(chain: Chain, name: str = KG_QUESTION) -> str:
    tpl = template_file(name)
    parts = [tpl["intro"].format(type=type_text(chain.start.type), name=chain.start.name)]
    parts += [tpl["step"].format(i=i, text=t) for i, t in enumerate(describe_steps(chain), 1)]
    parts.append(tpl["ask"].format(type=type_text(chain.answer.type)))
    return " ".join(parts)


def shuffled_options(posed: PosedChain, rng: np.random.Generator) -> tuple[dict[str, str], str]:
    """Letter -> option text (answer and distractors in random order), the answer's letter."""
    texts = [posed.chain.answer.name] + [d.name for d in posed.distractors]
    order = rng.permutation(len(texts))
    options = {LETTERS[i]: texts[j] for i, j in enumerate(order.tolist())}
    return options, LETTERS[int(np.nonzero(order == 0)[0][0])]


def names_answer(question: str, answer: str) -> bool:
    """The question states the answer (as a whole phrase, case-insensitive)."""
    return (
        re.search(rf"(?<!\w){re.escape(answer.casefold())}(?!\w)", question.casefold()) is not None
    )


def _record(posed: PosedChain, question: str, options: dict[str, str], letter: str) -> QARecord:
    chain = posed.chain
    return QARecord(
        id=chain.id,
        source="kg",
        question=question,
        options=options,
        answer=chain.answer.name,
        answer_idx=letter,
        meta={
            "start_id": chain.start.id,
            "answer_id": chain.answer.id,
            "distractor_ids": ",".join(d.id for d in posed.distractors),
            "hops": str(len(chain.steps)),
            "attempt": str(chain.attempt),
        },
    )


def _reject(posed: PosedChain, reason: str, detail: str) -> Reject:
    return Reject(id=posed.chain.id, stage="generate", reason=reason, detail=detail)


def offline_question(posed: PosedChain, rng: np.random.Generator) -> QARecord | Reject:
    question = offline_text(posed.chain)
    if names_answer(question, posed.chain.answer.name):
        # e.g. a start "Febrile seizure" whose answer is "Seizure": naming the start gives
        # the answer away
        return _reject(posed, "answer_in_question", f"question names '{posed.chain.answer.name}'")
    options, letter = shuffled_options(posed, rng)
    return _record(posed, question, options, letter)


# -- the LLM writer -------------------------------------------------------------------------


class ReplyError(ValueError):
    """An LLM reply that is not the JSON object the prompt asked for."""


class QuestionReply(BaseModel):
    """The JSON an LLM returns for kg_question.v1: the question, lettered options, the
    correct letter."""

    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True)

    question: str = Field(min_length=1)
    options: dict[str, str] = Field(min_length=2, max_length=len(LETTERS))
    answer: str = Field(pattern=r"^[A-Ja-j]$")

    @model_validator(mode="after")
    def _letters(self) -> QuestionReply:
        options = {k.strip().upper(): v.strip() for k, v in self.options.items()}
        if sorted(options) != list(LETTERS[: len(options)]):
            raise ValueError(f"option letters must run A, B, ... without gaps: {sorted(options)}")
        if not all(options.values()):
            raise ValueError("an option text is empty")
        answer = self.answer.upper()
        if answer not in options:
            raise ValueError(f"answer {answer} is not one of the options")
        self.options, self.answer = options, answer
        return self


_FENCE = re.compile(r"^```(?:json)?\s*|\s*```$", re.IGNORECASE)


def parse_question_reply(text: str) -> QuestionReply:
    """The reply's JSON object (a code fence or text around it is tolerated), validated."""
    body = _FENCE.sub("", text.strip())
    a, b = body.find("{"), body.rfind("}")
    if a < 0 or b < a:
        raise ReplyError("no JSON object in the reply")
    try:
        data = json.loads(body[a : b + 1])
    except json.JSONDecodeError as e:
        raise ReplyError(f"reply is not valid JSON: {e.msg}") from e
    try:
        return QuestionReply.model_validate(data)
    except ValidationError as e:
        msgs = "; ".join(
            f"{'.'.join(map(str, x['loc'])) or 'reply'}: {x['msg']}" for x in e.errors()
        )
        raise ReplyError(msgs) from e


def question_prompt(posed: PosedChain, options: dict[str, str], letter: str) -> str:
    chain = posed.chain
    return template(KG_QUESTION).render(
        start_type=type_text(chain.start.type),
        start_name=chain.start.name,
        steps=describe_steps(chain),
        path=format_path(chain.path),
        answer_type=type_text(chain.answer.type),
        answer_name=chain.answer.name,
        options=options,
        answer_letter=letter,
    )


def reply_problem(reply: QuestionReply, posed: PosedChain, options: dict[str, str]) -> str | None:
    """Why a parsed reply cannot be used (None: it can): its options must be the ones given,
    its answer the chain's end, its question must name the start and not the answer."""
    chain = posed.chain

    def key(t: str) -> str:
        return " ".join(t.casefold().split())

    if Counter(map(key, reply.options.values())) != Counter(map(key, options.values())):
        return "options differ from the KG-checked ones"
    if key(reply.options[reply.answer]) != key(chain.answer.name):
        return f"answer {reply.answer} is not the chain's end '{chain.answer.name}'"
    if key(chain.start.name) not in key(reply.question):
        return f"question does not name the start '{chain.start.name}'"
    if names_answer(reply.question, chain.answer.name):
        return "question names the answer"
    return None


def llm_request(posed: PosedChain, rng: np.random.Generator) -> tuple[str, dict[str, str], str]:
    """The prompt for one chain, with the options (and answer letter) it shows."""
    options, letter = shuffled_options(posed, rng)
    return question_prompt(posed, options, letter), options, letter


def question_from_reply(posed: PosedChain, text: str, options: dict[str, str]) -> QARecord | Reject:
    """An LLM's reply to `llm_request`'s prompt as a QARecord, or a Reject saying why not."""
    try:
        reply = parse_question_reply(text)
    except ReplyError as e:
        return _reject(posed, "bad_llm_reply", str(e))
    if problem := reply_problem(reply, posed, options):
        return _reject(posed, "llm_reply_mismatch", problem)
    # option texts as the KG spells them, under the reply's letters
    by_key = {" ".join(t.casefold().split()): t for t in options.values()}
    kept = {k: by_key[" ".join(v.casefold().split())] for k, v in reply.options.items()}
    return _record(posed, reply.question, kept, reply.answer)


def llm_question(
    posed: PosedChain, complete: Complete, rng: np.random.Generator
) -> QARecord | Reject:
    """Pose the chain with an LLM; a reply that breaks the rules becomes a Reject.

    One call per chain; a batch client can instead send every `llm_request` prompt at once
    and hand each reply to `question_from_reply`."""
    prompt, options, _ = llm_request(posed, rng)
    try:
        text = complete(prompt)
    except Exception as e:  # noqa: BLE001 - any client's failure (retries are its job)
        # one failed call loses one row, not the run; the reason says what went wrong
        return _reject(posed, "llm_error", f"{type(e).__name__}: {e}")
    return question_from_reply(posed, text, options)
