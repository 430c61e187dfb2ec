"""Character-3-gram TF-IDF + HNSW index over KG aliases, handed to scispaCy's generator.

scispaCy's own builder (create_tfidf_ann_index) refuses Python >= 3.11 (it needs float16
sparse matrices), so kgsynth fits the vectoriser and index itself. It keeps them in formats
that cannot run code and reads them back from local paths only (kgsynth.linking.store),
then gives the loaded objects to scispaCy's CandidateGenerator. The folder is keyed by the
KG hash, so a second build reuses it; a folder that is incomplete or does not load is
rebuilt (with a warning), never completed from elsewhere.
"""

from __future__ import annotations

import logging
from pathlib import Path

import nmslib
import numpy as np
from scispacy.candidate_generation import CandidateGenerator
from scispacy.linking_utils import KnowledgeBase

from kgsynth import cache_layout, manifest
from kgsynth.atomic import staged_folder
from kgsynth.linking import store

log = logging.getLogger(__name__)

INDEX_VERSION = cache_layout.INDEX_VERSION  # bumped when the vectoriser or index changes
_HNSW = {"M": 24, "efConstruction": 200, "post": 0}


def index_dir(cache_dir: Path, kg_hash: str, alias_hash: str) -> Path:
    return cache_layout.linker_folder(cache_dir, kg_hash, alias_hash)


def build_index(aliases: list[str], out: Path, threads: int | None = None) -> None:
    """Fit the vectoriser and HNSW index and write them atomically into `out`."""
    vectorizer = store.new_vectorizer()
    vectors = vectorizer.fit_transform(aliases).tocsr()
    nonempty = np.asarray(vectors.getnnz(axis=1) > 0)
    # nmslib crashes on all-zero vectors; such aliases (no 3-gram) cannot be found anyway
    kept = [a for a, ok in zip(aliases, nonempty, strict=True) if ok]
    vectors = vectors[nonempty]
    index = nmslib.init(
        method="hnsw", space="cosinesimil_sparse", data_type=nmslib.DataType.SPARSE_VECTOR
    )
    index.addDataPointBatch(vectors)
    index.createIndex(
        # one thread: HNSW insertion order (and so the graph, and which near neighbours a
        # query finds) then depends on nothing but the aliases, so builds are reproducible
        {**_HNSW, "indexThreadQty": threads or 1},
        print_progress=False,
    )
    with staged_folder(out) as tmp:  # another build that wins the race keeps its own
        store.save(tmp, vectorizer, vectors, kept, index)


def load_candidate_generator(
    aliases: list[str], kb: KnowledgeBase, folder: Path, *, ef_search: int = 200
) -> tuple[CandidateGenerator, bool]:
    """scispaCy's CandidateGenerator over our index; builds the index first if not cached.

    Returns the generator and whether the index came from the cache.
    """
    loaded = None
    if folder.exists():
        try:
            loaded = store.load(folder, ef_search=ef_search)
        except Exception as e:  # noqa: BLE001 - any damage (cut file, bad JSON): rebuild
            manifest.discard(folder, "alias index", str(e))
    cached = loaded is not None
    if loaded is None:
        log.info("building alias index over %d aliases in %s", len(aliases), folder)
        build_index(aliases, folder)
        loaded = store.load(folder, ef_search=ef_search)
    concept_aliases, vectorizer, ann_index = loaded
    cg = CandidateGenerator(
        ann_index=ann_index,
        tfidf_vectorizer=vectorizer,
        ann_concept_aliases_list=concept_aliases,
        kb=kb,
    )
    return cg, cached
