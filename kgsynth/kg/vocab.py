"""One vocabulary of node types and relation names for every KG loader.

PrimeKG, Hetionet and KGX/Biolink each name the same concepts differently ("gene/protein",
"Gene", "biolink:Gene"; "indication", "CtD", "biolink:treats"). The tables below map each
source's terms onto one lower-snake-case name, so a path, a filter or a prompt template
means the same thing whichever loader read the KG. The built-in HPO KG already uses these
names (phenotype, disease, gene; is_a, has_phenotype, associated_with).

Relations also get one direction: where a source stores an edge the other way round (for
example Hetionet's Anatomy-expresses-Gene), the table says so and the loader swaps head and
tail. Terms the tables do not know pass through lower-snake-cased, never dropped.
"""

from __future__ import annotations

import polars as pl

# Bump when a mapping below changes: it is part of the cache key of every normalised KG.
VOCAB_VERSION = "vocab-v1"

# -- canonical names -------------------------------------------------------------------------

NODE_TYPES = (
    "gene",  # genes and their products (PrimeKG merges them as gene/protein)
    "drug",  # drugs and other chemical compounds
    "disease",
    "phenotype",  # phenotypes, symptoms and side effects (PrimeKG's effect/phenotype)
    "anatomy",
    "pathway",
    "biological_process",
    "molecular_function",
    "cellular_component",
    "exposure",
    "pharmacologic_class",
    "entity",  # no more specific type known (also the triples loader's default)
)

RELATIONS = (
    "treats",  # drug -> disease
    "palliates",  # drug -> disease
    "contraindicated_for",  # drug -> disease
    "off_label_use",  # drug -> disease
    "targets",  # drug -> gene (binding target, enzyme, carrier, transporter)
    "has_side_effect",  # drug -> phenotype
    "has_phenotype",  # disease -> phenotype
    "lacks_phenotype",  # disease -> phenotype, explicitly absent
    "associated_with",  # gene -> disease/phenotype, exposure -> disease
    "interacts_with",  # same-type interactions, exposure -> gene/process
    "expressed_in",  # gene -> anatomy
    "not_expressed_in",  # gene -> anatomy, explicitly absent
    "participates_in",  # gene -> pathway/process/function/component
    "upregulates",
    "downregulates",
    "regulates",  # gene -> gene
    "resembles",  # drug -> drug, disease -> disease
    "covaries_with",  # gene -> gene
    "localizes_to",  # disease -> anatomy
    "includes",  # pharmacologic class -> drug
    "causes",
    "is_a",  # child -> parent
    "parent_child",  # hierarchy edge of unknown direction (PrimeKG lists both)
)

# -- PrimeKG (kg.csv x_type / y_type and relation) -------------------------------------------

PRIMEKG_TYPES: dict[str, str] = {
    "gene/protein": "gene",
    "drug": "drug",
    "disease": "disease",
    "effect/phenotype": "phenotype",
    "anatomy": "anatomy",
    "pathway": "pathway",
    "biological_process": "biological_process",
    "molecular_function": "molecular_function",
    "cellular_component": "cellular_component",
    "exposure": "exposure",
}

# relation -> (canonical relation, head type, tail type), types already canonical.
# kg.csv lists every edge in both directions: the loader keeps the one that runs from the
# head type to the tail type; a same-type relation has no direction to recover, so its
# edges run from the smaller id to the larger. display_relation only refines drug_protein
# (target/enzyme/carrier/transporter): not used.
PRIMEKG_RELATIONS: dict[str, tuple[str, str, str]] = {
    "protein_protein": ("interacts_with", "gene", "gene"),
    "drug_protein": ("targets", "drug", "gene"),
    "contraindication": ("contraindicated_for", "drug", "disease"),
    "indication": ("treats", "drug", "disease"),
    "off-label use": ("off_label_use", "drug", "disease"),
    "drug_drug": ("interacts_with", "drug", "drug"),
    "phenotype_protein": ("associated_with", "gene", "phenotype"),
    "phenotype_phenotype": ("parent_child", "phenotype", "phenotype"),
    "disease_phenotype_negative": ("lacks_phenotype", "disease", "phenotype"),
    "disease_phenotype_positive": ("has_phenotype", "disease", "phenotype"),
    "disease_protein": ("associated_with", "gene", "disease"),
    "disease_disease": ("parent_child", "disease", "disease"),
    "drug_effect": ("has_side_effect", "drug", "phenotype"),
    "bioprocess_bioprocess": ("parent_child", "biological_process", "biological_process"),
    "molfunc_molfunc": ("parent_child", "molecular_function", "molecular_function"),
    "cellcomp_cellcomp": ("parent_child", "cellular_component", "cellular_component"),
    "molfunc_protein": ("participates_in", "gene", "molecular_function"),
    "cellcomp_protein": ("participates_in", "gene", "cellular_component"),
    "bioprocess_protein": ("participates_in", "gene", "biological_process"),
    "exposure_protein": ("interacts_with", "exposure", "gene"),
    "exposure_disease": ("associated_with", "exposure", "disease"),
    "exposure_exposure": ("parent_child", "exposure", "exposure"),
    "exposure_bioprocess": ("interacts_with", "exposure", "biological_process"),
    "exposure_molfunc": ("interacts_with", "exposure", "molecular_function"),
    "exposure_cellcomp": ("interacts_with", "exposure", "cellular_component"),
    "pathway_pathway": ("parent_child", "pathway", "pathway"),
    "pathway_protein": ("participates_in", "gene", "pathway"),
    "anatomy_anatomy": ("parent_child", "anatomy", "anatomy"),
    "anatomy_protein_present": ("expressed_in", "gene", "anatomy"),
    "anatomy_protein_absent": ("not_expressed_in", "gene", "anatomy"),
}

