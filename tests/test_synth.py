"""KG-first synthesis (`kgsynth synth-kg`) on the HPO KG.

The rows are checked independently of the code that made them: a plain-Python walk over
the KG's edge list (sets of ids, no CSR arrays, no numpy) recomputes, for every row, what
the chain's (relation, direction) steps reach from its start, so the answer must be the one
node of its type reached and every distractor one that is not.
"""

from __future__ import annotations

import json
import re
from collections import Counter, defaultdict
from pathlib import Path

import jsonschema
import numpy as np
import polars as pl
import pytest
from typer.testing import CliRunner

from flows.synth import synth_from_kg
from kgsynth.cli import app
from kgsynth.errors import ConfigError
from kgsynth.export import read_dataset
from kgsynth.llm.prompts import KG_QUESTION
from kgsynth.paths.format import parse_path_line
from kgsynth.records import Checks, Hop, KGPath, QARecord
from kgsynth.schemas import CONFIG_SCHEMA_PATH
from kgsynth.synth.checks import ChainChecks
from kgsynth.synth.config import SynthConfig, load_synth_config, parse_hops
from kgsynth.synth.giveaway import generic_reason, hierarchy, is_generic_name, option_forms
from kgsynth.synth.pose import ChainPoser
from kgsynth.synth.question import (
    ReplyError,
    llm_question,
    parse_question_reply,
    question_prompt,
    shuffled_options,
)
from kgsynth.synth.records import Chain, Node, PosedChain, Step
from kgsynth.synth.sample import ChainSampler

N = 500
ROW_SCHEMA = json.loads((CONFIG_SCHEMA_PATH.parent / "output_row.schema.json").read_text())
Adjacency = dict[tuple[str, str, bool], set[str]]


# -- the independent reference ---------------------------------------------------------------


@pytest.fixture(scope="module")
def adjacency(hpo_kg) -> Adjacency:
    """(node id, relation, walked forward) -> ids one such step away, from the edge list."""
    e = hpo_kg.edge_frame()
    ids, rels = hpo_kg.ids, hpo_kg.relations
    adj: Adjacency = defaultdict(set)
    for h, r, t in zip(e["head"].to_list(), e["rel"].to_list(), e["tail"].to_list(), strict=True):
        adj[(ids[h], rels[r], True)].add(ids[t])
        adj[(ids[t], rels[r], False)].add(ids[h])
    return adj


@pytest.fixture(scope="module")
def node_info(hpo_kg) -> tuple[dict[str, str], dict[str, str], dict[tuple[str, str], set[str]]]:
    """id -> type, id -> name, (casefolded name, type) -> ids."""
    types = dict(zip(hpo_kg.ids, hpo_kg.types, strict=True))
    names = dict(zip(hpo_kg.ids, hpo_kg.names, strict=True))
    by_name: dict[tuple[str, str], set[str]] = defaultdict(set)
    for i, n, t in zip(hpo_kg.ids, hpo_kg.names, hpo_kg.types, strict=True):
        by_name[(n.casefold(), t)].add(i)
    return types, names, by_name


def reach(adj: Adjacency, start: str, steps: list[tuple[str, bool]]) -> set[str]:
    frontier = {start}
    for rel, fwd in steps:
        frontier = set().union(*(adj.get((u, rel, fwd), set()) for u in frontier))
    return frontier


def walk(start: str, triples: list[tuple[str, str, str]]) -> tuple[list[str], list[tuple]]:
    """Node ids in walking order and (relation, forward) steps of KG-oriented hops."""
    nodes, steps = [start], []
    for head, rel, tail in triples:
        assert nodes[-1] in (head, tail), "hops do not chain"
        fwd = head == nodes[-1]
        steps.append((rel, fwd))
        nodes.append(tail if fwd else head)
    return nodes, steps


# -- the 500-row run, through the CLI --------------------------------------------------------


