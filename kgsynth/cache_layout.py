"""Where each kind of cache lives under the cache folder, and the format version of each.

One place, imported by the modules that write each kind and by `kgsynth cache`, which
lists, verifies and clears them without importing what builds them (spaCy, scikit-learn).

    kg/graphs/<kg hash>/             a built KG (kgsynth.kg.cache), MANIFEST.json
    kg/sources/<name>-<fp>.json      source files' fingerprint -> KG hash
    aliases/<key>/                   a KG's alias table (kgsynth.linking.kb), MANIFEST.json
    linker/<kg>-<aliases>-<ver>/     an alias index (kgsynth.linking.store), MANIFEST.json
    prefect-results/<shard key>      finished shards (Prefect records) + <key>.seal
    llm/responses.sqlite             LLM replies (kgsynth.llm.cache), a digest per row
    llm/batches/<set hash>.json      a Batch API batch still being waited for (its id only,
                                     kgsynth.llm.batch); gone once its replies are stored
    decontam/<key>/                  a benchmark file's decontamination index
                                     (kgsynth.decontam.index), MANIFEST.json
    plots/<key>/                     a dataset's drawn plots (kgsynth.export.plots), keyed
                                     by their statistics and the drawing code, MANIFEST.json
"""

from __future__ import annotations

from pathlib import Path

KG = "kg"
ALIASES = "aliases"
LINKER = "linker"
SHARDS = "shards"
LLM = "llm"
DECONTAM = "decontam"
PLOTS = "plots"
KINDS = (KG, ALIASES, LINKER, SHARDS, LLM, DECONTAM, PLOTS)

# bump a version when what is stored (or how) changes: an older entry is then not read
KG_VERSION = "kg-v2"  # v1: the KG hash did not cover synonyms
ALIASES_VERSION = "aliases-v2"  # v1: a bare Parquet file per key, without a manifest
LINKER_STORE_VERSION = "store-v3"  # the index folder's files; v2 had an HNSW graph
INDEX_VERSION = "v5"  # the vectoriser and search; part of the folder name (v4: HNSW)
DECONTAM_VERSION = "decontam-v1"
PLOTS_VERSION = "plots-v2"  # v1 had no manifest; bump when what decides the bytes changes


def kg_graphs(cache_dir: Path) -> Path:
    return cache_dir / "kg" / "graphs"


def kg_sources(cache_dir: Path) -> Path:
    return cache_dir / "kg" / "sources"


def alias_root(cache_dir: Path) -> Path:
    return cache_dir / "aliases"


def linker_root(cache_dir: Path) -> Path:
    return cache_dir / "linker"


def linker_folder(cache_dir: Path, kg_hash: str, alias_hash: str) -> Path:
    return linker_root(cache_dir) / f"{kg_hash[:16]}-{alias_hash[:12]}-{INDEX_VERSION}"


def shard_root(cache_dir: Path) -> Path:
    """The default shard result folder (a build's config may name another)."""
    return cache_dir / "prefect-results"


def llm_path(cache_dir: Path) -> Path:
    return cache_dir / "llm" / "responses.sqlite"


def llm_batches(cache_dir: Path) -> Path:
    """Records of submitted LLM batches (part of the llm kind, not listed as entries: each
    lives only while its batch runs)."""
    return cache_dir / "llm" / "batches"


def plots_root(cache_dir: Path) -> Path:
    return cache_dir / PLOTS


def decontam_root(cache_dir: Path) -> Path:
    return cache_dir / DECONTAM


def decontam_folder(cache_dir: Path, key: str) -> Path:
    """A benchmark index; `key` hashes the file's content, the KG, the linking and
    decontamination settings and the code that builds it (kgsynth.decontam.index)."""
    return decontam_root(cache_dir) / key[:32]
