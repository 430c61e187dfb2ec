"""A generated graph with PrimeKG's size, type mix and relation mix, in kg.csv layout.

Node counts per type and undirected edge counts per relation follow the published PrimeKG
statistics (129,375 nodes, 10 types, 30 relations, ~4.05 M edges listed in both directions,
so ~8.1 M rows). Endpoints are drawn with Zipf-like weights, so degrees are heavy-tailed.
Fixed seed: the same file every time. Usage: python bench/synthetic_primekg.py OUT.csv
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import polars as pl

NODE_TYPES: dict[str, int] = {
    "gene/protein": 27_671,
    "drug": 7_957,
    "effect/phenotype": 15_311,
    "disease": 17_080,
    "biological_process": 28_642,
    "molecular_function": 11_169,
    "cellular_component": 4_176,
    "exposure": 818,
    "pathway": 2_516,
    "anatomy": 14_035,
}

# relation: (x_type, y_type, undirected edges)
RELATIONS: dict[str, tuple[str, str, int]] = {
    "protein_protein": ("gene/protein", "gene/protein", 321_075),
    "drug_protein": ("drug", "gene/protein", 25_653),
    "contraindication": ("drug", "disease", 30_675),
    "indication": ("drug", "disease", 9_388),
    "off-label use": ("drug", "disease", 2_568),
    "drug_drug": ("drug", "drug", 1_336_142),
    "phenotype_protein": ("effect/phenotype", "gene/protein", 3_330),
    "phenotype_phenotype": ("effect/phenotype", "effect/phenotype", 37_472),
    "disease_phenotype_negative": ("disease", "effect/phenotype", 1_193),
    "disease_phenotype_positive": ("disease", "effect/phenotype", 150_317),
    "disease_protein": ("disease", "gene/protein", 80_411),
    "disease_disease": ("disease", "disease", 35_167),
    "drug_effect": ("drug", "effect/phenotype", 64_784),
    "bioprocess_bioprocess": ("biological_process", "biological_process", 52_886),
    "molfunc_molfunc": ("molecular_function", "molecular_function", 13_574),
    "cellcomp_cellcomp": ("cellular_component", "cellular_component", 4_845),
    "bioprocess_protein": ("biological_process", "gene/protein", 144_805),
    "molfunc_protein": ("molecular_function", "gene/protein", 69_530),
    "cellcomp_protein": ("cellular_component", "gene/protein", 83_402),
    "exposure_protein": ("exposure", "gene/protein", 1_212),
    "exposure_disease": ("exposure", "disease", 2_304),
    "exposure_exposure": ("exposure", "exposure", 2_238),
    "exposure_bioprocess": ("exposure", "biological_process", 1_625),
    "exposure_molfunc": ("exposure", "molecular_function", 45),
    "exposure_cellcomp": ("exposure", "cellular_component", 10),
    "pathway_pathway": ("pathway", "pathway", 2_535),
    "pathway_protein": ("pathway", "gene/protein", 42_646),
    "anatomy_anatomy": ("anatomy", "anatomy", 14_033),
    "anatomy_protein_present": ("anatomy", "gene/protein", 1_518_203),
    "anatomy_protein_absent": ("anatomy", "gene/protein", 19_887),
}


def make_primekg(seed: int = 0, scale: float = 1.0) -> pl.DataFrame:
    """kg.csv rows (both directions of every edge), PrimeKG's 12 columns, all strings."""
    rng = np.random.default_rng(seed)
    offsets: dict[str, int] = {}
    weights: dict[str, np.ndarray] = {}
    start = 0
    for t, n in NODE_TYPES.items():
        n = max(2, round(n * scale))
        offsets[t] = start
        start += n
        # Zipf-like popularity, shuffled so hubs are not the lowest ids
        w = rng.permutation(1.0 / np.arange(1, n + 1) ** 0.9)
        weights[t] = w / w.sum()
    types = np.empty(start, dtype=object)
    for t in NODE_TYPES:
        types[offsets[t] : offsets[t] + len(weights[t])] = t
    parts = []
    for rel, (xt, yt, m) in RELATIONS.items():
        x, y = _distinct_pairs(
            rng, m=max(1, round(m * scale)), same=xt == yt, wx=weights[xt], wy=weights[yt]
        )
        parts.append(pl.DataFrame({"relation": rel, "x": x + offsets[xt], "y": y + offsets[yt]}))
    edges = pl.concat(parts)
    both = pl.concat(
        [edges, edges.select("relation", pl.col("y").alias("x"), pl.col("x").alias("y"))]
    )
    node_type = pl.Series("t", types.astype(str))
    return both.select(
        "relation",
        pl.col("relation").alias("display_relation"),
        pl.col("x").cast(pl.String).alias("x_index"),
        pl.col("x").cast(pl.String).alias("x_id"),
        pl.col("x").map_batches(lambda s: node_type.gather(s)).alias("x_type"),
        pl.format("node {}", "x").alias("x_name"),
        pl.lit("SYN").alias("x_source"),
        pl.col("y").cast(pl.String).alias("y_index"),
        pl.col("y").cast(pl.String).alias("y_id"),
        pl.col("y").map_batches(lambda s: node_type.gather(s)).alias("y_type"),
        pl.format("node {}", "y").alias("y_name"),
        pl.lit("SYN").alias("y_source"),
    )


def _distinct_pairs(
    rng: np.random.Generator, m: int, same: bool, wx: np.ndarray, wy: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """m distinct (x, y) pairs (unordered when both ends have one type), no self-pairs:
    heavy-tailed draws repeat pairs, so draw again until m distinct ones exist."""
    nx, ny = len(wx), len(wy)
    codes = np.empty(0, np.int64)
    while len(codes) < m:
        need = int((m - len(codes)) * 1.3) + 16
        x = rng.choice(nx, size=need, p=wx)
        y = rng.choice(ny, size=need, p=wy)
        if same:
            x, y = np.minimum(x, y), np.maximum(x, y)
            keep = x != y
            x, y = x[keep], y[keep]
        codes = np.unique(np.concatenate([codes, x.astype(np.int64) * ny + y]))
    codes = rng.permutation(codes)[:m]
    return codes // ny, codes % ny


def write_primekg(out: Path, seed: int = 0, scale: float = 1.0) -> int:
    df = make_primekg(seed, scale)
    df.write_csv(out)
    return df.height


if __name__ == "__main__":
    rows = write_primekg(Path(sys.argv[1]))
    print(f"wrote {rows} rows to {sys.argv[1]}")
