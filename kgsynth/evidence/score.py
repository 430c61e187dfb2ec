"""Per-option evidence for a linked QA row, and the verdict on it.

For every option (a row without options has one: its gold answer) and every *present*
question finding f (EntityLink.assertion == "present"), the best KG path f -> option within
`max_hops` whose intermediate nodes have degree <= `max_intermediate_degree` and a type not in
`skip_intermediate_types` (one search per
pair against the option's whole node set; hub-aware ranking among equally short paths). With
`clinical_paths` (the default) only paths of the shapes of clinical reasoning count
(kgsynth.evidence.clinical): the option has the finding, through is_a steps on either side
at most; never "f is a feature of another disease (or a gene) that is linked to the option".
A finding the option itself names is no evidence (the question would give the option away);
nor is one below `min_support_weight`, or one that supports more than `max_shared_share` of
the linked options (it does not tell them apart).

    score(option) = sum over supports of      w(f) * hop_decay ** (hops - 1)
                  - sum over contradictions of contradiction * w(f)

Among equally short paths, the intermediates a clinician would name come first: those of a
type in `avoid_intermediate_types` (genes) last; then those that explain more of the row's
present findings (a unifying diagnosis: the summed specificity of the findings the node
touches); then the least hub cost. So the paths of one row tend to run through the one
condition that accounts for most of the picture, not through a different rare entity per
finding.

w(f) is the finding's specificity (kgsynth.evidence.specificity: an IDF over the diseases it
explains; on a clinical path that climbs is_a first, the class's if lower), so "Fever" or
"Pain" add little and a rare sign a lot; shorter paths count more
(a direct annotation is worth 1, each further hop halves it by default). A contradiction is
an *absent* (denied) finding that the option predicts: an option node with a KG edge to it,
or to an is_a child of it (the option predicts a more specific form of what was denied).
Family, historical and hypothetical findings neither support nor contradict.

Options rank by score (ties by letter: a tie never favours gold); margin = gold's score less
the best other option's. `judge` turns a report into a reject reason or None.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from functools import cache
from importlib import resources

import numpy as np

from kgsynth.config import EvidenceConfig, PathsConfig
from kgsynth.evidence.clinical import ClinicalPaths, IsAChain, Side, climbed
from kgsynth.evidence.features import case_view, unmatched_facts
from kgsynth.evidence.specificity import IS_A, specificity
from kgsynth.kg.graph import KnowledgeGraph
from kgsynth.paths.filters import PathFilter, compile_filter
from kgsynth.paths.result import found_path, path_score
from kgsynth.paths.search import cached_node_costs, csr_entries, shortest_paths
from kgsynth.records import (
    EntityLink,
    EvidenceReport,
    FindingSupport,
    Hop,
    KGPath,
    LinkedQA,
    OptionEvidence,
)

_ROUND = 6  # scores are stored rounded, so ties are ties
FindingSide = tuple[Side, Side] | np.ndarray  # clinical chains, or BFS depths (any path)
OptionSide = tuple[IsAChain, IsAChain] | np.ndarray  # clinical chains, or capped neighbours


@dataclass(frozen=True)
class Scored:
    report: EvidenceReport
    gold_paths: int  # shortest paths counted from present findings to gold (n_paths_found)


def contribution(s: FindingSupport, hop_decay: float) -> float:
    """What one support adds to its option's score."""
    return s.weight * hop_decay ** (len(s.path.hops) - 1)


def gold_option(report: EvidenceReport) -> OptionEvidence | None:
    return next((o for o in report.options if o.letter == report.gold), None)


def gold_letter(item: LinkedQA) -> str | None:
    qa = item.qa
    if not qa.options:
        return ""
    if qa.answer_idx in qa.options:
        return qa.answer_idx
    want = qa.answer.strip().casefold()
    return next((k for k, t in qa.options.items() if t.strip().casefold() == want), None)


def findings(item: LinkedQA) -> list[EntityLink]:
    """One link per KG node, in question order; a node mentioned as present anywhere counts
    as present (a later "no fever now" does not cancel an earlier "febrile")."""
    out: dict[str, EntityLink] = {}
    for lk in sorted(item.question_entities, key=lambda x: x.start):
        seen = out.get(lk.kg_id)
        if seen is None or (seen.assertion != "present" and lk.assertion == "present"):
            out[lk.kg_id] = lk
    return list(out.values())