@pytest.fixture(scope="module")
def synth_run(cache_dir: Path, tmp_path_factory: pytest.TempPathFactory):
    out = tmp_path_factory.mktemp("synth-500")
    args = ["synth-kg", "--kg", "hpo", "--n", str(N), "--out", str(out), "--cache-dir"]
    res = CliRunner().invoke(app, [*args, str(cache_dir), "--generator", "offline"])
    assert res.exit_code == 0, res.output
    return out, res.output


@pytest.fixture(scope="module")
def rows(synth_run) -> list[dict]:
    return read_dataset(synth_run[0]).to_dicts()


def test_writes_exactly_n_verified_kg_rows(synth_run, rows, hpo_kg):
    out, output = synth_run
    assert len(rows) == N
    assert len({r["id"] for r in rows}) == N
    for r in rows:
        assert r["source"] == "kg" and r["generator"] == "offline"
        assert r["prompt_version"] == f"{KG_QUESTION}+relations.v2"
        assert r["model"]
        assert r["kg_name"] == "hpo" and r["kg_hash"] == hpo_kg.hash
        c = r["checks"]
        assert c["passed"] and c["answer_unique"] and c["distractors_fail_chain"]
        assert c["kg_faithful"] and c["answer_match"] and c["no_leakage"] and not c["reasons"]
    assert f"exported {N}" in output and "wrote" in output


def test_every_answer_is_unique_and_every_distractor_fails_the_chain(
    rows, hpo_kg, adjacency, node_info
):
    types, names, by_name = node_info
    deg = hpo_kg.degree
    threshold = np.percentile(deg[deg > 0], 25)  # the default --rare-percentile
    shapes: Counter[tuple] = Counter()
    for r in rows:
        (start,) = [e["kg_id"] for e in r["question_entities"]]
        (answer,) = [e["kg_id"] for e in r["answer_entities"]]
        (path,) = r["paths"]
        for h in path:
            assert hpo_kg.has_edge(h["head_id"], h["relation"], h["tail_id"])
        nodes, steps = walk(start, [(h["head_id"], h["relation"], h["tail_id"]) for h in path])
        assert nodes[-1] == answer
        assert 2 <= len(steps) <= 5 and len(set(nodes)) == len(nodes)  # simple, 2-5 hops
        assert deg[hpo_kg.index_of(start)] <= threshold  # a rare start
        shapes[tuple(steps)] += 1

        reached = reach(adjacency, start, steps)
        t = types[answer]
        assert {x for x in reached if types[x] == t} == {answer}, r["id"]

        options = {o["letter"]: o["text"] for o in r["options"]}
        assert len(options) == 5 and len(set(options.values())) == 5
        assert r["answer"] == names[answer] == options[r["answer_idx"]]
        for letter, text in options.items():
            if letter == r["answer_idx"]:
                continue
            same_name = by_name[(text.casefold(), t)]  # every node the text could mean
            assert same_name, f"{r['id']}: option '{text}' is no {t} of the KG"
            assert same_name.isdisjoint(reached), f"{r['id']}: '{text}' satisfies the chain"

        # the question names the start and not the answer; the trace follows the chain
        assert names[start] in r["question"]
        named = rf"(?<!\w){re.escape(names[answer])}(?!\w)"  # as a word ("ASPA" in
        assert not re.search(named, r["question"], re.IGNORECASE)  # "acetylaspartic" is not)
        assert f"The answer is {r['answer_idx']}: {r['answer']}." == r["conclusion"]
        assert r["reasoning"].count(" -[") + r["reasoning"].count(" <-[") == len(steps)
    assert len(shapes) > 10  # not one chain shape over and over


def test_no_answer_is_generic_or_stands_out_by_its_wording(rows, hpo_kg):
    cfg = SynthConfig()
    forms = option_forms(hpo_kg, cfg.wording_min_names, cfg.form_words)
    abnormal = 0
    for r in rows:
        i = hpo_kg.index_of(r["answer_entities"][0]["kg_id"])
        t = hpo_kg.types[i]
        assert not generic_reason(
            hpo_kg, i, cfg.min_answer_depth, cfg.max_answer_descendants, cfg.generic_words
        ), r["id"]
        others = [o["text"] for o in r["options"] if o["letter"] != r["answer_idx"]]
        answer = forms.of_name(r["answer"], t)
        assert not forms.stands_out(answer, [forms.of_name(x, t) for x in others]), r["id"]
        if r["answer"].startswith("Abnormal"):  # the defect docs/quality.md names
            abnormal += 1
            assert any(x.startswith("Abnormal") for x in others), r["id"]
    assert abnormal > 0


