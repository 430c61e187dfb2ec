"""What the text asserts about a mention: a NegEx/ConText-style tagger.

Trigger phrases (kgsynth/linking/context_rules.toml) open a scope forward ("denies ...",
"his mother has ...", "history of ...", "to rule out ...") or backward ("... was ruled out",
"... in her father"), or assert the one word after them ("non-bloody"). A scope ends at
a terminator ("but", "however", "which", a new subject such as "she"), at a sentence end
(. ? ! ; or a line break) or after a fixed number of words. A mention takes the category
of the scopes covering its first word, the highest in `priority` when several do;
"present" when none does. Pseudo-triggers ("no change",
"gram-negative", "not ruled out") match like triggers but open no scope. In a phrase, "#"
stands for any number ("in the past # months").

Record triggers ("history of", "past medical history", "... years ago") list or date a
condition without saying it is over: they make a mention historical only when it names a
past event (an infarction, a fracture, an acute episode: the `events` words of the rules,
in the mention or in the name of the concept it links to). A chronic disease in the
medical history ("history of hypertension") is a condition the patient has: present.

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
_NUMBER = "#"  # in a phrase: any number
_BREAKS = frozenset({".", "?", "!", ";", "\n"})

Direction = Literal["forward", "backward"]  # "adjacent" and "list" triggers: forward scopes


def _words(phrase: str) -> tuple[str, ...]:
    return tuple(m.group().lower() for m in re.finditer(r"[^\W_]+|#", phrase))


def _stem(word: str) -> str:
    """A plural's singular, enough to match event words ("infarctions", "fractures")."""
    return word[:-1] if len(word) > 3 and word.endswith("s") and not word.endswith("ss") else word


@dataclass(frozen=True)
class Rules:
    priority: tuple[str, ...]
    max_forward: int
    max_backward: int
    # phrase -> its meanings: ("pseudo" | "terminator" | "subject" | category, direction or
    # "", record);
    # a phrase may open scopes both ways ("in the past"); a record scope asserts its
    # category only of events (see the module doc)
    phrases: dict[tuple[str, ...], tuple[tuple[str, str, bool], ...]]
    longest: int  # words in the longest phrase
    max_list: int = 30  # words a list trigger's scope may run ("denies A, B, ... and Z")
    events: frozenset[tuple[str, ...]] = frozenset()  # words that name an event (stemmed)
    ongoing: frozenset[str] = frozenset()  # words that make it last ("chronic", "recurrent")

    @classmethod
    def from_toml(cls, text: str) -> Rules:
        data = tomllib.loads(text)
        priority = tuple(data["priority"])
        unknown = set(priority) ^ set(CATEGORIES)
        if unknown:
            raise ValueError(f"context rules: priority must list {CATEGORIES}, got {priority}")
        phrases: dict[tuple[str, ...], tuple[tuple[str, str, bool], ...]] = {}

        def add(phrase: str, kind: str, direction: str = "", record: bool = False) -> None:
            key = _words(phrase)
            if not key:
                return
            if kind == "pseudo":
                phrases[key] = ((kind, direction, record),)
            elif (kind, direction, record) not in phrases.get(key, ()):
                phrases[key] = phrases.get(key, ()) + ((kind, direction, record),)

        for p in data.get("terminators", []):
            add(p, "terminator")
        for p in data.get("subject_terminators", []):
            add(p, "subject")
        for cat in CATEGORIES:
            sec = data.get(cat, {})
            for p in sec.get("forward", []):
                add(p, cat, "forward")
            for p in sec.get("list_forward", []):
                add(p, cat, "list")
            for p in sec.get("backward", []):
                add(p, cat, "backward")
            for p in sec.get("sentence_forward", []):
                add(p, cat, "sentence")
            for p in sec.get("adjacent", []):
                add(p, cat, "adjacent")
            for p in sec.get("record_forward", []):
                add(p, cat, "forward", record=True)
            for p in sec.get("record_backward", []):
                add(p, cat, "backward", record=True)
            for kin in sec.get("kin", []):
                for verb in sec.get("kin_verbs", []):
                    add(f"{kin} {verb}", cat, "forward")
                for prep in sec.get("kin_preps", []):
                    add(f"{prep} {kin}", cat, "backward")
        for p in data.get("pseudo", []):  # last: a pseudo phrase overrides a trigger
            add(p, "pseudo")
        events = [
            e for sec in data.values() if isinstance(sec, dict) for e in sec.get("events", [])
        ]
        ongoing = [
            w for sec in data.values() if isinstance(sec, dict) for w in sec.get("ongoing", [])
        ]
        return cls(
            priority=priority,
            max_forward=int(data.get("max_forward_words", 15)),
            max_backward=int(data.get("max_backward_words", 8)),
            max_list=int(data.get("max_list_words", 30)),
            phrases=phrases,
            longest=max(len(k) for k in phrases),
            events=frozenset(tuple(_stem(w) for w in _words(e)) for e in events),
            ongoing=frozenset(_stem(w) for w in ongoing),
        )

    def names_event(self, *texts: str) -> bool:
        """Whether a mention (or its concept's name) names an event: it holds an `events`
        phrase ("myocardial infarction", "acute pancreatitis") and no `ongoing` word
        ("chronic hepatitis", "recurrent infections")."""
        found = False
        for text in texts:
            words = [_stem(w) for w in _words(text)]
            if self.ongoing.intersection(words):
                return False
            found = found or any(
                tuple(words[i : i + len(e)]) == e
                for e in self.events
                for i in range(len(words) - len(e) + 1)
            )
        return found


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
    record: bool = False  # asserts its category only of events (see the module doc)


