"""Generate stage: rows with KG paths -> rows with a thinking path (reasoning + conclusion).

The configured writer (kgsynth.llm.base.make_generator): the offline writer, or an
OpenAI-compatible model through this shard's client. A row the writer could not write for
leaves with the writer's reason: at `generate` for an unusable reply, at `llm` for none.
"""

from __future__ import annotations

from kgsynth.config import BuildConfig
from kgsynth.llm.base import make_generator
from kgsynth.progress import progress
from kgsynth.records import GeneratedQA, Generation, PathedQA
from kgsynth.stages import BuildContext, Stage, StageBase, StageInfo, StageResult, reject


class GeneratorInfo(StageInfo):
    name: str
    model: str
    prompt_version: str


class GenerateStage(StageBase):
    stage = Stage.GENERATE

    def __init__(self, cfg: BuildConfig) -> None:
        self.cfg = cfg  # the writer's choice, its LLM settings and cache folder

    def run(self, batch: list[PathedQA], ctx: BuildContext) -> StageResult[GeneratedQA]:
        gen = make_generator(self.cfg, ctx.client)
        progress.start(self.stage.value, len(batch))
        results = gen.generate(batch)
        progress.finish(self.stage.value)
        out = StageResult[GeneratedQA](
            kept=[],
            info=GeneratorInfo(name=gen.name, model=gen.model, prompt_version=gen.prompt_version),
        )
        for item, res in zip(batch, results, strict=True):
            if isinstance(res, Generation):
                out.kept.append(GeneratedQA(pathed=item, generation=res))
            else:  # the writer's stage (generate, or llm: no reply) and reason, on a
                # reject that says where the row came from
                stage = Stage.LLM if res.stage == Stage.LLM else self.stage
                out.rejects.append(reject(item.linked.qa, stage, res.reason, res.detail))
        return out
