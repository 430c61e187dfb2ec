"""Chain sampling: seeded random walks on the CSR from rare start entities.

Each attempt has its own RNG, seeded by (seed, attempt, stage), so an attempt's chain does
not depend on how attempts are batched, and a run for N rows is a prefix of one for more.

A walk is a simple path: a step never returns to a node already on it. Type and relation
constraints (start/answer types, allowed relations, metapaths) are boolean masks over nodes
and CSR entries, applied to a whole row of candidate steps at once. They are folded, once
per run and vectorised over all CSR entries, into "can still finish" masks per position, so
a walk never steps onto a node from which no allowed chain of the remaining length exists.

The walk looks ahead rather than walking blindly: most multi-hop walks in a dense KG end
on an answer that many other nodes share (a blind walk on HPO keeps ~10% of 2-hop and <1%
of 4-hop chains). It carries the set the chain's constraint reaches so far (see
kgsynth.synth.reach) and picks among the available (relation, direction) steps with weight
1 / size of the set each would reach, so it favours steps that keep the constraint narrow;
on the last step it picks among the moves that end on an answer unique of its type, when
any exists, else any move (that chain is then rejected as not unique by the check stage,
which decides uniqueness on its own, from the chain alone). Answers too generic to ask for
(kgsynth.synth.giveaway: ontology roots and their top levels, bare generic words) are left
out of the answer mask, so no walk ends on one.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from kgsynth.errors import ConfigError
from kgsynth.kg.graph import KnowledgeGraph
from kgsynth.paths.filters import Metapath, PathFilter, compile_filter
from kgsynth.paths.result import path_score
from kgsynth.paths.search import DEFAULT_HUB_PENALTY, cached_node_costs
from kgsynth.records import Hop, KGPath, Reject
from kgsynth.synth.config import MAX_HOPS, MIN_HOPS, SynthConfig
from kgsynth.synth.giveaway import generic_mask
from kgsynth.synth.reach import entry_keys, key_step, successor_sets
from kgsynth.synth.records import Chain, Node

# stage codes mixed into each attempt's seed, so stages draw independent numbers
SAMPLE, POSE, WRITE = 1, 2, 3


def attempt_rng(seed: int, attempt: int, stage: int) -> np.random.Generator:
    return np.random.default_rng([seed, attempt, stage])


def attempt_id(seed: int, attempt: int) -> str:
    return f"kg-s{seed}-a{attempt:06d}"


def type_codes(kg: KnowledgeGraph) -> tuple[list[str], np.ndarray]:
    """Sorted type names and each node's index into them."""
    names, codes = np.unique(np.asarray(kg.types, dtype=object), return_inverse=True)
    return [str(t) for t in names], codes.astype(np.int64)


def _type_mask(kg: KnowledgeGraph, wanted: list[str] | None, what: str) -> np.ndarray | None:
    if wanted is None:
        return None
    unknown = set(wanted) - set(kg.types)
    if unknown:
        raise ConfigError(
            f"unknown {what} type(s) {sorted(unknown)}; KG has {sorted(set(kg.types))}"
        )
    return np.isin(np.asarray(kg.types, dtype=object), list(wanted))


def generic_nodes(kg: KnowledgeGraph, cfg: SynthConfig) -> np.ndarray | None:
    """Nodes too generic to be an answer or a distractor (None: those rules are off)."""
    if not cfg.generic_rules:
        return None
    return generic_mask(kg, cfg.min_answer_depth, cfg.max_answer_descendants, cfg.generic_words)


def _masked(mask: np.ndarray, extra: np.ndarray | None) -> np.ndarray:
    return mask if extra is None else mask & extra


@dataclass(frozen=True)
class Plan:
    """One family of chains (all hop counts, or one metapath) as node masks.

    `finish[pos]` (metapath) or `finish[hops - pos]` (otherwise) says which nodes may stand
    at position `pos` of a chain and still complete it within the constraints, so a walk
    never steps onto a node it cannot finish from (only the simple-path rule can still
    strand it)."""

    starts: dict[int, np.ndarray]  # hop count -> rare start nodes able to walk that far
    threshold: float  # the degree at or below which a start counts as rare
    finish: tuple[np.ndarray, ...]
    hop_entries: tuple[np.ndarray | None, ...] | None  # metapath: per hop
    entry_ok: np.ndarray | None  # no metapath: every hop
    metapath: bool
    label: str

    def node_mask(self, pos: int, hops: int) -> np.ndarray:
        return self.finish[pos] if self.metapath else self.finish[hops - pos]

    def entry_mask(self, hop: int) -> np.ndarray | None:
        return self.entry_ok if self.hop_entries is None else self.hop_entries[hop]


