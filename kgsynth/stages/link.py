"""Link stage: QA rows -> rows with KG entities in the question and the answer.

scispaCy-style linking (kgsynth.linking) over every row; with an LLM writer, MedReason's typed
entity extraction (and disambiguation) adds the LLM's entities beside the linker's mentions.
A row leaves when its answer links to no KG node (no_answer_entity), when its question has no
finding the patient *has* (no_question_entity: negated, family, historical and hypothetical
mentions stay on the record as pertinent negatives and context, but do not count), or when
more than linking.max_unlinked_options of its options link to nothing (options_unlinked).
A row whose LLM extraction got no usable reply leaves at stage `llm` instead, before any of
those verdicts: what the linker alone found is not what the row would have had.
"""

from __future__ import annotations

from kgsynth import resources
from kgsynth.config import BuildConfig
from kgsynth.records import LinkedQA, QARecord
from kgsynth.stages import (
    BuildContext,
    Stage,
    StageBase,
    StageInfo,
    StageResult,
    llm_reject,
    reject,
    tracked,
)


class LinkInfo(StageInfo):
    index: str  # "cached" or "built": the alias index of this run
    aliases: int
    question_linked: int  # rows with a present question entity
    answer_linked: int  # rows with an answer entity
    question_mentions: dict[str, int] = {}  # question entities by assertion
    options: int = 0  # options seen, on rows with options
    options_linked: int = 0  # of them, linked to a node no other option shares

    def merge(self, other: StageInfo) -> LinkInfo:
        assert isinstance(other, LinkInfo)
        return self.model_copy(
            update={
                "index": "built" if "built" in (self.index, other.index) else "cached",
                "question_linked": self.question_linked + other.question_linked,
                "answer_linked": self.answer_linked + other.answer_linked,
                "question_mentions": {
                    k: self.question_mentions.get(k, 0) + other.question_mentions.get(k, 0)
                    for k in sorted(set(self.question_mentions) | set(other.question_mentions))
                },
                "options": self.options + other.options,
                "options_linked": self.options_linked + other.options_linked,
            }
        )


class LinkStage(StageBase):
    stage = Stage.LINK

    def __init__(self, cfg: BuildConfig) -> None:
        self.linking, self.chain, self.cache_dir = cfg.linking, cfg.chain, cfg.cache_dir

    def run(self, batch: list[QARecord | LinkedQA], ctx: BuildContext) -> StageResult[LinkedQA]:
        # imported here: a build whose shards all come from the shard cache needs none of it
        from kgsynth.chain.run import extract_entities
        from kgsynth.llm.structured import StepFailure

        linker = resources.worker_linker(ctx.graph, self.linking, self.cache_dir)
        # rows the decontam stage linked (with this linker) before checking them come linked
        items = [
            qa if isinstance(qa, LinkedQA) else linker(qa) for qa in tracked(self.stage, batch)
        ]
        out = StageResult[LinkedQA](kept=[])
        if ctx.chain is not None and self.chain.extract_entities:
            # MedReason: the LLM's typed entities beside the scispaCy mentions
            linked = items
            extracted = extract_entities(
                items,
                ctx.chain,
                linker,
                sorted(set(ctx.graph.types)),
                disambiguate=self.chain.disambiguate,
                max_entities=self.linking.max_entities,
            )
            items = []
            for lk, got in zip(linked, extracted, strict=True):
                if isinstance(got, StepFailure):
                    out.rejects.append(llm_reject(lk.qa, got))
                else:
                    items.append(got)
        max_unlinked = self.linking.max_unlinked_options
        for item in items:
            qa = item.qa
            unlinked = sorted(k for k, links in item.option_entities.items() if not links)
            if not item.answer_entities:
                detail = f"answer '{qa.answer[:80]}'"
                out.rejects.append(reject(qa, self.stage, "no_answer_entity", detail))
            elif not has_present_finding(item):
                out.rejects.append(
                    reject(qa, self.stage, "no_question_entity", question_detail(item))
                )
            elif item.option_entities and len(unlinked) > max_unlinked * len(item.option_entities):
                detail = (
                    f"{len(unlinked)} of {len(item.option_entities)} options unlinked: "
                    + ", ".join(unlinked)
                )
                out.rejects.append(reject(qa, self.stage, "options_unlinked", detail))
            else:
                out.kept.append(item)
        mentions: dict[str, int] = {}
        for i in items:
            for e in i.question_entities:
                mentions[e.assertion] = mentions.get(e.assertion, 0) + 1
        out.info = LinkInfo(
            index="cached" if linker.index_cached else "built",
            aliases=len(linker.aliases),
            question_linked=sum(has_present_finding(i) for i in items),
            answer_linked=sum(bool(i.answer_entities) for i in items),
            question_mentions=dict(sorted(mentions.items())),
            options=sum(len(i.option_entities) for i in items),
            options_linked=sum(bool(v) for i in items for v in i.option_entities.values()),
        )
        return out


def has_present_finding(item: LinkedQA) -> bool:
    """Whether the question states at least one linked finding the patient has."""
    return any(e.assertion == "present" for e in item.question_entities)


def question_detail(item: LinkedQA) -> str:
    if not item.question_entities:
        return "no KG entity in question"
    counts: dict[str, int] = {}
    for e in item.question_entities:
        counts[e.assertion] = counts.get(e.assertion, 0) + 1
    said = ", ".join(f"{n} {k}" for k, n in sorted(counts.items()))
    negated = counts.get("absent", 0)
    return f"no present KG entity in question ({negated} negated; mentions: {said})"
