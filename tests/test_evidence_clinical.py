"""Clinical support paths (kgsynth.evidence.clinical): a finding supports an option when the
option has it, through is_a steps on either side at most; a finding joined to the option
through another disease or a gene supports nothing, a row whose only support is such a
bridge leaves as `no_support`, findings most options share decide nothing, and a path that
climbs from the finding counts only as specifically as the class it reaches."""

from __future__ import annotations

from kg_rows import kg_from_rows

from kgsynth.config import BuildConfig, EvidenceConfig
from kgsynth.evidence.score import EvidenceScorer
from kgsynth.evidence.specificity import specificity
from kgsynth.kg import KnowledgeGraph
from kgsynth.records import EntityLink, LinkedQA, QARecord
from kgsynth.stages import StageContext
from kgsynth.stages.evidence import EvidenceStage
from kgsynth.stages.paths import PathsStage

# unconnected diseases: a finding that explains one or two diseases is specific, as in a
# real KG (the weights of a six-disease KG are all low)
FILLER = [(f"D:f{i:02d}", f"Filler disease {i}", "disease") for i in range(12)]

NODES = [
    ("D:opt", "Optionitis", "disease"),
    ("D:other", "Otheritis", "disease"),
    ("D:rare", "Rare syndrome 7", "disease"),
    ("D:class", "Optionitis group", "disease"),
    ("D:sub", "Optionitis, susceptibility to, 2", "disease"),
    ("G:1", "GENE1", "gene"),
    ("P:direct", "Direct sign", "phenotype"),
    ("P:general", "General sign", "phenotype"),
    ("P:kind", "Specific sign", "phenotype"),
    ("P:inherited", "Class sign", "phenotype"),
    ("P:bridge", "Bridged sign", "phenotype"),
    ("P:x", "Sign of both", "phenotype"),
    ("P:gene", "Gene sign", "phenotype"),
    ("P:subtype", "Subtype sign", "phenotype"),
    ("P:sibling", "Sibling sign", "phenotype"),
    ("P:parent", "Parent sign", "phenotype"),
    ("P:sib2", "Other sibling sign", "phenotype"),
    *FILLER,
]
EDGES = [
    ("D:opt", "has_phenotype", "P:direct"),  # the option has the finding
    ("D:opt", "has_phenotype", "P:kind"),  # ... a more specific form of it
    ("P:kind", "is_a", "P:general"),
    ("D:opt", "is_a", "D:class"),  # ... or the option's class has it
    ("D:class", "has_phenotype", "P:inherited"),
    # bridges: a feature of another disease that shares a sign with the option, a gene
    ("D:rare", "has_phenotype", "P:bridge"),
    ("D:rare", "has_phenotype", "P:x"),
    ("D:opt", "has_phenotype", "P:x"),
    ("G:1", "associated_with", "P:gene"),
    ("G:1", "associated_with", "D:opt"),
    # a subtype of the option (a susceptibility locus) has the finding
    ("D:sub", "is_a", "D:opt"),
    ("D:sub", "has_phenotype", "P:subtype"),
    # the option has a sibling of the finding
    ("P:sibling", "is_a", "P:parent"),
    ("P:sib2", "is_a", "P:parent"),
    ("D:opt", "has_phenotype", "P:sib2"),
]
ALL = ["P:direct", "P:general", "P:inherited", "P:bridge", "P:gene", "P:subtype", "P:sibling"]


def _kg(nodes=NODES, edges=EDGES) -> KnowledgeGraph:
    return kg_from_rows("t", nodes, edges)


def _linked(g: KnowledgeGraph, findings: list[str], options: dict[str, str], rid="q"):
    def lk(kg_id: str, start: int = 0) -> EntityLink:
        i = g.index_of(kg_id)
        return EntityLink(
            kg_id=kg_id, name=g.names[i], type=g.types[i], mention=g.names[i], start=start,
            end=start + len(g.names[i]), score=1.0, method="exact", assertion="present",
        )  # fmt: skip

    opts = {x: g.names[g.index_of(i)] for x, i in options.items()}
    qa = QARecord(id=rid, source="t", question="A case. Which?", options=opts,
                  answer=opts["A"], answer_idx="A")  # fmt: skip
    return LinkedQA(
        qa=qa,
        question_entities=[lk(f, 10 * n) for n, f in enumerate(findings)],
        answer_entities=[lk(options["A"])],
        option_entities={x: [lk(i)] for x, i in options.items()},
    )


