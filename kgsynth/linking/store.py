"""The alias index on disk, in formats that cannot run code, read from local paths only.

scispaCy's LinkerPaths keeps the TF-IDF vectoriser as a joblib pickle and resolves every
path through `cached_path`, which downloads anything that is not a local file. kgsynth keeps
the vectoriser as JSON (its 3-gram vocabulary in column order and the idf weights) and reads
the files itself from the index folder: a planted pickle is never read, and a missing file
is an error the caller answers by rebuilding, never a download. Search is exact over the
vectors (kgsynth.linking.exact), so there is no approximate index to store.

    tfidf_vectorizer.json     {"params": ..., "vocabulary": [...], "idf": [...]}
    tfidf_vectors_sparse.npz  the aliases' vectors (scipy's npz: no pickle)
    concept_aliases.json      the aliases, in vector order
    MANIFEST.json             written last: the files' sizes and hashes (kgsynth.manifest)
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse
from sklearn.feature_extraction.text import TfidfVectorizer

from kgsynth import cache_layout, manifest
from kgsynth.linking.exact import ExactCosineIndex

VECTORIZER = "tfidf_vectorizer.json"
VECTORS = "tfidf_vectors_sparse.npz"
ALIASES = "concept_aliases.json"
FILES = (VECTORIZER, VECTORS, ALIASES)
KIND = cache_layout.LINKER
FORMAT = cache_layout.LINKER_STORE_VERSION

# how the vectoriser is made; stored with it so a changed setting cannot load old weights
PARAMS: dict[str, Any] = {"analyzer": "char_wb", "ngram_range": [3, 3], "min_df": 1}


def new_vectorizer() -> TfidfVectorizer:
    return TfidfVectorizer(
        analyzer=PARAMS["analyzer"],
        ngram_range=tuple(PARAMS["ngram_range"]),
        min_df=PARAMS["min_df"],
        dtype=np.float32,
    )


def problem(folder: Path, *, full: bool = False) -> str | None:
    """Why the index in `folder` is not sound (manifest, sizes, hashes), or None."""
    why = manifest.problem(folder, KIND, FORMAT, full=full)
    if why is None and (missing := [n for n in FILES if not (folder / n).is_file()]):
        why = f"the manifest does not list {', '.join(missing)}"
    return why


def save(
    folder: Path,
    vectorizer: TfidfVectorizer,
    vectors: scipy.sparse.csr_matrix,
    aliases: list[str],
) -> None:
    vocab = sorted(vectorizer.vocabulary_, key=vectorizer.vocabulary_.__getitem__)
    spec = {"params": PARAMS, "vocabulary": vocab, "idf": vectorizer.idf_.tolist()}
    (folder / VECTORIZER).write_text(json.dumps(spec), encoding="utf-8")
    # float32, uncompressed: loading skips a zlib pass (0.1 s of every warm start on HPO)
    scipy.sparse.save_npz(folder / VECTORS, vectors, compressed=False)
    (folder / ALIASES).write_text(json.dumps(aliases), encoding="utf-8")
    manifest.write(folder, KIND, FORMAT)


def load_vectorizer(path: Path) -> TfidfVectorizer:
    spec = json.loads(path.read_text(encoding="utf-8"))
    if spec.get("params") != PARAMS:
        raise ValueError(f"{path}: made with other settings ({spec.get('params')})")
    vocab = spec["vocabulary"]
    idf = np.asarray(spec["idf"], dtype=np.float64)
    if len(vocab) != len(idf):
        raise ValueError(f"{path}: {len(vocab)} terms but {len(idf)} idf weights")
    vec = new_vectorizer()
    vec.set_params(vocabulary={term: i for i, term in enumerate(vocab)})
    vec.idf_ = idf  # sets the fitted transformer: transform() now works without fit()
    return vec


def read(folder: Path) -> tuple[list[str], TfidfVectorizer, ExactCosineIndex]:
    """(aliases, vectoriser, exact index over the aliases' vectors) from `folder`, whose
    manifest the caller has checked (kgsynth.manifest.load_checked); FileNotFoundError or
    ValueError when a file is missing or does not fit the others."""
    for name in FILES:
        if not (folder / name).is_file():
            raise FileNotFoundError(f"{folder / name}: missing from the alias index")
    aliases = json.loads((folder / ALIASES).read_text(encoding="utf-8"))
    vectorizer = load_vectorizer(folder / VECTORIZER)
    vectors = scipy.sparse.load_npz(folder / VECTORS).astype(np.float32)
    if vectors.shape != (len(aliases), len(vectorizer.vocabulary_)):
        raise ValueError(
            f"{folder}: vectors {vectors.shape} do not fit {len(aliases)} aliases x "
            f"{len(vectorizer.vocabulary_)} terms"
        )
    index = ExactCosineIndex(vectors)
    return aliases, vectorizer, index