def test_rows_match_the_output_schema(rows):
    validator = jsonschema.Draft202012Validator(
        ROW_SCHEMA, format_checker=jsonschema.FormatChecker()
    )
    for row in rows:
        row = {**row, "created_at": row["created_at"].isoformat()}
        errors = sorted(validator.iter_errors(row), key=str)
        assert not errors, errors[0].message


def test_counts_add_up(synth_run, rows):
    out, _ = synth_run
    rejects = pl.read_parquet(out / "rejects.parquet")
    summary = json.loads((out / "build.json").read_text())
    c = summary["counts"]
    assert c["verify"] == c["export"] == summary["exported"] == len(rows) == N
    assert c["input"] == N + rejects.height == summary["exported"] + summary["rejected"]
    assert c["input"] >= c["sample"] >= c["unique"] >= c["distractors"] >= c["generate"]
    assert c["generate"] >= c["verify"]
    assert sum(r["rows"] for r in summary["rejected_by_reason"]) == rejects.height
    assert rejects["id"].n_unique() == rejects.height
    assert set(rejects["id"]).isdisjoint({r["id"] for r in rows})
    assert rejects.filter(pl.col("reason").is_null() | (pl.col("reason") == "")).height == 0
    assert set(rejects["stage"]) <= {"sample", "unique", "distractors", "generate", "verify"}
    card = (out / "README.md").read_text()
    assert f"Exported {N} + rejected {rejects.height} = {c['input']}" in card
    assert "answer_not_unique" in card and "## Statistics" in card


def test_non_unique_chains_are_rejects_with_the_reason(synth_run, adjacency, node_info):
    types, _, _ = node_info
    rejects = pl.read_parquet(synth_run[0] / "rejects.parquet")
    not_unique = rejects.filter(pl.col("reason") == "answer_not_unique")
    assert not_unique.height > 0 and set(not_unique["stage"]) == {"unique"}
    for detail in not_unique["detail"].head(60).to_list():
        m = re.fullmatch(r"(\d+) (\w+) nodes satisfy (\S+) (.*)", detail)
        assert m, detail
        start = m.group(3)
        triples = parse_path_line(f"{start} {m.group(4)}")
        nodes, steps = walk(start, triples)
        same = {x for x in reach(adjacency, start, steps) if types[x] == types[nodes[-1]]}
        assert len(same) == int(m.group(1)) and len(same) != 1 and nodes[-1] in same


# -- determinism -----------------------------------------------------------------------------


def _flow_rows(cache_dir: Path, out: Path, **kw) -> pl.DataFrame:
    cfg = SynthConfig(kg="hpo", out=out, cache_dir=cache_dir, **kw)
    result = synth_from_kg(cfg)
    assert result.complete
    return read_dataset(out).drop("created_at")


def test_same_seed_same_rows(synth_run, cache_dir, tmp_path):
    a = _flow_rows(cache_dir, tmp_path / "a", n=40, seed=0)
    b = _flow_rows(cache_dir, tmp_path / "b", n=40, seed=0)
    assert a.equals(b)
    # the 500-row CLI run made the same first 40 rows: rounds and batch sizes do not matter
    first = read_dataset(synth_run[0]).head(40).drop("created_at")
    assert a.equals(first)
    c = _flow_rows(cache_dir, tmp_path / "c", n=40, seed=1)
    assert set(c["question"]) != set(a["question"])


# -- constraints -----------------------------------------------------------------------------


