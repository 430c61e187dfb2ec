"""How specific a finding is: an IDF over the diseases it can explain.

A finding x *explains* a disease d when d is annotated with x or with a more specific term
(an is_a descendant of x): HPO's true-path rule, so "Abnormality of the nervous system"
explains nearly every disease while "Bilateral vestibular schwannoma" explains a handful.
With N disease nodes and n(x) diseases explained (a disease explains itself, a gene the
diseases it is associated with), the weight is

    w(x) = log((N + 1) / (n(x) + 1)) / log(N + 1)      in [0, 1]

the information content of HPO's semantic-similarity measures (Resnik), normalised. The
node's raw degree would be the cheaper choice but misjudges ontology terms: a general term
such as "Neoplasm" has few direct annotations (its diseases are annotated with its children)
and would look specific, while it fits almost any tumour option. Counting the diseases a
finding explains through the hierarchy is what "how many options can this clue fit" means.

On a KG without "disease" nodes every node counts as one (n(x) = degree + 1: a plain IDF
over degree); without an "is_a" relation there is no hierarchy to close over.
"""

from __future__ import annotations

import math
import weakref

import numpy as np
from scipy import sparse

from kgsynth.kg.graph import KnowledgeGraph

DISEASE_TYPE = "disease"
IS_A = "is_a"

_CACHE: weakref.WeakKeyDictionary[KnowledgeGraph, np.ndarray] = weakref.WeakKeyDictionary()


def _adjacency(kg: KnowledgeGraph) -> sparse.csr_matrix:
    n = kg.n_nodes
    data = np.ones(len(kg.indices), np.float32)
    return sparse.csr_matrix((data, kg.indices, kg.indptr), shape=(n, n))


def _descendants(kg: KnowledgeGraph) -> sparse.csr_matrix:
    """Boolean (n x n): row x holds x and every is_a descendant of x."""
    n = kg.n_nodes
    eye = sparse.identity(n, np.float32, format="csr")
    if IS_A not in kg.relations:
        return eye
    rel = kg.relations.index(IS_A)
    rows = np.repeat(np.arange(n), np.diff(kg.indptr))
    # an entry in row u with edge_fwd False: u is the tail (parent) of an is_a edge
    hit = (kg.edge_rel == rel) & ~kg.edge_fwd.astype(bool)
    child = sparse.csr_matrix(
        (np.ones(int(hit.sum()), np.float32), (rows[hit], kg.indices[hit])), shape=(n, n)
    )
    reach = eye
    for _ in range(64):  # ontology depth; stops when the closure is complete
        nxt = ((reach + reach @ child) > 0).astype(np.float32)
        if nxt.nnz == reach.nnz:
            break
        reach = nxt
    return reach.tocsr()


def compute_specificity(kg: KnowledgeGraph) -> np.ndarray:
    n = kg.n_nodes
    types = np.asarray(kg.types, dtype=object)
    is_d = types == DISEASE_TYPE
    if not is_d.any():
        is_d = np.ones(n, bool)
    d_idx = np.nonzero(is_d)[0]
    adj = _adjacency(kg)[:, d_idx]
    own = sparse.csr_matrix(
        (np.ones(len(d_idx), np.float32), (d_idx, np.arange(len(d_idx)))), shape=(n, len(d_idx))
    )
    explained = _descendants(kg) @ ((adj + own) > 0).astype(np.float32)
    counts = np.diff((explained > 0).tocsr().indptr).astype(np.float64)
    big_n = float(len(d_idx))
    w = np.log((big_n + 1.0) / (counts + 1.0)) / math.log(big_n + 1.0) if big_n > 0 else counts
    w = np.clip(w, 0.0, 1.0)
    w.flags.writeable = False
    return w


def specificity(kg: KnowledgeGraph) -> np.ndarray:
    """w(x) per node (see the module doc), computed once per KG object."""
    if kg not in _CACHE:
        _CACHE[kg] = compute_specificity(kg)
    return _CACHE[kg]
