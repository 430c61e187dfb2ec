"""The offline writer: a deterministic differential from the row's KG evidence.

No network and no model. The Reasoning Process follows a clinician's line of thought:
(a) the key findings, the clues of the top-ranked option first, then pertinent negatives and
family or past history; (b) what they point to, the kept (discriminative) paths in prose;
(c) every option weighed in turn with the KG facts for and against it
(kgsynth.records.OptionEvidence; options the KG says nothing more of than "none of these
findings", or has no concept for, share one sentence); (d) the conclusion the evidence
ranking gives (`EvidenceReport.best`), never the gold answer.

Phrasing lives in a versioned data file (phrases.v4.toml, version "differential.v4"): several
variants per move and per relation, picked per row from a hash of the row id, so one row
always reads the same and different rows read differently.

Every sentence that names two KG entities states a KG fact that joins them: an edge, a hop
chain of a path, or a finding paired with the option it leads to (the claim check,
kgsynth.verify.claims).
"""

from __future__ import annotations

import hashlib
import random
import tomllib
from collections.abc import Iterable
from functools import cache
from importlib import resources

from kgsynth.paths.format import format_path
from kgsynth.records import (
    EntityLink,
    EvidenceReport,
    FindingSupport,
    Generation,
    Hop,
    KGPath,
    OptionEvidence,
    PathedQA,
    Reject,
)
from kgsynth.sections import join_sections
from kgsynth.writer.hops import HopSentences, join_names

OFFLINE_MODEL = "kgsynth-offline-2"
PHRASES = "phrases.v4"
MAX_PRESENT = 4  # present findings named in (a)
MAX_NEGATIVES = 3
MAX_POINTS = 3  # kept paths told in prose in (b)
MAX_BEST_FINDINGS = 3
NOT_FINDING_TYPES = frozenset({"drug", "pharmacologic_class"})

__all__ = ["OFFLINE_MODEL", "PHRASES", "OfflineWriter", "join_names", "phrases"]


@cache
def phrases(name: str = PHRASES) -> dict:
    """The phrase file: {"version", "relations": {rel: [clause, ...]}, "moves": {move: [...]}}."""
    text = resources.files("kgsynth.writer").joinpath(f"{name}.toml").read_text("utf-8")
    data = tomllib.loads(text)
    if not str(data.get("version", "")).endswith(name.rsplit(".", 1)[-1]):
        raise ValueError(f"{name}.toml declares version {data.get('version')!r}")
    for section in ("relations", "moves"):
        for key, variants in data[section].items():
            if not variants or not all(isinstance(v, str) for v in variants):
                raise ValueError(f"{name}.toml: [{section}] {key} needs a list of strings")
    return data


def _cap(text: str) -> str:
    return text[:1].upper() + text[1:]


class _Voice:
    """Picks phrasings for one row: a seeded start per move, then rotation, so a move used
    twice in a row (two distractors) reads two ways."""

    def __init__(self, row_id: str, data: dict) -> None:
        seed = int.from_bytes(hashlib.sha256(row_id.encode("utf-8")).digest()[:8], "big")
        self._rng = random.Random(seed)
        self._moves: dict[str, list[str]] = data["moves"]
        self._relations: dict[str, list[str]] = data["relations"]
        self._next: dict[str, int] = {}

    def _pick(self, key: str, variants: list[str]) -> str:
        if key not in self._next:
            self._next[key] = self._rng.randrange(len(variants))
        i = self._next[key]
        self._next[key] = i + 1
        return variants[i % len(variants)]

    def say(self, move: str, **values: str) -> str:
        tpl = self._pick(f"move:{move}", self._moves[move])
        full = dict(values) | {_cap(k): _cap(v) for k, v in values.items()}
        return tpl.format_map(full)

    def clause(self, hop: Hop) -> str:
        rel = hop.relation if hop.relation in self._relations else "_default"
        tpl = self._pick(f"rel:{rel}", self._relations[rel])
        return tpl.format(head=hop.head_name, tail=hop.tail_name, relation=hop.relation)

    def chain(self, path: KGPath) -> str:
        """A path as chained clauses, one per hop (each states one KG edge)."""
        clauses = [self.clause(hop) for hop in path.hops]
        if len(clauses) <= 2:
            return ", and ".join(clauses)
        return ", ".join(clauses[:-1]) + ", and " + clauses[-1]