def _can_step(kg: KnowledgeGraph, entry_ok: np.ndarray | None, to: np.ndarray) -> np.ndarray:
    """Nodes with an allowed CSR entry to a node in `to` (vectorised over all entries)."""
    ok = to[kg.indices]
    if entry_ok is not None:
        ok &= entry_ok
    rows = np.repeat(np.arange(kg.n_nodes), kg.degree)
    return np.bincount(rows[ok], minlength=kg.n_nodes) > 0


def _rare_starts(
    kg: KnowledgeGraph, able: dict[int, np.ndarray], percentile: float
) -> tuple[dict[int, np.ndarray], float]:
    """Per hop count, the nodes able to start such a chain whose degree is at or below the
    percentile of the degrees of all nodes able to start any chain of the plan."""
    pool = np.logical_or.reduce(list(able.values())) & (kg.degree > 0)
    if not pool.any():
        return {}, 0.0
    threshold = float(np.percentile(kg.degree[pool], percentile))
    rare = pool & (kg.degree <= threshold)
    starts = {h: np.nonzero(rare & m)[0].astype(np.int64) for h, m in able.items()}
    return {h: s for h, s in starts.items() if len(s)}, threshold


def build_plans(kg: KnowledgeGraph, cfg: SynthConfig) -> list[Plan]:
    start_t = _type_mask(kg, cfg.start_types, "start")
    answer_t = _type_mask(kg, cfg.answer_types, "answer")
    if (generic := generic_nodes(kg, cfg)) is not None:
        answer_t = _masked(~generic, answer_t)  # a walk never ends on a generic answer
    try:
        if not cfg.metapaths:
            plans = [_hops_plan(kg, cfg, start_t, answer_t)]
        else:
            plans = [_metapath_plan(kg, cfg, text, start_t, answer_t) for text in cfg.metapaths]
    except ValueError as e:  # unknown relation or type in a filter or metapath
        raise ConfigError(str(e)) from e
    plans = [p for p in plans if p.starts]
    if not plans:
        raise ConfigError("no start entity can begin a chain under these constraints")
    return plans


def _hops_plan(
    kg: KnowledgeGraph, cfg: SynthConfig, start_t: np.ndarray | None, answer_t: np.ndarray | None
) -> Plan:
    entry_ok = compile_filter(kg, PathFilter(relations=cfg.relations)).entry_ok
    finish = [np.ones(kg.n_nodes, bool) if answer_t is None else answer_t]
    for _ in range(cfg.max_hops):
        finish.append(_can_step(kg, entry_ok, finish[-1]))
    able = {h: _masked(finish[h], start_t) for h in range(cfg.min_hops, cfg.max_hops + 1)}
    starts, threshold = _rare_starts(kg, able, cfg.rare_percentile)
    label = f"{cfg.min_hops}-{cfg.max_hops} hops"
    if cfg.min_hops == cfg.max_hops:
        label = f"{cfg.min_hops} hops"
    return Plan(starts, threshold, tuple(finish), None, entry_ok, False, label)


def _metapath_plan(
    kg: KnowledgeGraph,
    cfg: SynthConfig,
    text: str,
    start_t: np.ndarray | None,
    answer_t: np.ndarray | None,
) -> Plan:
    mp = Metapath.parse(text)
    if not MIN_HOPS <= mp.hops <= MAX_HOPS:
        raise ValueError(f"metapath {text!r} has {mp.hops} hops; chains have {MIN_HOPS}-{MAX_HOPS}")
    masks = compile_filter(kg, PathFilter(relations=cfg.relations, metapath=mp))
    assert masks.pos_nodes is not None and masks.pos_entries is not None
    pos = list(masks.pos_nodes)
    pos[0], pos[-1] = _masked(pos[0], start_t), _masked(pos[-1], answer_t)
    finish = [pos[-1]]
    for hop in range(mp.hops - 1, -1, -1):
        finish.insert(0, pos[hop] & _can_step(kg, masks.pos_entries[hop], finish[0]))
    starts, threshold = _rare_starts(kg, {mp.hops: finish[0]}, cfg.rare_percentile)
    return Plan(starts, threshold, tuple(finish), tuple(masks.pos_entries), None, True, text)