def options_of(item: LinkedQA) -> list[tuple[str, str, list[EntityLink]]]:
    """(letter, text, links) per option; a row without options has one, letter ""."""
    qa = item.qa
    if not qa.options:
        return [("", qa.answer, list(item.answer_entities))]
    gold = gold_letter(item)
    out = []
    for letter, text in qa.options.items():
        links = item.option_entities.get(letter) or []
        if not links and letter == gold:
            links = list(item.answer_entities)
        out.append((letter, text, links))
    return out


class EvidenceScorer:
    """Holds the per-KG state (specificity, node costs, path filter) for scoring rows."""

    def __init__(self, kg: KnowledgeGraph, cfg: EvidenceConfig, paths: PathsConfig | None = None):
        # evidence paths are ranked (hub penalty) and filtered (edge confidence) like the
        # build's paths
        paths = paths or PathsConfig()
        self.kg = kg
        self.cfg = cfg
        self.weight = specificity(kg)
        self.costs = cached_node_costs(kg, paths.hub_penalty)
        # edges of relations below the confidence floor are walked by no search here
        low = kg.relations_below(paths.min_edge_confidence)
        self.low = low
        # an intermediate is a node of modest degree and of a type that carries evidence: two
        # drugs that share a role ("teratogenic agent") say nothing of a finding
        types = sorted(set(kg.types) - set(cfg.skip_intermediate_types))
        self.filters = PathFilter(
            node_types=types if len(types) < len(set(kg.types)) else None,
            max_degree=cfg.max_intermediate_degree,
            exclude_relations=low,
        )
        self.mid_ok = self._intermediates_ok()
        avoid = sorted(set(cfg.avoid_intermediate_types) & set(kg.types))
        types = np.asarray(kg.types, dtype=object)
        # 1 for an intermediate of an avoided type: the first sort key among equal lengths
        self.avoided = (
            np.isin(types, avoid).astype(np.int8) if avoid else np.zeros(kg.n_nodes, np.int8)
        )
        self._unify = np.zeros(kg.n_nodes)  # this row's coverage per node (see `_coverage`)
        self.entry_ok = compile_filter(kg, PathFilter(exclude_relations=low)).entry_ok
        self._is_a = kg.relations.index(IS_A) if IS_A in kg.relations else None
        # CSR entries of an is_a step up (the row's node is the child)
        self._up: np.ndarray | None = None
        if self._is_a is not None:
            self._up = (kg.edge_rel == self._is_a) & kg.edge_fwd.astype(bool)
            if self.entry_ok is not None:
                self._up &= self.entry_ok
        self._marked: tuple[bytes, np.ndarray] | None = None
        self.clinical = (
            ClinicalPaths(
                kg,
                max_hops=cfg.max_hops,
                entry_ok=self.entry_ok,
                mid_ok=self.mid_ok,
                costs=self.costs,
                avoided=self.avoided,
                subtypes=cfg.subtype_support,
                finding_steps=cfg.finding_is_a_steps,
            )
            if cfg.clinical_paths
            else None
        )

    # -- pieces ------------------------------------------------------------------------
    def _nodes(self, links: list[EntityLink]) -> np.ndarray:
        idx = {self.kg.index_of(lk.kg_id) for lk in links}
        return np.array(sorted(i for i in idx if i is not None), np.int64)

    def _intermediates_ok(self) -> np.ndarray:
        kg, cap = self.kg, self.cfg.max_intermediate_degree
        ok = np.ones(kg.n_nodes, bool) if cap is None else kg.degree <= cap
        skip = set(self.cfg.skip_intermediate_types)
        if skip & set(kg.types):
            ok &= ~np.isin(np.asarray(kg.types, dtype=object), sorted(skip))
        return ok

    def _reach(self, f: int, max_hops: int) -> np.ndarray:
        """BFS depth from f up to max_hops (-1 beyond); intermediates obey the degree cap."""
        kg = self.kg
        depth = np.full(kg.n_nodes, -1, np.int32)
        depth[f] = 0
        frontier = np.array([f], np.int64)
        for d in range(1, max_hops + 1):
            if d > 1:
                frontier = frontier[self.mid_ok[frontier]]
            if not len(frontier):
                break
            _, idx = csr_entries(kg, frontier, self.entry_ok)
            hit = np.zeros(kg.n_nodes, bool)
            hit[kg.indices[idx]] = True  # a mask, not np.unique: no sort of a big frontier
            nb = np.flatnonzero(hit & (depth < 0))
            depth[nb] = d
            frontier = nb
        return depth

    def _coverage(self, present: list[int]) -> np.ndarray:
        """Per node, the summed specificity of the present findings it is adjacent to: how
        much of the picture it would account for as an intermediate."""
        cov = np.zeros(self.kg.n_nodes)
        if present:
            f = np.array(sorted(set(present)), np.int64)
            src, idx = csr_entries(self.kg, f, self.entry_ok)
            pairs = np.unique(src * self.kg.n_nodes + self.kg.indices[idx].astype(np.int64))
            np.add.at(cov, pairs % self.kg.n_nodes, self.weight[pairs // self.kg.n_nodes])
            cov[f] = 0.0  # a finding in the middle of another's path adds nothing new
        return np.round(cov, _ROUND)

    def _rim(self, nodes: np.ndarray) -> np.ndarray:
        """The option's neighbours that may be a path's last intermediate (degree cap)."""
        kg = self.kg
        if not len(nodes):
            return np.empty(0, np.int64)
        _, idx = csr_entries(kg, nodes, self.entry_ok)
        # int64: pair keys below pack two node indices as u * n + v (int32 CSR indices
        # overflow there once a KG has more than 46k nodes)
        nb = np.unique(kg.indices[idx]).astype(np.int64)
        return nb[self.mid_ok[nb]]

    def best_path(
        self, f: int, depth: np.ndarray, nodes: np.ndarray, rim: np.ndarray
    ) -> tuple[KGPath, int] | None:
        """The best shortest path f -> `nodes` within max_hops and how many shortest paths
        exist, from f's BFS to max_hops - 1 meeting the option's capped neighbours (`rim`),
        so the BFS never reads the large rows of its last layer. Ranked like shortest_paths:
        fewest hops, then the least summed hub cost of the intermediates, then node order.
        Paths have at most three hops, so the layers are enumerated directly."""
        kg = self.kg
        in_o = self._mark(nodes)
        _, row_idx = csr_entries(kg, np.array([f], np.int64), self.entry_ok)
        row = kg.indices[row_idx]
        direct = np.unique(row[in_o[row]])
        if len(direct):
            return self._path((f, int(direct[0]))), len(direct)
        if self.cfg.max_hops < 2:
            return None
        mids = rim[(depth[rim] == 1) & ~in_o[rim]]
        if len(mids):
            src, idx = csr_entries(kg, mids, self.entry_ok)
            nb = kg.indices[idx]
            hit = in_o[nb]
            src, nb = src[hit], nb[hit]
            # one node path per (mid, option node): parallel edges count once
            pairs = np.unique(src * kg.n_nodes + nb)
            src, nb = pairs // kg.n_nodes, pairs % kg.n_nodes
            order = np.lexsort((nb, src, self.costs[src], -self._unify[src], self.avoided[src]))
            j = order[0]
            return self._path((f, int(src[j]), int(nb[j]))), len(pairs)
        if self.cfg.max_hops < 3:
            return None
        lasts = rim[(depth[rim] == 2) & ~in_o[rim]]
        if not len(lasts):
            return None
        src, idx = csr_entries(kg, lasts, self.entry_ok)
        firsts = kg.indices[idx].astype(np.int64)
        ok = (depth[firsts] == 1) & ~in_o[firsts]
        ok &= self.mid_ok[firsts]
        b, a = src[ok], firsts[ok]
        if not len(b):
            return None
        ab = np.unique(a * kg.n_nodes + b)
        a, b = ab // kg.n_nodes, ab % kg.n_nodes
        # option nodes next to each last intermediate
        src2, idx2 = csr_entries(kg, np.unique(b), self.entry_ok)
        nb2 = kg.indices[idx2]
        hit = in_o[nb2]
        bo = np.unique(src2[hit] * kg.n_nodes + nb2[hit])
        b_of, o_of = bo // kg.n_nodes, bo % kg.n_nodes
        b_ids, per_b = np.unique(b_of, return_counts=True)
        count = int(per_b[np.searchsorted(b_ids, b)].sum())
        order = np.lexsort(
            (
                b,
                a,
                self.costs[a] + self.costs[b],
                -(self._unify[a] + self._unify[b]),
                self.avoided[a] + self.avoided[b],
            )
        )
        j = order[0]
        bj = int(b[j])
        o = int(o_of[b_of == bj].min())
        return self._path((f, int(a[j]), bj, o)), count

    def _mark(self, nodes: np.ndarray) -> np.ndarray:
        """A node mask of the option's nodes (the last one is reused: one option, many
        findings)."""
        key = nodes.tobytes()
        if self._marked is None or self._marked[0] != key:
            mask = np.zeros(self.kg.n_nodes, bool)
            mask[nodes] = True
            self._marked = (key, mask)
        return self._marked[1]

    def _path(self, nodes: tuple[int, ...]) -> KGPath:
        masks: list[np.ndarray | None] = [None] * (len(nodes) - 1)
        score = path_score(self.costs, nodes)
        return found_path(self.kg, nodes, score, masks).to_kgpath(self.kg)

    def support(self, f: int, nodes: np.ndarray) -> tuple[KGPath, int] | None:
        """The best path f -> any of `nodes` (and how many shortest ones exist), or None."""
        found = shortest_paths(
            self.kg,
            f,
            nodes,
            max_hops=self.cfg.max_hops,
            cap=1,
            filters=self.filters,
            costs=self.costs,
        )
        if not found.paths:
            return None
        return found.paths[0].to_kgpath(self.kg), found.count

    def _hop(self, u: int, v: int) -> Hop:
        kg = self.kg
        rel, u_head = sorted(kg.edges_between(u, v))[0]
        h, t = (u, v) if u_head else (v, u)
        return Hop(
            head_id=kg.ids[h],
            head_name=kg.names[h],
            relation=rel,
            tail_id=kg.ids[t],
            tail_name=kg.names[t],
        )

    def _children(self, g: int) -> np.ndarray:
        kg = self.kg
        a, b = kg.indptr[g], kg.indptr[g + 1]
        if self._is_a is None:
            return np.empty(0, np.int64)
        keep = (kg.edge_rel[a:b] == self._is_a) & ~kg.edge_fwd[a:b].astype(bool)
        return kg.indices[a:b][keep]

    def contradiction(self, g: int, nodes: np.ndarray) -> KGPath | None:
        """A path g -> option when an option node has an edge to the denied finding g, or to
        an is_a child of it; else None."""
        kg = self.kg
        children = self._children(g)
        for o in nodes.tolist():
            if o == g:
                continue
            nb = kg.indices[kg.indptr[o] : kg.indptr[o + 1]]
            if (nb == g).any():
                return KGPath(start_id=kg.ids[g], end_id=kg.ids[o], hops=[self._hop(g, o)], score=0)
            both = np.intersect1d(children, nb)
            if len(both):
                p = int(both[0])
                hops = [self._hop(g, p), self._hop(p, o)]
                score = float(self.costs[p])
                return KGPath(start_id=kg.ids[g], end_id=kg.ids[o], hops=hops, score=score)
        return None

    # -- the two searches: clinical shapes (the default) or any path --------------------
    # what is found once per finding (its is_a chains, or its BFS depths) and once per
    # option (its is_a chains, or its capped neighbours), shared by the pair searches
    def _sides(self, f: int) -> FindingSide:
        if self.clinical is not None:
            return self.clinical.finding_side(f)
        return self._reach(f, self.cfg.max_hops - 1)

    def _near(self, nodes: np.ndarray) -> OptionSide:
        if self.clinical is not None:
            return self.clinical.option_side(nodes)
        return self._rim(nodes)

    def _best(
        self, f: int, side: FindingSide, nodes: np.ndarray, near: OptionSide
    ) -> tuple[KGPath, int] | None:
        if isinstance(side, np.ndarray) or isinstance(near, np.ndarray):
            assert isinstance(side, np.ndarray) and isinstance(near, np.ndarray)
            return self.best_path(f, side, nodes, near)
        assert self.clinical is not None
        return self.clinical.best(f, side, nodes, near)

    def _supports(
        self,
        present: list[tuple[int, EntityLink]],
        reach: list[FindingSide | None],
        nodes: np.ndarray,
    ) -> list[tuple[FindingSupport, int]]:
        """One option's supports, each with how many shortest paths its finding has."""
        near = self._near(nodes)
        out = []
        for (f, lk), side in zip(present, reach, strict=True):
            if side is None or f in nodes:
                continue
            found = self._best(f, side, nodes, near)
            if found is None:
                continue
            path, count = found
            w = self._support_weight(f, path)
            if w < self.cfg.min_support_weight:
                continue
            s = FindingSupport(
                finding_id=lk.kg_id,
                finding_name=self.kg.names[f],
                assertion="present",
                weight=round(w, _ROUND),
                path=path,
            )
            out.append((s, count))
        return out

    def _support_weight(self, f: int, path: KGPath) -> float:
        """The finding's specificity; on a clinical path that first climbs is_a (the option
        has a class the finding is a kind of), the least specific class's, if lower: the
        evidence is then "the case shows some Purpura", not "it shows Petechiae"."""
        if self.clinical is None:
            return float(self.weight[f])
        return float(self.weight[climbed(self.kg, path)].min())

    def _drop_shared(
        self, found: list[list[tuple[FindingSupport, int]]], linked: int
    ) -> list[list[tuple[FindingSupport, int]]]:
        """Without the findings that support more than max_shared_share of the linked
        options (and at least two): they do not tell the options apart."""
        per: dict[str, int] = {}
        for sup in found:
            for s, _ in sup:
                per[s.finding_id] = per.get(s.finding_id, 0) + 1
        cap = self.cfg.max_shared_share * linked
        shared = {f for f, n in per.items() if n >= 2 and n > cap}
        return [[(s, c) for s, c in sup if s.finding_id not in shared] for sup in found]

    def _ancestors(self, nodes: np.ndarray) -> np.ndarray:
        """Every is_a ancestor of `nodes` (the nodes themselves excluded), at any depth."""
        kg = self.kg
        seen = np.zeros(kg.n_nodes, bool)
        frontier = nodes.astype(np.int64)
        while len(frontier):
            _, idx = csr_entries(kg, frontier, self._up)
            nb = np.unique(kg.indices[idx]).astype(np.int64)
            frontier = nb[~seen[nb]]
            seen[frontier] = True
        seen[nodes] = False
        return np.flatnonzero(seen)

    def _drop_categories(
        self, found: list[list[tuple[FindingSupport, int]]], all_nodes: list[np.ndarray]
    ) -> list[list[tuple[FindingSupport, int]]]:
        """Without the findings that are a class of two or more linked options: the
        question's category word ("which amino acid" read as Amino Acids above glycine and
        proline), no clue of the case. It would support whichever option the KG happens to
        file right under it."""
        if self._up is None or not any(sup for sup in found):
            return found
        hits = np.zeros(self.kg.n_nodes, np.int32)
        for nodes in all_nodes:
            if len(nodes):
                hits[self._ancestors(nodes)] += 1
        cats = {self.kg.ids[i] for i in np.flatnonzero(hits >= 2).tolist()}
        if not cats:
            return found
        return [[(s, c) for s, c in sup if s.finding_id not in cats] for sup in found]

    def _contradictions(
        self, absent: list[tuple[int, EntityLink]], nodes: np.ndarray
    ) -> list[FindingSupport]:
        """The denied findings the option predicts (`contradiction`)."""
        out = []
        for g, lk in absent:
            path = self.contradiction(g, nodes) if len(nodes) else None
            if path is not None:
                out.append(
                    FindingSupport(
                        finding_id=lk.kg_id,
                        finding_name=self.kg.names[g],
                        assertion=lk.assertion,
                        weight=round(float(self.weight[g]), _ROUND),
                        path=path,
                    )
                )
        return out

    # -- a row ---------------------------------------------------------------------------
    def score(self, item: LinkedQA) -> Scored:
        kg, cfg = self.kg, self.cfg
        decay, against = cfg.weights.hop_decay, cfg.weights.contradiction
        present: list[tuple[int, EntityLink]] = []
        absent: list[tuple[int, EntityLink]] = []
        mentioned: list[int] = []
        for lk in findings(item):
            i = kg.index_of(lk.kg_id)
            if i is None:
                continue
            mentioned.append(i)
            if lk.assertion == "present":
                present.append((i, lk))
            elif lk.assertion == "absent":
                absent.append((i, lk))
        self._unify = self._coverage([f for f, _ in present])
        if self.clinical is not None:
            self.clinical.unify = self._unify
        case = case_view(kg, np.array(mentioned, np.int64), item.qa.question)
        gold = gold_letter(item)
        opts = options_of(item)
        all_nodes = [self._nodes(links) for _, _, links in opts]
        # what each finding reaches is searched once per row, then met by each option's side
        any_nodes = any(len(n) for n in all_nodes)
        reach = [self._sides(f) if any_nodes else None for f, _ in present]
        found = [
            self._supports(present, reach, nodes) if present and len(nodes) else []
            for nodes in all_nodes
        ]
        found = self._drop_categories(found, all_nodes)
        found = self._drop_shared(found, sum(len(n) > 0 for n in all_nodes))
        gold_paths = 0
        evidence = []
        for (letter, text, _links), nodes, sup in zip(opts, all_nodes, found, strict=True):
            supports = [s for s, _ in sup]
            if letter == gold:
                gold_paths = sum(c for _, c in sup)
            contras = self._contradictions(absent, nodes)
            total = sum(contribution(s, decay) for s in supports) - against * sum(
                c.weight for c in contras
            )
            evidence.append(
                OptionEvidence(
                    letter=letter,
                    text=text,
                    kg_ids=[kg.ids[i] for i in nodes.tolist()],
                    score=round(total, _ROUND),
                    supports=supports,
                    contradictions=contras,
                    unmatched=unmatched_facts(kg, self.weight, nodes, case, self.low),
                )
            )
        ranking = [o.letter for o in sorted(evidence, key=lambda o: (-o.score, o.letter))]
        margin = None
        by = {o.letter: o for o in evidence}
        if gold in by and len(evidence) > 1:
            best_other = max(o.score for o in evidence if o.letter != gold)
            margin = round(by[gold].score - best_other, _ROUND)
        report = EvidenceReport(
            options=evidence,
            ranking=ranking,
            best=ranking[0] if ranking else None,
            gold=gold,
            margin=margin,
        )
        return Scored(report, gold_paths)


COMMON_FILE = "common_findings.toml"


@cache
def _builtin_common() -> frozenset[str]:
    """The built-in list's ids and case-folded names (COMMON_FILE)."""
    text = resources.files("kgsynth.evidence").joinpath(COMMON_FILE).read_text("utf-8")
    rows = tomllib.loads(text)["findings"]
    return frozenset([r["id"] for r in rows] + [r["name"].casefold() for r in rows])


def common_findings(cfg: EvidenceConfig) -> frozenset[str]:
    """Ids and case-folded names of the common presenting findings ([evidence])."""
    if cfg.common_findings is None:
        return _builtin_common()
    return frozenset(list(cfg.common_findings) + [x.casefold() for x in cfg.common_findings])


def _is_common(s: FindingSupport, common: frozenset[str]) -> bool:
    return s.finding_id in common or s.finding_name.casefold() in common


def ranking_text(report: EvidenceReport) -> str:
    """The ranking with scores, gold starred: B 1.250 > A* 0.800 > C 0.000."""
    by = {o.letter: o for o in report.options}
    return " > ".join(
        f"{x or '-'}{'*' if x == report.gold else ''} {by[x].score:.3f}" for x in report.ranking
    )


def judge(report: EvidenceReport, cfg: EvidenceConfig) -> tuple[str, str] | None:
    """(reason, detail) when the evidence does not single out gold, else None:
    `no_support` when no present finding reaches gold; `nonspecific_support` when every one
    that does is a common presenting finding, supports another option too, or is below
    min_clue_weight;
    `not_discriminative` when gold is not first by at least min_margin (a tie is not first);
    with `require_distractor_reasons`, `distractor_unexplained` when a linked distractor has
    no KG reason against it (no contradiction, no usual feature the case lacks)."""
    gold = gold_option(report)
    if gold is None or not gold.supports:
        what = f"gold {gold.letter or '-'} '{gold.text[:60]}'" if gold else "gold option unknown"
        return "no_support", f"{what}: no present finding reaches it within {cfg.max_hops} hops"
    m = report.margin
    if m is not None and (m <= 0 or m < cfg.min_margin):
        return (
            "not_discriminative",
            f"{ranking_text(report)}; margin {m:.3f} < {cfg.min_margin}",
        )
    common = common_findings(cfg)
    # a clue also tells gold apart: a finding that supports another option as well does not
    shared = {s.finding_id for o in report.options if o.letter != gold.letter for s in o.supports}
    clues = [
        s
        for s in gold.supports
        if s.weight >= cfg.min_clue_weight
        and not _is_common(s, common)
        and s.finding_id not in shared
    ]
    if not clues:

        def why(s: FindingSupport) -> str:
            if _is_common(s, common):
                return "common"
            return "shared" if s.finding_id in shared else f"{s.weight:.2f}"

        named = ", ".join(f"{s.finding_name!r} ({why(s)})" for s in gold.supports)
        return (
            "nonspecific_support",
            f"gold {gold.letter or '-'} rests only on {named}: common presenting findings, "
            f"findings another option has too, or specificity < {cfg.min_clue_weight}",
        )
    if cfg.require_distractor_reasons:
        bare = [
            o.letter
            for o in report.options
            if o.letter != report.gold and o.kg_ids and not (o.contradictions or o.unmatched)
        ]
        if bare:
            return "distractor_unexplained", f"no KG reason against option(s) {', '.join(bare)}"
    return None
