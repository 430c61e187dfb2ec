"""The linker's shortcuts give what the slower ways they replace gave: dict matching equals
spaCy's PhraseMatcher + filter_spans, the vocabulary filter never drops a fuzzy candidate that
the word guard would keep, the bit-parallel LCS is exact, a text without "(" has no
abbreviation for scispaCy either, and the cached alias frame equals a fresh one; spaCy is
imported without thinc's torch bridge.
(The full MedQA digest, tests/test_build_flow.py, checks all of it end to end.)
"""

from __future__ import annotations

import copy
import json
import os
import random
import subprocess
import sys
from pathlib import Path

import pytest
import spacy
from hypothesis import given, settings
from hypothesis import strategies as st
from kg_rows import kg_from_rows
from spacy.matcher import PhraseMatcher
from spacy.tokens import Doc
from spacy.vocab import Vocab

from kgsynth.config import LinkingConfig
from kgsynth.kg import KnowledgeGraph
from kgsynth.linking.kb import alias_frame, cached_alias_frame
from kgsynth.linking.linker import Linker, ParsedText, longest_spans
from kgsynth.linking.normalise import (
    KeyVocabulary,
    content_tokens,
    lcs_length,
    norm_key,
    same_concept_words,
)

pytestmark = pytest.mark.filterwarnings("ignore:.*W036:UserWarning")


def _kg() -> KnowledgeGraph:
    rows = [
        ("HP:1", "Arachnodactyly", "phenotype", ["Spider fingers"]),
        ("HP:2", "Ectopia lentis", "phenotype", ["Lens dislocation"]),
        ("HP:3", "Seizure", "phenotype", ["Seizures", "Epileptic seizure"]),
        ("HP:4", "Tonic-clonic seizure", "phenotype", ["Generalized tonic-clonic seizure"]),
        ("HP:5", "Hypertrophic cardiomyopathy", "phenotype", ["HCM"]),
        ("HP:6", "Decreased serum potassium", "phenotype", ["Hypokalemia"]),
        ("OMIM:1", "Marfan syndrome", "disease", []),
    ]
    edges = [("OMIM:1", "has_phenotype", "HP:1"), ("OMIM:1", "has_phenotype", "HP:2")]
    return kg_from_rows("speed", rows, edges, exact_synonyms=True)


@pytest.fixture(scope="module")
def small_linker(tmp_path_factory: pytest.TempPathFactory) -> Linker:
    return Linker(_kg(), LinkingConfig(), tmp_path_factory.mktemp("speed-cache"))


# -- matching ---------------------------------------------------------------------------------


_DOC = Doc(Vocab(), words=["w"] * 20)


@settings(deadline=None)
@given(st.lists(st.tuples(st.integers(0, 12), st.integers(1, 5)), max_size=12))
def test_longest_spans_equals_spacy_filter_spans(raw: list[tuple[int, int]]) -> None:
    spans = sorted({(s, s + n) for s, n in raw})
    doc = _DOC
    want = [(sp.start, sp.end) for sp in spacy.util.filter_spans([doc[s:e] for s, e in spans])]
    assert longest_spans(spans) == want


def test_key_spans_equal_the_phrase_matcher(small_linker: Linker) -> None:
    nlp = small_linker.nlp
    matcher = PhraseMatcher(nlp.vocab, attr="ORTH")
    matcher.add("KG", [Doc(nlp.vocab, words=k.split()) for k in small_linker._by_key])
    texts = [
        "Generalized tonic-clonic seizures and a seizure, spider fingers, ectopia lentis.",
        "Marfan syndrome: lens dislocation with epileptic seizure after seizure",
        "hypokalemia; decreased serum potassium; HCM; hypertrophic cardiomyopathy",
        "",
        "seizure seizure tonic clonic seizure generalized tonic clonic seizure",
    ]
    for text in texts:
        words = [norm_key(t) or t.lower() for t in text.replace(",", " ").split()]
        words = [w for w in words if w]
        got = sorted(small_linker._key_spans(words))
        if not words:
            assert got == []
            continue
        doc = Doc(nlp.vocab, words=words)
        assert got == sorted((s, e) for _, s, e in matcher(doc))