def _supports(cfg: EvidenceConfig, findings: list[str], g: KnowledgeGraph | None = None):
    g = g or _kg()
    item = _linked(g, findings, {"A": "D:opt", "B": "D:other"})
    report = EvidenceScorer(g, cfg).score(item).report
    return {s.finding_id: s for s in report.options[0].supports}


def _walk(s) -> list[str]:
    """The support's path as relation words, walked from the finding: "<has_phenotype"
    walks a has_phenotype edge from its tail to its head."""
    cur, out = s.path.start_id, []
    for h in s.path.hops:
        fwd = h.head_id == cur
        out.append(("" if fwd else "<") + h.relation)
        cur = h.tail_id if fwd else h.head_id
    return out


def test_a_finding_joined_through_another_disease_or_a_gene_supports_nothing():
    # clinical paths: the option has the finding, a more specific form of it, or its class
    # has it; the bridge, the gene, the subtype and the sibling support nothing
    sup = _supports(EvidenceConfig(), ALL)
    assert set(sup) == {"P:direct", "P:general", "P:inherited"}
    assert _walk(sup["P:direct"]) == ["<has_phenotype"]
    assert _walk(sup["P:general"]) == ["<is_a", "<has_phenotype"]
    assert _walk(sup["P:inherited"]) == ["<has_phenotype", "<is_a"]
    assert sup["P:inherited"].path.end_id == "D:opt"
    # any path within three hops reaches the option from every finding
    free = _supports(EvidenceConfig(clinical_paths=False), ALL)
    assert set(free) == set(ALL)
    assert [h.head_id for h in free["P:bridge"].path.hops] == ["D:rare", "D:rare", "D:opt"]
    assert [h.head_id for h in free["P:gene"].path.hops] == ["G:1", "G:1"]


def test_a_subtype_carries_a_finding_only_when_asked():
    assert "P:subtype" not in _supports(EvidenceConfig(), ["P:subtype", "P:direct"])
    sup = _supports(EvidenceConfig(subtype_support=True), ["P:subtype", "P:direct"])
    assert _walk(sup["P:subtype"]) == ["<has_phenotype", "is_a"]


def test_a_row_whose_only_support_is_a_bridge_is_rejected():
    g = _kg()
    options = {"A": "D:opt", "B": "D:other"}
    bridged = _linked(g, ["P:bridge", "P:gene"], options, rid="bridged")
    direct = _linked(g, ["P:bridge", "P:direct"], options, rid="direct")
    ctx = StageContext(cfg=BuildConfig(), kg=g)
    res = EvidenceStage(BuildConfig()).run([bridged, direct], ctx)
    assert [p.linked.qa.id for p in res.kept] == ["direct"]
    assert [(r.id, r.reason) for r in res.rejects] == [("bridged", "no_support")]
    assert len(res.kept) + len(res.rejects) == 2
    # the kept row's paths are its clinical supports only
    paths = PathsStage(BuildConfig()).run(res.kept, ctx)
    assert [p.start_id for p in paths.kept[0].paths] == ["P:direct"]


def test_a_drug_is_supported_by_its_indication_not_by_its_indications_symptoms():
    nodes = [
        ("X:drug", "Drugamide", "drug"),
        ("X:other", "Otheramide", "drug"),
        ("D:ind", "Indicationitis", "disease"),
        ("D:case", "Indicationitis, juvenile form", "disease"),
        ("D:far", "Faraway disease", "disease"),
        ("P:sym", "Symptom", "phenotype"),
        *FILLER,
    ]
    edges = [
        ("X:drug", "used_for", "D:ind"),
        ("D:case", "is_a", "D:ind"),  # the case names a kind of what the drug treats
        ("D:far", "has_phenotype", "P:sym"),  # the symptom, through a disease it treats
        ("X:drug", "used_for", "D:far"),
    ]
    g = _kg(nodes, edges)
    item = _linked(g, ["D:case", "P:sym"], {"A": "X:drug", "B": "X:other"})
    report = EvidenceScorer(g, EvidenceConfig()).score(item).report
    (only,) = report.options[0].supports
    assert only.finding_id == "D:case" and _walk(only) == ["is_a", "<used_for"]
    free = EvidenceScorer(g, EvidenceConfig(clinical_paths=False)).score(item).report
    assert {s.finding_id for s in free.options[0].supports} == {"D:case", "P:sym"}


