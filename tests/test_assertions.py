"""What the text asserts about a mention (kgsynth.linking.context): absent, family,
historical, hypothetical or present; scopes end at terminators and sentence ends; and the
linker sets each question link's assertion. Sentences are MedQA-style, written for these
tests.
"""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from kgsynth.config import LinkingConfig
from kgsynth.linking.context import CATEGORIES, RULES_FILE, ConText, Rules, load_rules
from kgsynth.linking.linker import Linker

pytestmark = pytest.mark.filterwarnings("ignore:.*W036:UserWarning")

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def ctx() -> ConText:
    return ConText()


def said(ctx: ConText, text: str, mention: str, nth: int = 0) -> str:
    """The assertion for the nth occurrence of `mention` in `text`."""
    start = -1
    for _ in range(nth + 1):
        start = text.index(mention, start + 1)
    return ctx.assertion(text, start, start + len(mention))


@pytest.mark.parametrize(
    ("text", "mention", "expected"),
    [
        # absent (negated)
        ("He denies abdominal pain.", "abdominal pain", "absent"),
        ("There is no spasticity.", "spasticity", "absent"),
        ("She has been without fever for a week.", "fever", "absent"),
        ("Stool is negative for occult blood.", "occult blood", "absent"),
        ("Examination shows absence of deep tendon reflexes.", "deep tendon reflexes", "absent"),
        ("He denies chest pain, palpitations, or shortness of breath.", "shortness", "absent"),
        ("Pneumonia was ruled out.", "Pneumonia", "absent"),
        ("Bowel sounds are absent.", "Bowel sounds", "absent"),
        ("She has profuse non-bloody diarrhea.", "bloody diarrhea", "absent"),  # one word
        # family
        ("His mother has type 2 diabetes mellitus.", "diabetes", "family"),
        ("There is a family history of colon cancer.", "colon cancer", "family"),
        ("Her father died of a myocardial infarction at 50.", "myocardial infarction", "family"),
        ("Breast cancer was diagnosed in her sister.", "Breast cancer", "family"),
        # another person than the patient counts as family (the closest category)
        ("She was exposed to a friend who was diagnosed with meningitis.", "meningitis", "family"),
        # historical
        ("She has a history of myocardial infarction.", "myocardial infarction", "historical"),
        ("He was previously treated for tuberculosis.", "tuberculosis", "historical"),
        ("She had pneumonia in the past.", "pneumonia", "historical"),
        ("He had a stroke 3 years ago.", "stroke", "historical"),
        ("Last summer, she had numbness of her right leg.", "numbness", "historical"),
        ("He had diarrhea and vomiting that subsided two days ago.", "diarrhea", "historical"),
        # hypothetical
        ("A chest x-ray is ordered to rule out pneumonia.", "pneumonia", "hypothetical"),
        ("She is at increased risk of osteoporosis.", "osteoporosis", "hypothetical"),
        ("He asks what to do if seizures recur.", "seizures", "hypothetical"),
        ("Which drug would have prevented this infection?", "infection", "hypothetical"),
        # present
        ("A 45-year-old man has fever and cough.", "fever", "present"),
        ("He reports fatigue.", "fatigue", "present"),
    ],
)
def test_each_assertion_kind(ctx: ConText, text: str, mention: str, expected: str) -> None:
    assert said(ctx, text, mention) == expected


