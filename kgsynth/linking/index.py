"""Character-3-gram TF-IDF + HNSW index over KG aliases, in scispaCy's on-disk layout.

scispaCy's own builder (create_tfidf_ann_index) refuses Python >= 3.11 (it needs float16
sparse matrices), so kgsynth fits the vectoriser and index itself, saves them as the four
files scispaCy's LinkerPaths expects, and loads them back through scispaCy. The folder is
keyed by the KG hash, so a second build reuses it.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import joblib
import nmslib
import numpy as np
import scipy.sparse
from scispacy.candidate_generation import CandidateGenerator, LinkerPaths
from scispacy.linking_utils import KnowledgeBase
from sklearn.feature_extraction.text import TfidfVectorizer

from kgsynth.atomic import staged_folder

log = logging.getLogger(__name__)

INDEX_VERSION = "v2"  # bump when the vectoriser or index parameters change
_HNSW = {"M": 24, "efConstruction": 200, "post": 0}


def index_dir(cache_dir: Path, kg_hash: str, alias_hash: str) -> Path:
    return cache_dir / "linker" / f"{kg_hash[:16]}-{alias_hash[:12]}-{INDEX_VERSION}"


def build_index(aliases: list[str], out: Path, threads: int | None = None) -> None:
    """Fit the vectoriser and HNSW index and write them atomically into `out`."""
    vectorizer = TfidfVectorizer(analyzer="char_wb", ngram_range=(3, 3), min_df=1, dtype=np.float32)
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
        paths = LinkerPaths.from_directory(tmp)
        joblib.dump(vectorizer, paths.tfidf_vectorizer)
        scipy.sparse.save_npz(paths.tfidf_vectors, vectors)  # float32: loadable on any scipy
        Path(paths.concept_aliases_list).write_text(json.dumps(kept))
        index.saveIndex(paths.ann_index, save_data=False)


def load_candidate_generator(
    aliases: list[str], kb: KnowledgeBase, folder: Path, *, ef_search: int = 200
) -> tuple[CandidateGenerator, bool]:
    """scispaCy's CandidateGenerator over our index; builds the index first if not cached.

    Returns the generator and whether the index came from the cache.
    """
    paths = LinkerPaths.from_directory(folder) if folder.is_dir() else None
    cached = paths is not None and paths.is_locally_cached()
    if not cached:
        log.info("building alias index over %d aliases in %s", len(aliases), folder)
        build_index(aliases, folder)
        paths = LinkerPaths.from_directory(folder)
    assert paths is not None
    concept_aliases, vectorizer, ann_index = paths.load(ef_search=ef_search)
    cg = CandidateGenerator(
        ann_index=ann_index,
        tfidf_vectorizer=vectorizer,
        ann_concept_aliases_list=concept_aliases,
        kb=kb,
    )
    return cg, cached
