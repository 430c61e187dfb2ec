"""Check a sampled chain's answer is unique in the KG, and pick distractors that fail it.

Unique: of the nodes the chain's constraint reaches from its start (kgsynth.synth.reach),
exactly one has the answer's type, and it is the chain's end. Distractors: KG nodes of the
answer's type outside that reached set (so they fail the chain), never on the chain, with
names distinct from each other, from the answer and from every reached node (a name shared
with a reached node would make the option ambiguous), preferring degrees close to the
answer's so an option's popularity does not give the answer away.

Nothing may give the answer away (kgsynth.synth.giveaway): an answer too generic to ask for
(an ontology root or grouping term, a bare generic word) is rejected (`generic_answer`) and
never drawn as a distractor; distractors sharing the answer's wording class (leading word,
head noun, shape, form words) are drawn first, and a question whose answer is still the only
option of its kind in one of these is rejected (`answer_stands_out`).
"""

from __future__ import annotations

import numpy as np

from kgsynth.kg.graph import KnowledgeGraph
from kgsynth.paths.format import format_path
from kgsynth.records import Hop, KGPath, Reject
from kgsynth.synth.config import SynthConfig
from kgsynth.synth.giveaway import generic_reason, option_forms
from kgsynth.synth.reach import reachable
from kgsynth.synth.records import Chain, Node, PosedChain
from kgsynth.synth.sample import POSE, attempt_rng, generic_nodes, type_codes

WINDOW = 10  # distractors are drawn from the WINDOW * needed nodes nearest in degree

ChainKey = tuple[str, tuple[tuple[str, bool], ...], tuple[str, ...]]


def chain_key(chain: Chain) -> ChainKey:
    """What a question says: its start, steps and node types (not the nodes walked)."""
    steps = tuple((s.relation, s.forward) for s in chain.steps)
    return chain.start.id, steps, tuple(n.type for n in chain.nodes)


def id_path(path: KGPath) -> str:
    """The chain in arrow notation with node ids for names (a reject's detail)."""
    hops = [
        Hop(
            head_id=h.head_id,
            head_name=h.head_id,
            relation=h.relation,
            tail_id=h.tail_id,
            tail_name=h.tail_id,
        )
        for h in path.hops
    ]
    return format_path(path.model_copy(update={"hops": hops}))


class ChainPoser:
    """Chain -> PosedChain, or a Reject: `generic_answer`, `answer_not_unique`,
    `duplicate_chain` (a question an earlier attempt already asks), `too_few_distractors`
    or `answer_stands_out`."""

    def __init__(self, kg: KnowledgeGraph, cfg: SynthConfig) -> None:
        self.kg, self.cfg = kg, cfg
        self.type_names, self.type_code = type_codes(kg)
        self.lname = np.asarray([n.casefold() for n in kg.names], dtype=object)
        self.logdeg = np.log1p(kg.degree)
        connected = kg.degree > 0
        self.generic = generic_nodes(kg, cfg)
        if self.generic is not None:
            connected = connected & ~self.generic
        self.forms = (
            option_forms(kg, cfg.wording_min_names, cfg.form_words) if cfg.wording_check else None
        )
        self.pool = [
            np.nonzero(connected & (self.type_code == t))[0] for t in range(len(self.type_names))
        ]

    def __call__(self, chain: Chain, seen: set[ChainKey]) -> PosedChain | Reject:
        kg = self.kg
        start, answer = kg.index_of(chain.start.id), kg.index_of(chain.answer.id)
        assert start is not None and answer is not None
        if self.generic is not None and self.generic[answer]:
            cfg = self.cfg
            why = generic_reason(
                kg, answer, cfg.min_answer_depth, cfg.max_answer_descendants, cfg.generic_words
            )
            return self._reject(chain, "unique", "generic_answer", why or "a generic answer")
        reach = reachable(kg, start, chain.steps)
        t = self.type_code[answer]
        same = reach[self.type_code[reach] == t]
        if len(same) != 1 or same[0] != answer:
            return self._reject(
                chain,
                "unique",
                "answer_not_unique",
                f"{len(same)} {chain.answer.type} nodes satisfy {id_path(chain.path)}",
            )
        key = chain_key(chain)
        if key in seen:
            return self._reject(chain, "unique", "duplicate_chain", "an earlier attempt asks this")
        seen.add(key)
        distractors = self.distractors(chain, answer, reach)
        need = self.cfg.n_options - 1
        if len(distractors) < need:
            return self._reject(
                chain,
                "distractors",
                "too_few_distractors",
                f"{len(distractors)} of {need} {chain.answer.type} nodes fail the chain",
            )
        if self.forms is not None:
            t = chain.answer.type
            standing = self.forms.stands_out(
                self.forms.of_name(chain.answer.name, t),
                [self.forms.of_name(d.name, t) for d in distractors],
            )
            if standing:
                return self._reject(
                    chain,
                    "distractors",
                    "answer_stands_out",
                    f"'{chain.answer.name}' is " + "; ".join(standing),
                )
        return PosedChain(chain=chain, distractors=distractors)

    def distractors(self, chain: Chain, answer: int, reach: np.ndarray) -> list[Node]:
        kg, need = self.kg, self.cfg.n_options - 1
        rng = attempt_rng(self.cfg.seed, chain.attempt, POSE)
        on_chain = np.fromiter((kg.index_of(n.id) for n in chain.nodes), np.int64)
        pool = self.pool[self.type_code[answer]]
        cand = pool[~np.isin(pool, reach) & ~np.isin(pool, on_chain)]
        if not len(cand):
            return []
        # nearest in log-degree; the random jitter breaks the (many) ties at random
        gap = np.abs(self.logdeg[cand] - self.logdeg[answer]) + rng.random(len(cand)) * 1e-6
        order = cand[np.argsort(gap, kind="stable")]
        k = WINDOW * need
        # a random draw from the nearest; further ones only when names rule those out
        order = np.concatenate([order[:k][rng.permutation(min(k, len(order)))], order[k:]])
        if self.forms is not None:
            # those of the answer's wording class first, so its form does not give it away
            order = order[np.argsort(-self.forms.shared(answer, order), kind="stable")]
        banned = set(self.lname[reach]) | set(self.lname[on_chain])
        picked: list[Node] = []
        for i in order.tolist():
            name = self.lname[i]
            if name in banned:
                continue
            banned.add(name)
            picked.append(Node(id=kg.ids[i], name=kg.names[i], type=kg.types[i]))
            if len(picked) == need:
                break
        return picked

    def _reject(self, chain: Chain, stage: str, reason: str, detail: str) -> Reject:
        return Reject(id=chain.id, stage=stage, reason=reason, detail=detail)