# -- the fuzzy lookup's vocabulary filter ------------------------------------------------------

_WORDS = [
    "seizure",
    "seizur",
    "siezure",
    "tonic",
    "clonic",
    "lentis",
    "lentils",
    "ectopia",
    "ectopic",
    "potassium",
    "potasium",
    "decreased",
    "increased",
    "serum",
    "syndrome",
    "marfan",
    "marfans",
    "spider",
    "finger",
    "fingers",
    "hypokalemia",
    "hyperkalemia",
    "of",
    "the",
    "a1",
    "b12",
]


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.lists(st.sampled_from(_WORDS), min_size=1, max_size=3), min_size=1, max_size=25),
    st.lists(st.sampled_from(_WORDS), min_size=0, max_size=4),
)
def test_vocabulary_filter_never_drops_a_passing_key(
    keys: list[list[str]], mention: list[str]
) -> None:
    key_texts = [" ".join(k) for k in keys]
    mention_key = " ".join(mention)
    if not KeyVocabulary(key_texts).may_match(mention_key):
        assert not any(same_concept_words(mention_key, k) for k in key_texts)


def test_vocabulary_filter_keeps_a_near_spelling_and_drops_a_stranger() -> None:
    vocab = KeyVocabulary(["decreased serum potassium", "ectopia lentis", "seizure"])
    assert vocab.may_match("siezure")  # a spelling slip of a vocabulary word
    assert vocab.may_match("ectopia lenti")
    assert not vocab.may_match("metformin")  # no word of the vocabulary is near it
    assert not vocab.may_match("seizure lentis")  # no key has both words
    assert not vocab.may_match("the of")  # no content word


def test_lcs_length_is_exact() -> None:
    rng = random.Random(7)

    def dp(a: str, b: str) -> int:
        row = [0] * (len(b) + 1)
        for ca in a:
            prev = 0
            for j, cb in enumerate(b):
                cur = row[j + 1]
                row[j + 1] = prev + 1 if ca == cb else max(row[j + 1], row[j])
                prev = cur
        return row[-1]

    for _ in range(2000):
        a = "".join(rng.choice("abcd") for _ in range(rng.randint(1, 12)))
        b = "".join(rng.choice("abcd") for _ in range(rng.randint(0, 12)))
        masks: dict[str, int] = {}
        for i, c in enumerate(a):
            masks[c] = masks.get(c, 0) | (1 << i)
        assert lcs_length(masks, len(a), b) == dp(a, b)


def test_fuzzy_results_are_cached_per_text(small_linker: Linker) -> None:
    calls: list[list[str]] = []
    real = small_linker._guarded

    def spy(texts: list[str]) -> list:
        calls.append(list(texts))
        return real(texts)

    small_linker._fuzzy_cache.clear()
    small_linker._guarded = spy  # type: ignore[method-assign]
    try:
        first = small_linker._fuzzy(["Arachnodactily", "metformin", "Arachnodactily"])
        again = small_linker._fuzzy(["Arachnodactily"])
    finally:
        del small_linker._guarded
    assert calls == [["Arachnodactily"]]  # once, and never for a text no key could pass
    assert first[0] == first[2] == again[0] and first[1] == []
    assert [c.idx for c in first[0]] == [small_linker.kg.index_of("HP:1")]


# -- one parse per question ------------------------------------------------------------------


def test_a_text_without_parenthesis_has_no_abbreviation(small_linker: Linker) -> None:
    texts = [
        "She has HCM, hypertrophic cardiomyopathy, and ALS.",
        "Hypertrophic cardiomyopathy [HCM] was found.",
        "HCM - hypertrophic cardiomyopathy) noted",
    ]
    for text in texts:
        assert small_linker.nlp(text)._.abbreviations == []  # what the skip relies on
        assert small_linker.parse(text) == ParsedText([], [])
    text = "She has hypertrophic cardiomyopathy (HCM); HCM runs in her family."
    parsed = small_linker.parse(text)
    assert [(s, lf) for s, lf, _, _ in parsed.abbreviations] == [
        ("HCM", "hypertrophic cardiomyopathy")
    ] * 2
    assert parsed.abbreviation_map() == small_linker.abbreviations(text)


