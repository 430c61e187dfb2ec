"""The rule checks (registered in kgsynth.verify.builtin):

(a) KG-faithful: every hop of every path written in the reasoning is an edge of the KG;
(b) the conclusion agrees with the gold answer (option letter or normalised text);
(c) no leakage wording ("the given answer", "the provided paths", ...).
"""

from __future__ import annotations

import re
from importlib import resources

import polars as pl

from kgsynth.config import VerifyConfig
from kgsynth.kg.graph import KnowledgeGraph
from kgsynth.linking.normalise import norm_key
from kgsynth.paths.format import parse_path_line
from kgsynth.records import GeneratedQA, QARecord

_LETTER = re.compile(
    r"\b(?:answer|option|choice)\s*(?:is|would be|:)?\s*:?\s*\(?([A-J])\)?(?=[\s.:,)]|$)",
    re.IGNORECASE,
)


def _load_phrases() -> list[str]:
    text = resources.files("kgsynth.verify").joinpath("leakage_phrases.txt").read_text("utf-8")
    return [ln.strip().lower() for ln in text.splitlines() if ln.strip() and not ln.startswith("#")]


class Verifier:
    def __init__(self, kg: KnowledgeGraph, cfg: VerifyConfig) -> None:
        self.kg = kg
        self.cfg = cfg
        self.phrases = _load_phrases()
        # names are not unique (OMIM and Orphanet share disease names): name -> node indices
        grouped = (
            kg.nodes.with_row_index("idx")
            .group_by(pl.col("name").str.to_lowercase().alias("lname"))
            .agg("idx")
        )
        self._by_name: dict[str, list[int]] = dict(
            zip(grouped["lname"].to_list(), grouped["idx"].to_list(), strict=True)
        )

    # (a) -------------------------------------------------------------------------------
    def _edge_by_names(self, head: str, rel: str, tail: str) -> bool:
        kg = self.kg
        for h in self._by_name.get(head.lower(), []):
            for t in self._by_name.get(tail.lower(), []):
                if kg.has_edge(kg.ids[h], rel, kg.ids[t]):
                    return True
        return False

    def kg_faithful(self, item: GeneratedQA) -> list[str]:
        reasons: list[str] = []
        for path in item.pathed.paths:
            for hop in path.hops:
                if not self.kg.has_edge(hop.head_id, hop.relation, hop.tail_id):
                    reasons.append(
                        f"path hop not in KG: {hop.head_id} {hop.relation} {hop.tail_id}"
                    )
        cited = 0
        for line in item.generation.reasoning.splitlines():
            triples = parse_path_line(re.sub(r"^\s*\d+[.)]\s*", "", line))
            if not triples:
                continue
            for head, rel, tail in triples:
                cited += 1
                if not self._edge_by_names(head, rel, tail):
                    reasons.append(f"cited hop not in KG: {head} -[{rel}]-> {tail}")
        if cited == 0:
            reasons.append("no KG path cited in the reasoning")
        return reasons

    # (b) -------------------------------------------------------------------------------
    @staticmethod
    def answer_agrees(qa: QARecord, conclusion: str) -> str | None:
        """None when the conclusion agrees with the gold answer, else the reason."""
        letters = {m.group(1).upper() for m in _LETTER.finditer(conclusion)}
        letters &= set(qa.options) if qa.options else letters
        if letters:
            if letters == {qa.answer_idx}:
                return None
            return f"conclusion names option(s) {sorted(letters)}, gold is {qa.answer_idx}"
        concl = f" {norm_key(conclusion)} "
        gold = norm_key(qa.answer)
        if not gold or f" {gold} " not in concl:
            return "conclusion does not state the gold answer"
        others = [
            t
            for k, t in qa.options.items()
            if k != qa.answer_idx
            and (key := norm_key(t))
            and key not in gold
            and f" {key} " in concl
        ]
        if others:
            return f"conclusion also states other option(s): {others}"
        return None

    # (c) -------------------------------------------------------------------------------
    def leakage(self, text: str) -> list[str]:
        low = " ".join(text.lower().split())
        return [f"leakage wording: '{p}'" for p in self.phrases if p in low]