def test_a_finding_that_most_options_share_supports_none():
    nodes = [
        ("D:a", "Alpha", "disease"),
        ("D:b", "Beta", "disease"),
        ("D:c", "Gamma", "disease"),
        ("P:common", "Common sign", "phenotype"),
        ("P:rare", "Rare sign", "phenotype"),
        *FILLER,
    ]
    edges = [(d, "has_phenotype", "P:common") for d in ("D:a", "D:b", "D:c")]
    edges.append(("D:a", "has_phenotype", "P:rare"))
    g = _kg(nodes, edges)
    item = _linked(g, ["P:common", "P:rare"], {"A": "D:a", "B": "D:b", "C": "D:c"})
    # all three options have it: it does not tell them apart
    report = EvidenceScorer(g, EvidenceConfig()).score(item).report
    assert [[s.finding_id for s in o.supports] for o in report.options] == [["P:rare"], [], []]
    keep = EvidenceScorer(g, EvidenceConfig(max_shared_share=1.0)).score(item).report
    assert [len(o.supports) for o in keep.options] == [2, 1, 1]


def test_a_path_that_climbs_from_the_finding_counts_as_the_class():
    nodes = [
        ("D:a", "Alpha", "disease"),
        ("D:b", "Beta", "disease"),
        ("D:c", "Gamma", "disease"),
        ("P:pete", "Petechiae", "phenotype"),
        ("P:purp", "Purpura", "phenotype"),
        *FILLER,
    ]
    edges = [
        ("P:pete", "is_a", "P:purp"),
        ("D:a", "has_phenotype", "P:purp"),  # Alpha has some purpura
        ("D:c", "has_phenotype", "P:purp"),
        ("D:c", "has_phenotype", "P:pete"),
    ]
    g = _kg(nodes, edges)
    w = specificity(g)
    assert w[g.index_of("P:pete")] > w[g.index_of("P:purp")]
    item = _linked(g, ["P:pete"], {"A": "D:a", "B": "D:b"})
    (s,) = EvidenceScorer(g, EvidenceConfig()).score(item).report.options[0].supports
    assert _walk(s) == ["is_a", "<has_phenotype"]
    assert s.weight == round(float(w[g.index_of("P:purp")]), 6)


def test_a_finding_stands_for_its_parent_or_child_not_a_whole_branch():
    nodes = [
        ("D:a", "Alpha", "disease"),
        ("D:b", "Beta", "disease"),
        ("P:top", "Neoplasm", "phenotype"),
        ("P:mid", "Neoplasm by site", "phenotype"),
        ("P:leaf", "Neoplasm of the skin", "phenotype"),
        *FILLER,
    ]
    edges = [
        ("P:mid", "is_a", "P:top"),
        ("P:leaf", "is_a", "P:mid"),
        ("D:a", "has_phenotype", "P:leaf"),
    ]
    g = _kg(nodes, edges)
    item = _linked(g, ["P:top"], {"A": "D:a", "B": "D:b"})
    # Alpha has a neoplasm two steps below the finding: a branch's feature, no support
    assert EvidenceScorer(g, EvidenceConfig()).score(item).report.options[0].supports == []
    deep = EvidenceScorer(g, EvidenceConfig(finding_is_a_steps=2)).score(item).report
    assert _walk(deep.options[0].supports[0]) == ["<is_a", "<is_a", "<has_phenotype"]
    # an option that is a kind of the finding is supported by it ("choledocholithiasis is
    # a kind of gallstones"); a kind of a kind is not: "which enzyme" read as Enzymes says
    # nothing for one enzyme deep below it
    item = _linked(g, ["P:top"], {"A": "P:mid", "B": "D:b"})
    (s,) = EvidenceScorer(g, EvidenceConfig()).score(item).report.options[0].supports
    assert _walk(s) == ["<is_a"]
    item = _linked(g, ["P:top"], {"A": "P:leaf", "B": "D:b"})
    assert EvidenceScorer(g, EvidenceConfig()).score(item).report.options[0].supports == []
    deep = EvidenceScorer(g, EvidenceConfig(finding_is_a_steps=2)).score(item).report
    assert _walk(deep.options[0].supports[0]) == ["<is_a", "<is_a"]
    # going up, any depth: the case's Neoplasm of the skin is a Neoplasm
    item = _linked(g, ["P:leaf"], {"A": "P:top", "B": "D:b"})
    (s,) = EvidenceScorer(g, EvidenceConfig()).score(item).report.options[0].supports
    assert _walk(s) == ["is_a", "is_a"]