# -- the alias frame on disk -----------------------------------------------------------------


def test_cached_alias_frame_equals_a_fresh_one(tmp_path: Path) -> None:
    kg = _kg()
    fresh = alias_frame(kg, exclude_ids=["HP:6"], exclude_subtrees=[])
    first = cached_alias_frame(kg, tmp_path, exclude_ids=["HP:6"], exclude_subtrees=[])
    (path,) = (tmp_path / "aliases").iterdir()
    stamp = path.stat().st_mtime_ns
    again = cached_alias_frame(kg, tmp_path, exclude_ids=["HP:6"], exclude_subtrees=[])
    assert first.equals(fresh) and again.equals(fresh) and again.schema == fresh.schema
    assert path.stat().st_mtime_ns == stamp  # read, not rewritten
    other = cached_alias_frame(kg, tmp_path, exclude_ids=[], exclude_subtrees=[])
    assert other.equals(alias_frame(kg, exclude_ids=[], exclude_subtrees=[]))
    assert len(list((tmp_path / "aliases").iterdir())) == 2  # other arguments, other file
    assert not [p for p in (tmp_path / "aliases").iterdir() if p.name.startswith(".")]


def test_vocabulary_counts_content_words_as_the_guard_does() -> None:
    key = "decreased serum potassium level"  # "serum" and "level" are filler
    vocab = KeyVocabulary([key])
    assert content_tokens(key) == ["decreased", "potassium"]
    assert vocab.may_match("potassium decreased")  # the guard allows another order
    assert not vocab.may_match("decreased potassium chloride")  # three words, the key two


def test_fuzzy_cache_is_per_threshold(small_linker: Linker) -> None:
    # a copy with another threshold shares the cache dict: the threshold is in its key
    strict = copy.copy(small_linker)
    strict.cfg = small_linker.cfg.model_copy(update={"threshold": 0.95})
    assert small_linker._fuzzy(["Arachnodactily"])[0]  # ~0.89 >= 0.85
    assert strict._fuzzy(["Arachnodactily"]) == [[]]
    assert small_linker._fuzzy(["Arachnodactily"])[0]


def _import_report(env: dict[str, str]) -> dict[str, object]:
    code = (
        "import json, sys, time; t = time.perf_counter();"
        "from kgsynth.linking.linker import Linker;"
        "nlp = Linker._make_nlp(None); import thinc.compat;"
        "seen = 'torch' in sys.modules; has = thinc.compat.has_torch;"
        "doc = nlp('Chronic lymphocytic leukemia (CLL) is common.');"
        "import torch; real = bool(torch.zeros(2).sum() == 0);"
        "print(json.dumps({'torch_at_link': seen, 'thinc_torch': has, 'real_torch_later': real,"
        "'abbreviations': [a.text for a in doc._.abbreviations]}))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_linking_imports_spacy_without_torch_and_torch_still_works_later():
    pytest.importorskip("torch")  # the verifier's extra; without it there is nothing to hide
    env = {k: v for k, v in os.environ.items() if k != "KGSYNTH_SPACY_TORCH"}
    got = _import_report(env)
    assert got == {
        "torch_at_link": False,  # thinc did not import it (2.4 s of every linking process)
        "thinc_torch": False,
        "real_torch_later": True,  # imported afterwards, it is the real module
        "abbreviations": ["CLL"],  # and the pipeline still parses
    }
    # a NER model that needs torch: the switch imports spaCy as usual
    assert _import_report(env | {"KGSYNTH_SPACY_TORCH": "1"})["thinc_torch"] is True
