"""One sentence per KG hop, from the per-relation templates (relations.v2).

What the KG-first reasoner (kgsynth.synth.reasoning) writes along its chain; kept apart from
the offline differential writer, whose phrasing and version are its own.
"""

from __future__ import annotations

from kgsynth.llm.prompts import RELATIONS, relation_templates
from kgsynth.records import Hop


def join_names(items: list[str]) -> str:
    """Names as prose: "a", "a and b", "a, b and c"."""
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + " and " + items[-1]


class HopSentences:
    prompt_version = RELATIONS

    def __init__(self) -> None:
        self.templates = relation_templates(RELATIONS)

    def sentence(self, hop: Hop) -> str:
        tpl = self.templates.get(hop.relation, self.templates["_default"])
        text = tpl.format(head=hop.head_name, tail=hop.tail_name, relation=hop.relation)
        return text[0].upper() + text[1:]
