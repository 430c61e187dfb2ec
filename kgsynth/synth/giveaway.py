"""Answers and options that give a KG-first question away (docs/quality.md's defects).

Two rules, both configured in SynthConfig and both off when their settings say so:

- a generic answer: a node near the root of its ontology (fewer than `min_answer_depth`
  is_a steps below a root: in HPO "All" is 0, "Phenotypic abnormality" 1, the organ
  systems such as "Abnormality of the nervous system" 2 and their first split such as
  "Abnormal nervous system physiology" 3), a grouping term with more than
  `max_answer_descendants` is_a descendants ("Abnormal skeletal morphology"), or a name
  made of nothing but `generic_words` ("Neoplasm", "Clinical modifier"). A walk never
  ends on such a node, the poser rejects a chain that does (`generic_answer`), and none
  is drawn as a distractor (an ontology root is an odd option as much as an odd answer).
- an answer that stands out by its wording: each option has a wording class made of
  its leading word, its head noun (the last word before "of", a comma, a bracket, ...,
  numbers and "type N" left out), its shape (a symbol, a numbered subtype, a phrase)
  and which `form_words` it contains. A leading word or head noun counts only when at
  least `wording_min_names` KG names of the answer's type share it ("abnormal",
  "increased", "syndrome", "morphology"); rarer ones are all the same class, a plain
  word. The answer's value of each must be shared by at least one distractor, so it is
  never the only option starting with "Abnormal", the only one containing "syndrome",
  or the only one *not* starting with "Abnormal". Distractors are drawn preferring the
  answer's class; a question whose answer still stands out is rejected
  (`answer_stands_out`).
"""

from __future__ import annotations

import re
import weakref
from collections import Counter
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from kgsynth.kg.graph import KnowledgeGraph

IS_A = "is_a"

# a name of nothing but these (and connecting words) says nothing a question could ask for
GENERIC_WORDS = (
    "all abnormal abnormality anomaly phenotype phenotypic feature finding sign symptom "
    "disease disorder syndrome condition neoplasm tumor tumour cancer malformation defect "
    "deficiency dysfunction other unspecified unknown clinical modifier frequency "
    "inheritance mode onset course congenital multiple"
).split()
# words whose presence marks an option's kind, whatever its position
FORM_WORDS = ("abnormal", "syndrome", "disease", "disorder", "deficiency")
_CONNECTORS = frozenset("of the and or a an in with to by for on at due".split())
_WORD = re.compile(r"[^\W_]+(?:['-][^\W_]+)*")
# where a noun phrase's head ends: "X of Y", "X, progressive", "X (Y)", "X/Y", ...
_HEAD_END = re.compile(
    r"\s(?:of|in|with|without|due|affecting|involving|on|at|from|for|by|associated|"
    r"caused|secondary|and|or)\s|[,(;:/\[]"
)
# subtype designators: numbers ("2A", "1"), roman numerals, single letters, "type"
_DESIGNATOR = re.compile(r"(?:type|\d+[a-z]?|[a-z]\d*|[ivx]+)")
_NUMBERED = re.compile(r"(?:\s(?:type\s)?(?:\d+[a-z]?|[ivx]+|[a-z]\d*))(?:\s*\(.*\))?$")
_SYMBOL = re.compile(r"[A-Z0-9][A-Z0-9.-]*(?:orf[0-9]+)?")


def words(name: str) -> list[str]:
    return _WORD.findall(name.casefold())


def stem(word: str) -> str:
    """A light stem, so "abnormality", "abnormalities" and "abnormal" are one word."""
    for suffix in ("ities", "ity"):
        if word.endswith(suffix) and len(word) - len(suffix) >= 4:
            return word[: -len(suffix)]
    if word.endswith("s") and not word.endswith(("ss", "is", "us")) and len(word) > 4:
        return word[:-1]
    return word


# -- rule 1: generic answers ------------------------------------------------------------------


def is_generic_name(name: str, generic_words: list[str] | tuple[str, ...]) -> bool:
    """The name is made of nothing but generic and connecting words ("Neoplasm")."""
    generic = {stem(w) for w in generic_words}
    content = [w for w in words(name) if w not in _CONNECTORS]
    return bool(generic) and bool(content) and all(stem(w) in generic for w in content)


@dataclass(frozen=True)
class Hierarchy:
    """Per node: is_a steps below its nearest root (-1: in no is_a hierarchy) and its
    number of is_a descendants (children, their children, ...)."""

    depth: np.ndarray
    descendants: np.ndarray


