"""Entity linking: KG names and synonyms found in text, ranked with scispaCy.

Mentions come from the normalised KG aliases (matched word by word, as a spaCy PhraseMatcher
would), from abbreviations (scispaCy's AbbreviationDetector maps a short form to its long
form), and, when a user has one installed, from a scispaCy NER model. scispaCy's
CandidateGenerator, over kgsynth's own alias index, scores mentions that are not exact alias
matches. Precision comes first: fuzzy candidates must also agree word by word (see
`same_concept_words`), never across polarity ("normal"/"abnormal", "hyper"/"hypo"); a name
that adds a subtype mark the text lacks ("..., autosomal dominant, 1") is no candidate
(`adds_subtype`); a mention that only modifies the next word ("immunodeficiency virus", "CD4
count") links to nothing; gene symbols link only where written as a gene
(`Linker.gene_sense`), and short forms ("ODD", "ALS") only where written in capitals
(`written_in_capitals`); a mention is whole words, never a piece of a hyphenated word
(`glued`: "clonic seizure" in "tonic-clonic seizure"); a general word qualified by a body
part or a side takes its local sense ("weakness of the left arm" is muscle weakness, not
asthenia: qualifiers.toml). Loose synonyms never enter the alias table
(kgsynth.linking.kb.loose_synonym). Each question mention carries what the text asserts
about it (kgsynth.linking.context).
"""

from __future__ import annotations

import hashlib
import logging
import re
import tomllib
import warnings
from collections import Counter
from collections.abc import Collection
from dataclasses import dataclass, replace
from functools import lru_cache
from pathlib import Path

from kgsynth.config import LinkingConfig
from kgsynth.errors import ConfigError
from kgsynth.kg.graph import KnowledgeGraph
from kgsynth.linking.context import ConText
from kgsynth.linking.index import index_dir, load_candidate_generator
from kgsynth.linking.kb import cached_alias_frame, is_acronym, scispacy_kb
from kgsynth.linking.normalise import (
    KeyVocabulary,
    adds_subtype,
    answer_forms,
    joined_keys,
    keys_opposed,
    norm_key,
    norm_token,
    raw_tokens,
    same_concept_words,
    word_bag,
)

# spaCy through kgsynth's import (thinc without torch); the detector registers its factory
from kgsynth.linking.scispacy_import import AbbreviationDetector, spacy  # noqa: F401
from kgsynth.records import EntityLink, LinkedQA, QARecord

log = logging.getLogger(__name__)

# scispaCy's AbbreviationDetector warns on every text when its global matcher has no rules.
warnings.filterwarnings("ignore", message=r"\[W036\]", category=UserWarning)
_TRAILING_PAREN = re.compile(r"\s*\([^()]{1,15}\)$")
EXACT_SCORE = 1.0
NORMALISED_SCORE = 0.97
REWORDED_SCORE = 0.9  # an answer linked by its word-order form or a rewording (link_answers)

# A mention directly followed by one of these words modifies it and means another thing:
# "human immunodeficiency virus", "electric shock sensation", "flu-like", "CD4 count".
# (The longer phrase is no KG concept, else the matcher would have taken it.)
COMPOUND_HEADS = frozenset(
    {
        "virus",
        "viruses",
        "sensation",
        "sensations",
        "like",
        "count",
        "counts",
        "cell",
        "cells",
        "receptor",
        "receptors",
        "antibody",
        "antibodies",
        "antigen",
        "antigens",
        "titer",
        "titers",
        "titre",
        "vaccine",
        "vaccination",
        "toxoid",
        "toxin",
        "surface",
        "core",
        "serology",
        "load",
        "inhibitor",
        "inhibitors",
        "blocker",
        "blockers",
        "agonist",
        "agonists",
        "antagonist",
        "antagonists",
    }
)
# ... and after a gene symbol, words that make it a marker or a lab value, not the gene:
# "CD4 T cells", "PTH level", "CD19 positive", "AFP concentration"
GENE_NOT_GENE_HEADS = COMPOUND_HEADS | {
    "t",
    "b",
    "lymphocyte",
    "lymphocytes",
    "level",
    "levels",
    "concentration",
    "concentrations",
    "positive",
    "negative",
    "ratio",
    "value",
    "values",
    "test",
    "testing",
    "assay",
}
_NEXT_WORD = re.compile(r"[\s\-–]*([^\W_]+)")
# a one-character subtype between the mention and its head: "Hepatitis B| surface antigen"
_SUBTYPE_THEN_WORD = re.compile(r"[\s\-–]*[^\W_][\s\-–]+([^\W_]+)")
_SIGN_AFTER = re.compile(r"(?:[+⁺]|[-−⁻](?![^\W\d_]))")  # CD4+, CD8-, not CFTR-related
_NUMBER_AFTER = re.compile(r"\s*[:=]?\s*[<>≤≥~]?\s*\d")  # "AFP 350 ng/mL", "PTH: 8"
_NUMBER_BEFORE = re.compile(r"\d\s*$")  # "250 CD4"
_HYPHENS = "-\u2010\u2011\u2013"  # hyphen-minus, hyphen, non-breaking hyphen, en dash
_JOINING = re.compile(r"[\s\-\u2010\u2011\u2013]*")  # what may stand between joined words
_FUZZY_CACHE = 1 << 16  # mention texts whose fuzzy candidates a linker keeps
QUALIFIERS_FILE = Path(__file__).with_name("qualifiers.toml")


