"""Claim-level faithfulness: every sentence of the reasoning that names two KG entities must
be backed by the KG.

Which text: the "Reasoning Process:" part only. The "Finding reasoning paths:" lines are
already checked hop by hop (kgsynth.verify.checks, kg_faithful), and the conclusion restates
the answer, which answer_match checks; counting either here would only dilute the ratio of
the prose's claims. `include_conclusion=True` adds the conclusion's sentences. A text without
the three headers is read whole, less anything from "Conclusion:" on.

A claim is a sentence whose mentions (found by any `MentionFinder`, e.g. the Linker) name at
least two distinct KG nodes. It is supported when some pair of them is joined by an edge or a
path of at most `max_hops` hops, through intermediate nodes of degree at most
`max_intermediate_degree`: without that bound, two hops through "Autosomal dominant
inheritance" (5,500 edges in HPO) would back almost any disease-gene pairing. Two entities
on one of the row's own KG paths are backed by that path whatever its length: its hops are
checked edge by edge by kg_faithful.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Protocol

from pydantic import BaseModel, ConfigDict, Field

from kgsynth.config import ClaimCheckConfig
from kgsynth.kg.graph import KnowledgeGraph
from kgsynth.paths.filters import PathFilter
from kgsynth.paths.search import DEFAULT_HUB_PENALTY, shortest_paths
from kgsynth.records import ClaimReport, EntityLink, GeneratedQA, KGPath
from kgsynth.sections import split_sections, strip_conclusion


class MentionFinder(Protocol):
    def link_text(self, text: str) -> list[EntityLink]: ...


class Claim(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    text: str
    entities: list[str]  # distinct KG ids, in mention order
    supported: bool
    path: list[str] = Field(default_factory=list)  # node ids of the supporting path


# -- sentences ------------------------------------------------------------------------------
# words whose trailing period does not end a sentence
_ABBREV = frozenset("e.g i.e vs etc dr mr mrs ms approx fig no al cf st resp incl ca".split())
_LIST_MARK = re.compile(r"^\s*(?:\d{1,3}[.)]|[-*\u2022])\s+")
# an end mark, closing quotes/brackets, whitespace, then what can start a sentence
_END = re.compile(r"[.!?]+[\"')\]]*\s+(?=[\"'(\[]?[A-Z0-9])")


def split_sentences(text: str) -> list[str]:
    """Sentences, one list item or line at a time; a period after a known abbreviation, an
    initial ("H. pylori") or inside a number ("2.5 mg") does not end one."""
    out: list[str] = []
    for line in text.splitlines():
        line = _LIST_MARK.sub("", line).strip()
        start = 0
        for m in _END.finditer(line):
            words = line[start : m.start()].split()
            last = words[-1].lower().rstrip(".") if words else ""
            if last in _ABBREV or (len(last) == 1 and last.isalpha()):
                continue
            out.append(line[start : m.end()].strip())
            start = m.end()
        if line[start:].strip():
            out.append(line[start:].strip())
    return out


def claim_text(reasoning: str, *, include_conclusion: bool = False) -> str:
    """The part of a reasoning whose sentences are checked (see the module doc)."""
    parts = split_sections(reasoning)
    if parts is None:
        return reasoning if include_conclusion else strip_conclusion(reasoning)
    _, process, conclusion = parts
    return f"{process}\n{conclusion}" if include_conclusion else process


# -- checking -------------------------------------------------------------------------------
class ClaimChecker:
    def __init__(
        self,
        kg: KnowledgeGraph,
        finder: MentionFinder,
        cfg: ClaimCheckConfig,
        *,
        hub_penalty: float = DEFAULT_HUB_PENALTY,  # [paths] hub_penalty: ranks the support
    ) -> None:
        self.kg = kg
        self.finder = finder
        self.cfg = cfg
        self.hub_penalty = hub_penalty
        deg = cfg.max_intermediate_degree
        self._filter = PathFilter(max_degree=deg) if deg is not None else None

    def entities(self, sentence: str) -> list[str]:
        """Distinct KG ids named in a sentence, in mention order."""
        links = sorted(self.finder.link_text(sentence), key=lambda e: e.start)
        seen: dict[str, None] = {}
        for link in links:
            if self.kg.index_of(link.kg_id) is not None:
                seen.setdefault(link.kg_id, None)
        return list(seen)

    def support(self, ids: list[str]) -> list[str] | None:
        """Node ids of a shortest admissible path joining two of `ids`, or None. One search
        for all pairs: a node-set query from the set to itself never pairs a node with
        itself, and its shortest result is the closest pair's."""
        idx = [i for i in (self.kg.index_of(x) for x in ids) if i is not None]
        res = shortest_paths(
            self.kg,
            idx,
            idx,
            max_hops=self.cfg.max_hops,
            cap=1,
            filters=self._filter,
            hub_penalty=self.hub_penalty,
        )
        return list(res.paths[0].ids(self.kg)) if res.paths else None

    def claims(self, text: str, cited: Sequence[Sequence[str]] = ()) -> tuple[int, list[Claim]]:
        """(number of sentences, the claims among them) of an already selected text.
        `cited`: node ids of the row's own KG paths, whose hops the rule checks verify edge
        by edge; two entities on one of them are backed by it, however long it is (the
        sentence that sums up a 3-hop path names its two ends)."""
        sentences = split_sentences(text)
        on_path = [set(p) for p in cited]
        out: list[Claim] = []
        for sentence in sentences:
            ids = self.entities(sentence)
            if len(ids) < 2:
                continue
            path = next(
                (list(p) for p, s in zip(cited, on_path, strict=True) if len(s & set(ids)) >= 2),
                None,
            )
            path = path or self.support(ids)
            claim = Claim(text=sentence, entities=ids, supported=path is not None, path=path or [])
            out.append(claim)
        return len(sentences), out

    def check(self, item: GeneratedQA | str) -> ClaimReport:
        """Counts for one row (or a reasoning text with its three sections)."""
        reasoning = item if isinstance(item, str) else item.generation.reasoning
        cited = [] if isinstance(item, str) else [_node_ids(p) for p in item.pathed.paths]
        text = claim_text(reasoning, include_conclusion=self.cfg.include_conclusion)
        n_sentences, claims = self.claims(text, cited)
        bad = [c.text for c in claims if not c.supported]
        ratio = len(bad) / len(claims) if claims else 0.0
        return ClaimReport(
            sentences=n_sentences,
            claims=len(claims),
            supported=len(claims) - len(bad),
            unsupported=len(bad),
            unsupported_claims=bad,
            passed=ratio <= self.cfg.max_unsupported_ratio,
        )


def _node_ids(path: KGPath) -> list[str]:
    """A path's nodes in walking order."""
    ids = [path.start_id]
    for hop in path.hops:
        ids.append(hop.tail_id if hop.head_id == ids[-1] else hop.head_id)
    return ids