def test_type_and_metapath_constraints(cache_dir, tmp_path, hpo_kg):
    genes = _flow_rows(cache_dir, tmp_path / "g", n=15, answer_types=["gene"], seed=3)
    assert {e[0]["type"] for e in genes["answer_entities"].to_list()} == {"gene"}
    mp = "phenotype -has_phenotype- disease -associated_with- gene"
    got = _flow_rows(cache_dir, tmp_path / "m", n=10, metapaths=[mp], seed=3)
    for row in got.to_dicts():
        (path,) = row["paths"]
        assert [h["relation"] for h in path] == ["has_phenotype", "associated_with"]
        start = row["question_entities"][0]["kg_id"]
        nodes, _ = walk(start, [(h["head_id"], h["relation"], h["tail_id"]) for h in path])
        assert [hpo_kg.types[hpo_kg.index_of(i)] for i in nodes] == [
            "phenotype",
            "disease",
            "gene",
        ]


def test_config_validation():
    assert parse_hops("3") == (3, 3) and parse_hops("2-5") == (2, 5)
    with pytest.raises(ConfigError):
        parse_hops("two")
    for bad in ({"min_hops": 1}, {"max_hops": 6}, {"min_hops": 4, "max_hops": 3}, {"n": 0}):
        with pytest.raises(ConfigError):
            load_synth_config(bad)
    assert load_synth_config({"n": 7, "max_hops": None}).max_hops == 5


def test_bad_constraints_fail_early(hpo_kg):
    with pytest.raises(ConfigError, match="unknown answer type"):
        ChainSampler(hpo_kg, SynthConfig(answer_types=["drug"]))
    with pytest.raises(ConfigError, match="unknown relation"):
        ChainSampler(hpo_kg, SynthConfig(relations=["treats"]))
    with pytest.raises(ConfigError, match="hops"):
        ChainSampler(hpo_kg, SynthConfig(metapaths=["phenotype -is_a- phenotype"]))


# -- uniqueness and distractor checks on hand-made chains ------------------------------------


def _chain(kg, ids: list[str], steps: list[tuple[str, bool]]) -> Chain:
    nodes = [Node(id=i, name=kg.names[kg.index_of(i)], type=kg.types[kg.index_of(i)]) for i in ids]
    hops = []
    for (u, v), (rel, fwd) in zip(zip(nodes, nodes[1:], strict=False), steps, strict=True):
        h, t = (u, v) if fwd else (v, u)
        hops.append(
            Hop(head_id=h.id, head_name=h.name, relation=rel, tail_id=t.id, tail_name=t.name)
        )
    path = KGPath(start_id=ids[0], end_id=ids[-1], hops=hops, score=0.0)
    return Chain(
        id="t",
        attempt=0,
        nodes=nodes,
        steps=[Step(relation=r, forward=f) for r, f in steps],
        path=path,
    )


def test_a_sibling_chain_is_not_unique(hpo_kg, adjacency):
    # child -is_a-> parent <-is_a- another child: the start itself is reached too
    child = next(
        i
        for i in hpo_kg.ids
        if i.startswith("HP:")
        and any(
            len(adjacency.get((p, "is_a", False), ())) >= 2
            for p in adjacency.get((i, "is_a", True), ())
        )
    )
    parent = sorted(
        p for p in adjacency[(child, "is_a", True)] if len(adjacency[(p, "is_a", False)]) >= 2
    )[0]
    sibling = sorted(adjacency[(parent, "is_a", False)] - {child})[0]
    chain = _chain(hpo_kg, [child, parent, sibling], [("is_a", True), ("is_a", False)])
    # the first such sibling is near HPO's root: with the generic-answer rules off, the
    # chain is rejected for what this test is about
    off = {"min_answer_depth": 0, "max_answer_descendants": None, "generic_words": []}
    res = ChainPoser(hpo_kg, SynthConfig(**off))(chain, set())
    assert res.reason == "answer_not_unique" and res.stage == "unique"
    qa = QARecord(id="t", source="kg", question="q", answer=chain.answer.name)
    unique, _, reasons = ChainChecks(hpo_kg)(qa, chain.path, [])
    assert not unique and reasons


