"""What an option would bring that the case does not show: the facts a distractor is
ruled out by.

For a disease option, its most specific clinical features (has_phenotype, the option as
head) that it *usually* shows (kgsynth.evidence.hallmarks: >= 80 % of patients) and the
question does not mention; for a drug, what it is used for (used_for) when
none of the question's findings is that. A differential dismisses an option this way ("X
would usually show A or B; neither is described"), which "no KG path reaches it" is not.

A feature counts as mentioned when it is a question finding (any assertion), or one is_a
step above or below one: "Epistaxis" is not missing from a case that reports "Bleeding".
Clinical features are phenotypes under HPO's "Phenotypic abnormality" when the KG holds it
(not modes of inheritance, onset or frequency terms; not tumour types, nor laboratory
findings, which a case states as numbers), else any phenotype node.
"""

from __future__ import annotations

import re
import weakref
from dataclasses import dataclass

import numpy as np

from kgsynth.evidence.hallmarks import is_usual
from kgsynth.evidence.specificity import IS_A
from kgsynth.kg.graph import KnowledgeGraph
from kgsynth.paths.search import csr_entries
from kgsynth.records import OptionFact

PHENOTYPE_ROOT = "HP:0000118"  # Phenotypic abnormality
# branches whose terms are not a sign a vignette names when present: tumour types (a
# cancer's kinds, not its signs) and what laboratory values show (blood counts, chemistry,
# cells, immune tests), which a case gives as numbers the linker does not read ("platelet
# count 45,000/mm3" is thrombocytopenia): "not among the findings" would then be false
NOT_FEATURES = (
    "HP:0002664",  # Neoplasm
    "HP:0001871",  # Abnormality of blood and blood-forming tissues
    "HP:0001939",  # Abnormality of metabolism/homeostasis
    "HP:0025354",  # Abnormal cellular phenotype
    "HP:0002715",  # Abnormality of the immune system
)
# names of measurements anywhere in the ontology ("Elevated circulating creatinine
# concentration", "Reduced ejection fraction"), for the same reason
_MEASURED = re.compile(
    r"^(elevated|increased|decreased|reduced|low|high|abnormal)\b|"
    r"\b(concentration|level|count|activity|titer|ratio|fraction)s?\b",
    re.IGNORECASE,
)
FEATURE_RELATION = "has_phenotype"
USE_RELATION = "used_for"
MAX_FACTS = 2  # facts kept per option: a sentence names no more
MIN_WEIGHT = 0.2  # a feature nearly every disease has ("Pain") rules nothing out
# a dismissal rests only on stated facts: a relation a KG derived with less confidence
# (medkg's uses, read off ChEBI roles: "lysine is used for seizures") is no reason,
# whatever the build's path floor lets its paths walk
MIN_CONFIDENCE = 1.0

_CLINICAL: weakref.WeakKeyDictionary[KnowledgeGraph, np.ndarray] = weakref.WeakKeyDictionary()


def clinical_features(kg: KnowledgeGraph) -> np.ndarray:
    """A node mask of the terms that may stand as a disease's clinical feature."""
    if kg not in _CLINICAL:
        root = kg.index_of(PHENOTYPE_ROOT)
        if root is not None and IS_A in kg.relations:
            mask = _below(kg, root)
            for term in NOT_FEATURES:
                t = kg.index_of(term)
                if t is not None:
                    mask &= ~_below(kg, t)
                    mask[t] = False
        else:
            mask = np.asarray(kg.types, dtype=object) == "phenotype"
        measured = np.array([bool(_MEASURED.search(n)) for n in kg.names], bool)
        _CLINICAL[kg] = mask & ~measured
    return _CLINICAL[kg]


def _below(kg: KnowledgeGraph, root: int) -> np.ndarray:
    """A mask of root's is_a descendants (root excluded): a BFS down the child edges."""
    rel = kg.relations.index(IS_A)
    child = (kg.edge_rel == rel) & ~kg.edge_fwd.astype(bool)  # entry in the parent's row
    mask = np.zeros(kg.n_nodes, bool)
    frontier = np.array([root], np.int64)
    while len(frontier):
        src, idx = csr_entries(kg, frontier, child)
        nb = np.unique(kg.indices[idx])
        frontier = nb[~mask[nb]]
        mask[frontier] = True
    mask[root] = False
    return mask