def glued(text: str, start: int, end: int) -> bool:
    """True when text[start:end] starts or ends inside a hyphenated word, where a hyphen
    glues it to the word before or after: "clonic seizure" in "tonic-clonic seizure",
    "Hodgkin lymphoma" in "non-Hodgkin lymphoma", "seizure" in "seizure-like". Such a
    fragment names another thing than the compound; a mention is whole words only."""
    before = start >= 2 and text[start - 1] in _HYPHENS and text[start - 2].isalnum()
    after = end + 1 < len(text) and text[end] in _HYPHENS and text[end + 1].isalnum()
    return before or after


# a number that belongs to a quantity after it, not to the name before it
_UNIT_AFTER = re.compile(
    r"\s*(?:years?|months?|weeks?|days?|hours?|minutes?|times?|mg|g|kg|ml|mL|cm|mm|%)\b"
)
# one capital letter after a name makes another thing: "hepatitis B", "influenza A"
_LETTER_AFTER = re.compile(r" [A-Z](?![\w'’-])")


def split_off(text: str, start: int, end: int) -> bool:
    """True when text[start:end] is not what the text names there: a name ending in a number
    whose number is a quantity ("schizophrenia 4" in "schizophrenia 4 years ago"), or a name
    that a designating letter turns into another concept ("Hepatitis" in "Hepatitis B")."""
    mention = text[start:end]
    if mention[-1:].isdigit() and _UNIT_AFTER.match(text, end):
        return True
    return bool(_LETTER_AFTER.match(text, end))


def written_in_capitals(text: str) -> bool:
    """Whether a mention is written as a short form: no lower-case letter, a plural "s"
    aside ("ODD", "ODDs"; not "odd" or "Odd")."""
    t = text.strip()
    if len(t) > 2 and t.endswith("s"):
        t = t[:-1]
    return any(c.isalpha() for c in t) and not any(c.islower() for c in t)


