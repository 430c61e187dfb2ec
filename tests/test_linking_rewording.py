"""Answer links through rewordings (issue 12): the normaliser's Greek letters, the word-order
form of an answer (`word_bag`), the wrappers around a drug or a procedure (`answer_forms`),
and the guards that keep such matches to the concept the answer names (negation prefixes,
a filler that heads its phrase, Greek letters as designators).

Each rule has a test that fails without it and one that it merges no unrelated concept. The
linker tests run on a small KG written here, so each states the nodes it means."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
from kg_rows import kg_from_rows

from kgsynth.config import LinkingConfig
from kgsynth.kg import KnowledgeGraph
from kgsynth.linking.linker import Linker
from kgsynth.linking.normalise import (
    adds_subtype,
    answer_forms,
    content_tokens,
    joined_keys,
    norm_key,
    prefix_opposed,
    same_concept_words,
    word_bag,
)

# scispaCy's AbbreviationDetector warns on every text when its global matcher is empty
pytestmark = pytest.mark.filterwarnings("ignore:.*W036:UserWarning")

DRUGS = frozenset({"drug", "pharmacologic_class"})


# -- normalisation: Greek letters ------------------------------------------------------


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("Tumor necrosis factor-α", "Tumor Necrosis Factor-alpha"),
        ("TNFα", "TNFalpha"),  # a letter inside a word
        ("ß-hCG", "beta-hCG"),  # the sharp s written for beta
        ("γ-interferon", "gamma-Interferon"),
        ("μ receptor", "mu receptor"),
        ("ẟ opioid receptor", "delta opioid receptor"),
    ],
)
def test_greek_letters_normalise_to_their_names(a: str, b: str) -> None:
    assert norm_key(a) == norm_key(b)


def test_greek_letters_stay_apart_and_german_words_keep_their_sharp_s() -> None:
    assert norm_key("TNF-α") != norm_key("TNF-β")
    assert norm_key("Straße") == "straße"  # ß stands for beta only as a word of its own


def test_a_greek_letter_agrees_only_with_itself() -> None:
    # "IFN-gammaR" (the receptor) spells close to "IFN-gamma": a designator, never fuzzy
    assert not same_concept_words(norm_key("IFN-gamma"), norm_key("IFN-gammaR"))
    # other words still agree by spelling
    assert same_concept_words(norm_key("Arachnodactily"), norm_key("Arachnodactyly"))


# -- the fuzzy guard: negating prefixes, fillers that head a phrase ---------------------


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("caseating granulomas", "noncaseating granulomas"),
        ("calculous cholecystitis", "acalculous cholecystitis"),
        ("hyperphosphorylated tau", "dephosphorylated tau"),
        ("penile tumescence", "penile detumescence"),
        ("remyelination", "demyelination"),
        ("androgen sensitivity", "androgen insensitivity"),
    ],
)
def test_a_negating_prefix_keeps_words_apart(a: str, b: str) -> None:
    assert prefix_opposed(norm_key(a).split()[-1], norm_key(b).split()[-1]) or prefix_opposed(
        norm_key(a).split()[0], norm_key(b).split()[0]
    )
    assert not same_concept_words(norm_key(a), norm_key(b))


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("Arachnodactily", "Arachnodactyly"),  # a spelling slip
        ("dilation", "dilatation"),
        ("Nadalol", "Nadolol"),
        ("inflamation", "inflammation"),  # "in" starts both: no prefix between them
    ],
)
def test_spelling_variants_still_agree(a: str, b: str) -> None:
    assert not prefix_opposed(norm_key(a), norm_key(b))
    assert same_concept_words(norm_key(a), norm_key(b))


def test_a_filler_that_heads_its_phrase_counts() -> None:
    # "disorder of lysosomal enzymes" is a disease, "lysosomal enzymes" are enzymes
    assert content_tokens(norm_key("disorder of lysosomal enzymes")) == [
        "disorder",
        "lysosomal",
        "enzyme",
    ]
    assert not same_concept_words(
        norm_key("Lysosomal enzymes"), norm_key("disorder of lysosomal enzymes")
    )
    # a trailing filler still does not: androgen insensitivity [syndrome]
    assert same_concept_words(
        norm_key("Androgen insensitivity"), norm_key("Androgen insensitivity syndrome")
    )


def test_type_announces_a_designator_it_is_not_one() -> None:
    name = "Multiple Endocrine Neoplasia Type 2a"
    assert not adds_subtype(name, "Multiple endocrine neoplasia 2A")
    assert adds_subtype(name, "Multiple endocrine neoplasia")  # the designator is missing
    assert adds_subtype(name, "Multiple endocrine neoplasia 2B")
    assert adds_subtype("Ehlers-Danlos syndrome, type IV", "Ehlers-Danlos syndrome")


# -- word order ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("Hyperplasia of the adrenal cortex", "Adrenal cortex hyperplasia"),
        ("Deficiency of von Willebrand factor", "von Willebrand factor deficiency"),
        ("Carcinoma, squamous cell", "Squamous cell carcinoma"),
        ("Increase in serum ACTH", "Increased circulating ACTH level"),  # noun, measure words
        ("Low levels of parathyroid hormone in serum", "Decreased parathyroid hormone level"),
        ("Norovirus infection", "norovirus infectious disease"),  # MONDO's naming
        ("Advanced sleep phase disorder", "Advanced sleep phase syndrome"),
        ("Multiple endocrine neoplasia 2A", "Multiple endocrine neoplasia type 2A"),
    ],
)
def test_word_bag_matches_reordered_names(a: str, b: str) -> None:
    assert word_bag(norm_key(a)) is not None
    assert word_bag(norm_key(a)) == word_bag(norm_key(b))


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("Anemia without thrombocytopenia", "Thrombocytopenia without anemia"),
        ("Conversion of ornithine to citrulline", "Conversion of citrulline to ornithine"),
        ("Creatine kinase level", "Creatine kinase"),  # measure words go only with a direction
        ("Increased ACTH", "Decreased ACTH"),
        ("Lysosomal enzymes", "Lysosomal enzyme disorder"),
        ("Androgen insensitivity", "Androgen insensitivity syndrome"),  # no word is dropped
    ],
)
def test_word_bag_keeps_apart_what_differs(a: str, b: str) -> None:
    assert word_bag(norm_key(a)) != word_bag(norm_key(b))


def test_word_bag_needs_two_words_one_of_them_a_word() -> None:
    assert word_bag(norm_key("5")) is None
    assert word_bag(norm_key("Fever")) is None
    assert word_bag(norm_key("type 2")) is None


# -- rewordings ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("answer", "form"),
    [
        ("Oral acyclovir", "acyclovir"),
        ("Administer naloxone", "naloxone"),
        ("Propranolol therapy", "Propranolol"),
        ("Intravenous dexamethasone therapy", "dexamethasone"),
        ("Ketotifen eye drops", "Ketotifen"),
        ("Iron supplementation", "Iron"),
        ("0.9% saline IV", "0.9% saline"),
        ("Add a sulfonylurea", "sulfonylurea"),
    ],
)
def test_a_drug_is_read_out_of_its_wrapper(answer: str, form: str) -> None:
    assert (form, DRUGS) in answer_forms(answer)


def test_the_route_goes_last_and_the_salt_after_it() -> None:
    forms = [f for f, _ in answer_forms("Administration of oral contraceptives")]
    assert forms == ["oral contraceptives", "contraceptives"]  # oral contraceptives first
    assert ("Metoprolol", DRUGS) in answer_forms("Metoprolol succinate")
    assert ("ulipristal", DRUGS) in answer_forms("Administer ulipristal acetate")


@pytest.mark.parametrize(
    "answer",
    [
        "Magnesium citrate",  # an element: no drug of its own
        "Potassium acetate",
        "DHEA sulfate",  # sulfates name other molecules
        "Cerebroside sulfate",
        "Therapy",  # nothing left to name
        "Oral",
    ],
)
def test_no_salt_or_wrapper_is_stripped_to_leave_another_thing(answer: str) -> None:
    assert answer_forms(answer) == []


def test_procedure_and_gene_rewordings() -> None:
    assert ("fasciotomy", frozenset({"procedure"})) in answer_forms("Emergent fasciotomy")
    assert ("Echocardiography", frozenset({"procedure"})) in answer_forms("Echocardiogram")
    assert ("Abdominal radiography", frozenset({"procedure"})) in answer_forms("Abdominal x-ray")
    assert ("HFE", frozenset({"gene"})) in answer_forms("HFE gene")
    assert answer_forms("TSC1 gene on chromosome 9") == []


def test_a_short_form_inside_the_answer_is_dropped_only_after_its_words() -> None:
    assert ("Isolated gonadotropin-releasing hormone deficiency", None) in answer_forms(
        "Isolated gonadotropin-releasing hormone (GnRH) deficiency"
    )
    # "(rare)" abbreviates none of the words before it
    assert answer_forms("Cysts (rare) of the liver") == []


# -- normalisation: Latin and Greek plurals, words the KG writes as one -------------------


@pytest.mark.parametrize(
    ("plural", "singular"),
    [
        ("Corneal arci", "Corneal arcus"),
        ("Renal calculi", "Renal calculus"),
        ("Group D streptococci", "Group D streptococcus"),
        ("Esophageal varices", "Esophageal varix"),
        ("Multiple vertebrae", "Multiple vertebra"),
        ("Arthritides", "Arthritis"),
        ("Condylomata acuminata", "Condyloma acuminata"),
        ("Carotid stenoses", "Carotid stenosis"),
    ],
)
def test_latin_plurals_key_as_their_singular(plural: str, singular: str) -> None:
    assert norm_key(plural) == norm_key(singular)


@pytest.mark.parametrize(
    ("word", "other"),
    [
        ("Streptococcus pneumoniae", "Streptococcus pneumonia"),  # an epithet, no plural
        ("Escherichia coli", "Escherichia colus"),
        ("Doses", "Dosis"),  # an English plural
    ],
)
def test_latin_plural_rules_leave_other_words(word: str, other: str) -> None:
    assert norm_key(word) != norm_key(other)


def test_two_words_join_where_the_kg_writes_one() -> None:
    vocabulary = {"gallbladder", "membranoproliferative", "atypical", "glomerulonephritis"}
    assert joined_keys("gall bladder", vocabulary) == ["gallbladder"]
    assert joined_keys("membrano proliferative glomerulonephritis", vocabulary) == [
        "membranoproliferative glomerulonephritis"
    ]
    assert joined_keys("a typical", vocabulary) == []  # "a" is a word of its own
    assert joined_keys("gall stone", vocabulary) == []


# -- the linker ------------------------------------------------------------------------


def _kg() -> KnowledgeGraph:
    rows = [
        ("D:1", "Acyclovir", "drug"),
        ("D:2", "Epinephrine", "drug"),
        ("D:3", "Contraceptives, Oral", "pharmacologic_class", ["Oral Contraceptives"]),
        ("D:4", "Contraceptive Agents", "pharmacologic_class", ["Contraceptives"]),
        ("D:5", "Tumor Necrosis Factor-alpha", "drug"),
        ("D:6", "Interferon gamma Receptor", "drug", ["IFN-gammaR"]),
        ("P:1", "Ulcer", "phenotype"),
        ("P:2", "Adrenal cortex hyperplasia", "phenotype"),
        ("P:3", "Increased circulating ACTH level", "phenotype"),
        ("P:4", "Anemia with thrombocytopenia", "phenotype"),
        ("P:5", "Acute acalculous cholecystitis", "disease"),
        ("X:1", "Echocardiography", "procedure"),
        ("X:2", "Multiple Endocrine Neoplasia Type 2a", "disease"),
        ("G:1", "HFE", "gene"),
        ("A:1", "Gallbladder", "anatomy"),
        ("O:1", "Streptococcus Group B", "organism"),
    ]
    edges = [("D:1", "treats", "P:1"), ("P:2", "is_a", "P:3")]
    return kg_from_rows("rewording", rows, edges, exact_synonyms=True)


@pytest.fixture(scope="module")
def small(tmp_path_factory: pytest.TempPathFactory) -> Linker:
    return Linker(_kg(), LinkingConfig(), tmp_path_factory.mktemp("rewording-cache"))


@pytest.fixture
def no_fuzzy(small: Linker) -> Linker:
    """The small linker without TF-IDF candidates: on a KG this small they score word-order
    and spelling variants high, and the rules under test would never be reached."""
    exact = copy.copy(small)
    exact._fuzzy = lambda texts: [[] for _ in texts]  # type: ignore[method-assign]
    return exact


def _linked(linker: Linker, answer: str) -> tuple[str, str] | None:
    found = linker.link_answer(answer)
    return (found[0].name, found[0].method) if found else None


@pytest.mark.parametrize(
    ("answer", "name", "method"),
    [
        ("Oral acyclovir", "Acyclovir", "reworded"),
        ("Administration of oral contraceptives", "Contraceptives, Oral", "reworded"),
        ("Echocardiogram", "Echocardiography", "reworded"),
        ("HFE gene", "HFE", "reworded"),
        (
            "Multiple endocrine neoplasia (MEN) 2A",
            "Multiple Endocrine Neoplasia Type 2a",
            "reworded",
        ),
        ("Hyperplasia of the adrenal cortex", "Adrenal cortex hyperplasia", "word_order"),
        ("Increase in serum ACTH", "Increased circulating ACTH level", "word_order"),
        ("Tumor necrosis factor-α", "Tumor Necrosis Factor-alpha", "normalised"),
        ("Gall bladder", "Gallbladder", "joined"),
        ("Group B streptococci", "Streptococcus Group B", "word_order"),
    ],
)
def test_answers_link_through_rewordings(
    no_fuzzy: Linker, answer: str, name: str, method: str
) -> None:
    assert _linked(no_fuzzy, answer) == (name, method)
    if method != "normalised":
        assert no_fuzzy.link_answer(answer)[0].score < 0.97  # below a normalised alias match


@pytest.mark.parametrize(
    "answer",
    [
        "Oral ulcer",  # a route word before a finding: the rewording may name a drug only
        "Thrombocytopenia with anemia",  # another head: not "anemia with thrombocytopenia"
        "Decrease in serum ACTH",  # the other direction
        "hfe gene",  # a gene symbol links where written as one
        "Multiple endocrine neoplasia",  # no subtype: not type 2a
    ],
)
def test_rewordings_link_no_other_concept(small: Linker, no_fuzzy: Linker, answer: str) -> None:
    assert no_fuzzy.link_answer(answer) == []
    assert small.link_answer(answer) == []  # nor does a TF-IDF candidate


def test_fuzzy_candidates_keep_greek_letters_and_negating_prefixes(small: Linker) -> None:
    loose = copy.copy(small)
    loose.cfg = small.cfg.model_copy(update={"threshold": 0.5})
    assert "Interferon gamma Receptor" not in {e.name for e in loose.link_answer("IFN-gamma")}
    assert loose.link_answer("Acute calculous cholecystitis") == []


def test_options_reworded_onto_one_node_are_not_trusted(small: Linker) -> None:
    options = {"A": "IM epinephrine", "B": "IV epinephrine", "C": "Oral acyclovir"}
    linked = small.link_options(options)
    assert linked["A"] == [] and linked["B"] == []  # one drug, two routes: no discrimination
    assert [e.name for e in linked["C"]] == ["Acyclovir"]


def test_the_word_order_index_is_made_on_first_need(tmp_path: Path) -> None:
    linker = Linker(_kg(), LinkingConfig(), tmp_path)
    linker._fuzzy = lambda texts: [[] for _ in texts]  # type: ignore[method-assign]
    assert linker._bags is None  # nothing made for a linker that links no answer
    assert _linked(linker, "Hyperplasia of the adrenal cortex") == (
        "Adrenal cortex hyperplasia",
        "word_order",
    )
    assert linker._bags is not None


def test_a_short_name_a_source_wrote_in_lower_case_needs_capitals(tmp_path: Path) -> None:
    """MONDO lists "soft" and "soft syndrome" for a syndrome named by its features, and
    "chILD" for childhood interstitial lung disease: as ordinary words of a vignette ("a soft
    abdomen", "the child") they name nothing; written in capitals they name the syndrome."""
    soft_name = "Short stature-onychodysplasia-facial dysmorphism-hypotrichosis syndrome"
    rows = [
        ("D:soft", soft_name, "disease", ["soft", "soft syndrome"]),
        (
            "D:child",
            "Interstitial lung disease specific to childhood",
            "disease",
            ["chILD", "chILD syndrome"],
        ),  # fmt: skip
        # a one-word synonym that is a word of the name is no short form ("Lupus")
        ("D:lupus", "Systemic lupus erythematosus", "disease", ["lupus", "lupus syndrome"]),
        ("P:ab", "Abdominal distention", "phenotype"),
    ]
    edges = [("D:soft", "has_phenotype", "P:ab")]
    linker = Linker(kg_from_rows("short", rows, edges), LinkingConfig(), tmp_path)
    text = "The child has a soft, distended abdomen."
    assert "D:soft" not in {lk.kg_id for lk in linker.link_text(text)}
    assert "D:child" not in {lk.kg_id for lk in linker.link_text(text)}
    assert [lk.kg_id for lk in linker.link_text("He was diagnosed with SOFT syndrome.")] == [
        "D:soft"
    ]
    assert linker.link_answer("SOFT")[0].kg_id == "D:soft"
    assert linker.link_answer("lupus")[0].kg_id == "D:lupus"
