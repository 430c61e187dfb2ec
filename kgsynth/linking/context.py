"""What the text asserts about a mention: a NegEx/ConText-style tagger.

Trigger phrases (kgsynth/linking/context_rules.toml) open a scope forward ("denies ...",
"his mother has ...", "history of ...", "to rule out ...") or backward ("... was ruled out",
"... in her father"), or assert the one word after them ("non-bloody"). A scope ends at
a terminator ("but", "however", "which", a new subject such as "she"), at a sentence end
(. ? ! ; or a line break) or after a fixed number of words. A mention takes the category
of the scopes covering its first word, the highest in `priority` when several do;
"present" when none does. Pseudo-triggers ("no change",
"gram-negative", "not ruled out") match like triggers but open no scope.

Rules, not a model: no dependency beyond the standard library, and every decision can be
traced to the phrase that made it (`Scope.trigger`).
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Literal, cast, get_args

from kgsynth.records import Assertion

RULES_FILE = Path(__file__).with_name("context_rules.toml")
CATEGORIES: tuple[str, ...] = tuple(a for a in get_args(Assertion) if a != "present")

# a word (letters/digits), or a sentence end: . ? ! followed by space or the end, ; or \n
_TOKEN = re.compile(r"[^\W_]+|[.?!](?=\s|$)|;|\n")
_BREAKS = frozenset({".", "?", "!", ";", "\n"})

Direction = Literal["forward", "backward"]  # "adjacent" triggers make forward scopes


def _words(phrase: str) -> tuple[str, ...]:
    return tuple(m.group().lower() for m in re.finditer(r"[^\W_]+", phrase))


@dataclass(frozen=True)
class Rules:
    priority: tuple[str, ...]
    max_forward: int
    max_backward: int
    # phrase -> its meanings: ("pseudo" | "terminator" | category, direction or ""); a phrase
    # may open scopes both ways ("in the past")
    phrases: dict[tuple[str, ...], tuple[tuple[str, str], ...]]
    longest: int  # words in the longest phrase

    @classmethod
    def from_toml(cls, text: str) -> Rules:
        data = tomllib.loads(text)
        priority = tuple(data["priority"])
        unknown = set(priority) ^ set(CATEGORIES)
        if unknown:
            raise ValueError(f"context rules: priority must list {CATEGORIES}, got {priority}")
        phrases: dict[tuple[str, ...], tuple[tuple[str, str], ...]] = {}

        def add(phrase: str, kind: str, direction: str = "") -> None:
            key = _words(phrase)
            if not key:
                return
            if kind == "pseudo":
                phrases[key] = ((kind, direction),)
            elif (kind, direction) not in phrases.get(key, ()):
                phrases[key] = phrases.get(key, ()) + ((kind, direction),)

        for p in data.get("terminators", []):
            add(p, "terminator")
        for cat in CATEGORIES:
            sec = data.get(cat, {})
            for p in sec.get("forward", []):
                add(p, cat, "forward")
            for p in sec.get("backward", []):
                add(p, cat, "backward")
            for p in sec.get("adjacent", []):
                add(p, cat, "adjacent")
            for kin in sec.get("kin", []):
                for verb in sec.get("kin_verbs", []):
                    add(f"{kin} {verb}", cat, "forward")
                for prep in sec.get("kin_preps", []):
                    add(f"{prep} {kin}", cat, "backward")
        for p in data.get("pseudo", []):  # last: a pseudo phrase overrides a trigger
            add(p, "pseudo")
        return cls(
            priority=priority,
            max_forward=int(data.get("max_forward_words", 15)),
            max_backward=int(data.get("max_backward_words", 8)),
            phrases=phrases,
            longest=max(len(k) for k in phrases),
        )


@lru_cache(maxsize=4)
def load_rules(path: Path = RULES_FILE) -> Rules:
    return Rules.from_toml(path.read_text(encoding="utf-8"))


@dataclass(frozen=True)
class Scope:
    category: str  # "absent", "family", "historical" or "hypothetical"
    start: int  # character span the scope covers
    end: int
    trigger: str  # the phrase that opened it, as written
    direction: Direction


class ConText:
    """Assertion tagger: `assert_spans(text, spans)` -> one assertion per (start, end)."""

    def __init__(self, rules: Rules | None = None) -> None:
        self.rules = rules or load_rules()

    def scopes(self, text: str) -> list[Scope]:
        toks = [(m.group().lower(), m.start(), m.end()) for m in _TOKEN.finditer(text)]
        rules = self.rules
        # longest phrase match at each word, left to right; matched words are consumed
        hits: list[tuple[int, int, str, str]] = []  # (first tok, last tok + 1, kind, dir)
        i = 0
        while i < len(toks):
            found = None
            for n in range(min(rules.longest, len(toks) - i), 0, -1):
                key = tuple(t for t, _, _ in toks[i : i + n])
                if any(w in _BREAKS for w in key):
                    continue
                meanings = rules.phrases.get(key)
                if meanings is not None:
                    found = (i, i + n, meanings)
                    break
            if found is None:
                i += 1
            else:
                a, b, meanings = found
                hits.extend((a, b, kind, direction) for kind, direction in meanings)
                i = b
        stops = {a for a, _, kind, _ in hits if kind == "terminator"}
        stops |= {i for i, (t, _, _) in enumerate(toks) if t in _BREAKS}
        out: list[Scope] = []
        for a, b, kind, direction in hits:
            if kind in ("pseudo", "terminator"):
                continue
            trigger = text[toks[a][1] : toks[b - 1][2]]
            if direction == "adjacent":
                if b < len(toks) and b not in stops:
                    out.append(Scope(kind, toks[b][1], toks[b][2], trigger, "forward"))
            elif direction == "forward":
                last = b - 1
                for j in range(b, min(len(toks), b + rules.max_forward)):
                    if j in stops:
                        break
                    last = j
                if last >= b:
                    out.append(Scope(kind, toks[b][1], toks[last][2], trigger, "forward"))
            else:
                first = a
                for j in range(a - 1, max(-1, a - 1 - rules.max_backward), -1):
                    if j in stops or toks[j][0] in _BREAKS:
                        break
                    first = j
                if first < a:
                    out.append(Scope(kind, toks[first][1], toks[a - 1][2], trigger, "backward"))
        return out

    def assert_spans(self, text: str, spans: list[tuple[int, int]]) -> list[Assertion]:
        scopes = self.scopes(text)
        rank = {c: i for i, c in enumerate(self.rules.priority)}
        out: list[Assertion] = []
        for start, _end in spans:
            cats = [s.category for s in scopes if s.start <= start < s.end]
            best = min(cats, key=rank.__getitem__) if cats else "present"
            out.append(cast(Assertion, best))
        return out

    def assertion(self, text: str, start: int, end: int) -> Assertion:
        return self.assert_spans(text, [(start, end)])[0]