_HIERARCHY: weakref.WeakKeyDictionary[KnowledgeGraph, Hierarchy] = weakref.WeakKeyDictionary()


def hierarchy(kg: KnowledgeGraph) -> Hierarchy:
    """The is_a hierarchy's depths and descendant counts (cached per KG). Edges run
    child -is_a-> parent; a root is a node with children and no parent."""
    if kg in _HIERARCHY:
        return _HIERARCHY[kg]
    n = kg.n_nodes
    depth, desc = np.full(n, -1, np.int64), np.zeros(n, np.int64)
    if IS_A in kg.relations:
        e = kg.edge_frame()
        keep = e["rel"].to_numpy() == kg.relations.index(IS_A)
        child, parent = e["head"].to_numpy()[keep], e["tail"].to_numpy()[keep]
        ones = np.ones(len(child), bool)
        down = sp.csr_matrix((ones, (parent, child)), shape=(n, n))  # parent -> child
        in_tree = np.zeros(n, bool)
        in_tree[child] = in_tree[parent] = True
        has_parent = np.zeros(n, bool)
        has_parent[child] = True
        frontier = np.nonzero(in_tree & ~has_parent)[0]
        d = 0
        depth[frontier] = 0
        while len(frontier):  # breadth first from the roots: the shortest way down
            d += 1
            nxt = np.unique(down[frontier].indices)
            nxt = nxt[depth[nxt] < 0]
            depth[nxt] = d
            frontier = nxt
        # transitive closure of child -> ancestor, one more generation per round
        up = down.T.tocsr()
        anc = new = up
        while new.nnz:
            step = (new @ up).astype(bool)
            new = (step > anc).astype(bool)
            anc = (anc + new).astype(bool)
        desc = np.asarray(anc.sum(axis=0)).ravel().astype(np.int64)
    _HIERARCHY[kg] = Hierarchy(depth=depth, descendants=desc)
    return _HIERARCHY[kg]


_GENERIC: weakref.WeakKeyDictionary[KnowledgeGraph, dict[tuple, np.ndarray]] = (
    weakref.WeakKeyDictionary()
)


def generic_mask(
    kg: KnowledgeGraph,
    min_depth: int,
    max_descendants: int | None,
    generic_words: list[str] | tuple[str, ...],
) -> np.ndarray:
    """True for nodes too generic to be an answer (or a distractor); cached per KG and
    settings."""
    per_kg = _GENERIC.setdefault(kg, {})
    key = (min_depth, max_descendants, tuple(generic_words))
    if key not in per_kg:
        per_kg[key] = _generic_mask(kg, min_depth, max_descendants, generic_words)
    return per_kg[key]


def _generic_mask(
    kg: KnowledgeGraph,
    min_depth: int,
    max_descendants: int | None,
    generic_words: list[str] | tuple[str, ...],
) -> np.ndarray:
    h = hierarchy(kg)
    mask = (h.depth >= 0) & (h.depth < min_depth)
    if max_descendants is not None:
        mask |= h.descendants > max_descendants
    if generic_words:
        mask |= np.fromiter((is_generic_name(n, generic_words) for n in kg.names), bool, kg.n_nodes)
    return mask


def generic_reason(
    kg: KnowledgeGraph,
    node: int,
    min_depth: int,
    max_descendants: int | None,
    generic_words: list[str] | tuple[str, ...],
) -> str | None:
    """Why a node is too generic to be an answer (None: it is not)."""
    h, name = hierarchy(kg), kg.names[node]
    if 0 <= h.depth[node] < min_depth:
        return f"'{name}' is {h.depth[node]} is_a steps below its ontology's root"
    if max_descendants is not None and h.descendants[node] > max_descendants:
        return f"'{name}' groups {h.descendants[node]} is_a descendants"
    if generic_words and is_generic_name(name, generic_words):
        return f"'{name}' is a generic word"
    return None


# -- rule 2: answers that stand out by their wording --------------------------------------------

PLAIN = ""  # a leading word or head noun too rare to be a class of its own


@dataclass(frozen=True)
class Wording:
    """An option's wording class (before rare words are folded into PLAIN)."""

    lead: str
    head: str
    shape: str  # symbol, numbered or phrase
    marks: frozenset[str]  # the form words it contains

    def describe(self, feature: str) -> str:
        if feature == "lead":
            return f"starting with '{self.lead}'" if self.lead else "starting with a plain word"
        if feature == "head":
            return f"with head noun '{self.head}'" if self.head else "with a plain head noun"
        return f"shaped as a {self.shape}"