# -- Hetionet v1.0 (node kinds and the 24 metaedges) -----------------------------------------

HETIONET_KINDS: dict[str, str] = {
    "Anatomy": "anatomy",
    "Biological Process": "biological_process",
    "Cellular Component": "cellular_component",
    "Compound": "drug",
    "Disease": "disease",
    "Gene": "gene",
    "Molecular Function": "molecular_function",
    "Pathway": "pathway",
    "Pharmacologic Class": "pharmacologic_class",
    "Side Effect": "phenotype",
    "Symptom": "phenotype",
}

# abbreviation -> (source kind, Hetionet's verb, target kind, canonical relation, reversed).
# "reversed" marks the metaedges whose canonical direction is target -> source.
HETIONET_METAEDGES: dict[str, tuple[str, str, str, str, bool]] = {
    "AdG": ("Anatomy", "downregulates", "Gene", "downregulates", False),
    "AeG": ("Anatomy", "expresses", "Gene", "expressed_in", True),
    "AuG": ("Anatomy", "upregulates", "Gene", "upregulates", False),
    "CbG": ("Compound", "binds", "Gene", "targets", False),
    "CcSE": ("Compound", "causes", "Side Effect", "has_side_effect", False),
    "CdG": ("Compound", "downregulates", "Gene", "downregulates", False),
    "CpD": ("Compound", "palliates", "Disease", "palliates", False),
    "CrC": ("Compound", "resembles", "Compound", "resembles", False),
    "CtD": ("Compound", "treats", "Disease", "treats", False),
    "CuG": ("Compound", "upregulates", "Gene", "upregulates", False),
    "DaG": ("Disease", "associates", "Gene", "associated_with", True),
    "DdG": ("Disease", "downregulates", "Gene", "downregulates", False),
    "DlA": ("Disease", "localizes", "Anatomy", "localizes_to", False),
    "DpS": ("Disease", "presents", "Symptom", "has_phenotype", False),
    "DrD": ("Disease", "resembles", "Disease", "resembles", False),
    "DuG": ("Disease", "upregulates", "Gene", "upregulates", False),
    "GcG": ("Gene", "covaries", "Gene", "covaries_with", False),
    "GiG": ("Gene", "interacts", "Gene", "interacts_with", False),
    "GpBP": ("Gene", "participates", "Biological Process", "participates_in", False),
    "GpCC": ("Gene", "participates", "Cellular Component", "participates_in", False),
    "GpMF": ("Gene", "participates", "Molecular Function", "participates_in", False),
    "GpPW": ("Gene", "participates", "Pathway", "participates_in", False),
    "Gr>G": ("Gene", "regulates", "Gene", "regulates", False),
    "PCiC": ("Pharmacologic Class", "includes", "Compound", "includes", False),
}

# -- Biolink (KGX category and predicate values, without the "biolink:" prefix) ---------------

BIOLINK_CATEGORIES: dict[str, str] = {
    "Gene": "gene",
    "Protein": "gene",
    "GeneOrGeneProduct": "gene",
    "Polypeptide": "gene",
    "ProteinIsoform": "gene",
    "Drug": "drug",
    "SmallMolecule": "drug",
    "ChemicalEntity": "drug",
    "ChemicalSubstance": "drug",  # Biolink 2 name
    "MolecularEntity": "drug",
    "MolecularMixture": "drug",
    "ChemicalMixture": "drug",
    "ComplexMolecularMixture": "drug",
    "Disease": "disease",
    "DiseaseOrPhenotypicFeature": "disease",
    "PhenotypicFeature": "phenotype",
    "ClinicalFinding": "phenotype",
    "BehavioralFeature": "phenotype",
    "AnatomicalEntity": "anatomy",
    "GrossAnatomicalStructure": "anatomy",
    "Pathway": "pathway",
    "BiologicalProcess": "biological_process",
    "MolecularActivity": "molecular_function",
    "CellularComponent": "cellular_component",
    "ExposureEvent": "exposure",
    "EnvironmentalExposure": "exposure",
    "ChemicalExposure": "exposure",
    # ancestors and mixins listed beside the real category: only used when alone
    "NamedThing": "entity",
    "Entity": "entity",
    "BiologicalEntity": "entity",
    "ThingWithTaxon": "entity",
    "PhysicalEssence": "entity",
    "PhysicalEssenceOrOccurrent": "entity",
    "OntologyClass": "entity",
    "Occurrent": "entity",
}