# -- nothing gives the answer away -----------------------------------------------------------


def test_ontology_roots_and_generic_words_are_no_answers(hpo_kg, adjacency):
    cfg = SynthConfig()
    h = hierarchy(hpo_kg)

    def depth(i: str) -> int:
        return int(h.depth[hpo_kg.index_of(i)])

    # All, Phenotypic abnormality, an organ system, one of its first splits; then Seizure
    assert [depth(i) for i in ("HP:0000001", "HP:0000118", "HP:0000707")] == [0, 1, 2]
    assert depth("HP:0012638") == 3 and depth("HP:0001250") == 4
    assert h.depth[hpo_kg.index_of(next(i for i in hpo_kg.ids if i.startswith("OMIM")))] == -1
    assert h.descendants[hpo_kg.index_of("HP:0000118")] > 18000

    def reason(i: str, **over) -> str | None:
        c = cfg.model_copy(update=over)
        return generic_reason(
            hpo_kg,
            hpo_kg.index_of(i),
            c.min_answer_depth,
            c.max_answer_descendants,
            c.generic_words,
        )

    for root in ("HP:0000001", "HP:0000118", "HP:0000707", "HP:0012638"):
        assert "below its ontology's root" in reason(root)
    assert "is_a descendants" in reason("HP:0011842")  # Abnormal skeletal morphology, depth 4
    assert reason("HP:0001250") is None  # Seizure
    assert reason("HP:0011842", max_answer_descendants=None) is None
    assert reason("HP:0000118", min_answer_depth=0, max_answer_descendants=None) is not None
    assert is_generic_name("Neoplasm", cfg.generic_words)
    assert is_generic_name("Abnormalities", cfg.generic_words)
    assert not is_generic_name("Neoplasm of the skin", cfg.generic_words)
    assert not is_generic_name("Neoplasm", [])

    # a chain that walks up to Phenotypic abnormality is rejected for it, before uniqueness
    system = "HP:0000707"
    child = sorted(adjacency[(system, "is_a", False)])[0]
    chain = _chain(hpo_kg, [child, system, "HP:0000118"], [("is_a", True), ("is_a", True)])
    res = ChainPoser(hpo_kg, cfg)(chain, set())
    assert (res.stage, res.reason) == ("unique", "generic_answer")
    assert "Phenotypic abnormality" in res.detail
    off = cfg.model_copy(
        update={"min_answer_depth": 0, "max_answer_descendants": None, "generic_words": []}
    )
    res = ChainPoser(hpo_kg, off)(chain, set())
    assert getattr(res, "reason", None) != "generic_answer"

    # no walk ends on a generic node, and none is drawn as a distractor
    sampler, poser = ChainSampler(hpo_kg, cfg), ChainPoser(hpo_kg, cfg)
    for attempt in range(150):
        chain = sampler(attempt)
        if isinstance(chain, Chain):
            assert not poser.generic[hpo_kg.index_of(chain.answer.id)]
            res = poser(chain, set())
            if isinstance(res, PosedChain):
                assert not any(poser.generic[hpo_kg.index_of(d.id)] for d in res.distractors)