def wording(name: str, form_words: list[str] | tuple[str, ...] = FORM_WORDS) -> Wording:
    ws = words(name)
    lead = stem(ws[0]) if ws else ""
    segment = _HEAD_END.split(name.casefold(), maxsplit=1)[0]
    content = [w for w in words(segment) if not _DESIGNATOR.fullmatch(w)]
    head = stem(content[-1]) if content else ""
    stripped = name.strip()
    if " " not in stripped and _SYMBOL.fullmatch(stripped):
        shape = "symbol"
    elif _NUMBERED.search(stripped.casefold()):
        shape = "numbered"
    else:
        shape = "phrase"
    forms = {stem(f) for f in form_words}
    return Wording(lead, head, shape, frozenset(forms.intersection(map(stem, ws))))


class OptionForms:
    """Wording classes of a KG's node names: which leading words and head nouns are
    classes (per node type), each node's class as int codes, and the two uses of them:
    how many features a candidate distractor shares with the answer, and where the
    answer stands out among its options."""

    FEATURES = ("lead", "head", "shape")

    def __init__(self, kg: KnowledgeGraph, min_names: int, form_words: list[str]) -> None:
        self.form_words = tuple(form_words)
        self.marks = sorted({stem(f) for f in form_words})
        raw = [wording(n, self.form_words) for n in kg.names]
        connected = kg.degree > 0
        self.vocab: dict[str, tuple[frozenset[str], frozenset[str]]] = {}
        for t in sorted(set(kg.types)):
            mine = [w for w, tt, c in zip(raw, kg.types, connected, strict=True) if tt == t and c]
            leads = Counter(w.lead for w in mine)
            heads = Counter(w.head for w in mine)
            self.vocab[t] = (
                frozenset(k for k, v in leads.items() if k and v >= min_names),
                frozenset(k for k, v in heads.items() if k and v >= min_names),
            )
        folded = [self._fold(w, t) for w, t in zip(raw, kg.types, strict=True)]
        codes: dict[str, int] = {}
        self.codes = np.array(
            [[codes.setdefault(getattr(w, f), len(codes)) for f in self.FEATURES] for w in folded],
            dtype=np.int64,
        ).reshape(len(folded), len(self.FEATURES))
        self.mark_bits = np.array(
            [sum(1 << i for i, m in enumerate(self.marks) if m in w.marks) for w in folded],
            dtype=np.int64,
        )

    def _fold(self, w: Wording, node_type: str) -> Wording:
        leads, heads = self.vocab.get(node_type, (frozenset(), frozenset()))
        return Wording(
            w.lead if w.lead in leads else PLAIN,
            w.head if w.head in heads else PLAIN,
            w.shape,
            w.marks,
        )

    def of_name(self, name: str, node_type: str) -> Wording:
        return self._fold(wording(name, self.form_words), node_type)

    def shared(self, answer: int, cand: np.ndarray) -> np.ndarray:
        """Per candidate, how many of the answer's features (lead, head, shape, each form
        word present or absent) it shares."""
        same = (self.codes[cand] == self.codes[answer]).sum(axis=1)
        differ = self.mark_bits[cand] ^ self.mark_bits[answer]
        for i in range(len(self.marks)):
            same += 1 - ((differ >> i) & 1)
        return same

    def stands_out(self, answer: Wording, distractors: list[Wording]) -> list[str]:
        """How the answer's wording differs from every distractor's (empty: it does not)."""
        out = []
        for f in self.FEATURES:
            if all(getattr(d, f) != getattr(answer, f) for d in distractors):
                out.append(f"the only option {answer.describe(f)}")
        for m in self.marks:
            has = m in answer.marks
            if all((m in d.marks) != has for d in distractors):
                out.append(f"the only option {'with' if has else 'without'} '{m}'")
        return out


_FORMS: weakref.WeakKeyDictionary[KnowledgeGraph, dict[tuple, OptionForms]] = (
    weakref.WeakKeyDictionary()
)


def option_forms(kg: KnowledgeGraph, min_names: int, form_words: list[str]) -> OptionForms:
    """OptionForms for a KG (cached per KG and settings: a poser is made per round)."""
    per_kg = _FORMS.setdefault(kg, {})
    key = (min_names, tuple(form_words))
    if key not in per_kg:
        per_kg[key] = OptionForms(kg, min_names, form_words)
    return per_kg[key]
