"""Per-option evidence: specific findings outweigh hubs, shared findings rank down, denied
findings never start a path and count against the options that predict them, rows whose
evidence does not single out gold leave, and the differential checks fail rows built to fail."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import polars as pl
import pytest
from kg_rows import kg_from_rows

from kgsynth.config import BuildConfig, EvidenceConfig, PathsConfig, VerifyConfig
from kgsynth.evidence.score import EvidenceScorer, judge
from kgsynth.evidence.specificity import specificity
from kgsynth.export.rows import evidence_row, generated_of, rows_frame
from kgsynth.kg import KnowledgeGraph
from kgsynth.paths.select import PathFinder, discriminative_paths, shared_with_distractor
from kgsynth.records import (
    Checks,
    EntityLink,
    GeneratedQA,
    Generation,
    LinkedQA,
    PathedQA,
    QARecord,
    VerifiedQA,
)
from kgsynth.stages import StageContext
from kgsynth.stages.evidence import EvidenceStage
from kgsynth.stages.paths import PathsStage
from kgsynth.verify.differential import evidence_margin, no_negated_start, options_addressed
from kgsynth.verify.registry import CheckContext

NODES = {
    "D:A": ("Alpha syndrome", "disease"),
    "D:B": ("Beta disease", "disease"),
    "D:C": ("Gamma disease", "disease"),
    "D:X": ("Xi disease", "disease"),
    "D:Y": ("Ypsilon disease", "disease"),
    "D:Z": ("Zeta disease", "disease"),  # joined to nothing
    "P:fever": ("Fever", "phenotype"),
    "P:rare": ("Rare sign", "phenotype"),
    "P:shared": ("Shared sign", "phenotype"),
    "P:mild": ("Mild sign", "phenotype"),
    "P:cough": ("Cough", "phenotype"),
    "P:wet": ("Productive cough", "phenotype"),
    # diseases none of these findings fits: a KG knows many more diseases than one row's
    # options, so a finding of one option only is specific (min_clue_weight)
    **{f"D:Q{i}": (f"Other disease {i}", "disease") for i in range(6)},
}
EDGES = [
    *[(d, "has_phenotype", "P:fever") for d in ("D:B", "D:C", "D:X", "D:Y")],  # a hub
    ("D:A", "has_phenotype", "P:rare"),
    ("D:A", "has_phenotype", "P:shared"),
    ("D:B", "has_phenotype", "P:shared"),
    *[(d, "has_phenotype", "P:mild") for d in ("D:A", "D:X", "D:Y")],
    ("D:B", "has_phenotype", "P:cough"),
    ("D:C", "has_phenotype", "P:wet"),
    ("P:wet", "is_a", "P:cough"),
]
OPTIONS = {"A": "D:A", "B": "D:B", "C": "D:C", "D": "D:Z"}


def kg() -> KnowledgeGraph:
    return _kg_of(NODES, EDGES)


def link(kg_id: str, assertion: str = "present", start: int = 0) -> EntityLink:
    name, typ = NODES[kg_id]
    return EntityLink(
        kg_id=kg_id, name=name, type=typ, mention=name, start=start, end=start + len(name),
        score=1.0, method="exact", assertion=assertion,
    )  # fmt: skip


def row(findings: list[tuple[str, str]], gold: str = "A", options: str = "ABCD") -> LinkedQA:
    opts = {x: NODES[OPTIONS[x]][0] for x in options}
    qa = QARecord(
        id="q", source="t", question="A patient. Which diagnosis?", options=opts,
        answer=opts[gold], answer_idx=gold,
    )  # fmt: skip
    return LinkedQA(
        qa=qa,
        question_entities=[link(f, a, i) for i, (f, a) in enumerate(findings)],
        answer_entities=[link(OPTIONS[gold])],
        option_entities={x: [link(OPTIONS[x])] for x in options},
    )


def by_letter(report):
    return {o.letter: o for o in report.options}


def test_specificity_is_an_idf_over_the_diseases_a_finding_explains():
    g = kg()
    w = {i: specificity(g)[g.index_of(i)] for i in NODES}
    assert w["P:rare"] > w["P:shared"] > w["P:mild"] > w["P:fever"] > 0
    # Cough explains Beta directly and Gamma through its child "Productive cough"
    assert w["P:cough"] == pytest.approx(w["P:shared"])


def test_a_specific_finding_outweighs_a_hub_finding():
    g = kg()
    item = row([("P:fever", "present"), ("P:rare", "present")])
    # Fever explains four of the twelve diseases: below a support floor of 0.4 it supports
    # nothing
    assert specificity(g)[g.index_of("P:fever")] < 0.4
    report = EvidenceScorer(g, EvidenceConfig(min_support_weight=0.4)).score(item).report
    assert all(s.finding_id != "P:fever" for o in report.options for s in o.supports)
    report = EvidenceScorer(g, EvidenceConfig(min_support_weight=0.0)).score(item).report
    opts = by_letter(report)
    # Fever reaches Beta directly, Rare sign reaches Alpha directly: Rare sign wins
    assert [s.finding_id for s in opts["B"].supports if len(s.path.hops) == 1] == ["P:fever"]
    assert report.ranking[0] == "A" and report.best == "A" and report.gold == "A"
    assert report.margin is not None and report.margin > 0.3
    assert opts["D"].supports == [] and opts["D"].score == 0
    assert judge(report, EvidenceConfig()) is None


def test_a_finding_shared_with_a_distractor_ranks_down():
    g = kg()
    item = row([("P:shared", "present"), ("P:mild", "present")])
    report = EvidenceScorer(g, EvidenceConfig()).score(item).report
    gold = by_letter(report)["A"]
    shared = next(s for s in gold.supports if s.finding_id == "P:shared")
    mild = next(s for s in gold.supports if s.finding_id == "P:mild")
    assert shared.weight > mild.weight
    assert shared_with_distractor(report, shared)  # Beta has Shared sign too, as directly
    assert not shared_with_distractor(report, mild)  # Beta only 3 hops away
    paths = discriminative_paths(report, 10)
    assert [p.start_id for p in paths] == ["P:mild", "P:shared"]
    assert [p.start_id for p in discriminative_paths(report, 1)] == ["P:mild"]
    # the most specific present finding is used first when it supports gold
    assert [p.start_id for p in discriminative_paths(report, 10, "P:shared")][0] == "P:shared"
    pathed = PathedQA(linked=item, paths=[], n_paths_found=1, evidence=report)
    out = PathFinder(g, PathsConfig()).from_evidence(pathed)
    assert out.paths[0].start_id == "P:shared" and out.evidence == report


def test_a_negated_finding_never_starts_a_path_and_contradicts_what_predicts_it():
    g = kg()
    item = row([("P:rare", "present"), ("P:cough", "absent")])
    report = EvidenceScorer(g, EvidenceConfig()).score(item).report
    opts = by_letter(report)
    starts = {s.path.start_id for o in report.options for s in o.supports}
    assert starts == {"P:rare"}
    assert [c.finding_id for c in opts["B"].contradictions] == ["P:cough"]
    assert [len(c.path.hops) for c in opts["B"].contradictions] == [1]
    # Gamma predicts Productive cough, a kind of the denied Cough
    assert [c.path.hops[0].head_name for c in opts["C"].contradictions] == ["Productive cough"]
    assert opts["B"].score < 0 and opts["A"].contradictions == []
    # the per-pair path finder (LLM mode) skips the denied mention too
    groups, _ = PathFinder(g, PathsConfig()).groups(item)
    assert all(p.start_id != "P:cough" for grp in groups for p in grp)


def ctx() -> StageContext:
    return StageContext(cfg=BuildConfig(), kg=kg())


def test_the_stage_rejects_rows_whose_evidence_does_not_single_out_gold():
    good = row([("P:rare", "present")]).model_copy(
        update={"qa": row([]).qa.model_copy(update={"id": "good"})}
    )
    # Cough reaches Beta directly (and Gamma through its kind Productive cough), Mild sign
    # only Alpha: the more specific Cough puts Beta first
    hub = row([("P:mild", "present"), ("P:cough", "present")])
    lost = row([("P:rare", "present")], gold="D")  # Zeta: nothing reaches it
    res = EvidenceStage(BuildConfig()).run([good, hub, lost], ctx())
    assert [p.linked.qa.id for p in res.kept] == ["good"]
    assert res.kept[0].evidence is not None and res.kept[0].paths == []
    assert res.kept[0].n_paths_found == 1
    reasons = {r.reason: r.detail for r in res.rejects}
    assert set(reasons) == {"not_discriminative", "no_support"}
    detail = reasons["not_discriminative"]
    assert detail.startswith("B 0.") and "A* 0." in detail and "margin -" in detail
    assert "D 'Zeta disease'" in reasons["no_support"]
    paths = PathsStage(BuildConfig()).run(res.kept, ctx())
    assert [p.start_id for p in paths.kept[0].paths] == ["P:rare"]


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("max_hops", [1, 2, 3])
def test_best_path_is_shortest_paths_best(seed, max_hops):
    rng = np.random.default_rng(seed)
    n = 40
    ids = [f"n{i:02d}" for i in range(n)]
    pairs = {tuple(sorted(rng.choice(n, 2, replace=False))) for _ in range(70)}
    nodes = pl.DataFrame(
        {
            "id": ids,
            "name": ids,
            "type": ["disease"] * 10 + ["phenotype"] * 30,
            "synonyms": [[]] * n,
        },
        schema={
            "id": pl.String,
            "name": pl.String,
            "type": pl.String,
            "synonyms": pl.List(pl.String),
        },
    )
    edges = pl.DataFrame(
        [(ids[a], "r", ids[b]) for a, b in pairs], schema=["head", "relation", "tail"], orient="row"
    )
    g = KnowledgeGraph.from_frames("r", nodes, edges, {})
    sc = EvidenceScorer(g, EvidenceConfig(max_hops=max_hops, max_intermediate_degree=5))
    for _ in range(30):
        target = np.unique(rng.choice(n, int(rng.integers(1, 4)), replace=False))
        f = int(rng.integers(n))
        if f in target:
            continue
        mine = sc.best_path(f, sc._reach(f, max_hops - 1), target, sc._rim(target))
        assert mine == sc.support(f, target)


def generated(item: LinkedQA, reasoning: str, paths=None) -> GeneratedQA:
    report = EvidenceScorer(kg(), EvidenceConfig()).score(item).report
    pathed = PathedQA(linked=item, paths=paths or [], n_paths_found=1, evidence=report)
    if paths is None:
        pathed = PathFinder(kg(), PathsConfig()).from_evidence(pathed)
    gen = Generation(
        reasoning=reasoning, conclusion="A", generator="offline", model="m", prompt_version="v"
    )
    return GeneratedQA(pathed=pathed, generation=gen)


def text(steps: str) -> str:
    head = "Finding reasoning paths:\n1. x\nReasoning Process:\n"
    return f"{head}{steps}\nConclusion:\nA. Alpha syndrome"


ADDRESSED = text(
    "1. Rare sign is annotated to Alpha syndrome.\n"
    "2. Beta disease does not have Rare sign.\n"
    "3. Gamma disease lacks any link to Rare sign; ZETA-disease has none to Rare sign either."
)


def check_ctx() -> CheckContext:
    return CheckContext(kg=kg(), cfg=VerifyConfig())


def test_the_differential_checks_pass_an_honest_row():
    it = generated(row([("P:rare", "present"), ("P:cough", "absent")]), ADDRESSED)
    for check in (evidence_margin, options_addressed, no_negated_start):
        (v,) = check(check_ctx(), [it])
        assert v.passed is True, v.reasons


def test_the_differential_checks_fail_rows_built_to_fail():
    c = check_ctx()
    # Cough puts Beta first
    beta = row([("P:mild", "present"), ("P:cough", "present")])
    (v,) = evidence_margin(c, [generated(beta, ADDRESSED)])
    assert v.passed is False and "not_discriminative" in v.reasons[0] and "B 0." in v.reasons[0]
    # Beta named without a reason, Gamma and Zeta not at all
    bare = text("1. Rare sign is annotated to Alpha syndrome.\n2. Beta disease is unlikely.")
    (v,) = options_addressed(c, [generated(row([("P:rare", "present")]), bare)])
    assert v.passed is False and "B 'Beta disease'" in v.reasons[0] and "C 'Gamma" in v.reasons[0]
    assert "A 'Alpha" not in v.reasons[0]
    # a kept path that starts at the denied Cough
    item = row([("P:rare", "present"), ("P:cough", "absent")])
    denied = (
        EvidenceScorer(kg(), EvidenceConfig()).score(item).report.options[1].contradictions[0].path
    )
    (v,) = no_negated_start(c, [generated(item, ADDRESSED, paths=[denied])])
    assert v.passed is False and "P:cough" in v.reasons[0]
    # rows without evidence are not judged
    plain = generated(item, ADDRESSED).model_copy(deep=True)
    plain = plain.model_copy(update={"pathed": plain.pathed.model_copy(update={"evidence": None})})
    for check in (evidence_margin, options_addressed, no_negated_start):
        assert check(c, [plain])[0].passed is None


def test_the_margin_check_follows_the_builds_clue_rules():
    from kgsynth.config import load_config

    # Rare sign reaches Alpha alone: a clue by the default rules
    rare = generated(row([("P:rare", "present")]), ADDRESSED)
    (v,) = evidence_margin(check_ctx(), [rare])
    assert v.passed is True, v.reasons
    # a build that counts it among its common findings has its check refuse the row
    cfg = load_config(None, {"evidence": {"common_findings": ["Rare sign"]}})
    assert cfg.verify.checks["evidence_margin"] == {"common_findings": ["Rare sign"]}
    (v,) = evidence_margin(CheckContext(kg=kg(), cfg=cfg.verify), [rare])
    assert v.passed is False and "'Rare sign' (common)" in v.reasons[0]
    # ... and so does one with a clue floor above its specificity
    cfg = load_config(None, {"evidence": {"min_clue_weight": 0.95}})
    (v,) = evidence_margin(CheckContext(kg=kg(), cfg=cfg.verify), [rare])
    assert v.passed is False and "0.95" in v.reasons[0]
    # Cough also reaches Gamma (through its kind): no clue for Beta, whatever the list
    shared = generated(row([("P:cough", "present")], gold="B"), ADDRESSED)
    cfg = load_config(None, {"evidence": {"common_findings": []}})
    (v,) = evidence_margin(CheckContext(kg=kg(), cfg=cfg.verify), [shared])
    assert v.passed is False and "'Cough' (shared)" in v.reasons[0]
    # a value set for the check itself is kept; the default build leaves the check alone
    own = {"evidence": {"min_clue_weight": 0.3}}
    own["verify"] = {"checks": {"evidence_margin": {"min_clue_weight": 0.5}}}
    assert load_config(None, own).verify.checks["evidence_margin"]["min_clue_weight"] == 0.5
    assert "evidence_margin" not in load_config(None, {}).verify.checks


def test_the_evidence_column_round_trips():
    it = generated(row([("P:rare", "present"), ("P:cough", "absent")]), ADDRESSED)
    v = VerifiedQA(generated=it, checks=Checks())
    frame = rows_frame([v], "t", "0" * 16, datetime(2026, 1, 1, tzinfo=UTC))
    back, _ = generated_of(frame.row(0, named=True))
    assert evidence_row(back.pathed.evidence) == evidence_row(it.pathed.evidence)
    assert [e.assertion for e in back.pathed.linked.question_entities] == ["present", "absent"]
    opts = frame["evidence"][0]["options"]
    assert [o["letter"] for o in opts] == ["A", "B", "C", "D"]
    assert opts[1]["contradictions"][0]["hops"][0]["tail_id"] == "P:cough"


def test_evidence_does_not_depend_on_node_indices_in_a_large_kg():
    # 50,000 unconnected nodes sort before the test's own, so their indices exceed 46,341,
    # where packing two int32 indices as u * n + v overflows (a 2-hop path then pointed at
    # nodes that are not adjacent); the evidence must be the small KG's, hop for hop
    small = kg()
    filler = pl.DataFrame(
        {
            "id": [f"A:{i:05d}" for i in range(50_000)],
            "name": [f"filler {i}" for i in range(50_000)],
            "type": ["entity"] * 50_000,
            "synonyms": [[] for _ in range(50_000)],
        },
        schema={
            "id": pl.String,
            "name": pl.String,
            "type": pl.String,
            "synonyms": pl.List(pl.String),
        },
    )
    big = KnowledgeGraph.from_frames(
        "big",
        pl.concat([small.nodes.select(filler.columns), filler]),
        pl.DataFrame(EDGES, schema=["head", "relation", "tail"], orient="row"),
        {},
    )
    assert big.index_of("P:wet") > 50_000
    item = row([("P:wet", "present"), ("P:rare", "present")], gold="B")
    report_small = EvidenceScorer(small, EvidenceConfig()).score(item).report
    report_big = EvidenceScorer(big, EvidenceConfig()).score(item).report
    assert report_big == report_small
    b = next(o for o in report_big.options if o.letter == "B")
    hops = [(h.head_id, h.relation, h.tail_id) for s in b.supports for h in s.path.hops]
    assert ("P:wet", "is_a", "P:cough") in hops and ("D:B", "has_phenotype", "P:cough") in hops


def test_a_drug_class_is_never_the_middle_of_an_evidence_path():
    # Nausea <-used_for- thalidomide -has_role-> teratogen <-has_role- acetaldehyde: two
    # drugs that share a role say nothing about the finding
    nodes = pl.DataFrame(
        {
            "id": ["P:nausea", "D:thal", "R:terat", "D:acet", "D:other"],
            "name": ["Nausea", "Thalidomide", "teratogenic agent", "Acetaldehyde", "Other"],
            "type": ["phenotype", "drug", "pharmacologic_class", "drug", "drug"],
            "synonyms": [[], [], [], [], []],
        },
        schema={
            "id": pl.String,
            "name": pl.String,
            "type": pl.String,
            "synonyms": pl.List(pl.String),
        },
    )
    edges = pl.DataFrame(
        [
            ("D:thal", "used_for", "P:nausea"),
            ("D:thal", "has_role", "R:terat"),
            ("D:acet", "has_role", "R:terat"),
        ],
        schema=["head", "relation", "tail"],
        orient="row",
    )
    g = KnowledgeGraph.from_frames("t", nodes, edges, {})

    def link(kg_id: str) -> EntityLink:
        name = g.names[g.index_of(kg_id)]
        return EntityLink(
            kg_id=kg_id, name=name, type=g.types[g.index_of(kg_id)], mention=name, start=0,
            end=len(name), score=1.0, method="exact", assertion="present",
        )  # fmt: skip

    qa = QARecord(id="q", source="t", question="Nausea. Which?", options={"A": "Acetaldehyde",
                  "B": "Other"}, answer="Acetaldehyde", answer_idx="A")  # fmt: skip
    item = LinkedQA(
        qa=qa,
        question_entities=[link("P:nausea")],
        answer_entities=[link("D:acet")],
        option_entities={"A": [link("D:acet")], "B": [link("D:other")]},
    )
    # the role path, when classes may pass and any path counts (not a clinical shape)
    free = EvidenceConfig(skip_intermediate_types=[], clinical_paths=False, min_support_weight=0)
    with_class = EvidenceScorer(g, free).score(item)
    assert with_class.report.options[0].supports
    classes_only = free.model_copy(update={"clinical_paths": True})
    assert EvidenceScorer(g, classes_only).score(item).report.options[0].supports == []
    report = EvidenceScorer(g, EvidenceConfig()).score(item).report
    assert report.options[0].supports == [] and report.options[0].score == 0


def _kg_of(
    nodes: dict[str, tuple[str, str]],
    edges: list[tuple[str, str, str]],
    meta: dict[str, str] | None = None,
) -> KnowledgeGraph:
    return kg_from_rows("t", [(i, n, t) for i, (n, t) in nodes.items()], edges, meta=meta)


def _facts(g, w, option, mentioned=(), text="", exclude=frozenset()):
    """unmatched_facts for one option of a case with these findings and this text."""
    from kgsynth.evidence.features import case_view, unmatched_facts

    case = case_view(g, np.asarray(mentioned, np.int64), text)
    return unmatched_facts(g, w, np.asarray(option), case, exclude)


def _linked(g: KnowledgeGraph, findings: list[str], options: dict[str, str]) -> LinkedQA:
    def lk(kg_id: str) -> EntityLink:
        i = g.index_of(kg_id)
        return EntityLink(
            kg_id=kg_id, name=g.names[i], type=g.types[i], mention=g.names[i], start=0,
            end=len(g.names[i]), score=1.0, method="exact", assertion="present",
        )  # fmt: skip

    opts = {x: g.names[g.index_of(i)] for x, i in options.items()}
    qa = QARecord(id="q", source="t", question="A case. Which?", options=opts,
                  answer=opts["A"], answer_idx="A")  # fmt: skip
    return LinkedQA(
        qa=qa,
        question_entities=[lk(f) for f in findings],
        answer_entities=[lk(options["A"])],
        option_entities={x: [lk(i)] for x, i in options.items()},
    )


def test_paths_run_through_a_unifying_disease_before_a_gene():
    """Three two-hop routes from Tremor to the drug: through a gene (cheapest by hub cost),
    through a disease with Tremor only, and through one with Tremor and Weight loss. The
    path takes the disease that accounts for both findings; without it, the other disease;
    the gene only when asked not to avoid genes."""
    nodes = {
        "P:tremor": ("Tremor", "phenotype"),
        "P:wl": ("Weight loss", "phenotype"),
        "G:1": ("GENE1", "gene"),
        "D:one": ("One-finding disease", "disease"),
        "D:both": ("Graves-like disease", "disease"),
        "X:drug": ("Drugamide", "drug"),
        "X:other": ("Otheramide", "drug"),
    }
    edges = [
        ("G:1", "associated_with", "P:tremor"),
        ("G:1", "associated_with", "X:drug"),
        ("D:one", "has_phenotype", "P:tremor"),
        ("X:drug", "used_for", "D:one"),
        ("D:both", "has_phenotype", "P:tremor"),
        ("D:both", "has_phenotype", "P:wl"),
        ("X:drug", "used_for", "D:both"),
        ("D:one", "has_phenotype", "P:x1"),  # D:one and D:both are busier nodes than G:1
        ("D:both", "has_phenotype", "P:x2"),
    ]
    nodes |= {"P:x1": ("Other sign 1", "phenotype"), "P:x2": ("Other sign 2", "phenotype")}
    g = _kg_of(nodes, edges)
    item = _linked(g, ["P:tremor", "P:wl"], {"A": "X:drug", "B": "X:other"})
    # the ranking of a free search (clinical paths never run through a disease other than
    # the option, nor a gene: tests/test_evidence_clinical.py)
    cfg = EvidenceConfig(max_intermediate_degree=None, clinical_paths=False, min_support_weight=0)

    def via(cfg: EvidenceConfig, graph: KnowledgeGraph, it: LinkedQA) -> str:
        a = EvidenceScorer(graph, cfg).score(it).report.options[0]
        tremor = next(s for s in a.supports if s.finding_id == "P:tremor")
        assert len(tremor.path.hops) == 2
        return tremor.path.hops[0].head_id

    assert via(cfg, g, item) == "D:both"
    # without the unifying disease: the other disease, not the gene
    g2 = _kg_of(nodes, [e for e in edges if "D:both" not in e])
    item2 = _linked(g2, ["P:tremor", "P:wl"], {"A": "X:drug", "B": "X:other"})
    assert via(cfg, g2, item2) == "D:one"
    # the gene is the cheapest by hub cost: it is what the ranking took before
    assert via(cfg.model_copy(update={"avoid_intermediate_types": []}), g2, item2) == "G:1"


def test_usual_annotations_keep_only_features_most_patients_have(tmp_path):
    from kgsynth.evidence.hallmarks import usual_annotations

    lines = [
        "#description: test",
        "database_id\tdisease_name\tqualifier\thpo_id\treference\tevidence\tonset\tfrequency"
        "\tsex\tmodifier\taspect\tbiocuration",
    ]
    rows = [
        ("OMIM:1", "", "HP:0000001", "HP:0040281"),  # very frequent
        ("OMIM:1", "", "HP:0000002", "HP:0040283"),  # occasional
        ("OMIM:1", "", "HP:0000003", "4/5"),  # 80 % of five
        ("OMIM:1", "", "HP:0000004", "1/1"),  # one patient: a case report
        ("OMIM:1", "", "HP:0000005", "85%"),
        ("OMIM:1", "", "HP:0000006", "50%"),
        ("OMIM:1", "NOT", "HP:0000007", "HP:0040280"),  # negated
        ("OMIM:1", "", "HP:0000008", ""),  # no frequency given
        ("OMIM:2", "", "HP:0000009", "HP:0040280"),  # obligate
    ]
    for d, q, h, f in rows:
        lines.append(f"{d}\tx\t{q}\t{h}\tPMID:1\tPCS\t\t{f}\t\t\tP\tHPO:x")
    path = tmp_path / "phenotype.hpoa"
    path.write_text("\n".join(lines) + "\n")
    got = set(usual_annotations(str(path)).iter_rows())
    assert got == {
        ("OMIM:1", "HP:0000001"),
        ("OMIM:1", "HP:0000003"),
        ("OMIM:1", "HP:0000005"),
        ("OMIM:2", "HP:0000009"),
    }


def test_a_usual_feature_alone_in_its_organ_system_is_no_hallmark(tmp_path, hpo_kg):
    from kgsynth.evidence.hallmarks import corroborated, is_usual

    systems = pl.DataFrame(
        {
            "feature": ["HP:skin1", "HP:skin2", "HP:toe", "HP:short", "HP:loose"],
            "system": ["HP:skin", "HP:skin", "HP:limb", "HP:0001507", None],
        }
    )
    usual = pl.DataFrame(
        {
            "disease": ["D:1", "D:1", "D:1", "D:1"],
            "feature": ["HP:skin1", "HP:toe", "HP:short", "HP:loose"],
        }
    )
    # D:1 has a second skin feature (at any frequency); its toe is the only limb feature
    annotated = pl.concat([usual, pl.DataFrame({"disease": ["D:1"], "feature": ["HP:skin2"]})])
    got = set(corroborated(usual, annotated, systems).iter_rows())
    assert got == {("D:1", "HP:skin1"), ("D:1", "HP:short"), ("D:1", "HP:loose")}
    # on the built-in KG: Orphanet's "very frequent" clinodactyly of the 5th toe in
    # esophageal squamous cell carcinoma and brachycephaly in CVID are no longer "usual";
    # Fabry's angiokeratoma stays
    g = hpo_kg
    for disease, feature, usual_now in [
        ("ORPHA:99977", "HP:0001864", False),
        ("ORPHA:1572", "HP:0000248", False),
        ("ORPHA:324", "HP:0001014", True),
    ]:
        d, f = g.index_of(disease), g.index_of(feature)
        assert d is not None and f is not None
        assert bool(is_usual(g, d, np.array([f]))[0]) is usual_now, (disease, feature)


def test_a_distractors_unmatched_facts_are_usual_unmentioned_features(hpo_kg):
    """On the built-in KG: a disease option's listed features are ones it usually shows
    (HPO frequency >= 80 %), never a finding of the case or an is_a neighbour of one."""
    from kgsynth.evidence.features import MAX_FACTS
    from kgsynth.evidence.hallmarks import is_usual

    g = hpo_kg
    w = specificity(g)
    d = g.index_of("ORPHA:324")  # Fabry disease (its Orphanet entry gives frequencies)
    assert d is not None
    facts = _facts(g, w, [d])
    assert 1 <= len(facts) <= MAX_FACTS
    ids = np.array([g.index_of(f.id) for f in facts])
    assert is_usual(g, d, ids).all()
    assert all(f.relation == "has_phenotype" for f in facts)
    # the case reports the first: it is no longer missing, nor is anything one is_a step away
    first = g.index_of(facts[0].id)
    again = _facts(g, w, [d], [first])
    assert facts[0].id not in {f.id for f in again}
    rel = g.relations.index("is_a")
    a, b = g.indptr[first], g.indptr[first + 1]
    near = set(g.indices[a:b][g.edge_rel[a:b] == rel].tolist())
    assert not near & {g.index_of(f.id) for f in again}


def test_a_drug_is_set_aside_by_its_uses_only_on_trusted_edges_and_when_the_case_lacks_them():

    nodes = {
        "X:drug": ("Drugamide", "drug"),
        "D:epi": ("Epilepsy", "disease"),
        "D:gout": ("Gout", "disease"),
        "P:sz": ("Seizure", "phenotype"),
    }
    edges = [("X:drug", "used_for", "D:epi"), ("X:drug", "used_for", "D:gout")]
    g = _kg_of(nodes, edges)
    w = np.full(g.n_nodes, 0.5)
    drug = np.array([g.index_of("X:drug")])
    facts = _facts(g, w, drug)
    assert [(f.relation, f.name) for f in facts] == [("used_for", "Epilepsy"), ("used_for", "Gout")]
    # below the build's confidence floor, or derived by the KG: no fact to dismiss by
    assert _facts(g, w, drug, exclude=frozenset({"used_for"})) == []
    derived = _kg_of(nodes, edges, {"relation_confidence": '{"used_for": 0.7}'})
    assert _facts(derived, w, drug) == []
    # the case has one of its uses: the drug is not set aside by the others
    epi = np.array([g.index_of("D:epi")])
    assert _facts(g, w, drug, epi) == []
    # a use the question names in words counts as present too
    assert _facts(g, w, drug, text="a known gout patient") == []


def test_laboratory_findings_and_named_features_are_never_said_missing(hpo_kg):
    """A case gives labs as numbers the linker does not read: no blood, chemistry or
    measurement term is said to be missing; nor a feature whose name the question holds."""
    from kgsynth.evidence.features import clinical_features

    g = hpo_kg
    clinical = clinical_features(g)
    for term in ("HP:0001873", "HP:0002240", "HP:0001871"):  # thrombocytopenia, hepatomegaly
        i = g.index_of(term)
        assert i is not None
    assert not clinical[g.index_of("HP:0001873")]  # Thrombocytopenia (blood)
    assert clinical[g.index_of("HP:0002240")]  # Hepatomegaly (a sign)
    elevated = [i for i, n in enumerate(g.names) if n.startswith("Elevated circulating")]
    assert elevated and not clinical[elevated].any()
    d = g.index_of("ORPHA:324")
    w = specificity(g)
    facts = _facts(g, w, [d])
    said = _facts(g, w, [d], text=f"The exam shows {facts[0].name.lower()}.")
    assert facts[0].id not in {f.id for f in said}


def test_strict_mode_keeps_only_rows_whose_distractors_each_have_a_reason():
    """`require_distractor_reasons`: a distractor with no contradiction and no usual feature
    the case lacks makes the row a reject; give each a reason and the row stays."""
    from kgsynth.records import OptionFact

    strict = EvidenceConfig(require_distractor_reasons=True)
    report = EvidenceScorer(kg(), strict).score(row([("P:rare", "present")])).report
    assert judge(report, EvidenceConfig()) is None
    why = judge(report, strict)
    assert why is not None and why[0] == "distractor_unexplained"
    assert "B" in why[1] and "D" in why[1]
    fact = OptionFact(relation="has_phenotype", id="P:x", name="X sign", weight=0.5)
    reasoned = report.model_copy(
        update={
            "options": [
                o if o.letter == report.gold else o.model_copy(update={"unmatched": [fact]})
                for o in report.options
            ]
        }
    )
    assert judge(reasoned, strict) is None


@pytest.mark.parametrize(
    ("name", "text", "named"),
    [
        ("Polycystic kidney dysplasia", "Ultrasound shows enlarged polycystic kidneys.", True),
        ("Generalized muscle weakness", "She reports muscle weakness for weeks.", True),
        ("Angiokeratoma", "Small dark red papules on the trunk.", False),
        ("Delayed umbilical cord separation", "The umbilical cord fell off late.", False),
        ("Hematuria", "Urinalysis shows hematuria.", True),
        ("Kidney stones", "A stone in the left kidney.", True),  # word order aside
    ],
)
def test_a_feature_the_case_words_cover_counts_as_mentioned(name, text, named):
    from kgsynth.evidence.features import _stems, named_in

    assert named_in(name, _stems(text)) is named


def test_a_feature_that_restates_the_option_is_no_reason():

    nodes = {
        "D:pkd": ("Polycystic kidney disease", "disease"),
        "X:drug": ("Cystamide", "drug"),
        "D:kid": ("Polycystic kidney dysplasia", "disease"),
        "D:liv": ("Hepatic fibrosis", "disease"),
    }
    edges = [("X:drug", "used_for", "D:kid"), ("X:drug", "used_for", "D:liv")]
    g = _kg_of(nodes, edges)
    w = np.full(g.n_nodes, 0.5)
    facts = _facts(g, w, [g.index_of("X:drug")])
    assert {f.name for f in facts} == {"Polycystic kidney dysplasia", "Hepatic fibrosis"}
    renamed = _kg_of(nodes | {"X:drug": ("Polycystic kidney drug", "drug")}, edges)
    facts = _facts(renamed, w, [renamed.index_of("X:drug")])
    assert {f.name for f in facts} == {"Hepatic fibrosis"}