class ConText:
    """Assertion tagger: `assert_spans(text, spans)` -> one assertion per (start, end)."""

    def __init__(self, rules: Rules | None = None) -> None:
        self.rules = rules or load_rules()
        # first word -> words in its longest phrase: most words start no phrase, and the scan
        # then tries no slice at them
        self._longest_from: dict[str, int] = {}
        for key in self.rules.phrases:
            self._longest_from[key[0]] = max(self._longest_from.get(key[0], 0), len(key))

    def scopes(self, text: str) -> list[Scope]:
        if text.isascii():  # lower-casing keeps every offset: do it once, not per word
            toks = [(m.group(), m.start(), m.end()) for m in _TOKEN.finditer(text.lower())]
        else:
            toks = [(m.group().lower(), m.start(), m.end()) for m in _TOKEN.finditer(text)]
        rules = self.rules
        # longest phrase match at each word, left to right; matched words are consumed
        # (first tok, last tok + 1, kind, direction, record)
        hits: list[tuple[int, int, str, str, bool]] = []
        words = [_NUMBER if t.isdigit() else t for t, _, _ in toks]  # phrases match "#"
        i = 0
        while i < len(toks):
            found = None
            # no phrase holds a sentence end (phrases are words and "#"), so a slice across
            # one matches nothing
            for n in range(min(self._longest_from.get(words[i], 0), len(toks) - i), 0, -1):
                meanings = rules.phrases.get(tuple(words[i : i + n]))
                if meanings is not None:
                    found = (i, i + n, meanings)
                    break
            if found is None:
                i += 1
            else:
                a, b, meanings = found
                hits.extend((a, b, kind, direction, rec) for kind, direction, rec in meanings)
                i = b
        strong = {a for a, _, kind, _, _ in hits if kind == "terminator"}
        strong |= {i for i, (t, _, _) in enumerate(toks) if t in _BREAKS}
        stops = strong | {a for a, _, kind, _, _ in hits if kind == "subject"}
        out: list[Scope] = []
        for a, b, kind, direction, rec in hits:
            if kind in ("pseudo", "terminator", "subject"):
                continue
            trigger = text[toks[a][1] : toks[b - 1][2]]
            if direction == "adjacent":
                if b < len(toks) and b not in stops:
                    out.append(Scope(kind, toks[b][1], toks[b][2], trigger, "forward", rec))
            elif direction in ("forward", "sentence", "list"):
                ends = strong if direction == "sentence" else stops
                width = rules.max_list if direction == "list" else rules.max_forward
                last = b - 1
                for j in range(b, min(len(toks), b + width)):
                    if j in ends:
                        break
                    last = j
                if last >= b:
                    out.append(Scope(kind, toks[b][1], toks[last][2], trigger, "forward", rec))
            else:
                first = a
                for j in range(a - 1, max(-1, a - 1 - rules.max_backward), -1):
                    if j in stops or toks[j][0] in _BREAKS:
                        break
                    first = j
                if first < a:
                    out.append(
                        Scope(kind, toks[first][1], toks[a - 1][2], trigger, "backward", rec)
                    )
        return out

    def assert_spans(
        self, text: str, spans: list[tuple[int, int]], names: list[str] | None = None
    ) -> list[Assertion]:
        """One assertion per span; `names` (one per span, optional) are the names of the
        concepts the spans link to, read with the mention to tell an event (see
        `Rules.names_event`)."""
        scopes = self.scopes(text)
        rank = {c: i for i, c in enumerate(self.rules.priority)}
        out: list[Assertion] = []
        for k, (start, end) in enumerate(spans):
            covering = [s for s in scopes if s.start <= start < s.end]
            if any(s.record for s in covering):
                said = [text[start:end]] + ([names[k]] if names else [])
                if not self.rules.names_event(*said):
                    covering = [s for s in covering if not s.record]
            cats = [s.category for s in covering]
            best = min(cats, key=rank.__getitem__) if cats else "present"
            out.append(cast(Assertion, best))
        return out

    def assertion(self, text: str, start: int, end: int) -> Assertion:
        return self.assert_spans(text, [(start, end)])[0]
