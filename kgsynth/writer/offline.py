"""The offline writer: deterministic thinking paths from KG paths and sentence templates.

No network and no model: each hop of each kept path becomes one sentence from the
per-relation template file, framed by the question's findings and the answer option.
"""

from __future__ import annotations

from kgsynth.llm.prompts import RELATIONS, relation_templates
from kgsynth.paths.format import format_path
from kgsynth.records import Generation, Hop, PathedQA, Reject
from kgsynth.sections import join_sections

OFFLINE_MODEL = "kgsynth-offline-1"


def join_names(items: list[str]) -> str:
    """Names as prose: "a", "a and b", "a, b and c"."""
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + " and " + items[-1]


class OfflineWriter:
    name = "offline"
    model = OFFLINE_MODEL
    prompt_version = RELATIONS

    def __init__(self) -> None:
        self.templates = relation_templates(RELATIONS)

    def sentence(self, hop: Hop) -> str:
        tpl = self.templates.get(hop.relation, self.templates["_default"])
        text = tpl.format(head=hop.head_name, tail=hop.tail_name, relation=hop.relation)
        return text[0].upper() + text[1:]

    def write(self, item: PathedQA) -> Generation | Reject:
        qa = item.linked.qa
        if not item.paths:
            return Reject(
                id=qa.id, stage="generate", reason="no_paths", detail="no KG path to write along"
            )
        findings = [e.name for e in item.linked.question_entities]
        starts = {p.start_id for p in item.paths}
        used = [e.name for e in item.linked.question_entities if e.kg_id in starts]
        # one finding per sentence: a list of findings is not a claim that they are related
        # (the claim check reads every sentence naming two KG entities as one)
        steps = [f"The question mentions {name}." for name in findings]
        seen: set[str] = set()
        for path in item.paths:
            for hop in path.hops:
                s = self.sentence(hop)
                if s not in seen:  # paths share hops; state each fact once
                    seen.add(s)
                    steps.append(s)
        target = {e.kg_id: e.name for e in item.linked.answer_entities}
        ends = join_names(sorted({target.get(p.end_id, p.end_id) for p in item.paths}))
        option = f"option {qa.answer_idx} ({qa.answer})" if qa.answer_idx else qa.answer
        steps.append(
            f"Following these links from {join_names(used)} leads to {ends}, which fits {option}."
        )
        conclusion = (
            f"The answer is {qa.answer_idx}: {qa.answer}."
            if qa.answer_idx
            else f"The answer is {qa.answer}."
        )
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
