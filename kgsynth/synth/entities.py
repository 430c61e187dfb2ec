"""The entity links of a KG-first row: the chain's start in the question, its end as the
answer. They are known, not linked: the question was written around the start entity."""

from __future__ import annotations

import re

from kgsynth.records import EntityLink, LinkedQA, QARecord
from kgsynth.synth.records import Chain, Node

METHOD = "kg_chain"


def _link(node: Node, text: str) -> EntityLink:
    """The node's mention in `text`: its first case-insensitive occurrence (the name itself
    at 0..0 should the text not hold it; the writers make sure it does)."""
    m = re.search(re.escape(node.name), text, re.IGNORECASE)
    return EntityLink(
        kg_id=node.id,
        name=node.name,
        type=node.type,
        mention=m.group(0) if m else node.name,
        start=m.start() if m else 0,
        end=m.end() if m else 0,
        score=1.0,
        method=METHOD,
    )


def linked_qa(chain: Chain, qa: QARecord) -> LinkedQA:
    return LinkedQA(
        qa=qa,
        question_entities=[_link(chain.start, qa.question)],
        answer_entities=[_link(chain.answer, qa.answer)],
    )
