"""Which KG paths count as clinical support of an option, and the best such path.

A physician reads "finding f supports option O" as: O has f, or a more specific or a more
general form of f; or O is a kind of a disease class that has f; for a drug, O is used for f
or for a class f is a kind of. In KG terms a support path is

    f ~is_a~ a  -r-  b ~is_a~ o      r: one edge of any relation but is_a (a = f, b = o allowed)

or a pure is_a chain f -> o. Each ~is_a~ is a chain of is_a steps all one way, up or down (no
sibling steps: "cystitis is an inflammatory disease, so is gastroenteritis" says nothing),
of at most `finding_steps` on the finding's side. A chain may reach the *tail* of r (the
phenotype of has_phenotype, the indication of used_for) either way ("Glanzmann has
Spontaneous epistaxis, a kind of Epistaxis"), but its *head* (the disease, the drug) only by
climbing: what a class has, its kinds inherit ("ALL is a kind of leukemia, which Down
syndrome has"); what one subtype has, its class need not (`subtypes`: in medkg those are
mostly susceptibility loci and monogenic forms). A drug finding's use reaches the option
only when the option is that indication or a class of it, never a kind of it (a drug used
for dyskinesias does not treat the tardive dyskinesia it causes). Every intermediate then
lies on the is_a hierarchy of the finding or of the option.

What this leaves out is the bridge: "f is a feature of disease B, and B has (is associated
with, is treated by) the option". B is another diagnosis than the option, in medkg most often a
rare monogenic entry or a susceptibility locus that happens to list f; a gene in the middle
("keratoconjunctivitis sicca - FAS - lymphoma") is the same. In the physician audit of 50
rows of the medkg MedQA build (bench/quality_audit_verdicts_medkg.json), the paths did not
support the answer in 38; 30 of those rested on such bridges, which made 69 of their 110
gold supports (60 through another disease, 9 through a gene).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from kgsynth.evidence.specificity import IS_A
from kgsynth.kg.graph import KnowledgeGraph
from kgsynth.paths.result import found_path, path_score
from kgsynth.paths.search import csr_entries
from kgsynth.records import KGPath

USE = "used_for"  # drug -> what it is used for


@dataclass(frozen=True)
class IsAChain:
    """is_a chains from a set of start nodes: per node reached, its depth and the node
    before it (the start nodes have depth 0 and no predecessor)."""

    depth: np.ndarray  # per KG node: steps from the nearest start, -1 where not reached
    nodes: np.ndarray  # the nodes reached, starts included (sorted)
    prev: dict[int, int]
    hop_mask: np.ndarray  # CSR entries of its steps, walked from the start outwards

    def walk(self, node: int) -> list[int]:
        """The chain from its start to `node`, start first."""
        out = [node]
        while out[-1] in self.prev:
            out.append(self.prev[out[-1]])
        return out[::-1]


@dataclass(frozen=True)
class Side:
    """A finding's chain and the edges of other relations than is_a that leave it: the
    candidates for a path's one clinical edge a -r- b, found once per finding."""

    chain: IsAChain
    a: np.ndarray  # the edge's end on the chain
    b: np.ndarray  # its other end
    a_head: np.ndarray  # whether `a` is the edge's head (the disease, the drug)
    rel: np.ndarray  # the edge's relation (index into kg.relations)


Cand = tuple[tuple[int, ...], list[np.ndarray | None]]  # node path, per-hop entry masks