def test_an_answer_standing_out_by_its_wording(hpo_kg, posed):
    cfg = SynthConfig()
    forms = option_forms(hpo_kg, cfg.wording_min_names, cfg.form_words)

    def out(answer: str, others: list[str], t: str = "phenotype") -> list[str]:
        return forms.stands_out(forms.of_name(answer, t), [forms.of_name(x, t) for x in others])

    plain = ["Seizure", "Hypotonia", "Short stature", "Ptosis"]
    got = out("Abnormal heart morphology", plain)
    assert "the only option starting with 'abnormal'" in got
    assert "the only option with 'abnormal'" in got
    liver = out("Abnormal heart morphology", ["Abnormality of the liver", *plain[1:]])
    assert "the only option starting with 'abnormal'" not in liver
    assert not out("Abnormal heart morphology", ["Abnormal liver morphology", *plain[1:]])
    # the other way round: the only option *not* starting with "Abnormal"
    abn = ["Abnormal liver morphology", "Abnormality of the hand", "Abnormal gait", "Abnormal EEG"]
    assert "the only option starting with a plain word" in out("Seizure", abn)
    # the only syndrome among diseases, the only numbered subtype
    diseases = ["Spinocerebellar ataxia 5", "Nephronophthisis 9", "Anencephaly 2", "Piebaldism"]
    assert "the only option with 'syndrome'" in out("Sotos syndrome", diseases, "disease")
    assert "the only option shaped as a numbered" in out(
        "Bardet-Biedl syndrome 1",
        ["Sotos syndrome", "Noonan syndrome", "Alagille syndrome", "Williams syndrome"],
        "disease",
    )
    assert not out("NF2", ["VHL", "TSC1", "PTEN", "SMARCB1"], "gene")

    # the poser draws distractors of the answer's class first ...
    poser = ChainPoser(hpo_kg, cfg)
    res = poser(posed.chain, set())
    assert isinstance(res, PosedChain)
    answer = hpo_kg.index_of(posed.chain.answer.id)
    picked = np.array([hpo_kg.index_of(d.id) for d in res.distractors])
    best = forms.shared(answer, poser.pool[poser.type_code[answer]]).max()
    assert forms.shared(answer, picked).max() == best
    # ... and rejects the question when no distractor can share the answer's leading word
    t = poser.type_code[answer]
    pool = poser.pool[t]
    poser.pool[t] = pool[forms.codes[pool, 0] != forms.codes[answer, 0]]
    res = poser(posed.chain, set())
    assert (res.stage, res.reason) == ("distractors", "answer_stands_out")
    assert "the only option starting with" in res.detail
    off = ChainPoser(hpo_kg, cfg.model_copy(update={"wording_check": False}))
    off.pool[t] = poser.pool[t]
    assert isinstance(off(posed.chain, set()), PosedChain)


def test_a_distractor_that_satisfies_the_chain_fails_the_check(rows, hpo_kg):
    r = rows[0]
    path = KGPath(
        start_id=r["question_entities"][0]["kg_id"],
        end_id=r["answer_entities"][0]["kg_id"],
        hops=[Hop(**h) for h in r["paths"][0]],
        score=0.0,
    )
    options = {o["letter"]: o["text"] for o in r["options"]}
    qa = QARecord(
        id="t",
        source="kg",
        question=r["question"],
        options=options,
        answer=r["answer"],
        answer_idx=r["answer_idx"],
    )
    checks = ChainChecks(hpo_kg)
    unique, ok, reasons = checks(qa, path, [])  # the options shown are not these (none)
    assert unique and not ok
    assert reasons == ["options other than the answer are not the checked distractors"]
    _, ok, reasons = checks(qa, path, [path.end_id])  # the answer itself as a distractor
    assert not ok and any("satisfies the chain" in x for x in reasons)
    answer_type = r["answer_entities"][0]["type"]
    other = next(i for i, t in zip(hpo_kg.ids, hpo_kg.types, strict=True) if t != answer_type)
    _, ok, reasons = checks(qa, path, [other])
    assert not ok and any(f"is not a {answer_type}" in x for x in reasons)
    built = {"kg_faithful": True, "answer_match": True, "no_leakage": True}
    assert not Checks(results=built | {"distractors_fail_chain": False}).passed
    assert Checks(results=built).passed  # built rows


# -- the LLM question writer -----------------------------------------------------------------


def test_parse_question_reply():
    good = {"question": "Q?", "options": {"A": "x", "b": "y"}, "answer": "b"}
    r = parse_question_reply(json.dumps(good))
    assert r.options == {"A": "x", "B": "y"} and r.answer == "B"
    fenced = "Sure:\n```json\n" + json.dumps(good) + "\n```"
    assert parse_question_reply(fenced) == r
    for bad in (
        "no json here",
        '{"question": "Q?", "options": {"A": "x"',
        json.dumps({**good, "question": ""}),
        json.dumps({**good, "options": {"A": "x", "C": "y"}}),
        json.dumps({**good, "answer": "D"}),
        json.dumps({"options": good["options"], "answer": "A"}),
    ):
        with pytest.raises(ReplyError):
            parse_question_reply(bad)


