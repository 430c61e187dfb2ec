"""Link stage: QA rows -> rows with KG entities in the question and the answer.

scispaCy-style linking (kgsynth.linking) over every row; with an LLM writer, MedReason's typed
entity extraction (and disambiguation) adds the LLM's entities beside the linker's mentions.
A row leaves when its answer or its question links to no KG node.
"""

from __future__ import annotations

from kgsynth import resources
from kgsynth.chain.run import extract_entities
from kgsynth.records import LinkedQA, QARecord
from kgsynth.stages import BuildContext, Stage, StageBase, StageInfo, StageResult, reject, tracked


class LinkInfo(StageInfo):
    index: str  # "cached" or "built": the alias index of this run
    aliases: int
    question_linked: int  # rows with a question entity
    answer_linked: int  # rows with an answer entity

    def merge(self, other: StageInfo) -> LinkInfo:
        assert isinstance(other, LinkInfo)
        return self.model_copy(
            update={
                "index": "built" if "built" in (self.index, other.index) else "cached",
                "question_linked": self.question_linked + other.question_linked,
                "answer_linked": self.answer_linked + other.answer_linked,
            }
        )


class LinkStage(StageBase):
    stage = Stage.LINK

    def run(self, batch: list[QARecord], ctx: BuildContext) -> StageResult[LinkedQA]:
        cfg = ctx.cfg
        linker = resources.worker_linker(ctx.graph, cfg.linking, cfg.cache_dir)
        items = [linker(qa) for qa in tracked(self.stage, batch)]
        if ctx.chain is not None and cfg.chain.extract_entities:
            # MedReason: the LLM's typed entities beside the scispaCy mentions
            items = extract_entities(
                items,
                ctx.chain,
                linker,
                sorted(set(ctx.graph.types)),
                disambiguate=cfg.chain.disambiguate,
                max_entities=cfg.linking.max_entities,
            )
        out = StageResult[LinkedQA](kept=[])
        for item in items:
            qa = item.qa
            if not item.answer_entities:
                detail = f"answer '{qa.answer[:80]}'"
                out.rejects.append(reject(qa, self.stage, "no_answer_entity", detail))
            elif not item.question_entities:
                detail = "no KG entity in question"
                out.rejects.append(reject(qa, self.stage, "no_question_entity", detail))
            else:
                out.kept.append(item)
        out.info = LinkInfo(
            index="cached" if linker.index_cached else "built",
            aliases=len(linker.aliases),
            question_linked=sum(bool(i.question_entities) for i in items),
            answer_linked=sum(bool(i.answer_entities) for i in items),
        )
        return out
