"""The synthesis checks every KG-first row must pass, on top of the build's Verifier.

Both start again from the row's recorded path, not from what the sampler or the poser
computed: the path's hops give the constraint (relation, direction per step) and the
answer (its end), and the options are held to the distractor nodes the poser picked.

- `answer_unique`: the answer option names the path's end, which is the one node of its
  type the constraint reaches from the path's start.
- `distractors_fail_chain`: every other option is a distractor node of the answer's type
  that the constraint does not reach, and no reached node of that type shares its name.
"""

from __future__ import annotations

from collections import Counter

import numpy as np

from kgsynth.kg.graph import KnowledgeGraph
from kgsynth.records import KGPath, QARecord
from kgsynth.synth.reach import path_steps, reachable


class ChainChecks:
    def __init__(self, kg: KnowledgeGraph) -> None:
        self.kg = kg
        self.types = np.asarray(kg.types, dtype=object)

    def __call__(
        self, qa: QARecord, path: KGPath, distractor_ids: list[str]
    ) -> tuple[bool, bool, list[str]]:
        """(answer_unique, distractors_fail_chain, reasons for what failed)."""
        kg = self.kg
        ids, steps = path_steps(path)
        start, end = kg.index_of(ids[0]), kg.index_of(ids[-1])
        if start is None or end is None:
            return False, False, ["path endpoints are not KG nodes"]
        reach = reachable(kg, start, steps)
        answer_type = kg.types[end]
        same = reach[self.types[reach] == answer_type]
        reasons: list[str] = []
        if qa.answer != kg.names[end]:
            reasons.append(f"answer '{qa.answer}' is not the path's end '{kg.names[end]}'")
        if len(same) != 1 or same[0] != end:
            reasons.append(f"{len(same)} {answer_type} nodes satisfy the chain")
        unique = not reasons

        bad: list[str] = []
        reached = set(reach.tolist())
        reached_names = {kg.names[i].casefold() for i in same.tolist()}
        names = []
        for d in distractor_ids:
            i = kg.index_of(d)
            if i is None or kg.types[i] != answer_type:
                bad.append(f"distractor {d} is not a {answer_type} of the KG")
                continue
            names.append(kg.names[i])
            if i in reached:
                bad.append(f"distractor {d} satisfies the chain")
            elif kg.names[i].casefold() in reached_names:
                bad.append(f"distractor {d} shares its name with a node satisfying the chain")
        others = [t for k, t in qa.options.items() if k != qa.answer_idx]
        if Counter(others) != Counter(names):
            bad.append("options other than the answer are not the checked distractors")
        return unique, not bad, reasons + bad