class ClinicalPaths:
    """The best clinical support path (module doc) from a finding to an option's nodes.

    Ranked like the free search: fewest hops, then intermediates of an avoided type last,
    then those that account for more of the row's findings (`unify`), then the least hub
    cost, then node order."""

    def __init__(
        self,
        kg: KnowledgeGraph,
        *,
        max_hops: int,
        entry_ok: np.ndarray | None,
        mid_ok: np.ndarray,
        costs: np.ndarray,
        avoided: np.ndarray,
        subtypes: bool = False,
        finding_steps: int = 1,
    ) -> None:
        self.kg = kg
        self.max_hops = max_hops
        self.finding_steps = min(finding_steps, max_hops)
        self.mid_ok = mid_ok
        self.costs = costs
        self.avoided = avoided
        self.subtypes = subtypes
        rel = kg.relations.index(IS_A) if IS_A in kg.relations else -1
        is_a = kg.edge_rel == rel
        fwd = kg.edge_fwd.astype(bool)
        if entry_ok is None:  # no relation excluded
            entry_ok = np.ones(len(kg.indices), bool)
        # entry masks: an is_a step up (the row's node is the child), down, and any
        # relation but is_a (the one clinical edge of a path)
        self.up = entry_ok & is_a & fwd
        self.down = entry_ok & is_a & ~fwd
        self.other = entry_ok & ~is_a
        self.unify = np.zeros(kg.n_nodes)  # the row's coverage per node (EvidenceScorer)
        self.use = kg.relations.index(USE) if USE in kg.relations else -1

    # -- is_a chains ----------------------------------------------------------------------
    def chain(self, starts: np.ndarray, steps: int, up: bool) -> IsAChain:
        """is_a chains from `starts`, all up or all down, at most `steps` long. A node past
        the first step is an intermediate of any path through it further, so only nodes
        within the degree cap (`mid_ok`) are walked on from."""
        kg = self.kg
        mask = self.up if up else self.down
        depth = np.full(kg.n_nodes, -1, np.int8)
        depth[starts] = 0
        prev: dict[int, int] = {}
        frontier = np.unique(starts.astype(np.int64))
        reached = [frontier]
        for d in range(1, steps + 1):
            if d > 1:
                frontier = frontier[self.mid_ok[frontier]]
            if not len(frontier):
                break
            src, idx = csr_entries(kg, frontier, mask)
            nb = kg.indices[idx].astype(np.int64)
            new = depth[nb] < 0
            # each new node once, from its first (lowest) predecessor: frontier is sorted
            frontier, first = np.unique(nb[new], return_index=True)
            depth[frontier] = d
            prev.update(zip(frontier.tolist(), src[new][first].tolist(), strict=True))
            reached.append(frontier)
        return IsAChain(depth, np.sort(np.concatenate(reached)), prev, mask)

    def finding_side(self, f: int) -> tuple[Side, Side]:
        """The finding's chains up (what f is a kind of) and down (kinds of f)."""
        start = np.array([f], np.int64)
        return (
            self._side(self.chain(start, self.max_hops, True)),
            self._side(self.chain(start, self.max_hops, False)),
        )

    def _side(self, ch: IsAChain) -> Side:
        # a: the finding, or an intermediate on its chain at most finding_steps away (a
        # pure is_a chain to the option is a taxonomic fact at any depth: "proline is an
        # amino acid"; a clinical edge off a far-away class is a whole branch's feature)
        da = ch.depth[ch.nodes]
        near = da <= min(self.finding_steps, self.max_hops - 1)
        a = ch.nodes[near & ((da == 0) | self.mid_ok[ch.nodes])]
        src, idx = csr_entries(self.kg, a, self.other)
        b = self.kg.indices[idx].astype(np.int64)
        return Side(ch, src, b, self.kg.edge_fwd[idx].astype(bool), self.kg.edge_rel[idx])

    def option_side(self, nodes: np.ndarray) -> tuple[IsAChain, IsAChain]:
        """The option's chains up (what it is a kind of) and down (kinds of it)."""
        steps = self.max_hops - 1
        return self.chain(nodes, steps, True), self.chain(nodes, steps, False)

    # -- the best path --------------------------------------------------------------------
    def best(
        self,
        f: int,
        finding: tuple[Side, Side],
        nodes: np.ndarray,
        option: tuple[IsAChain, IsAChain],
    ) -> tuple[KGPath, int] | None:
        """The best clinical path f -> any of `nodes` and how many such paths of its length
        exist; None when there is none within max_hops."""
        cands = [c for side in finding for c in self._pure(side.chain, nodes)]
        cands += [c for side in finding for o in option for c in self._bridged(f, side, o)]
        cands = [c for c in cands if len(set(c[0])) == len(c[0])]  # simple paths only
        if not cands:
            return None
        hops = min(len(c[0]) for c in cands) - 1
        short = {c[0]: c for c in cands if len(c[0]) - 1 == hops}
        seq, masks = short[min(short, key=lambda s: (self._key(s[1:-1]), s))]
        kg = self.kg
        path = found_path(kg, seq, path_score(self.costs, seq), masks).to_kgpath(kg)
        return path, len(short)

    def _key(self, inner: tuple[int, ...]) -> tuple[int, float, float]:
        mid = list(inner)
        return (
            int(self.avoided[mid].sum()),
            -round(float(self.unify[mid].sum()), 6),
            round(float(self.costs[mid].sum()), 6),
        )

    def _pure(self, ch: IsAChain, nodes: np.ndarray) -> list[Cand]:
        """The finding's is_a chain where it ends on an option node. Going down, at most
        `finding_steps` steps: an option that is a kind of the finding ("choledocholithiasis
        is a kind of gallstones") is support, one that is a kind of a kind of a category word
        of the question ("which enzyme": Enzymes > Multienzyme complexes > the option) is
        not."""
        out: list[Cand] = []
        depth = ch.depth[nodes]
        near = depth > 0
        if ch.hop_mask is self.down:
            near &= depth <= self.finding_steps
        for o in nodes[near].tolist():
            seq = tuple(ch.walk(o))
            if self.mid_ok[list(seq[1:-1])].all():
                out.append((seq, [ch.hop_mask] * (len(seq) - 1)))
        return out

    def _bridged(self, f: int, side: Side, och: IsAChain) -> list[Cand]:
        """Paths f ~is_a~ a -r- b ~is_a~ o: one edge of another relation than is_a between
        the finding's chain and the option's. A chain that reaches the edge's head (the
        disease of has_phenotype, the drug of used_for) must climb to it: what a class has,
        its kinds inherit; what one subtype has, its class need not (unless `subtypes`)."""
        fch = side.chain
        on = np.flatnonzero(och.depth[side.b] >= 0)  # edges that meet the option's chain
        a, b, a_head = side.a[on], side.b[on], side.a_head[on]
        da, db = fch.depth[a].astype(np.int64), och.depth[b].astype(np.int64)
        keep = (da + 1 + db <= self.max_hops) & (b != f)
        keep &= (db == 0) | self.mid_ok[b]
        keep &= och.depth[a] != 0  # an option node on f's chain: a pure is_a path
        if not self.subtypes:
            if fch.hop_mask is self.down:  # f's chain goes down: it may not reach a head
                keep &= ~a_head | (da == 0)
            if och.hop_mask is self.down:  # the option's chain goes down: likewise
                keep &= a_head | (db == 0)
        # a drug the patient takes is used for its indication, not for each kind of it: the
        # kinds include what the drug itself causes ("haloperidol is used for dyskinesias,
        # tardive dyskinesia is a kind of dyskinesia" inverts cause and use)
        keep &= ~(a_head & (side.rel[on] == self.use) & (db > 0) & (och.hop_mask is self.up))
        if not keep.any():
            return []
        # the option's chain is walked back towards the option: its steps' other side
        back = self.down if och.hop_mask is self.up else self.up
        out: list[Cand] = []
        for u, v in sorted(set(zip(a[keep].tolist(), b[keep].tolist(), strict=True))):
            left, right = fch.walk(u), och.walk(v)[::-1]  # f .. a and b .. o
            masks = [fch.hop_mask] * (len(left) - 1) + [self.other] + [back] * (len(right) - 1)
            out.append((tuple(left + right), masks))
        return out


def climbed(kg: KnowledgeGraph, path: KGPath) -> list[int]:
    """The path's finding and the classes it climbs to by is_a before any other step."""
    out = [kg.index_of(path.start_id)]
    cur = path.start_id
    for h in path.hops:
        if h.relation != IS_A or h.head_id != cur:
            break
        cur = h.tail_id
        out.append(kg.index_of(cur))
    return [i for i in out if i is not None]