@pytest.fixture(scope="module")
def posed(hpo_kg) -> PosedChain:
    cfg = SynthConfig(seed=5)
    sampler, poser = ChainSampler(hpo_kg, cfg), ChainPoser(hpo_kg, cfg)
    for attempt in range(200):
        chain = sampler(attempt)
        if isinstance(chain, Chain):
            res = poser(chain, set())
            if isinstance(res, PosedChain):
                return res
    raise AssertionError("no chain posed in 200 attempts")


def _reply(posed: PosedChain, question: str | None = None, **over) -> str:
    options, letter = shuffled_options(posed, np.random.default_rng(0))
    start = posed.chain.start.name
    q = question or f'Which {posed.chain.answer.type} follows from "{start}" by these steps?'
    return json.dumps({"question": q, "options": options, "answer": letter, **over})


def test_llm_question_keeps_the_checked_options(posed):
    seen: list[str] = []

    def complete(prompt: str) -> str:
        seen.append(prompt)
        return _reply(posed)

    qa = llm_question(posed, complete, np.random.default_rng(0))
    assert isinstance(qa, QARecord), qa
    assert qa.source == "kg" and qa.options[qa.answer_idx] == posed.chain.answer.name
    assert sorted(qa.options.values()) == sorted(
        [posed.chain.answer.name] + [d.name for d in posed.distractors]
    )
    options, letter = shuffled_options(posed, np.random.default_rng(0))
    assert seen == [question_prompt(posed, options, letter)]
    assert posed.chain.start.name in seen[0] and "Reply with JSON only" in seen[0]


def test_llm_question_rejects_bad_replies(posed):
    def rng():
        return np.random.default_rng(0)

    answer = posed.chain.answer.name
    start = posed.chain.start.name
    cases = {
        "bad_llm_reply": "I cannot help with that.",
        "llm_reply_mismatch": _reply(posed, question=f'From "{start}", is it {answer}?'),
    }
    for reason, text in cases.items():
        res = llm_question(posed, lambda _p, t=text: t, rng())
        assert res.reason == reason, res
    swapped = json.loads(_reply(posed))
    wrong = next(k for k in swapped["options"] if k != swapped["answer"])
    swapped["options"][wrong] = "Made-up distractor"
    res = llm_question(posed, lambda _p: json.dumps(swapped), rng())
    assert res.reason == "llm_reply_mismatch" and "options" in res.detail

    def down(_p: str) -> str:
        raise TimeoutError("endpoint down")

    res = llm_question(posed, down, rng())
    assert res.reason == "llm_error" and "endpoint down" in res.detail


def test_flow_with_an_llm_writer(cache_dir, tmp_path):
    """generator 'openai' with a stand-in completion: options come from the prompt."""

    def complete(prompt: str) -> str:
        start = re.search(r'The chain starts at the \w+ "(.*)" and takes', prompt).group(1)
        options = dict(re.findall(r"^([A-J])\. (.*)$", prompt, re.MULTILINE))
        letter = re.search(r"only correct option is ([A-J])\.", prompt).group(1)
        q = f'Starting from "{start}" and following the steps, which one is reached?'
        return json.dumps({"question": q, "options": options, "answer": letter})

    cfg = SynthConfig(kg="hpo", out=tmp_path, cache_dir=cache_dir, n=10, generator="openai", seed=2)
    result = synth_from_kg(cfg, complete=complete)
    assert result.complete
    data = read_dataset(tmp_path)
    assert set(data["generator"]) == {"openai"} and set(data["model"]) == {cfg.llm.model}
    assert data["checks"].struct.field("distractors_fail_chain").all()
    with pytest.raises(ConfigError):
        synth_from_kg(cfg.model_copy(update={"overwrite": True}))  # no completion function