def _node_ids(path: KGPath) -> tuple[str, ...]:
    ids = [path.start_id]
    for hop in path.hops:
        ids.append(hop.tail_id if hop.head_id == ids[-1] else hop.head_id)
    return tuple(ids)


def _node_names(path: KGPath) -> tuple[str, ...]:
    names = [_start_name(path)]
    cur = path.start_id
    for hop in path.hops:
        forward = hop.head_id == cur
        cur = hop.tail_id if forward else hop.head_id
        names.append(hop.tail_name if forward else hop.head_name)
    return tuple(names)


def _option_text(text: str) -> str:
    """An option's text as written, less stray line breaks and dangling quotes."""
    return " ".join(text.split()).strip('"').strip()


def _end_name(path: KGPath) -> str:
    last = path.hops[-1]
    return last.tail_name if last.tail_id == path.end_id else last.head_name


def _start_name(path: KGPath) -> str:
    first = path.hops[0]
    return first.head_name if first.head_id == path.start_id else first.tail_name


def _by_weight(items: Iterable[FindingSupport]) -> list[FindingSupport]:
    """Best first: heavier (more specific) findings, then shorter paths; one per finding."""
    out: dict[str, FindingSupport] = {}
    for s in sorted(items, key=lambda s: (-s.weight, len(s.path.hops), s.finding_name)):
        out.setdefault(s.finding_id, s)
    return list(out.values())