def longest_spans(spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """spacy.util.filter_spans over (start, end) pairs: of overlapping spans the (first)
    longest stays; in start order."""
    kept: list[tuple[int, int]] = []
    seen: set[int] = set()
    for s, e in sorted(spans, key=lambda x: (x[1] - x[0], -x[0]), reverse=True):
        if s not in seen and e - 1 not in seen:
            kept.append((s, e))
            seen.update(range(s, e))
    return sorted(kept)


def _phrase_key(phrase: str) -> tuple[str, ...]:
    return tuple(norm_key(phrase).split())


@dataclass(frozen=True)
class Qualifiers:
    """General words whose sense changes when a side or a body part qualifies them (the
    rules and their reasons are in qualifiers.toml)."""

    words: dict[str, dict[str, object]]  # normalised word -> fallback, templates, side
    parts: dict[tuple[str, ...], str]  # normalised part -> its name in templates
    sides: frozenset[tuple[str, ...]]
    skip: frozenset[str]
    prepositions: frozenset[str]
    longest: int  # words in the longest part or side phrase
    vocabulary: frozenset[str]  # every word of a part or side phrase

    @classmethod
    def from_toml(cls, text: str) -> Qualifiers:
        data = tomllib.loads(text)
        q = data.get("qualifiers", {})
        parts = {_phrase_key(k): v for k, v in q.get("parts", {}).items()}
        sides = frozenset(_phrase_key(s) for s in q.get("sides", []))
        return cls(
            words={norm_key(w): dict(v) for w, v in data.get("words", {}).items()},
            parts=parts,
            sides=sides,
            skip=frozenset(norm_key(w) for w in q.get("skip", [])),
            prepositions=frozenset(norm_key(w) for w in q.get("prepositions", [])),
            longest=max((len(k) for k in [*parts, *sides]), default=1),
            vocabulary=frozenset(w for k in [*parts, *sides] for w in k),
        )


@lru_cache(maxsize=4)
def load_qualifiers(path: Path = QUALIFIERS_FILE) -> Qualifiers:
    return Qualifiers.from_toml(path.read_text(encoding="utf-8"))


@dataclass(frozen=True)
class ParsedText:
    """What the spaCy pipeline finds in a text: abbreviations (short form, long form, start,
    end of the short form) and, with a NER model, entity mentions (text, start, end)."""

    abbreviations: list[tuple[str, str, int, int]]
    ents: list[tuple[str, int, int]]

    def abbreviation_map(self) -> dict[str, str]:
        return {short: long for short, long, _, _ in self.abbreviations}


@dataclass(frozen=True)
class _Candidate:
    idx: int
    score: float
    method: str
    is_name: bool


class Linker:
    def __init__(self, kg: KnowledgeGraph, cfg: LinkingConfig, cache_dir: Path) -> None:
        self.kg = kg
        self.cfg = cfg
        aliases = cached_alias_frame(
            kg, cache_dir, exclude_ids=cfg.exclude_ids, exclude_subtrees=cfg.exclude_subtrees
        )
        self.aliases = aliases
        # key -> [(node idx, is_name, acronym)] in frame order: exact lookups after
        # normalisation (grouped in Python: polars' list columns convert slowly)
        self._by_key: dict[str, list[tuple[int, bool, bool]]] = {}
        for k, i, n, a in zip(
            aliases["key"].to_list(),
            aliases["idx"].to_list(),
            aliases["is_name"].to_list(),
            aliases["acronym"].to_list(),
            strict=True,
        ):
            self._by_key.setdefault(k, []).append((i, n, a))
        self._key_of_alias: dict[str, str] = dict(
            zip(aliases["alias"].to_list(), aliases["key"].to_list(), strict=False)
        )
        self._by_id = {kg.ids[i]: i for i in set(aliases["idx"].to_list())}
        self.nlp = self._make_nlp(cfg.ner_model)
        # first word of a key -> the word counts of the keys it starts, longest first: text is
        # matched against the keys by dict lookups (a spaCy PhraseMatcher finds the same
        # spans, but building its one Doc per key took seconds per process)
        lengths: dict[str, set[int]] = {}
        for k in self._by_key:
            words = k.split()
            lengths.setdefault(words[0], set()).add(len(words))
        self._key_lengths = {w: tuple(sorted(ns, reverse=True)) for w, ns in lengths.items()}
        self._vocabulary: KeyVocabulary | None = None  # made on the first fuzzy lookup
        self._bags: dict[str, list[str]] | None = None  # word_bag -> keys; made when needed
        self._words: frozenset[str] | None = None  # words of the alias keys; made when needed
        # (threshold, mention text) -> its guarded fuzzy candidates: options and
        # abbreviations recur across rows, and each lookup costs a TF-IDF transform and an
        # HNSW query (the threshold is in the key: a copy with another config shares this)
        self._fuzzy_cache: dict[tuple[float, str], tuple[_Candidate, ...]] = {}
        alias_list = sorted(set(aliases["alias"].to_list()))
        alias_hash = hashlib.sha256("\n".join(alias_list).encode()).hexdigest()
        kb = scispacy_kb(kg, aliases)
        self.candidates, self.index_cached = load_candidate_generator(
            alias_list, kb, index_dir(cache_dir, kg.hash, alias_hash)
        )
        self._degree = kg.degree
        self.context = ConText()
        self.qualifiers = load_qualifiers()

    @staticmethod
    def _make_nlp(ner_model: str | None) -> spacy.language.Language:
        if ner_model:
            try:
                nlp = spacy.load(ner_model)
            except OSError as e:
                raise ConfigError(
                    f"linking.ner_model: spaCy model '{ner_model}' is not installed "
                    f"(install it, e.g. a scispaCy en_core_sci_* package, or drop --ner-model)"
                ) from e
        else:
            nlp = spacy.blank("en")
        nlp.add_pipe("abbreviation_detector")
        return nlp

    # -- candidates --------------------------------------------------------------------
    def _exact(self, text: str, key: str | None = None) -> list[_Candidate]:
        key = norm_key(text) if key is None else key
        out = []
        for idx, is_name, acronym in self._by_key.get(key, []):
            if self.kg.types[idx] == "gene" and self.kg.names[idx] not in text:
                continue  # gene symbols are case-sensitive: "CAT" the gene, not "cat"
            if acronym and not written_in_capitals(text):
                continue  # so are short forms: "ODD" the disorder, not an "odd" smell
            if adds_subtype(self.kg.names[idx], text):
                continue  # "coronary artery disease" is no "..., autosomal dominant, 1"
            alias_exact = text.strip().lower() == self.kg.names[idx].lower()
            score = EXACT_SCORE if alias_exact else NORMALISED_SCORE
            out.append(_Candidate(idx, score, "exact" if alias_exact else "normalised", is_name))
        return out

    def _fuzzy(self, texts: list[str]) -> list[list[_Candidate]]:
        """scispaCy CandidateGenerator hits that pass the threshold and the word guard; one
        query for the texts not seen before, none for a text that no alias key could pass
        the word guard for (`KeyVocabulary.may_match`)."""
        cache, at = self._fuzzy_cache, self.cfg.threshold
        # read into a local dict: another thread may clear the cache meanwhile
        found = {t: cache.get((at, t)) for t in dict.fromkeys(texts)}
        todo = [t for t, hit in found.items() if hit is None]
        if todo:
            if self._vocabulary is None:
                self._vocabulary = KeyVocabulary(self._by_key)
            ask = [t for t in todo if self._vocabulary.may_match(norm_key(t))]
            found.update(dict.fromkeys(todo, ()))
            if ask:
                for text, cands in zip(ask, self._guarded(ask), strict=True):
                    found[text] = tuple(cands)
            if len(cache) + len(todo) > _FUZZY_CACHE:
                cache.clear()  # bounded: a long-lived process links many texts
            cache.update({(at, t): found[t] for t in todo})
        return [list(found[t] or ()) for t in texts]

    def _guarded(self, texts: list[str]) -> list[list[_Candidate]]:
        results: list[list[_Candidate]] = []
        for text, cands in zip(texts, self.candidates(texts, k=30), strict=True):
            key = norm_key(text)
            found: list[_Candidate] = []
            for cand in cands:
                idx = self._by_id.get(cand.concept_id)
                if idx is None:
                    continue
                if self.kg.types[idx] == "gene" and self.kg.names[idx] not in text:
                    continue  # same case rule as _exact: "cat" is not the gene CAT
                if adds_subtype(self.kg.names[idx], text):
                    continue
                best = 0.0
                for alias, sim in zip(cand.aliases, cand.similarities, strict=True):
                    if is_acronym(alias) and not written_in_capitals(text):
                        continue
                    if sim >= self.cfg.threshold and same_concept_words(
                        key, self._key_of_alias.get(alias, norm_key(alias))
                    ):
                        best = max(best, float(sim))
                if best > 0:
                    found.append(
                        _Candidate(idx, min(best, NORMALISED_SCORE - 0.01), "tfidf", False)
                    )
            results.append(found)
        return results

    def _best(self, cands: list[_Candidate]) -> _Candidate | None:
        if not cands:
            return None
        # highest score; a name beats a synonym; a well-annotated node beats a sparse one
        return max(cands, key=lambda c: (c.score, c.is_name, int(self._degree[c.idx]), -c.idx))

    def _link(
        self, c: _Candidate, mention: str, start: int, end: int, method: str = ""
    ) -> EntityLink:
        kg = self.kg
        return EntityLink(
            kg_id=kg.ids[c.idx],
            name=kg.names[c.idx],
            type=kg.types[c.idx],
            mention=mention,
            start=start,
            end=end,
            score=round(c.score, 4),
            method=method or c.method,
        )

    # -- public ------------------------------------------------------------------------
    def abbreviations(self, text: str) -> dict[str, str]:
        """Short form -> long form, as scispaCy's AbbreviationDetector finds them."""
        return self.parse(text).abbreviation_map()

    def parse(self, text: str) -> ParsedText:
        """Abbreviations (scispaCy's AbbreviationDetector) and NER mentions in `text`."""
        if self.cfg.ner_model is None and "(" not in text:
            # the detector's only pattern is "( ... )": with no "(" and no NER model the
            # parse would find nothing (half of MedQA's questions hold no parenthesis)
            return ParsedText([], [])
        doc = self.nlp(text)
        return ParsedText(
            [(a.text, a._.long_form.text, a.start_char, a.end_char) for a in doc._.abbreviations],
            [(e.text, e.start_char, e.end_char) for e in getattr(doc, "ents", ())],
        )

    def modifies_next_word(
        self, text: str, end: int, heads: frozenset[str] = COMPOUND_HEADS
    ) -> bool:
        """True when the word right after `end` (or after a one-character subtype) makes the
        mention a modifier of another thing ("immunodeficiency| virus", "shock| sensation",
        "seizure|-like", "hepatitis| B surface antigen")."""
        for pattern in (_NEXT_WORD, _SUBTYPE_THEN_WORD):
            m = pattern.match(text, end)
            if m is not None and m.group(1).lower() in heads:
                return True
        return False

    def gene_sense(
        self, idx: int, text: str, start: int, end: int, abbreviations: dict[str, str]
    ) -> bool:
        """Whether a gene symbol at text[start:end] is written as a gene: not a cell marker
        ("CD4+", "CD4 count", "CD4 T cells"), not a lab value ("AFP 350 ng/mL", "PTH level",
        "250 CD4"), and not an abbreviation the text defines as something else ("number
        needed to treat (NNT)")."""
        if _SIGN_AFTER.match(text, end) or _NUMBER_AFTER.match(text, end):
            return False
        if _NUMBER_BEFORE.search(text, 0, start):
            return False
        if self.modifies_next_word(text, end, GENE_NOT_GENE_HEADS):
            return False
        long_form = abbreviations.get(text[start:end])
        if long_form is not None:
            return any(i == idx for i, _, _ in self._by_key.get(norm_key(long_form), []))
        return True

    def _in_context(
        self,
        cands: list[_Candidate],
        text: str,
        start: int,
        end: int,
        abbreviations: dict[str, str],
    ) -> list[_Candidate]:
        """Candidates that keep their sense at text[start:end] (see the module doc)."""
        if self.modifies_next_word(text, end):
            return []
        return [
            c
            for c in cands
            if self.kg.types[c.idx] != "gene"
            or self.gene_sense(c.idx, text, start, end, abbreviations)
        ]

    def _qualifier(
        self, text: str, toks: list[tuple[str, int, int]], first: int, stop: int
    ) -> tuple[str, tuple[str, ...], tuple[str, ...]] | None:
        """What qualifies the general word at toks[first:stop] (see qualifiers.toml):
        ("side", (), ()), ("part", part, words as written that end with it), or
        ("several", (), ()) for several parts; None when nothing does."""
        q = self.qualifiers
        norm = [norm_token(t) for t, _, _ in toks]

        def joined(a: int, b: int) -> bool:  # toks[a] and toks[b] (b = a + 1) are joined
            gap = text[toks[a][2] : toks[b][1]]
            return _JOINING.fullmatch(gap) is not None

        def phrase(key: tuple[str, ...]) -> str | None:
            return "side" if key in q.sides else "part" if key in q.parts else None

        # before: "<side|part> <word>"; "arm and leg weakness" names several parts
        for n in range(min(q.longest, first), 0, -1):
            key = tuple(norm[first - n : first])
            kind = phrase(key)
            if kind is not None and all(joined(k, k + 1) for k in range(first - n, first)):
                if kind == "side":
                    return "side", (), ()
                j = first - n - 1  # the word before the part
                if j > 0 and norm[j] in ("and", "or") and joined(j, j + 1):
                    return "several", (), ()
                return "part", key, key
        # after: "<word> [and|or <one word>] <preposition> [<skip>...] <side|part> ..."
        i = stop
        if i + 1 < len(toks) and norm[i] in ("and", "or") and joined(i - 1, i):
            if joined(i, i + 1):
                i += 2
        if i >= len(toks) or norm[i] not in q.prepositions or not joined(i - 1, i):
            return None
        # the run of joined part words after it: "both lower extremities", "the arm and leg"
        run: list[str] = []
        i += 1
        while i < len(toks) and joined(i - 1, i) and len(run) < 8:
            if norm[i] in ("and", "or") and run:
                run.append(norm[i])
            elif norm[i] in q.skip:
                pass
            elif norm[i] in q.vocabulary:
                run.append(norm[i])
            else:
                break
            i += 1
        while run and run[-1] in ("and", "or"):
            run.pop()
        if any(w in ("and", "or") for w in run):  # "of the upper and lower extremities"
            return "several", (), ()
        # the longest part or side the run ends with: "left lower extremity" -> "lower
        # extremity" (a part word that names no part alone, "upper", qualifies nothing);
        # the whole run comes first, as written ("facial muscle")
        for n in range(len(run), 0, -1):
            kind = phrase(tuple(run[-n:]))
            if kind == "side":
                return "side", (), ()
            if kind == "part":
                return "part", tuple(run[-n:]), tuple(run)
        return None

    def _qualified(
        self, text: str, toks: list[tuple[str, int, int]], first: int, stop: int
    ) -> list[_Candidate] | None:
        """Candidates for a general word that a side or a body part qualifies ("weakness
        of the left arm" is muscle weakness, not asthenia); None when the word is no
        such word or nothing qualifies it."""
        rule = self.qualifiers.words.get(norm_key(text[toks[first][1] : toks[stop - 1][2]]))
        if rule is None:
            return None
        found = self._qualifier(text, toks, first, stop)
        if found is None:
            return None
        kind, part, written = found
        tries: list[str] = []
        if kind == "side" and rule.get("side"):
            tries.append(str(rule["side"]))
        if kind == "part":  # the part as written ("facial muscle"), then as HPO names it
            name = self.qualifiers.parts.get(part, "")
            for p in dict.fromkeys(p for p in (" ".join(written), name) if p):
                tries += [str(t).format(part=p) for t in rule.get("templates", [])]
        tries.append(str(rule["fallback"]))
        for alias in tries:
            hits = self._by_key.get(norm_key(alias), [])
            if hits:
                return [_Candidate(i, NORMALISED_SCORE, "qualified", n) for i, n, _ in hits]
        return []

    def _key_spans(self, words: list[str]) -> list[tuple[int, int]]:
        """Every (start, end) run of `words` that is an alias key, nested and overlapping
        ones included (what spaCy's PhraseMatcher returns)."""
        out: list[tuple[int, int]] = []
        n_words = len(words)
        for s, w in enumerate(words):
            for n in self._key_lengths.get(w, ()):
                if s + n <= n_words and " ".join(words[s : s + n]) in self._by_key:
                    out.append((s, s + n))
        return out

    def link_text(
        self, text: str, skip_types: Collection[str] = (), parsed: ParsedText | None = None
    ) -> list[EntityLink]:
        """All entity mentions in free text (a question), best first, at most max_entities;
        each with the assertion the text makes about it (present, absent, family, ...).
        Mentions of nodes of `skip_types` are left out before the cap. `parsed`: the text's
        `parse`, when the caller has it already."""
        toks = raw_tokens(text)
        links: list[EntityLink] = []
        covered: set[int] = set()
        if parsed is None:
            parsed = self.parse(text)
        abbrs = parsed.abbreviation_map()
        if toks:
            words = [norm_key(t) or t.lower() for t, _, _ in toks]
            # whole words only: no fragment of a hyphenated compound (before the longest
            # match is chosen, so "seizure" in "tonic-clonic seizure" may still link)
            # nor a name split off what follows it ("schizophrenia 4" + "years ago")
            matches = [
                (s, e)
                for s, e in self._key_spans(words)
                if not glued(text, toks[s][1], toks[e - 1][2])
                and not split_off(text, toks[s][1], toks[e - 1][2])
            ]
            for first, stop in longest_spans(matches):
                start, end = toks[first][1], toks[stop - 1][2]
                mention = text[start:end]
                cands = self._qualified(text, toks, first, stop)
                if cands is None:
                    cands = self._exact(mention)
                best = self._best(self._in_context(cands, text, start, end, abbrs))
                if best is not None:
                    links.append(self._link(best, mention, start, end))
                    covered.update(range(start, end))
        extra: list[tuple[str, int, int, str]] = []  # (lookup text, start, end, method)
        for _, long_form, s, e in parsed.abbreviations:
            if s not in covered and not glued(text, s, e):
                extra.append((long_form, s, e, "abbreviation"))
        for ent_text, s, e in parsed.ents:
            if s not in covered and not glued(text, s, e):
                extra.append((ent_text, s, e, "ner"))
        if extra:
            fuzzy = self._fuzzy([e[0] for e in extra])
            for (lookup, s, e, method), fz in zip(extra, fuzzy, strict=True):
                best = self._best(self._in_context(self._exact(lookup) + fz, text, s, e, abbrs))
                if best is not None and s not in covered:
                    links.append(self._link(best, text[s:e], s, e, f"{method}+{best.method}"))
                    covered.update(range(s, e))
        said = self.context.assert_spans(
            text, [(lk.start, lk.end) for lk in links], [lk.name for lk in links]
        )
        links = [lk.model_copy(update={"assertion": a}) for lk, a in zip(links, said, strict=True)]
        if skip_types:
            links = [lk for lk in links if lk.type not in skip_types]
        return self._top(links)

    def candidate_nodes(self, text: str, k: int = 10, floor: float = 0.7) -> list[EntityLink]:
        """Nodes a phrase may mean, best first, for an LLM to choose among: exact and
        normalised alias hits (exact ones score 1.0), then TF-IDF neighbours at similarity
        >= floor without the word guard (the chooser decides; "none" stays possible)."""
        cands = {c.idx: c for c in self._exact(text)}
        for cand in self.candidates([text], k=30)[0]:
            idx = self._by_id.get(cand.concept_id)
            if idx is None or idx in cands:
                continue
            if self.kg.types[idx] == "gene" and self.kg.names[idx] not in text:
                continue
            if keys_opposed(norm_key(text), norm_key(self.kg.names[idx])):
                continue  # never across polarity, at any similarity
            sim = max((float(s) for s in cand.similarities), default=0.0)
            if sim >= floor:
                cands[idx] = _Candidate(idx, min(sim, NORMALISED_SCORE - 0.01), "tfidf", False)
        ranked = sorted(cands.values(), key=lambda c: (-c.score, not c.is_name, c.idx))[:k]
        return [self._link(c, text, 0, len(text)) for c in ranked]

    def link_answer(
        self, answer: str, abbreviations: dict[str, str] | None = None
    ) -> list[EntityLink]:
        """The gold answer as a whole: exact/normalised alias, an abbreviation defined in the
        question, or a word-guarded TF-IDF candidate; else its word-order form or a rewording
        (`_reworded`). Never a fragment of the answer."""
        return self.link_answers([answer], abbreviations)[0]

    def link_answers(
        self, answers: list[str], abbreviations: dict[str, str] | None = None
    ) -> list[list[EntityLink]]:
        """`link_answer` over several texts, with one TF-IDF lookup for all of them."""
        prepared: list[tuple[str, list[str], str]] = []  # (text, variants, method prefix)
        for answer in answers:
            text = answer.strip().rstrip(".").strip()
            lookup = (abbreviations or {}).get(text, text)
            # "Chronic lymphocytic leukemia (CLL)": the trailing short form adds nothing
            variants = [lookup] if text else []
            bare = _TRAILING_PAREN.sub("", lookup).strip()
            if text and bare and bare != lookup:
                variants.append(bare)
            prepared.append((text, variants, "abbreviation+" if lookup != text else ""))
        best = [self._best([c for v in vs for c in self._exact(v)]) for _, vs, _ in prepared]
        need = [i for i, b in enumerate(best) if b is None and prepared[i][1]]
        fuzzy = self._fuzzy([v for i in need for v in prepared[i][1]]) if need else []
        at = 0
        for i in need:
            n = len(prepared[i][1])
            best[i] = self._best([c for cands in fuzzy[at : at + n] for c in cands])
            at += n
        for i, (_, variants, _) in enumerate(prepared):
            if best[i] is None and variants:
                best[i] = self._reworded(variants)
        out: list[list[EntityLink]] = []
        for answer, (text, _, prefix), b in zip(answers, prepared, best, strict=True):
            if b is None or b.score < self.cfg.threshold:
                out.append([])
                continue
            start = answer.find(text)
            out.append([self._link(b, text, start, start + len(text), prefix + b.method)])
        return out

    def _reworded(self, texts: list[str]) -> _Candidate | None:
        """An answer's exact link in another word order (`word_bag`: "Deficiency of X" is
        "X deficiency"), else of a rewording (`answer_forms`: "Oral acyclovir" is acyclovir),
        to a node of the types the rewording allows, else with two words joined as the KG
        writes them (`joined_keys`: "Gall bladder" is the gallbladder); None when none links."""
        if self._bags is None:  # from the alias frame's bag column, once
            bags: dict[str, list[str]] = {}
            pairs = self.aliases.select("key", "bag").drop_nulls().unique(maintain_order=True)
            for key, bag in zip(pairs["key"].to_list(), pairs["bag"].to_list(), strict=True):
                bags.setdefault(bag, []).append(key)
            self._bags = bags

        def bagged(text: str) -> list[_Candidate]:
            keys = self._bags.get(word_bag(norm_key(text)) or "", []) if self._bags else []
            return [c for k in keys for c in self._exact(text, key=k)]

        for text in texts:
            found = self._best(bagged(text))
            if found is not None:
                return replace(found, score=REWORDED_SCORE, method="word_order")
        for text in texts:
            for form, types in answer_forms(text):  # the first rewording that links
                found = self._best(
                    [
                        c
                        for c in self._exact(form) + bagged(form)
                        if types is None or self.kg.types[c.idx] in types
                    ]
                )
                if found is not None:
                    return replace(found, score=REWORDED_SCORE, method="reworded")
        if self._words is None:  # the words of every alias key, once
            self._words = frozenset(w for k in self._by_key for w in k.split())
        for text in texts:  # two words the KG writes as one ("Gall bladder")
            for key in joined_keys(norm_key(text), self._words):
                bag = word_bag(key)
                keys = [key, *(self._bags.get(bag, []) if bag and self._bags else [])]
                cands = [c for k in dict.fromkeys(keys) for c in self._exact(text, key=k)]
                found = self._best(cands)
                if found is not None:
                    return replace(found, score=REWORDED_SCORE, method="joined")
        return None

    def _top(self, links: list[EntityLink]) -> list[EntityLink]:
        # one link per KG node: its first present mention, else its first mention; best
        # scores first, present ones first, then text order
        by_node: dict[str, EntityLink] = {}
        for lk in sorted(links, key=lambda x: x.start):
            if lk.score < self.cfg.threshold:
                continue
            prev = by_node.get(lk.kg_id)
            if prev is None or (prev.assertion != "present" and lk.assertion == "present"):
                by_node[lk.kg_id] = lk
        # at the cap, present findings go before pertinent negatives and context
        uniq = sorted(by_node.values(), key=lambda x: (-x.score, x.assertion != "present", x.start))
        return sorted(uniq[: self.cfg.max_entities], key=lambda x: x.start)

    def link_options(
        self, options: dict[str, str], abbreviations: dict[str, str] | None = None
    ) -> dict[str, list[EntityLink]]:
        """Every option linked like the gold answer (`link_answer`), [] where it does not
        link. Options that link to a same node are told apart by none of it: all get []."""
        letters = list(options)
        answers = self.link_answers([options[k] for k in letters], abbreviations)
        linked = dict(zip(letters, answers, strict=True))
        uses = Counter(kg_id for links in linked.values() for kg_id in {lk.kg_id for lk in links})
        return {
            k: [] if any(uses[lk.kg_id] > 1 for lk in links) else links
            for k, links in linked.items()
        }

    def __call__(self, qa: QARecord) -> LinkedQA:
        parsed = self.parse(qa.question)  # one parse: abbreviations here and in link_text
        abbrs = parsed.abbreviation_map()
        options = self.link_options(qa.options, abbrs)
        if qa.answer_idx is not None and qa.answer_idx in options:
            answer = options[qa.answer_idx]  # gold is its option: same links, same trust
        else:
            answer = self.link_answer(qa.answer, abbrs)
        return LinkedQA(
            qa=qa,
            question_entities=self.link_text(
                qa.question, skip_types=self.cfg.question_skip_types, parsed=parsed
            ),
            answer_entities=answer,
            option_entities=options,
        )