class ChainSampler:
    """attempt number -> a Chain, or a Reject when the walk cannot go on (`dead_end`)."""

    def __init__(self, kg: KnowledgeGraph, cfg: SynthConfig) -> None:
        self.kg, self.cfg = kg, cfg
        self.plans = build_plans(kg, cfg)
        self.keys = entry_keys(kg)
        self.type_names, self.type_code = type_codes(kg)
        # SynthConfig has no [paths] section: scores use the default hub penalty
        self.costs = cached_node_costs(kg, DEFAULT_HUB_PENALTY)

    def __call__(self, attempt: int) -> Chain | Reject:
        kg, rng = self.kg, attempt_rng(self.cfg.seed, attempt, SAMPLE)
        plan = self.plans[int(rng.integers(len(self.plans)))]
        hop_counts = sorted(plan.starts)
        hops = hop_counts[int(rng.integers(len(hop_counts)))]
        starts = plan.starts[hops]
        path = [int(starts[rng.integers(len(starts))])]
        entries: list[int] = []
        reach = np.array(path, np.int64)
        for hop in range(hops):
            cand = self._moves(plan, path, hop, hops)
            if not len(cand):
                return Reject(
                    id=attempt_id(self.cfg.seed, attempt),
                    stage="sample",
                    reason="dead_end",
                    detail=f"no allowed unvisited neighbour of {kg.ids[path[-1]]} "
                    f"for hop {hop + 1} of {hops}",
                )
            avail = np.unique(self.keys[cand])
            succ = successor_sets(kg, reach, avail)
            j = self._pick(cand, avail, succ, last=hop == hops - 1, rng=rng)
            entries.append(j)
            path.append(int(kg.indices[j]))
            reach = succ[int(self.keys[j])]
        return self._chain(attempt, path, entries)

    def _moves(self, plan: Plan, path: list[int], hop: int, hops: int) -> np.ndarray:
        """CSR entries leaving the walk's last node that a step may take."""
        kg = self.kg
        js = np.arange(kg.indptr[path[-1]], kg.indptr[path[-1] + 1], dtype=np.int64)
        nb = kg.indices[js]
        ok = ~np.isin(nb, path)  # simple paths only
        if (em := plan.entry_mask(hop)) is not None:
            ok &= em[js]
        ok &= plan.node_mask(hop + 1, hops)[nb]  # a node the chain can finish from
        return js[ok]

    def _pick(
        self,
        cand: np.ndarray,
        avail: np.ndarray,
        succ: dict[int, np.ndarray],
        *,
        last: bool,
        rng: np.random.Generator,
    ) -> int:
        keys = self.keys[cand]
        if not last:
            # a narrower reached set is likelier to end on a unique answer
            weight = np.array([1.0 / len(succ[int(k)]) for k in avail])
            key = avail[rng.choice(len(avail), p=weight / weight.sum())]
            cand = cand[keys == key]
        else:
            n_types = len(self.type_names)
            per_type = {
                int(k): np.bincount(self.type_code[succ[int(k)]], minlength=n_types) for k in avail
            }
            ends = self.type_code[self.kg.indices[cand]]
            unique = np.array([per_type[int(k)][t] == 1 for k, t in zip(keys, ends, strict=True)])
            if unique.any():
                cand = cand[unique]
        return int(cand[rng.integers(len(cand))])

    def _chain(self, attempt: int, path: list[int], entries: list[int]) -> Chain:
        kg = self.kg
        nodes = [Node(id=kg.ids[i], name=kg.names[i], type=kg.types[i]) for i in path]
        steps = [key_step(kg, int(self.keys[j])) for j in entries]
        hops = []
        for (u, v), step in zip(zip(path, path[1:], strict=False), steps, strict=True):
            h, t = (u, v) if step.forward else (v, u)
            hops.append(
                Hop(
                    head_id=kg.ids[h],
                    head_name=kg.names[h],
                    relation=step.relation,
                    tail_id=kg.ids[t],
                    tail_name=kg.names[t],
                )
            )
        kgpath = KGPath(
            start_id=nodes[0].id,
            end_id=nodes[-1].id,
            hops=hops,
            score=path_score(self.costs, tuple(path)),
        )
        return Chain(
            id=attempt_id(self.cfg.seed, attempt),
            attempt=attempt,
            nodes=nodes,
            steps=steps,
            path=kgpath,
        )