@pytest.mark.parametrize(
    ("text", "mention", "expected"),
    [
        ("No fever but has a rash.", "rash", "present"),  # "but" ends the negation
        ("No fever but has a rash.", "fever", "absent"),
        ("He denies nausea; he has diarrhea.", "diarrhea", "present"),  # ";"
        ("She denies dysuria. Urinalysis shows hematuria.", "hematuria", "present"),  # sentence
        ("There is no cough, however wheezing is heard.", "wheezing", "present"),
        ("No jaundice, although the liver is enlarged.", "liver", "present"),
        ("There is no edema, and she has ascites.", "ascites", "present"),  # new subject
        ("He has no history of seizures which began today.", "seizures", "absent"),
        ("Her mother has lupus; she has a malar rash.", "malar rash", "present"),
        ("A 3-year-old boy is brought by his mother because of fever.", "fever", "present"),
        ("Her mother reports that she has had a cough.", "cough", "present"),
        ("She has a history of asthma and presents with chest pain.", "chest pain", "present"),
        ("Hemoptysis is not ruled out.", "Hemoptysis", "present"),  # pseudo-trigger
        ("Gram-negative rods are seen in the sputum.", "rods", "present"),
        ("There is no change in her seizures.", "seizures", "present"),
        ("Her cough did not improve with antibiotics.", "cough", "present"),
        ("She has a 2-week history of headache.", "headache", "present"),  # a duration
        ("He has a 3-day history of fever and chills.", "chills", "present"),
        ("She has non-bloody diarrhea and hepatomegaly.", "hepatomegaly", "present"),
        # a negated act of the patient's asserts nothing of the findings after it
        ("He did not see a physician and controlled the pain with painkillers.", "pain", "present"),
        ("She did not seek care for her worsening cough.", "cough", "present"),
        # a possessive is no new subject: the negation runs on through the list
        ("He denies swelling of his digits and fever.", "fever", "absent"),
        ("There is no redness of her eyelids or discharge.", "discharge", "absent"),
        # "brought by his mother with": the patient's complaint, not the mother's
        ("A boy is brought by his mother with swelling of his jaw.", "swelling", "present"),
    ],
)
def test_scope_ends_where_the_clause_ends(
    ctx: ConText, text: str, mention: str, expected: str
) -> None:
    assert said(ctx, text, mention) == expected


def test_priority_absent_over_family_and_history(ctx: ConText) -> None:
    assert said(ctx, "There is no family history of cancer.", "cancer") == "absent"
    assert said(ctx, "She has no history of seizures.", "seizures") == "absent"
    assert said(ctx, "Family history of stroke.", "stroke") == "family"  # not historical


@pytest.mark.parametrize(
    ("text", "mention", "expected"),
    [
        # a chronic disease listed in the history or dated by its diagnosis: present
        ("She has a history of asthma.", "asthma", "present"),
        ("Past medical history is significant for gout and obesity.", "gout", "present"),
        ("His medical history includes hypertension and a stroke.", "hypertension", "present"),
        ("He was diagnosed with psoriasis 9 years ago.", "psoriasis", "present"),
        ("She has a history of chronic hepatitis B infection.", "hepatitis B", "present"),
        # a past event in the same history: historical
        ("His medical history includes hypertension and a stroke.", "stroke", "historical"),
        ("Past medical history is notable for a wrist fracture.", "wrist fracture", "historical"),
        ("She has a history of deep venous thrombosis.", "deep venous thrombosis", "historical"),
        ("He had acute pancreatitis 2 years ago.", "acute pancreatitis", "historical"),
        # words that end the condition itself stay historical whatever it is
        ("He had eczema as a child.", "eczema", "historical"),
        ("She was previously treated for anemia.", "anemia", "historical"),
        # "previously healthy" and "in the past 3 weeks" are no past triggers
        ("A previously healthy boy has a rash.", "rash", "present"),
        ("She has had a weight loss in the past 3 weeks.", "weight loss", "present"),
        ("He has had night sweats in the past month.", "night sweats", "present"),
    ],
)
def test_history_of_a_chronic_disease_is_present_of_an_event_historical(
    ctx: ConText, text: str, mention: str, expected: str
) -> None:
    assert said(ctx, text, mention) == expected


def test_the_concept_name_tells_an_event(ctx: ConText) -> None:
    text = "He has a history of MI and gout."
    start = text.index("MI")
    spans = [(start, start + 2), (text.index("gout"), text.index("gout") + 4)]
    # the short form alone says nothing of an event; the linked concept's name does
    assert ctx.assert_spans(text, spans) == ["present", "present"]
    names = ["Myocardial infarction", "Gout"]
    assert ctx.assert_spans(text, spans, names) == ["historical", "present"]


def test_record_scopes_name_their_trigger(ctx: ConText) -> None:
    (scope,) = ctx.scopes("She has a history of asthma.")
    assert (scope.category, scope.trigger, scope.record) == ("historical", "history of", True)
    (scope,) = ctx.scopes("She had measles as a child.")
    assert (scope.category, scope.record) == ("historical", False)


def test_a_relative_having_a_condition_is_family(ctx: ConText) -> None:
    text = "Family history is significant for her grandmother having lupus. She has a rash."
    assert said(ctx, text, "lupus") == "family"
    assert said(ctx, text, "rash") == "present"


def test_forward_scope_is_capped_in_words(ctx: ConText) -> None:
    rules = load_rules()
    far = "No " + " ".join(["x"] * rules.max_forward) + " fever."
    assert said(ctx, far, "fever") == "present"
    near = "No " + " ".join(["x"] * (rules.max_forward - 1)) + " fever."
    assert said(ctx, near, "fever") == "absent"