def test_a_class_of_two_options_is_the_questions_category_not_a_clue():
    nodes = [
        ("C:aa", "Amino acids", "chemical"),
        ("C:cyc", "Cyclic amino acids", "chemical"),
        ("C:gly", "Glycine", "chemical"),
        ("C:pro", "Proline", "chemical"),
        ("C:urea", "Urea", "chemical"),
        *FILLER,
    ]
    edges = [("C:gly", "is_a", "C:aa"), ("C:cyc", "is_a", "C:aa"), ("C:pro", "is_a", "C:cyc")]
    g = _kg(nodes, edges)
    # "which amino acid": Glycine sits right under the category word, Proline two steps
    # below; both are amino acids, so the word supports neither
    item = _linked(g, ["C:aa"], {"A": "C:gly", "B": "C:pro", "C": "C:urea"})
    report = EvidenceScorer(g, EvidenceConfig()).score(item).report
    assert [o.supports for o in report.options] == [[], [], []]
    # a class of one option only still supports it ("choledocholithiasis is a kind of
    # gallstones")
    item = _linked(g, ["C:aa"], {"A": "C:gly", "B": "C:urea"})
    report = EvidenceScorer(g, EvidenceConfig()).score(item).report
    assert [len(o.supports) for o in report.options] == [1, 0]


def test_a_drug_the_patient_takes_supports_its_indication_not_the_kinds_of_it():
    nodes = [
        ("X:halo", "Haloperidolum", "drug"),
        ("D:dysk", "Dyskinesia", "disease"),
        ("D:tard", "Tardive dyskinesia", "disease"),
        ("D:park", "Parkinsonism", "disease"),
        *FILLER,
    ]
    edges = [("X:halo", "used_for", "D:dysk"), ("D:tard", "is_a", "D:dysk")]
    g = _kg(nodes, edges)
    # the drug is used for dyskinesias; the tardive kind is what it causes
    item = _linked(g, ["X:halo"], {"A": "D:tard", "B": "D:park"})
    assert EvidenceScorer(g, EvidenceConfig()).score(item).report.options[0].supports == []
    # its indication itself is supported (the patient takes it for that)
    item = _linked(g, ["X:halo"], {"A": "D:dysk", "B": "D:park"})
    (s,) = EvidenceScorer(g, EvidenceConfig()).score(item).report.options[0].supports
    assert _walk(s) == ["used_for"]


def test_a_row_whose_only_clues_are_common_is_rejected_as_nonspecific():
    from kgsynth.evidence.score import judge

    # Alpha alone among the options is recorded with Vomiting (a common presenting finding)
    # and with Fade sign, which fits many of the KG's diseases; Rare sign fits it alone
    nodes = [
        ("D:a", "Alpha", "disease"),
        ("D:b", "Beta", "disease"),
        ("P:vomit", "Vomiting", "phenotype"),
        ("P:fade", "Fade sign", "phenotype"),
        ("P:rare", "Rare sign", "phenotype"),
        *FILLER,
    ]
    edges = [("D:a", "has_phenotype", p) for p in ("P:vomit", "P:fade", "P:rare")]
    edges += [(d, "has_phenotype", "P:fade") for d, _, _ in FILLER[:6]]
    g = _kg(nodes, edges)
    w = specificity(g)
    cfg = EvidenceConfig()
    assert w[g.index_of("P:vomit")] >= cfg.min_clue_weight  # specific here, common anyway
    assert cfg.min_support_weight <= w[g.index_of("P:fade")] < cfg.min_clue_weight
    assert w[g.index_of("P:rare")] >= cfg.min_clue_weight
    options = {"A": "D:a", "B": "D:b"}

    def why(findings: list[str], c: EvidenceConfig = cfg):
        return judge(EvidenceScorer(g, c).score(_linked(g, findings, options)).report, c)

    got = why(["P:vomit", "P:fade"])
    assert got is not None and got[0] == "nonspecific_support"
    assert "'Vomiting' (common)" in got[1] and "'Fade sign' (0." in got[1]
    assert why(["P:vomit", "P:fade", "P:rare"]) is None  # one clue is enough
    assert why(["P:vomit"], EvidenceConfig(common_findings=[])) is None  # a user's own list
    assert why(["P:vomit"], EvidenceConfig(common_findings=["vomiting"])) is not None
    # the stage counts it: a reject with its reason, nothing lost
    ctx = StageContext(cfg=BuildConfig(), kg=g)
    item = _linked(g, ["P:vomit"], options, rid="common")
    res = EvidenceStage(BuildConfig()).run([item], ctx)
    assert res.kept == [] and [(r.id, r.reason) for r in res.rejects] == [
        ("common", "nonspecific_support")
    ]
