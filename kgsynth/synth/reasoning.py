"""The thinking trace of a KG-first row: it follows the chain, hop by hop.

The three-part layout of every row, with the per-relation hop sentences
(kgsynth.writer.hops): the chain as the one reasoning path, one sentence per hop from the
relation templates, then why the answer is the only option the chain reaches.
"""

from __future__ import annotations

from kgsynth.paths.format import format_path
from kgsynth.records import Generation, QARecord
from kgsynth.sections import join_sections
from kgsynth.synth.question import type_text
from kgsynth.synth.records import PosedChain
from kgsynth.writer.hops import HopSentences, join_names


class ChainReasoner:
    def __init__(self) -> None:
        self._hops = HopSentences()  # the per-relation sentences (relations.v2)
        self.prompt_version = self._hops.prompt_version

    def __call__(
        self, posed: PosedChain, qa: QARecord, *, generator: str, model: str, prompt_version: str
    ) -> Generation:
        chain = posed.chain
        start, answer = chain.start, chain.answer
        steps = [f"The question starts from {start.name}, a {type_text(start.type)}."]
        steps += [self._hops.sentence(hop) for hop in chain.path.hops]
        steps.append(
            f"Following these links step by step from {start.name} leads to {answer.name}, "
            f"the only {type_text(answer.type)} the chain reaches."
        )
        others = [t for k, t in qa.options.items() if k != qa.answer_idx]
        if others:
            steps.append(f"The chain does not reach {join_names(others)}, so they do not fit.")
        conclusion = f"The answer is {qa.answer_idx}: {qa.answer}."
        return Generation(
            reasoning=join_sections([format_path(chain.path)], steps, conclusion),
            conclusion=conclusion,
            generator=generator,
            model=model,
            prompt_version=prompt_version,
        )