def test_a_list_trigger_keeps_its_scope_through_a_long_list(ctx: ConText) -> None:
    # MedQA-style: the last items of a denied list are 19 words after "denies"
    text = (
        "He denies joint swelling, color changes in his digits, dryness of mucous membranes, "
        "and constitutional symptoms such as fever and chills. He has a rash."
    )
    assert said(ctx, text, "fever") == "absent"
    assert said(ctx, text, "chills") == "absent"
    assert said(ctx, text, "rash") == "present"  # the sentence end still ends it
    rules = load_rules()
    assert rules.max_list > rules.max_forward
    far = "He denies " + " ".join(["x"] * rules.max_list) + " fever."
    assert said(ctx, far, "fever") == "present"
    # a plain "no" keeps the shorter window
    plain = "No " + " ".join(["x"] * rules.max_forward) + " fever."
    assert said(ctx, plain, "fever") == "present"


def test_trigger_inside_the_mention_does_not_count(ctx: ConText) -> None:
    text = "Absent speech was noted."
    assert ctx.assertion(text, 0, len("Absent speech")) == "present"


def test_scopes_name_their_trigger(ctx: ConText) -> None:
    (scope,) = ctx.scopes("She denies weight loss.")
    assert (scope.category, scope.trigger, scope.direction) == ("absent", "denies", "forward")


def test_rules_file_lists_every_category_and_ships_with_the_package() -> None:
    data = tomllib.loads(RULES_FILE.read_text())
    assert sorted(data["priority"]) == sorted(CATEGORIES)
    for cat in CATEGORIES:
        assert data[cat]["forward"], cat
    pyproject = tomllib.loads((REPO / "pyproject.toml").read_text())
    assert "linking/*.toml" in pyproject["tool"]["setuptools"]["package-data"]["kgsynth"]


def test_rules_priority_must_name_the_categories() -> None:
    with pytest.raises(ValueError, match="priority"):
        Rules.from_toml('priority = ["absent"]\n[absent]\nforward = ["no"]\n')


# -- the linker sets assertions --------------------------------------------------------

VIGNETTE = (
    "A 34-year-old woman comes to the physician because of a 2-week history of headache. "
    "She denies fever or vomiting. Her mother has hypertension. She has a "
    "history of asthma. There is no hepatomegaly but splenomegaly is noted. An MRI of the "
    "brain is ordered to rule out stroke."
)


@pytest.fixture(scope="module")
def linker(hpo_kg, cache_dir: Path) -> Linker:
    return Linker(hpo_kg, LinkingConfig(), cache_dir)


def test_linker_sets_assertions_on_a_vignette(linker: Linker) -> None:
    got = {lk.name: lk.assertion for lk in linker.link_text(VIGNETTE)}
    assert got == {
        "Headache": "present",
        "Fever": "absent",
        "Vomiting": "absent",
        "Hypertension": "family",
        "Asthma": "present",  # a chronic disease in the history: the patient has it
        "Hepatomegaly": "absent",
        "Splenomegaly": "present",
        "Stroke": "hypothetical",
    }


def test_linker_reads_a_medical_history(linker: Linker) -> None:
    text = (
        "Her past medical history is significant for hypertension, gout and a myocardial "
        "infarction 2 years ago."
    )
    got = {lk.name: lk.assertion for lk in linker.link_text(text)}
    assert got == {
        "Hypertension": "present",
        "Gout": "present",
        "Myocardial infarction": "historical",
    }


def test_a_node_keeps_its_present_mention(linker: Linker) -> None:
    text = "She denied fever last week. Today she has fever and cough."
    (fever,) = [lk for lk in linker.link_text(text) if lk.name == "Fever"]
    assert fever.assertion == "present"
    assert fever.start == text.index("fever", text.index("Today"))


def test_at_the_cap_present_findings_come_first(linker: Linker, hpo_kg) -> None:
    cap = linker.cfg.max_entities
    text = VIGNETTE + " He has cough."  # one present finding more than the cap holds
    links = linker.link_text(text)
    assert len(links) == cap
    assert "Cough" in {lk.name for lk in links}


def test_answers_and_options_are_present(linker: Linker) -> None:
    (link,) = linker.link_answer("Fever")  # an answer names a concept, asserted as is
    assert link.assertion == "present"