_WORD = re.compile(r"[a-z0-9]+")
_STEM = 5  # words compared by their first letters: "kidney"/"kidneys", "cystic"/"cysts"
_FILLER = frozenset("of the and or in with to a an due".split())


def _stems(text: str) -> set[str]:
    return {w[:_STEM] for w in _WORD.findall(text.casefold()) if w not in _FILLER}


def named_in(name: str, text_stems: set[str]) -> bool:
    """Whether the case's words cover the feature's name: all of a one- or two-word name,
    two thirds of a longer one ("polycystic kidneys" covers "Polycystic kidney dysplasia").
    Erring towards "mentioned" keeps a dismissal from claiming the case lacks what it says."""
    words = _stems(name)
    if not words:
        return False
    hit = len(words & text_stems)
    return hit == len(words) if len(words) <= 2 else 3 * hit >= 2 * len(words)


def _is_a_neighbours(kg: KnowledgeGraph, nodes: np.ndarray) -> np.ndarray:
    if IS_A not in kg.relations or not len(nodes):
        return nodes
    rel = kg.relations.index(IS_A)
    out = [nodes]
    for u in nodes.tolist():
        a, b = kg.indptr[u], kg.indptr[u + 1]
        out.append(kg.indices[a:b][kg.edge_rel[a:b] == rel])
    return np.unique(np.concatenate(out))


@dataclass(frozen=True)
class Case:
    """What a case already says, made once per row and shared by its options."""

    seen: np.ndarray  # node mask: its findings (any assertion) and their is_a neighbours
    stems: set[str]  # its words (`_stems`)


def case_view(kg: KnowledgeGraph, mentioned: np.ndarray, text: str = "") -> Case:
    """A case from its linked findings (node indices) and its question text."""
    seen = np.zeros(kg.n_nodes, bool)
    seen[_is_a_neighbours(kg, mentioned)] = True
    return Case(seen=seen, stems=_stems(text))


def unmatched_facts(
    kg: KnowledgeGraph,
    weight: np.ndarray,
    option: np.ndarray,
    case: Case,
    exclude_relations: frozenset[str] = frozenset(),
) -> list[OptionFact]:
    """The option's most specific features (or uses) that the case does not mention, most
    specific first, at most MAX_FACTS; a feature whose name the case's words cover counts
    as mentioned, linked or not (`named_in`)."""
    if not len(option):
        return []
    # a feature named by the option's own words restates it ("autosomal recessive
    # polycystic kidney disease would show polycystic kidney dysplasia")
    own_stems = _stems(" ".join(kg.names[o] for o in option.tolist()))
    exclude_relations = exclude_relations | kg.relations_below(MIN_CONFIDENCE)
    seen = case.seen.copy()
    seen[option] = True
    clinical = clinical_features(kg)
    found: dict[tuple[str, int], float] = {}
    uses_hit = False
    for rel_name in (FEATURE_RELATION, USE_RELATION):
        # a relation below the build's confidence floor (medkg's uses derived from ChEBI
        # roles) states no fact a dismissal may rest on
        if rel_name not in kg.relations or rel_name in exclude_relations:
            continue
        rel = kg.relations.index(rel_name)
        for o in option.tolist():
            a, b = kg.indptr[o], kg.indptr[o + 1]
            keep = (kg.edge_rel[a:b] == rel) & kg.edge_fwd[a:b].astype(bool)
            targets = np.unique(kg.indices[a:b][keep])
            if rel_name == FEATURE_RELATION:  # only what the disease usually shows
                targets = targets[is_usual(kg, o, targets)]
            for t in targets.tolist():
                named = seen[t] or named_in(kg.names[t], case.stems)
                if rel_name == USE_RELATION and named:
                    uses_hit = True  # the drug is for something the case has: no dismissal
                if named or weight[t] < MIN_WEIGHT or named_in(kg.names[t], own_stems):
                    continue
                if rel_name == FEATURE_RELATION and not clinical[t]:
                    continue
                found[(rel_name, t)] = float(weight[t])
    if uses_hit:
        found = {k: v for k, v in found.items() if k[0] != USE_RELATION}
    best = sorted(found.items(), key=lambda kv: (-kv[1], kg.names[kv[0][1]]))[:MAX_FACTS]
    return [
        OptionFact(relation=r, id=kg.ids[t], name=kg.names[t], weight=round(w, 6))
        for (r, t), w in best
    ]
