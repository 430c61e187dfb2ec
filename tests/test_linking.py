"""Entity linking: normalisation, question and answer links on the HPO KG, the precision
guard, gene-symbol case, the on-disk alias index cache, and NER-model errors.

Expected ids are looked up by name in the KG itself, so each test states the concept it
means ("Arachnodactyly") and fails if the linker picks another node.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path

import polars as pl
import pytest
from kg_rows import kg_from_rows
from typer.testing import CliRunner

from kgsynth.cli import app
from kgsynth.config import DEFAULT_SAMPLE_QA, LinkingConfig
from kgsynth.errors import ConfigError
from kgsynth.export.hub import data_file
from kgsynth.kg import KnowledgeGraph
from kgsynth.linking import store
from kgsynth.linking.index import INDEX_VERSION, load_candidate_generator
from kgsynth.linking.kb import alias_frame, descendants, is_acronym, loose_synonym, scispacy_kb
from kgsynth.linking.linker import Linker, glued, load_qualifiers, written_in_capitals
from kgsynth.linking.normalise import (
    adds_subtype,
    keys_opposed,
    norm_key,
    raw_tokens,
    same_concept_words,
    singular,
)
from kgsynth.records import QARecord

SAMPLE_QA = DEFAULT_SAMPLE_QA

# scispaCy's AbbreviationDetector warns on every text when its global matcher is empty
pytestmark = pytest.mark.filterwarnings("ignore:.*W036:UserWarning")


@pytest.fixture(scope="module")
def linker(hpo_kg, cache_dir: Path) -> Linker:
    """One HPO linker for the module: building it (and its index, once) takes seconds."""
    return Linker(hpo_kg, LinkingConfig(), cache_dir)


def ids_named(kg: KnowledgeGraph, name: str, *, synonyms: bool = False) -> set[str]:
    """Ids of nodes whose name (or, optionally, any synonym) is `name`, ignoring case."""
    low = name.lower()
    cond = pl.col("name").str.to_lowercase() == low
    if synonyms:
        cond = (
            cond | pl.col("synonyms").list.eval(pl.element().str.to_lowercase() == low).list.any()
        )
    return set(kg.nodes.filter(cond)["id"].to_list())


def one_id(kg: KnowledgeGraph, name: str, type_: str = "phenotype") -> str:
    """The one node of `type_` named `name` (diseases and phenotypes may share a name)."""
    hits = {i for i in ids_named(kg, name) if kg.types[kg.index_of(i)] == type_}
    assert len(hits) == 1, f"expected one {type_} named {name!r}, got {sorted(hits)}"
    return hits.pop()


def exact_synonyms(kg: KnowledgeGraph, node_id: str) -> list[str]:
    return kg.nodes.filter(pl.col("id") == node_id)["exact_synonyms"].to_list()[0]


# -- normalisation ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("SEIZURE", "seizure"),  # case
        ("Seizures", "Seizure"),  # plural
        ("Arteries", "Artery"),
        ("Glasses", "Glass"),
        ("Broad-based gait", "broad based gait"),  # hyphen
        ("Kayser–Fleischer ring", "Kayser-Fleischer ring"),  # en dash
        ("Spontaneous, recurrent epistaxis.", "spontaneous recurrent epistaxis"),  # punctuation
        ("Down's syndrome", "Down syndrome"),  # possessive
        ("Haemorrhage", "Hemorrhage"),  # UK/US ae
        ("Anaemia", "Anemia"),
        ("Oedema", "Edema"),  # UK/US oe
        ("Diarrhoea", "Diarrhea"),
        ("Café-au-lait spots", "Cafe-au-lait spot"),  # accents
        ("Low pulse pressure", "Decreased pulse pressure"),  # polarity
        ("Reduced serum ceruloplasmin", "decreased serum ceruloplasmin"),
        ("High blood pressure", "Increased blood pressure"),
        ("Elevated IgE", "increased IgE"),
    ],
)
def test_norm_key_agrees_on_variants(a: str, b: str) -> None:
    assert norm_key(a) == norm_key(b)


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("Wide pulse pressure", "Low pulse pressure"),  # only direction words are merged
        ("Hypotonia", "Hypertonia"),
        ("Vitamin K deficiency", "Vitamin A deficiency"),
        ("Type 1 diabetes", "Type 2 diabetes"),
    ],
)
def test_norm_key_keeps_different_concepts_apart(a: str, b: str) -> None:
    assert norm_key(a) != norm_key(b)


def test_norm_key_exact_output() -> None:
    assert norm_key("Haemorrhages, Cerebral!") == "hemorrhage cerebral"
    assert norm_key("LOW serum Potassium") == "decreased serum potassium"
    assert norm_key("Ectopia lentis") == "ectopia lentis"  # "-is" is not a plural
    assert norm_key("Toes") == "toe"  # ae/oe folding only on longer words
    assert norm_key("") == ""


def test_singular_rules() -> None:
    assert [singular(w) for w in ["ribs", "anomalies", "masses", "fixes", "branches"]] == [
        "rib",
        "anomaly",
        "mass",
        "fix",
        "branch",
    ]
    # -ss, -us, -is, -os, -ys and short words stay as they are
    assert [singular(w) for w in ["abscess", "virus", "diagnosis", "gas", "kyphos"]] == [
        "abscess",
        "virus",
        "diagnosis",
        "gas",
        "kyphos",
    ]


def test_raw_tokens_keep_offsets_and_drop_possessive_s() -> None:
    text = "Down's syndrome; café-au-lait"
    assert raw_tokens(text) == [
        ("Down", 0, 4),
        ("syndrome", 7, 15),
        ("café", 17, 21),
        ("au", 22, 24),
        ("lait", 25, 29),
    ]


def test_same_concept_words_guard() -> None:
    def same(a: str, b: str) -> bool:
        return same_concept_words(norm_key(a), norm_key(b))

    assert not same("Wide pulse pressure", "Low pulse pressure")
    assert not same("Vitamin K deficiency", "Vitamin A deficiency")
    assert not same("Type 1 diabetes", "Type 2 diabetes")
    assert not same("Arachnodactyly and scoliosis", "Arachnodactyly")  # word counts differ
    assert same("Hemorrhage, cerebral", "Cerebral hemorrhage")  # word order
    assert same("Arachnodactily", "Arachnodactyly")  # a spelling slip in a long word
    assert same("Androgen insensitivity", "Androgen insensitivity syndrome")  # filler word


# -- question linking ------------------------------------------------------------------


def test_exact_names_link_with_their_spans(linker: Linker, hpo_kg) -> None:
    text = "A tall boy has arachnodactyly and ectopia lentis."
    links = linker.link_text(text)
    assert [lk.kg_id for lk in links] == [
        one_id(hpo_kg, "Arachnodactyly"),
        one_id(hpo_kg, "Ectopia lentis"),
    ]
    arach, lens = links
    assert (arach.start, arach.end) == (15, 29) and arach.mention == "arachnodactyly"
    assert (lens.start, lens.end) == (34, 48) and lens.mention == "ectopia lentis"
    for lk in links:
        assert text[lk.start : lk.end] == lk.mention
        assert lk.method == "exact" and lk.score == 1.0 and lk.type == "phenotype"


def test_case_and_plural_variants_link_as_normalised(linker: Linker, hpo_kg) -> None:
    macule = one_id(hpo_kg, "Hypomelanotic macule")
    aliases = linker.aliases.filter(pl.col("idx") == hpo_kg.index_of(macule))["alias"]
    assert "hypomelanotic macules" not in {a.lower() for a in aliases}  # only the singular
    text = "He had two SEIZURES and several hypomelanotic macules."
    seizure, spots = linker.link_text(text)
    assert seizure.kg_id == one_id(hpo_kg, "Seizure")
    assert seizure.mention == "SEIZURES" and (seizure.start, seizure.end) == (11, 19)
    assert spots.kg_id == macule and spots.mention == "hypomelanotic macules"
    assert text[spots.start : spots.end] == spots.mention
    assert {seizure.method, spots.method} == {"normalised"}
    assert seizure.score < 1.0 and spots.score < 1.0


def test_uk_spelling_and_accents_link(linker: Linker, hpo_kg) -> None:
    links = linker.link_text("She has anaemia and multiple café-au-lait spots.")
    assert {lk.kg_id for lk in links} == {
        one_id(hpo_kg, "Anemia"),
        one_id(hpo_kg, "Multiple cafe-au-lait spots"),
    }
    cal = next(lk for lk in links if lk.name == "Multiple cafe-au-lait spots")
    assert cal.mention == "multiple café-au-lait spots"


def test_synonyms_link_to_their_concept(linker: Linker, hpo_kg) -> None:
    arach = one_id(hpo_kg, "Arachnodactyly")
    lens = one_id(hpo_kg, "Ectopia lentis")
    # the test relies on these being EXACT synonyms in HPO (the linker uses no others)
    assert "Spider fingers" in exact_synonyms(hpo_kg, arach)
    assert "Lens dislocation" in exact_synonyms(hpo_kg, lens)
    links = linker.link_text("He has spider fingers and lens dislocation.")
    assert [(lk.kg_id, lk.mention) for lk in links] == [
        (arach, "spider fingers"),
        (lens, "lens dislocation"),
    ]
    assert all(lk.name in ("Arachnodactyly", "Ectopia lentis") for lk in links)


def test_polarity_word_links_low_to_decreased(linker: Linker, hpo_kg) -> None:
    target = one_id(hpo_kg, "Decreased circulating ceruloplasmin concentration")
    aliases = linker.aliases.filter(pl.col("idx") == hpo_kg.index_of(target))["alias"]
    # no alias says "low", so only the polarity map can make this match
    assert not any("low" in a.lower() for a in aliases.to_list())
    text = "Laboratory studies show a low serum ceruloplasmin."
    (link,) = linker.link_text(text)
    assert link.kg_id == target and link.mention == "low serum ceruloplasmin"


def test_one_link_per_concept_at_its_first_mention(linker: Linker, hpo_kg) -> None:
    text = "Seizures began at two; each seizure lasted a minute."
    links = linker.link_text(text)
    assert [(lk.kg_id, lk.start) for lk in links] == [(one_id(hpo_kg, "Seizure"), 0)]


def test_bookkeeping_terms_are_not_linked(linker: Linker, hpo_kg) -> None:
    mild = one_id(hpo_kg, "Mild")
    excluded = descendants(hpo_kg, linker.cfg.exclude_subtrees)
    assert hpo_kg.index_of(mild) in excluded  # "Mild" is a clinical modifier
    assert set(linker.aliases["idx"].to_list()).isdisjoint(excluded)
    assert mild not in {lk.kg_id for lk in linker.link_text("The scoliosis was mild.")}


def test_abbreviation_defined_in_question(linker: Linker, hpo_kg) -> None:
    hcm = one_id(hpo_kg, "Hypertrophic cardiomyopathy")
    text = "Echocardiography shows hypertrophic cardiomyopathy (HCM). HCM runs in his family."
    assert linker.abbreviations(text) == {"HCM": "hypertrophic cardiomyopathy"}
    links = linker.link_text(text)
    # the long form and both short forms name one concept: one link, at its first mention
    assert [(lk.kg_id, lk.mention, lk.start) for lk in links] == [
        (hcm, "hypertrophic cardiomyopathy", 23)
    ]


def test_abbreviated_answer_expands_through_the_question(linker: Linker, hpo_kg) -> None:
    svas = one_id(hpo_kg, "Supravalvular aortic stenosis")
    question = "Echocardiography shows supravalvular aortic stenosis (SVAS). What causes SVAS?"
    # "SVAS" is no KG alias: without the question's definition it links to nothing
    assert linker.link_answer("SVAS") == []
    abbrs = linker.abbreviations(question)
    assert abbrs == {"SVAS": "supravalvular aortic stenosis"}
    (link,) = linker.link_answer("SVAS", abbrs)
    assert link.kg_id == svas and link.method == "abbreviation+exact"
    assert (link.mention, link.start, link.end) == ("SVAS", 0, 4)
    qa = QARecord(
        id="abbr",
        source="generic",
        question=question,
        options={"A": "SVAS", "B": "Losartan"},
        answer="SVAS",
        answer_idx="A",
    )
    linked = linker(qa)
    assert [e.kg_id for e in linked.answer_entities] == [svas]
    assert svas in {e.kg_id for e in linked.question_entities}


# -- answer linking --------------------------------------------------------------------


def test_answer_links_as_a_whole(linker: Linker, hpo_kg) -> None:
    (link,) = linker.link_answer("Marfan syndrome")
    assert link.kg_id in ids_named(hpo_kg, "Marfan syndrome") and link.type == "disease"
    assert link.method == "exact" and (link.start, link.end) == (0, 15)
    # surrounding spaces and a final full stop are not part of the mention
    (link,) = linker.link_answer("  Ectopia lentis.")
    assert link.kg_id == one_id(hpo_kg, "Ectopia lentis")
    assert (link.mention, link.start, link.end) == ("Ectopia lentis", 2, 16)


def test_answer_is_never_linked_by_a_fragment(linker: Linker) -> None:
    assert linker.link_answer("Arachnodactyly")
    assert linker.link_answer("Scoliosis")
    assert linker.link_answer("Arachnodactyly and scoliosis") == []
    assert linker.link_answer("Losartan") == []  # a drug: no node in the HPO KG
    assert linker.link_answer("   ") == []


def test_answer_trailing_short_form_is_dropped(linker: Linker, hpo_kg) -> None:
    cll = ids_named(hpo_kg, "Chronic lymphocytic leukemia", synonyms=True)
    assert len(cll) == 1
    answer = "Chronic lymphocytic leukemia (CLL)"
    (link,) = linker.link_answer(answer)
    assert link.kg_id in cll
    assert (link.mention, link.start, link.end) == (answer, 0, len(answer))


def test_answer_spelling_slip_needs_fuzzy_match_above_threshold(linker: Linker, hpo_kg) -> None:
    # TF-IDF scores "Arachnodactily" ~0.78 against the name: below the default 0.85 ...
    assert linker.link_answer("Arachnodactily") == []
    loose = _with_threshold(linker, 0.6)
    # ... and a looser threshold accepts it, as a (lower-scored) tfidf link
    (link,) = loose.link_answer("Arachnodactily")
    assert link.kg_id == one_id(hpo_kg, "Arachnodactyly")
    assert link.method == "tfidf" and link.score < 0.97


# -- precision guard -------------------------------------------------------------------


def _with_threshold(linker: Linker, threshold: float) -> Linker:
    """The same linker (shared index and matcher) with another score threshold."""
    loose = copy.copy(linker)
    loose.cfg = linker.cfg.model_copy(update={"threshold": threshold})
    return loose


@pytest.mark.parametrize(
    ("text", "wrong_names"),
    [
        ("Wide pulse pressure", ["Low pulse pressure", "Decreased pulse pressure"]),
        ("Vitamin K deficiency", ["Vitamin A deficiency", "Hypovitaminosis A"]),
    ],
)
def test_precision_guard_rejects_near_miss_concepts(
    linker: Linker, hpo_kg, text: str, wrong_names: list[str]
) -> None:
    wrong = set().union(*(ids_named(hpo_kg, n, synonyms=True) for n in wrong_names))
    assert wrong, "the near-miss concept must exist in the KG for this test to mean anything"
    # TF-IDF does propose the near miss: above 0.6, below the default 0.85
    (cands,) = linker.candidates([text], k=30)
    sims = {c.concept_id: max(c.similarities) for c in cands if c.concept_id in wrong}
    assert sims and all(s >= 0.6 for s in sims.values()), sims
    for lk in (linker, _with_threshold(linker, 0.6)):
        # at 0.6 only the word-by-word guard stands between the text and the near miss
        assert wrong.isdisjoint(e.kg_id for e in lk.link_answer(text))
        assert wrong.isdisjoint(e.kg_id for e in lk.link_text(f"She has {text.lower()}."))


# -- genes -----------------------------------------------------------------------------


def test_gene_symbols_are_case_sensitive(linker: Linker, hpo_kg) -> None:
    cat = one_id(hpo_kg, "CAT", "gene")
    (link,) = linker.link_text("Biallelic variants in CAT were found.")
    assert (link.kg_id, link.mention, link.start) == (cat, "CAT", 22)
    assert linker.link_text("The family cat was healthy.") == []
    assert [e.kg_id for e in linker.link_answer("CAT")] == [cat]
    fbn1 = one_id(hpo_kg, "FBN1", "gene")
    assert [e.kg_id for e in linker.link_answer("FBN1")] == [fbn1]
    # nor through the fuzzy fallback (TF-IDF lowercases, so it scores "cat" as CAT)
    for word in ("cat", "Cat", "fbn1", "Rest"):
        genes = [e for e in linker.link_answer(word) if e.type == "gene"]
        assert genes == [], word


@pytest.mark.parametrize(
    "text",
    [
        "Her CD4 count is 180/mm3.",  # a count
        "His CD4+ T-lymphocyte count is 90/mm3.",  # a sign: a cell marker
        "Flow cytometry shows CD4 T cells.",  # cells
        "CD8- cells predominate.",
        "Serum AFP 350 ng/mL.",  # a lab value
        "PTH: 8 pg/mL",
        "Her PTH level is elevated.",
        "There were 250 CD4 cells.",  # a number before
        "The number needed to treat (NNT) is 20.",  # defined as something else
    ],
)
def test_gene_symbols_not_written_as_genes_do_not_link(linker: Linker, text: str) -> None:
    assert [lk for lk in linker.link_text(text) if lk.type == "gene"] == []


def test_gene_symbols_written_as_genes_still_link(linker: Linker, hpo_kg) -> None:
    cd4 = one_id(hpo_kg, "CD4", "gene")
    assert [lk.kg_id for lk in linker.link_text("A variant in the CD4 gene.")] == [cd4]
    cftr = one_id(hpo_kg, "CFTR", "gene")
    assert [lk.kg_id for lk in linker.link_text("Mutations in CFTR were found.")] == [cftr]


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("He has human immunodeficiency virus infection.", "Immunodeficiency"),
        ("He feels an electric shock sensation down his spine.", "Shock"),
        ("She has seizure-like episodes.", "Seizure"),
        ("Hepatitis B surface antigen is negative.", "Hepatitis"),  # past a subtype letter
        ("Protein carriers such as tetanus toxoid are used.", "Tetanus"),
        ("She had a tonic-clonic seizure.", "Clonic seizure"),  # inside a hyphenated word
    ],
)
def test_a_fragment_of_a_longer_phrase_does_not_link(
    linker: Linker, hpo_kg, text: str, fragment: str
) -> None:
    bad = ids_named(hpo_kg, fragment, synonyms=True)
    assert bad, f"{fragment!r} must exist in the KG for this test to mean anything"
    assert bad.isdisjoint(lk.kg_id for lk in linker.link_text(text))
    # the fragment alone still links
    assert not bad.isdisjoint(lk.kg_id for lk in linker.link_text(f"He has {fragment.lower()}."))


# -- whole words, short forms, loose synonyms, qualified words -------------------------


def test_a_mention_never_starts_or_ends_inside_a_hyphenated_word(linker: Linker, hpo_kg) -> None:
    assert glued("a tonic-clonic seizure", 8, 22) and glued("seizure-like", 0, 7)
    assert not glued("a tonic-clonic seizure", 2, 22) and not glued("2 - 3 days", 4, 5)
    clonic = one_id(hpo_kg, "Clonic seizure")
    assert [lk.kg_id for lk in linker.link_text("He has clonic seizures.")] == [clonic]
    # "clonic seizure" is a fragment of "tonic-clonic seizure": the whole word links instead
    links = linker.link_text("She had a tonic-clonic seizure.")
    assert [(lk.kg_id, lk.mention) for lk in links] == [(one_id(hpo_kg, "Seizure"), "seizure")]
    # "non-bloody diarrhea" is diarrhea, not bloody diarrhea
    links = linker.link_text("She has profuse non-bloody diarrhea.")
    assert [(lk.name, lk.mention, lk.assertion) for lk in links] == [
        ("Diarrhea", "diarrhea", "present")
    ]


def test_generalized_tonic_clonic_seizure_links_its_unspecified_concept(
    linker: Linker, hpo_kg
) -> None:
    gtcs = one_id(hpo_kg, "Bilateral tonic-clonic seizure")
    # HPO words it "Generalized tonic-clonic seizure (without specification of onset)"
    assert any("(without specification of onset)" in a for a in exact_synonyms(hpo_kg, gtcs))
    for text in (
        "He had a generalized tonic-clonic seizure.",
        "She had generalised, tonic-clonic seizures.",
    ):
        (link,) = linker.link_text(text)
        assert link.kg_id == gtcs, text


def test_short_forms_match_only_in_capitals(linker: Linker, hpo_kg) -> None:
    odd = one_id(hpo_kg, "Oppositional defiant disorder")
    assert "ODD" in exact_synonyms(hpo_kg, odd)
    assert is_acronym("ODD") and is_acronym("HIV-1") and not is_acronym("Odd")
    assert written_in_capitals("ODDs") and not written_in_capitals("odds")
    row = linker.aliases.filter(
        (pl.col("idx") == hpo_kg.index_of(odd)) & (pl.col("alias") == "ODD")
    )
    assert row["acronym"].to_list() == [True]
    assert [lk.kg_id for lk in linker.link_text("The boy was diagnosed with ODD.")] == [odd]
    # ordinary words keep their sense: no disorder in an odd smell or an odds ratio
    assert linker.link_text("The wound has an odd smell.") == []
    assert linker.link_text("An odds ratio of 2.1 was computed.") == []
    assert linker.link_answer("odd") == [] and linker.link_answer("ODD")[0].kg_id == odd
    # names and long synonyms stay case-insensitive
    assert [lk.kg_id for lk in linker.link_text("OPPOSITIONAL DEFIANT DISORDER.")] == [odd]


def test_a_lone_adjective_is_no_synonym_of_a_narrower_concept(linker: Linker, hpo_kg) -> None:
    arousal = one_id(hpo_kg, "Confusional arousal")
    # HPO lists both as EXACT synonyms of a sleep disorder
    assert {"Unresponsive", "Disoriented"} <= set(exact_synonyms(hpo_kg, arousal))
    assert loose_synonym("Unresponsive", "Confusional arousal")
    assert not loose_synonym("Heartburn", "Gastroesophageal reflux")  # a noun
    assert not loose_synonym("Tired", "Fatigue")  # a one-word name is no narrower
    assert not loose_synonym("Obese", "Severe obesity")  # a form of the name's word
    aliases = linker.aliases.filter(pl.col("idx") == hpo_kg.index_of(arousal))["alias"]
    assert "Unresponsive" not in aliases.to_list()
    for text in ("On arrival he is unresponsive.", "She is lethargic and disoriented."):
        assert arousal not in {lk.kg_id for lk in linker.link_text(text)}, text
    assert [lk.name for lk in linker.link_text("He feels tired.")] == ["Fatigue"]


def test_listed_loose_synonyms_never_link(linker: Linker, hpo_kg) -> None:
    cutting = one_id(hpo_kg, "Self-cutting")
    assert loose_synonym("Cutting", "Self-cutting") and loose_synonym("cutting", "SELF-CUTTING")
    assert not loose_synonym("Cutting", "Laceration")  # listed for one concept only
    text = "She broke a window, cutting her arm."
    assert cutting not in {lk.kg_id for lk in linker.link_text(text)}
    # the concept's own name still links
    assert cutting in {lk.kg_id for lk in linker.link_text("There is a history of self-cutting.")}


@pytest.mark.parametrize(
    ("text", "name"),
    [
        ("There is weakness in both lower extremities.", "Lower limb muscle weakness"),
        ("He complains of weakness in his left leg.", "Lower limb muscle weakness"),
        ("Examination shows weakness of the right arm.", "Upper limb muscle weakness"),
        ("She reports weakness and numbness of her left hand.", "Hand muscle weakness"),
        ("He has weakness of his facial muscles.", "Weakness of facial musculature"),
        ("She has right-sided weakness.", "Hemiparesis"),
        ("He has proximal weakness.", "Proximal muscle weakness"),
        ("He has flaccid weakness.", "Muscle weakness"),
        ("There is weakness of the right arm and leg.", "Muscle weakness"),  # several parts
        ("There is weakness of the upper and lower extremities.", "Muscle weakness"),
        # unqualified, or qualified by no body part: the whole-body sense
        ("He reports fatigue and weakness.", "Asthenia"),
        ("He reports weakness in the morning.", "Asthenia"),
        ("She has weakness, and numbness in the hand.", "Asthenia"),  # a comma ends it
    ],
)
def test_weakness_of_a_body_part_is_muscle_weakness(
    linker: Linker, hpo_kg, text: str, name: str
) -> None:
    assert "weakness" in load_qualifiers().words
    got = [lk for lk in linker.link_text(text) if lk.mention.lower() == "weakness"]
    assert [lk.kg_id for lk in got] == [one_id(hpo_kg, name)], text
    assert got[0].method == ("normalised" if name == "Asthenia" else "qualified")


def test_common_disease_does_not_link_a_monogenic_subtype(linker: Linker, hpo_kg) -> None:
    subtype = ids_named(hpo_kg, "Coronary artery disease, autosomal dominant, 1")
    assert subtype
    for lk in (linker, _with_threshold(linker, 0.6)):
        assert subtype.isdisjoint(e.kg_id for e in lk.link_answer("Coronary artery disease"))
        text = "He has coronary artery disease."
        assert subtype.isdisjoint(e.kg_id for e in lk.link_text(text))
    # a mention that names the subtype may link it
    (link,) = linker.link_answer("Coronary artery disease, autosomal dominant, 1")
    assert link.kg_id in subtype
    # roman and arabic subtype numbers agree, and do not count as an added subtype
    t2dm = one_id(hpo_kg, "Type II diabetes mellitus")
    assert [e.kg_id for e in linker.link_answer("Type 2 diabetes mellitus")] == [t2dm]


def test_adds_subtype() -> None:
    assert adds_subtype("Coronary artery disease, autosomal dominant, 1", "coronary artery disease")
    assert adds_subtype("Multiple sclerosis, susceptibility to", "multiple sclerosis")
    assert adds_subtype("Ehlers-Danlos syndrome, type IV", "Ehlers-Danlos syndrome")
    assert adds_subtype("Alzheimer disease 2", "Alzheimer disease")
    assert not adds_subtype("Ehlers-Danlos syndrome, type IV", "Ehlers-Danlos syndrome type 4")
    assert not adds_subtype("Bruising susceptibility", "easy bruising")
    assert not adds_subtype("Trisomy 21", "Down syndrome")


# -- polarity --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("Normal pulse pressure", "Abnormal pulse pressure"),
        ("Normal pulse pressure", "Low pulse pressure"),  # normal vs any deviation
        ("Hyperkalemia", "Hypokalemia"),
        ("Hyperthyroidism", "Hypothyroidism"),
        ("Tachycardia", "Bradycardia"),
        ("Microcytic anemia", "Macrocytic anemia"),
        ("Increased serum potassium", "Decreased serum potassium"),
        ("High serum potassium", "Reduced serum potassium"),
        ("Elevated IgE", "Low IgE"),
        ("Positive Romberg sign", "Negative Romberg sign"),
        ("Present reflexes", "Absent reflexes"),
    ],
)
def test_polarity_opposites_never_agree(a: str, b: str) -> None:
    ka, kb = norm_key(a), norm_key(b)
    assert keys_opposed(ka, kb) and keys_opposed(kb, ka)
    assert not same_concept_words(ka, kb) and not same_concept_words(kb, ka)


def test_polarity_equal_on_both_sides_is_no_conflict() -> None:
    key = norm_key("Hypokalemia with normal anion gap")
    assert not keys_opposed(key, key)
    assert same_concept_words(key, key)
    assert not keys_opposed(norm_key("Low potassium"), norm_key("Hypokalemia"))


def test_polarity_opposites_are_never_candidates(linker: Linker, hpo_kg) -> None:
    for text, wrong in [
        ("Normal pulse pressure", ["Abnormal pulse pressure", "Low pulse pressure"]),
        ("Normal intraocular pressure", ["Abnormal intraocular pressure"]),
        ("Hyperkalemic alkalosis", ["Hypokalemic alkalosis"]),
    ]:
        bad = set().union(*(ids_named(hpo_kg, n) for n in wrong))
        assert bad, wrong
        loose = _with_threshold(linker, 0.5)
        assert bad.isdisjoint(c.kg_id for c in linker.candidate_nodes(text, floor=0.3))
        assert bad.isdisjoint(c.kg_id for c in loose.link_answer(text))
        assert bad.isdisjoint(c.kg_id for c in loose.link_text(f"She has {text.lower()}."))


# -- options ---------------------------------------------------------------------------


def _qa(options: dict[str, str], gold: str, question: str = "A man has fever.") -> QARecord:
    return QARecord(
        id="t", source="test", question=question, options=options,
        answer=options[gold], answer_idx=gold,
    )  # fmt: skip


def test_every_option_is_linked_like_the_gold_answer(linker: Linker, hpo_kg) -> None:
    qa = _qa({"A": "Hyperkalemia", "B": "Hypokalemia", "C": "Tell the attending"}, "B")
    item = linker(qa)
    assert {k: [e.kg_id for e in v] for k, v in item.option_entities.items()} == {
        "A": [one_id(hpo_kg, "Hyperkalemia")],
        "B": [one_id(hpo_kg, "Hypokalemia")],
        "C": [],
    }
    assert item.answer_entities == item.option_entities["B"]
    assert all(e.assertion == "present" for v in item.option_entities.values() for e in v)


def test_options_sharing_a_node_are_not_trusted(linker: Linker, hpo_kg) -> None:
    fever = one_id(hpo_kg, "Fever")
    assert "Pyrexia" in exact_synonyms(hpo_kg, fever) or ids_named(
        hpo_kg, "Pyrexia", synonyms=True
    ) == {fever}
    qa = _qa({"A": "Fever", "B": "Pyrexia", "C": "Hypokalemia"}, "C")
    item = linker(qa)
    assert item.option_entities["A"] == item.option_entities["B"] == []
    assert [e.name for e in item.option_entities["C"]] == ["Hypokalemia"]
    # gold shares its node with another option: gold is untrusted too
    item = linker(_qa({"A": "Fever", "B": "Pyrexia", "C": "Hypokalemia"}, "A"))
    assert item.answer_entities == []


def test_rows_without_options_link_the_answer_text(linker: Linker, hpo_kg) -> None:
    qa = QARecord(id="t", source="test", question="A man has fever.", answer="Hypokalemia")
    item = linker(qa)
    assert item.option_entities == {}
    assert [e.kg_id for e in item.answer_entities] == [one_id(hpo_kg, "Hypokalemia")]


# -- the link stage --------------------------------------------------------------------


def _run_link_stage(hpo_kg, cache_dir: Path, rows: list[QARecord], **linking: object):
    from kgsynth.config import load_config
    from kgsynth.stages import StageContext
    from kgsynth.stages.link import LinkStage

    cfg = load_config(None, {"kg": "hpo", "cache_dir": cache_dir, "linking": linking})
    return LinkStage(cfg).run(rows, StageContext(cfg=cfg, kg=hpo_kg))


def test_link_stage_rejects_rows_without_a_present_finding(hpo_kg, cache_dir: Path) -> None:
    opts = {"A": "Hyperkalemia", "B": "Hypokalemia", "C": "Splenomegaly", "D": "Fever"}
    rows = [
        _qa(opts, "B", "She denies fever or vomiting. Her mother has asthma.").model_copy(
            update={"id": "negated"}
        ),
        _qa(opts, "B", "She has fatigue but denies vomiting.").model_copy(update={"id": "ok"}),
    ]
    res = _run_link_stage(hpo_kg, cache_dir, rows)
    assert [r.qa.id for r in res.kept] == ["ok"]
    (rej,) = res.rejects
    assert (rej.id, rej.reason) == ("negated", "no_question_entity")
    assert "2 negated" in rej.detail and "1 family" in rej.detail
    # the pertinent negative stays on the kept record
    (kept,) = res.kept
    assert {e.name: e.assertion for e in kept.question_entities} == {
        "Fatigue": "present",
        "Vomiting": "absent",
    }
    info = res.info
    assert info.question_linked == 1 and info.options == 8 and info.options_linked == 8
    assert info.question_mentions == {"absent": 3, "family": 1, "present": 1}
    merged = info.merge(info)
    assert merged.question_mentions == {"absent": 6, "family": 2, "present": 2}
    assert (merged.options, merged.options_linked, merged.question_linked) == (16, 16, 2)


def test_link_stage_rejects_rows_with_most_options_unlinked(hpo_kg, cache_dir: Path) -> None:
    opts = {"A": "Hypokalemia", "B": "Reassurance", "C": "Biopsy", "D": "Fever", "E": "Ask"}
    rows = [_qa(opts, "A", "He has fatigue.")]
    res = _run_link_stage(hpo_kg, cache_dir, rows)
    (rej,) = res.rejects
    assert rej.reason == "options_unlinked"
    assert rej.detail == "3 of 5 options unlinked: B, C, E"
    # at most half unlinked passes; the share is configurable
    assert _run_link_stage(hpo_kg, cache_dir, rows, max_unlinked_options=0.6).kept
    two_of_four = _qa({k: opts[k] for k in "ABCD"}, "A", "He has fatigue.")
    assert _run_link_stage(hpo_kg, cache_dir, [two_of_four]).kept


# -- whole questions -------------------------------------------------------------------


def test_links_on_the_sample_questions_are_well_formed(linker: Linker) -> None:
    rows = [json.loads(line) for line in SAMPLE_QA.read_text().splitlines() if line.strip()]
    assert rows
    for row in rows:
        q = row["question"]
        links = linker.link_text(q)
        assert 0 < len(links) <= linker.cfg.max_entities, row["id"]
        assert [lk.start for lk in links] == sorted(lk.start for lk in links)
        assert len({lk.kg_id for lk in links}) == len(links)
        for lk in links:
            assert q[lk.start : lk.end] == lk.mention
            assert lk.score >= linker.cfg.threshold


# -- the alias index on disk ----------------------------------------------------------


def _files(folder: Path) -> dict[str, int]:
    return {str(p.relative_to(folder)): p.stat().st_mtime_ns for p in folder.rglob("*")}


def test_alias_index_is_cached_under_cache_dir(linker: Linker, hpo_kg, cache_dir: Path) -> None:
    root = cache_dir / "linker"
    folders = [p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")]
    ours = [p for p in folders if p.name.startswith(hpo_kg.hash[:16])]
    assert ours and all(p.name.endswith(f"-{INDEX_VERSION}") for p in ours)
    for folder in ours:
        assert store.problem(folder) is None
    before = _files(root)
    again = Linker(hpo_kg, LinkingConfig(), cache_dir)
    assert again.index_cached is True
    assert _files(root) == before  # nothing rebuilt, rewritten or added
    text = "A tall boy has arachnodactyly and ectopia lentis."
    assert again.link_text(text) == linker.link_text(text)


def _tiny_kg() -> KnowledgeGraph:
    rows = [
        ("HP:1", "Arachnodactyly", "phenotype", ["Spider fingers"]),
        ("HP:2", "Ectopia lentis", "phenotype", ["Lens dislocation"]),
        ("OMIM:1", "Marfan syndrome", "disease", []),
    ]
    edges = [("OMIM:1", "has_phenotype", "HP:1"), ("OMIM:1", "has_phenotype", "HP:2")]
    return kg_from_rows("tiny", rows, edges, exact_synonyms=True)


def test_index_is_built_once_then_loaded(tmp_path: Path) -> None:
    kg = _tiny_kg()
    aliases = alias_frame(kg, exclude_ids=[], exclude_subtrees=[])
    alias_list = sorted(set(aliases["alias"].to_list()))
    kb = scispacy_kb(kg, aliases)
    folder = tmp_path / "idx"
    gen, cached = load_candidate_generator(alias_list, kb, folder)
    assert cached is False and store.problem(folder) is None
    assert json.loads((folder / "concept_aliases.json").read_text()) == alias_list
    before = _files(folder)
    gen2, cached2 = load_candidate_generator(alias_list, kb, folder)
    assert cached2 is True and _files(folder) == before
    assert [p.name for p in tmp_path.iterdir()] == ["idx"]  # no temp folder left behind
    (cands,) = gen2(["spider finger"], k=3)
    assert cands[0].concept_id == "HP:1"


class _Canary:
    def __init__(self, path: Path) -> None:
        self.path = path

    def __reduce__(self):  # type: ignore[no-untyped-def]
        return (Path.touch, (self.path,))


def _tiny_index(tmp_path: Path) -> tuple[list[str], object, Path]:
    kg = _tiny_kg()
    aliases = alias_frame(kg, exclude_ids=[], exclude_subtrees=[])
    return sorted(set(aliases["alias"].to_list())), scispacy_kb(kg, aliases), tmp_path / "idx"


def test_index_folder_holds_no_pickle_and_a_planted_one_is_never_read(tmp_path: Path) -> None:
    import pickle

    alias_list, kb, folder = _tiny_index(tmp_path)
    load_candidate_generator(alias_list, kb, folder)
    assert sorted(p.name for p in folder.iterdir()) == sorted([*store.FILES, "MANIFEST.json"])
    canary = tmp_path / "pwned"
    # scispaCy's own layout name for the vectoriser: kgsynth never opens it
    (folder / "tfidf_vectorizer.joblib").write_bytes(pickle.dumps(_Canary(canary)))
    gen, cached = load_candidate_generator(alias_list, kb, folder)
    assert cached is True and not canary.exists()
    assert gen(["spider finger"], k=3)[0][0].concept_id == "HP:1"


@pytest.mark.parametrize(
    "damage", ["delete_vectors", "delete_vectorizer", "cut_vectors", "flip_aliases", "no_manifest"]
)
def test_damaged_index_is_rebuilt_locally_with_a_warning(
    tmp_path: Path, damage: str, no_network: list, caplog: pytest.LogCaptureFixture
) -> None:
    alias_list, kb, folder = _tiny_index(tmp_path)
    first, _ = load_candidate_generator(alias_list, kb, folder)
    want = first(["spider finger", "lens dislocation"], k=3)
    if damage == "delete_vectors":
        (folder / store.VECTORS).unlink()
    elif damage == "delete_vectorizer":
        (folder / store.VECTORIZER).unlink()
    elif damage == "cut_vectors":
        blob = (folder / store.VECTORS).read_bytes()
        (folder / store.VECTORS).write_bytes(blob[: len(blob) // 2])
    elif damage == "flip_aliases":  # same size, still valid JSON: only the hash tells
        blob = (folder / store.ALIASES).read_bytes()
        assert b"Spider" in blob
        (folder / store.ALIASES).write_bytes(blob.replace(b"Spider", b"Spidex", 1))
    else:
        (folder / "MANIFEST.json").unlink()
    with caplog.at_level("WARNING", logger="kgsynth.manifest"):
        gen, cached = load_candidate_generator(alias_list, kb, folder)
    assert cached is False
    (warning,) = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert str(folder) in warning and "built again" in warning
    assert store.problem(folder) is None
    got = gen(["spider finger", "lens dislocation"], k=3)
    assert [[c.concept_id for c in cands] for cands in got] == [
        [c.concept_id for c in cands] for cands in want
    ]
    assert no_network == []  # a missing file is rebuilt here, never fetched


def test_linker_reports_built_then_cached_index(tmp_path: Path) -> None:
    kg = _tiny_kg()
    first = Linker(kg, LinkingConfig(), tmp_path)
    assert first.index_cached is False
    (folder,) = (tmp_path / "linker").iterdir()
    before = _files(folder)
    second = Linker(kg, LinkingConfig(), tmp_path)
    assert second.index_cached is True and _files(folder) == before
    assert [lk.kg_id for lk in second.link_text("Marfan syndrome with spider fingers")] == [
        "OMIM:1",
        "HP:1",
    ]


# -- NER model -------------------------------------------------------------------------

MISSING_MODEL = "en_core_sci_not_installed_kgsynth_test"


def test_missing_ner_model_is_a_config_error(tmp_path: Path) -> None:
    cfg = LinkingConfig(ner_model=MISSING_MODEL)
    with pytest.raises(ConfigError) as info:
        Linker(_tiny_kg(), cfg, tmp_path)
    msg = str(info.value)
    assert MISSING_MODEL in msg and "not installed" in msg and "--ner-model" in msg


def test_cli_missing_ner_model_exits_with_the_message(tmp_path: Path, cache_dir: Path) -> None:
    qa = tmp_path / "one.jsonl"
    qa.write_text(
        json.dumps(
            {
                "id": "q1",
                "question": "A boy has arachnodactyly. Which diagnosis?",
                "options": {"A": "Marfan syndrome", "B": "Down syndrome"},
                "answer_idx": "A",
                "answer": "Marfan syndrome",
            }
        )
        + "\n"
    )
    args = ["build", "--qa", str(qa), "--out", str(tmp_path / "o")]
    args += ["--cache-dir", str(cache_dir), "--ner-model", MISSING_MODEL]
    res = CliRunner().invoke(app, args)
    assert res.exit_code == 2, res.output
    assert MISSING_MODEL in res.output and "not installed" in res.output
    assert not (tmp_path / "o" / data_file()).exists()


def test_a_name_split_off_what_follows_it_does_not_link(linker: Linker, hpo_kg) -> None:
    # the number is a quantity: schizophrenia diagnosed four years ago, not "schizophrenia 4"
    names = [lk.name for lk in linker.link_text("He was diagnosed with schizophrenia 4 years ago.")]
    assert "Schizophrenia 4" not in names and "Schizophrenia" in names
    # a designating letter makes another thing: hepatitis B is no finding of "Hepatitis"
    assert "Hepatitis" not in [lk.name for lk in linker.link_text("He has hepatitis B.")]
    assert "Hepatitis" in [lk.name for lk in linker.link_text("Biopsy shows hepatitis.")]


def test_question_mentions_of_skipped_types_are_no_findings(tmp_path: Path) -> None:
    # a broad KG holds anatomy and procedures; a question naming them names no finding
    from kgsynth.config import LinkingConfig

    kg = KnowledgeGraph.from_frames(
        "t",
        pl.DataFrame(
            {
                "id": ["A:1", "P:1", "S:1"],
                "name": ["Serum", "Prenatal care", "Vomiting"],
                "type": ["anatomy", "procedure", "phenotype"],
            }
        ),
        pl.DataFrame(schema={"head": pl.String, "relation": pl.String, "tail": pl.String}),
        {},
    )
    linker = Linker(kg, LinkingConfig(), tmp_path)
    text = "Despite prenatal care, the newborn has vomiting; serum sodium is low."
    assert {lk.name for lk in linker.link_text(text)} == {"Prenatal care", "Vomiting", "Serum"}
    qa = QARecord(id="q", source="t", question=text, options={"A": "Serum"}, answer="Serum",
                  answer_idx="A")  # fmt: skip
    linked = linker(qa)
    assert [lk.name for lk in linked.question_entities] == ["Vomiting"]
    assert [lk.name for lk in linked.answer_entities] == ["Serum"]  # answers still link
