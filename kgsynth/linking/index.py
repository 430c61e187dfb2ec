"""Character-3-gram TF-IDF index over KG aliases, handed to scispaCy's generator.

scispaCy's own builder (create_tfidf_ann_index) refuses Python >= 3.11 (it needs float16
sparse matrices), so kgsynth fits the vectoriser itself and searches the vectors exactly
(kgsynth.linking.exact) instead of through an approximate HNSW index. It keeps them in formats
that cannot run code and reads them back from local paths only (kgsynth.linking.store),
then gives the loaded objects to scispaCy's CandidateGenerator. The folder is keyed by the
KG hash, so a second build reuses it; a folder that is incomplete or does not load is
rebuilt (with a warning), never completed from elsewhere.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from kgsynth import cache_layout, manifest
from kgsynth.atomic import staged_folder
from kgsynth.linking import store
from kgsynth.linking.scispacy_import import CandidateGenerator, KnowledgeBase

log = logging.getLogger(__name__)

INDEX_VERSION = cache_layout.INDEX_VERSION  # bumped when the vectoriser or index changes


def index_dir(cache_dir: Path, kg_hash: str, alias_hash: str) -> Path:
    return cache_layout.linker_folder(cache_dir, kg_hash, alias_hash)


def build_index(aliases: list[str], out: Path) -> None:
    """Fit the vectoriser and write it with the aliases' vectors atomically into `out`."""
    vectorizer = store.new_vectorizer()
    vectors = vectorizer.fit_transform(aliases).tocsr()
    # an alias without a 3-gram has an all-zero vector: no query can find it
    nonempty = np.asarray(vectors.getnnz(axis=1) > 0)
    kept = [a for a, ok in zip(aliases, nonempty, strict=True) if ok]
    with staged_folder(out) as tmp:  # another build that wins the race keeps its own
        store.save(tmp, vectorizer, vectors[nonempty], kept)


def load_candidate_generator(
    aliases: list[str], kb: KnowledgeBase, folder: Path
) -> tuple[CandidateGenerator, bool]:
    """scispaCy's CandidateGenerator over our index; builds the index first if not cached.

    Returns the generator and whether the index came from the cache.
    """
    loaded = manifest.load_checked(folder, store.KIND, store.FORMAT, "alias index", store.read)
    cached = loaded is not None
    if loaded is None:
        log.info("building alias index over %d aliases in %s", len(aliases), folder)
        build_index(aliases, folder)
        loaded = store.read(folder)
    concept_aliases, vectorizer, ann_index = loaded
    cg = CandidateGenerator(
        ann_index=ann_index,
        tfidf_vectorizer=vectorizer,
        ann_concept_aliases_list=concept_aliases,
        kb=kb,
    )
    return cg, cached