class OfflineWriter:
    name = "offline"
    model = OFFLINE_MODEL

    def __init__(self, phrase_file: str = PHRASES) -> None:
        self.data = phrases(phrase_file)
        self.prompt_version: str = self.data["version"]
        self._hops = HopSentences()

    def sentence(self, hop: Hop) -> str:
        """One hop as a sentence from the relation templates (relations.v2); the KG-first
        reasoner's (kgsynth.synth.reasoning) hop sentences."""
        return self._hops.sentence(hop)

    # -- the moves ------------------------------------------------------------------------
    @staticmethod
    def _findings(
        item: PathedQA, weights: dict[str, float], lead: list[str]
    ) -> dict[str, list[EntityLink]]:
        """Question findings by assertion, each once; present ones led by those that support
        the top-ranked option (`lead`, in its order: the key finding is the clue the
        differential turns on, not a specific mention that only a distractor uses), then
        the most specific first."""
        option_ids = {e.kg_id for links in item.linked.option_entities.values() for e in links}
        first: dict[str, EntityLink] = {}  # present anywhere counts as present
        for e in sorted(item.linked.question_entities, key=lambda x: x.start):
            if e.kg_id in option_ids:
                continue
            seen = first.get(e.kg_id)
            if seen is None or (seen.assertion != "present" and e.assertion == "present"):
                first[e.kg_id] = e
        by: dict[str, list[EntityLink]] = {}
        for e in first.values():
            by.setdefault(e.assertion, []).append(e)
        present = by.get("present", [])
        order = {e.kg_id: i for i, e in enumerate(present)}
        rank = {f: i for i, f in enumerate(lead)}
        by["present"] = sorted(
            present,
            key=lambda e: (
                rank.get(e.kg_id, len(rank)),
                -weights.get(e.kg_id, 0.0),
                order[e.kg_id],
            ),
        )
        return by

    def _key_findings(
        self, voice: _Voice, by: dict[str, list[EntityLink]], weights: dict[str, float]
    ) -> list[str]:
        out: list[str] = []
        # a medication the patient takes is no finding the patient "has"
        present = [e for e in by.get("present", []) if e.type not in NOT_FINDING_TYPES]
        # key: the findings the evidence weighed; a mention no option's evidence used ("which
        # of these neoplasms" read as Neoplasm) is no clue of this case
        present = [e for e in present if weights.get(e.kg_id, 0.0) > 0] or present
        for i, e in enumerate(present[:MAX_PRESENT]):
            out.append(voice.say("key_finding" if i == 0 else "other_finding", finding=e.name))

        # nor is a substance one: "denies alcohol use" is no "there is no Alcohols"
        def said(kind: str) -> list[EntityLink]:
            return [e for e in by.get(kind, []) if e.type not in NOT_FINDING_TYPES]

        for kind in ("family", "historical"):
            out += [voice.say(kind, finding=e.name) for e in said(kind)[:2]]
        out += [voice.say("negative", finding=e.name) for e in said("absent")[:MAX_NEGATIVES]]
        return out

    def _points_to(self, voice: _Voice, paths: list[KGPath]) -> list[str]:
        out: list[str] = []
        seen: set[tuple[str, ...]] = set()
        for path in paths:
            key = _node_ids(path)
            if not path.hops or key in seen:
                continue
            seen.add(key)
            out.append(
                voice.say(
                    "points_to",
                    start=_start_name(path),
                    end=_end_name(path),
                    chain=voice.chain(path),
                )
            )
            if len(out) == MAX_POINTS:
                break
        return out

    def _weigh(
        self,
        voice: _Voice,
        item: PathedQA,
        ev: EvidenceReport,
        by: dict[str, list[EntityLink]],
    ) -> list[str]:
        qa = item.linked.qa
        options = {o.letter: o for o in ev.options}
        best = options[ev.best]  # type: ignore[index]
        best_text = _option_text(qa.options.get(best.letter, best.text))
        cited = {_node_ids(p) for p in item.paths}

        def backed(s: FindingSupport) -> bool:  # the claim check will find this pair joined
            return len(s.path.hops) <= 2 or _node_ids(s.path) in cited

        best_supports = _by_weight(best.supports)
        anchors = [s for s in best_supports if backed(s)] or best_supports
        present = by.get("present", [])
        top_finding = anchors[0].finding_name if anchors else (present[0].name if present else "")

        steps: list[str] = []
        # the leading candidate first
        sents = [voice.say("weigh_intro")]
        if best_supports:
            named = [s.finding_name for s in best_supports[:MAX_BEST_FINDINGS]]
            sents.append(
                voice.say("best", letter=best.letter, option=best_text, findings=join_names(named))
            )
            top = best_supports[0]
            if _node_ids(top.path) not in cited:
                sents.append(voice.say("best_chain", chain=voice.chain(top.path)))
        else:
            sents.append(voice.say("best_plain", letter=best.letter, option=best_text))
        sents += self._against(voice, best, best_text, lead=False)
        steps.append(" ".join(sents))

        # then every other option, in the question's order; those the KG says nothing more
        # of than "none of the findings" (or that it has no concept for) share one sentence
        anchor = anchors[0].finding_name if anchors else (top_finding or "the case")
        bare: list[tuple[str, str]] = []
        unlinked: list[tuple[str, str]] = []
        for letter in qa.options:
            if letter == best.letter:
                continue
            text = _option_text(qa.options[letter])
            opt = options.get(letter) or OptionEvidence(
                letter=letter, text=text, kg_ids=[], score=0.0
            )
            missing = self._missing(voice, opt, text)
            if not (opt.supports or opt.contradictions) and anchors:
                if not opt.kg_ids:
                    unlinked.append((letter, text))
                    continue
                if not missing:
                    bare.append((letter, text))
                    continue
            said = self._distractor(voice, opt, text, best_text, anchors, top_finding)
            steps.append(" ".join(said + missing))
        for move, group in (("unsupported", bare), ("unlinked", unlinked)):
            if len(group) == 1:  # one option: its own sentence, as before
                ((letter, text),) = group
                steps.append(
                    voice.say(move, letter=letter, option=text, anchor=anchor, best=best_text)
                )
            elif group:
                named = "options " + join_names([f"{x} ({t})" for x, t in group])
                steps.append(
                    voice.say(f"{move}_group", options=named, anchor=anchor, best=best_text)
                )
        return steps

    def _missing(self, voice: _Voice, opt: OptionEvidence, text: str) -> list[str]:
        """What the option would bring that the case does not show: the reason a clinician
        gives for setting it aside (its features, or a drug's uses)."""
        features = [f.name for f in opt.unmatched if f.relation == "has_phenotype"]
        uses = [f.name for f in opt.unmatched if f.relation == "used_for"]
        out: list[str] = []
        if len(features) == 1:
            out.append(voice.say("missing_one", option=text, feature=features[0]))
        elif features:
            out.append(voice.say("missing_many", option=text, features=" or ".join(features)))
        if uses and not features:
            out.append(voice.say("used_for", option=text, uses=join_names(uses)))
        return out

    def _against(self, voice: _Voice, opt: OptionEvidence, text: str, *, lead: bool) -> list[str]:
        out: list[str] = []
        for i, c in enumerate(_by_weight(opt.contradictions)[:1]):
            move = "contradiction_first" if lead and i == 0 else "contradiction"
            out.append(
                voice.say(
                    move,
                    letter=opt.letter,
                    option=text,
                    chain=voice.chain(c.path),
                    finding=c.finding_name,
                )
            )
        return out

    def _distractor(
        self,
        voice: _Voice,
        opt: OptionEvidence,
        text: str,
        best_text: str,
        anchors: list[FindingSupport],
        top_finding: str,
    ) -> list[str]:
        supports = _by_weight(opt.supports)
        if supports:
            top = supports[0]
            if len(top.path.hops) >= 3:  # a long chain reads as a list: name its stepping stones
                via = join_names(list(_node_names(top.path)[1:-1]))
                out = [
                    voice.say(
                        "supported_indirect",
                        letter=opt.letter,
                        option=text,
                        finding=top.finding_name,
                        via=via,
                    )
                ]
            else:
                out = [
                    voice.say(
                        "supported", letter=opt.letter, option=text, chain=voice.chain(top.path)
                    )
                ]
            own = {s.finding_id for s in supports}
            unexplained = next((a for a in anchors if a.finding_id not in own), None)
            if unexplained is not None:
                out.append(voice.say("weaker", anchor=unexplained.finding_name, best=best_text))
            elif not opt.contradictions:
                out.append(voice.say("weaker_plain", best=best_text))
            return out + self._against(voice, opt, text, lead=False)
        if opt.contradictions:
            return self._against(voice, opt, text, lead=True)
        if not opt.kg_ids:  # no KG concept: the KG can say nothing of it, either way
            anchor = anchors[0].finding_name if anchors else (top_finding or "the case")
            return [
                voice.say("unlinked", letter=opt.letter, option=text, anchor=anchor, best=best_text)
            ]
        if anchors:
            anchor = anchors[0].finding_name
            return [
                voice.say(
                    "unsupported", letter=opt.letter, option=text, anchor=anchor, best=best_text
                )
            ]
        finding = top_finding or "the findings"
        return [voice.say("unsupported_plain", letter=opt.letter, option=text, finding=finding)]

    # -- the row ----------------------------------------------------------------------------
    def write(self, item: PathedQA) -> Generation | Reject:
        qa = item.linked.qa
        if not item.paths:
            return Reject(
                id=qa.id, stage="generate", reason="no_paths", detail="no KG path to write along"
            )
        ev = item.evidence
        letters = {o.letter: o for o in ev.options} if ev is not None else {}
        if ev is None or ev.best is None or ev.best not in letters:
            return Reject(
                id=qa.id,
                stage="generate",
                reason="no_evidence",
                detail="no per-option evidence ranking to reason from",
            )
        if qa.options and ev.best not in qa.options:
            return Reject(
                id=qa.id,
                stage="generate",
                reason="no_evidence",
                detail=f"the evidence ranks option {ev.best!r}, which the question lacks, first",
            )
        voice = _Voice(qa.id, self.data)
        weights: dict[str, float] = {}
        for o in ev.options:
            for s in (*o.supports, *o.contradictions):
                weights[s.finding_id] = max(weights.get(s.finding_id, 0.0), s.weight)
        lead = [s.finding_id for s in _by_weight(letters[ev.best].supports)]
        by = self._findings(item, weights, lead)

        steps: list[str] = []
        if key := self._key_findings(voice, by, weights):
            steps.append(" ".join(key))
        if points := self._points_to(voice, item.paths):
            steps.append(" ".join(points))
        if qa.options:
            steps += self._weigh(voice, item, ev, by)
            best_text = _option_text(qa.options[ev.best])
            steps.append(voice.say("conclude", letter=ev.best, option=best_text))
            conclusion = f"The answer is {ev.best}: {best_text}."
        else:  # one candidate, the answer the evidence reaches
            best_text = letters[ev.best].text
            named = [s.finding_name for s in _by_weight(letters[ev.best].supports)]
            if named:
                steps.append(
                    voice.say("best_free", option=best_text, findings=join_names(named[:3]))
                )
            steps.append(voice.say("conclude_free", option=best_text))
            conclusion = f"The answer is {best_text}."
        text = join_sections([format_path(p) for p in item.paths], steps, conclusion)
        return Generation(
            reasoning=text,
            conclusion=conclusion,
            generator=self.name,
            model=self.model,
            prompt_version=self.prompt_version,
        )

    def generate(self, items: list[PathedQA]) -> list[Generation | Reject]:
        from kgsynth.progress import progress

        out: list[Generation | Reject] = []
        for i, item in enumerate(items, 1):
            out.append(self.write(item))
            progress.advance("generate", i)
        return out