# predicate -> (canonical relation, reversed)
BIOLINK_PREDICATES: dict[str, tuple[str, bool]] = {
    "treats": ("treats", False),
    "treated_by": ("treats", True),
    "contraindicated_for": ("contraindicated_for", False),
    "contraindicated_in": ("contraindicated_for", False),
    "binds": ("targets", False),  # deprecated in Biolink 4 but still in KGX dumps
    "has_side_effect": ("has_side_effect", False),
    "is_side_effect_of": ("has_side_effect", True),
    "has_phenotype": ("has_phenotype", False),
    "phenotype_of": ("has_phenotype", True),
    "associated_with": ("associated_with", False),
    "gene_associated_with_condition": ("associated_with", False),
    "condition_associated_with_gene": ("associated_with", True),
    "genetically_associated_with": ("associated_with", False),
    "interacts_with": ("interacts_with", False),
    "physically_interacts_with": ("interacts_with", False),
    "directly_physically_interacts_with": ("interacts_with", False),
    "genetically_interacts_with": ("interacts_with", False),
    "expressed_in": ("expressed_in", False),
    "expresses": ("expressed_in", True),
    "participates_in": ("participates_in", False),
    "actively_involved_in": ("participates_in", False),
    "has_participant": ("participates_in", True),
    "increases_expression_of": ("upregulates", False),
    "decreases_expression_of": ("downregulates", False),
    "regulates": ("regulates", False),
    "similar_to": ("resembles", False),
    "disease_has_location": ("localizes_to", False),
    "location_of_disease": ("localizes_to", True),
    "has_member": ("includes", False),
    "member_of": ("includes", True),
    "causes": ("causes", False),
    "caused_by": ("causes", True),
    "subclass_of": ("is_a", False),
    "superclass_of": ("is_a", True),
}

# a negated Biolink edge (negated=True) asserts absence: these have a name of their own,
# any other relation r becomes not_r
NEGATED: dict[str, str] = {
    "has_phenotype": "lacks_phenotype",
    "expressed_in": "not_expressed_in",
}

# -- polars expressions ------------------------------------------------------------------------


def snake(expr: pl.Expr) -> pl.Expr:
    """Lower snake case: 'Side Effect' -> side_effect, 'PhenotypicFeature' ->
    phenotypic_feature, 'off-label use' -> off_label_use. A value with no letter or digit
    is kept as it is rather than turned into an empty name."""
    s = (
        expr.str.strip_chars()
        .str.replace_all(r"(\p{Lu}+)(\p{Lu}\p{Ll})", "${1}_${2}")  # RNAProduct -> RNA_Product
        .str.replace_all(r"([\p{Ll}\p{N}])(\p{Lu})", "${1}_${2}")  # camelCase -> camel_Case
        .str.to_lowercase()
        .str.replace_all(r"[^\p{L}\p{N}]+", "_")
        .str.strip_chars("_")
    )
    return pl.when(s == "").then(expr).otherwise(s)


def lookup(expr: pl.Expr, table: dict[str, str]) -> pl.Expr:
    """The table's name for each value, else the value lower-snake-cased."""
    return expr.replace_strict(table, default=snake(expr), return_dtype=pl.String)


def mapping(values: pl.Series, table: dict[str, str]) -> dict[str, str]:
    """lookup() for each distinct value: a column of millions of rows holds a few dozen
    types or relations, so the regexes of snake() run on those alone."""
    distinct = pl.DataFrame({"v": values.unique().drop_nulls()})
    named = distinct.with_columns(lookup(pl.col("v"), table).alias("n"))
    return dict(zip(named["v"].to_list(), named["n"].to_list(), strict=True))


def normalise(df: pl.DataFrame, cols: list[str], table: dict[str, str]) -> pl.DataFrame:
    """Map the columns' values through table (see lookup) in place."""
    names = mapping(pl.concat([df[c] for c in cols]), table)
    return df.with_columns(pl.col(c).replace(names) for c in cols)


def biolink_term(expr: pl.Expr) -> pl.Expr:
    return expr.str.strip_chars().str.strip_prefix("biolink:")


def metaedge_frame() -> pl.DataFrame:
    """HETIONET_METAEDGES as a frame, to join edges on."""
    rows = [(abbrev, *spec) for abbrev, spec in HETIONET_METAEDGES.items()]
    return pl.DataFrame(
        rows,
        schema={
            "metaedge": pl.String,
            "source_kind": pl.String,
            "verb": pl.String,
            "target_kind": pl.String,
            "relation": pl.String,
            "reverse": pl.Boolean,
        },
        orient="row",
    )


def swap_where(df: pl.DataFrame, cond: pl.Expr, a: str = "head", b: str = "tail") -> pl.DataFrame:
    """Swap columns a and b on the rows where cond holds."""
    return df.with_columns(
        pl.when(cond).then(pl.col(b)).otherwise(pl.col(a)).alias(a),
        pl.when(cond).then(pl.col(a)).otherwise(pl.col(b)).alias(b),
    )
