"""Text normalisation shared by alias keys and mention matching.

Both sides go through the same function, so a mention matches an alias when they agree up to
case, accents, plurals, hyphens/punctuation, possessive 's, British/American spelling and
Greek letters written out. Answers also get a word-order form (`word_bag`) and rewordings
(`answer_forms`) that the linker tries when the answer as written links to nothing.
"""

from __future__ import annotations

import bisect
import importlib.util
import re
import unicodedata
from collections import Counter
from collections.abc import Collection
from difflib import SequenceMatcher
from functools import lru_cache
from pathlib import Path

import numpy as np


def _spacy_stop_words() -> frozenset[str]:
    """spaCy's English stop words, read from its `lang/en/stop_words.py` without importing
    the spaCy package: `import spacy` costs ~2 s (thinc, torch), and the verifiers and the
    export use these words with no spaCy pipeline in sight."""
    spec = importlib.util.find_spec("spacy")  # locates the installed package; imports nothing
    if spec is None or spec.origin is None:
        raise ImportError("spaCy is not installed")
    path = Path(spec.origin).parent / "lang" / "en" / "stop_words.py"
    loader = importlib.util.spec_from_file_location("_kgsynth_spacy_en_stop_words", path)
    if loader is None or loader.loader is None:
        raise ImportError(f"cannot read {path}")
    module = importlib.util.module_from_spec(loader)
    loader.loader.exec_module(module)  # a literal word list; no imports of its own
    return frozenset(module.STOP_WORDS)


STOP_WORDS = _spacy_stop_words()

# letters and digits, accented ones included: an ASCII-only class split "café" into "caf"
_TOKEN = re.compile(r"[^\W_]+")


def raw_tokens(text: str) -> list[tuple[str, int, int]]:
    """Alphanumeric tokens with character offsets; the 's of a possessive is dropped."""
    out: list[tuple[str, int, int]] = []
    for m in _TOKEN.finditer(text):
        tok = m.group()
        if tok in ("s", "S") and m.start() > 0 and text[m.start() - 1] in "'’":
            continue
        out.append((tok, m.start(), m.end()))
    return out


# Direction words that clinical text and HPO use interchangeably ("low serum potassium" is
# HPO's "decreased serum potassium"); other modifiers (wide, narrow, ...) stay distinct.
_POLARITY = {
    "low": "decreased",
    "reduced": "decreased",
    "diminished": "decreased",
    "lower": "decreased",
    "high": "increased",
    "elevated": "increased",
    "raised": "increased",
    "higher": "increased",
}


def _strip_accents(w: str) -> str:
    """café -> cafe, Behçet -> behcet; letters without a base form (ß) are kept."""
    if w.isascii():
        return w
    decomposed = unicodedata.normalize("NFKD", w)
    return "".join(c for c in decomposed if not unicodedata.combining(c))


# Roman numerals as subtype numbers ("type II diabetes" is "type 2 diabetes")
_ROMAN = {"i": "1", "ii": "2", "iii": "3", "iv": "4", "v": "5", "vi": "6", "vii": "7"}


# Greek letters as the names KG aliases spell them ("TNF-α" is "TNF-alpha", "TNFα" is
# "TNFalpha"); the German sharp s stands for beta only as a word of its own ("ß-hCG").
_GREEK = {
    "α": "alpha",
    "β": "beta",
    "γ": "gamma",
    "δ": "delta",
    "ẟ": "delta",
    "ε": "epsilon",
    "κ": "kappa",
    "λ": "lambda",
    "μ": "mu",
    "µ": "mu",
    "ω": "omega",
}
_GREEK_CHARS = re.compile("[" + "".join(_GREEK) + "]")


# cached: the same words and alias strings recur across every row of a build (the linker
# normalises each question token, candidate alias and option text)
@lru_cache(maxsize=1 << 17)
def norm_token(tok: str) -> str:
    w = _strip_accents(tok.lower())
    if w in _ROMAN:
        return _ROMAN[w]
    if w == "ß":
        return "beta"
    if not w.isascii():
        w = _GREEK_CHARS.sub(lambda m: _GREEK[m.group()], w)
    w = latin_singular(w)  # before "ae" -> "e": "vertebrae" is "vertebra", not "vertebre"
    if len(w) > 5 and w.isalpha():
        # haemorrhage/hemorrhage, oedema/edema, foetal/fetal
        w = w.replace("ae", "e").replace("oe", "e")
    w = singular(w)
    return _POLARITY.get(w, w)


# Latin and Greek plurals that medical text writes beside the singular ("corneal arci", "renal
# calculi", "group D streptococci"). Listed words only: a rule on "-i" or "-ae" would also
# change species epithets ("Streptococcus pneumoniae" is no pneumonia, "E. coli" no colon).
_LATIN_PLURALS = {
    "arci": "arcus",
    "calculi": "calculus",
    "bronchi": "bronchus",
    "bronchioli": "bronchiolus",
    "emboli": "embolus",
    "thrombi": "thrombus",
    "nuclei": "nucleus",
    "fungi": "fungus",
    "villi": "villus",
    "alveoli": "alveolus",
    "glomeruli": "glomerulus",
    "nevi": "nevus",
    "naevi": "nevus",
    "foci": "focus",
    "sulci": "sulcus",
    "gyri": "gyrus",
    "fasciculi": "fasciculus",
    "tophi": "tophus",
    "menisci": "meniscus",
    "humeri": "humerus",
    "stimuli": "stimulus",
    "vertebrae": "vertebra",
    "bullae": "bulla",
    "fimbriae": "fimbria",
    "papillae": "papilla",
    "ampullae": "ampulla",
    "fistulae": "fistula",
    "lacunae": "lacuna",
    "maculae": "macula",
    "sequelae": "sequela",
    "trabeculae": "trabecula",
    "bacteria": "bacterium",
    "diverticula": "diverticulum",
    "septa": "septum",
    "atria": "atrium",
    "ova": "ovum",
    "varices": "varix",
    "apices": "apex",
    "cortices": "cortex",
    "cervices": "cervix",
    "appendices": "appendix",
    "phalanges": "phalanx",
    "metastases": "metastasis",
    "testes": "testis",
}
# ... and suffixes that only Latin/Greek plurals end in: -cocci/-bacilli (the organisms'
# plural), -itides (arthritides), -omata (condylomata), -oses/-yses (stenoses, paralyses)
_LATIN_SUFFIXES = (
    ("cocci", "coccus"),
    ("bacilli", "bacillus"),
    ("itides", "itis"),
    ("omata", "oma"),
    ("oses", "osis"),
    ("yses", "ysis"),
)


def latin_singular(w: str) -> str:
    """The singular of a Latin or Greek plural (a lower-case word), else the word."""
    if w in _LATIN_PLURALS:
        return _LATIN_PLURALS[w]
    for plural, one in _LATIN_SUFFIXES:
        # a stem of 3+ letters: "doses" and "poses" are English plurals of other words
        if w.endswith(plural) and len(w) - len(plural) >= 3:
            return w[: -len(plural)] + one
    return w


def singular(w: str) -> str:
    if len(w) <= 3 or not w.isalpha():
        return w
    if w.endswith("ies") and len(w) > 4:
        return w[:-3] + "y"
    if w.endswith(("sses", "ches", "shes", "xes")):
        return w[:-2]
    if w.endswith("s") and not w.endswith(("ss", "us", "is", "os", "ys")):
        return w[:-1]
    return w


@lru_cache(maxsize=1 << 17)
def norm_key(text: str) -> str:
    """The lookup key of a name or a mention."""
    return " ".join(norm_token(t) for t, _, _ in raw_tokens(text))


# Words whose presence or absence does not change the concept a name denotes
# ("androgen insensitivity [syndrome]", "decreased [serum] progesterone [level]").
FILLER = frozenset(
    {
        "syndrome",
        "disorder",
        "serum",
        "plasma",
        "blood",
        "circulating",
        "concentration",
        "level",
        "finding",
        "condition",
    }
)


# ... except where such a word heads the phrase: "disorder of lysosomal enzymes" is no
# lysosomal enzyme, "syndrome of inappropriate ADH" no hormone
_HEAD_FILLER = frozenset({"syndrome", "disorder", "condition", "finding"})


def content_tokens(key: str) -> list[str]:
    words = key.split()
    return [
        t
        for i, t in enumerate(words)
        if t not in STOP_WORDS
        and (t not in FILLER or (t in _HEAD_FILLER and words[i + 1 : i + 2] == ["of"]))
    ]


# Polarity: words (after norm_token, so "high"/"elevated" are already "increased") and
# prefixes that put a concept on one side of an axis. Two tokens on opposite sides of the
# same axis never agree, whatever their spelling similarity ("normal" vs "abnormal" scores
# 0.86, "hyperkalemia" vs "hypokalemia" 0.96).
_POLARITY_WORDS: dict[str, tuple[str, int]] = {
    "increased": ("amount", 1),
    "decreased": ("amount", -1),
    "normal": ("normal", 1),
    "abnormal": ("normal", -1),
    "positive": ("test", 1),
    "negative": ("test", -1),
    "present": ("presence", 1),
    "absent": ("presence", -1),
    "presence": ("presence", 1),
    "absence": ("presence", -1),
}
_POLARITY_PREFIXES: tuple[tuple[str, tuple[str, int]], ...] = (
    ("hyper", ("amount", 1)),
    ("hypo", ("amount", -1)),
    ("tachy", ("rate", 1)),
    ("brady", ("rate", -1)),
    ("macro", ("size", 1)),
    ("micro", ("size", -1)),
)


def polarity(tok: str) -> tuple[str, int] | None:
    """(axis, +1/-1) for a polarity word or prefix, None for any other token."""
    if tok in _POLARITY_WORDS:
        return _POLARITY_WORDS[tok]
    for prefix, pol in _POLARITY_PREFIXES:
        if tok.startswith(prefix) and len(tok) > len(prefix) + 2:
            return pol
    return None


def _conflict(p: tuple[str, int], q: tuple[str, int]) -> bool:
    if p == q:
        return False
    # "normal" is the opposite of every deviation: abnormal, increased, hypo-, absent, ...
    return p[0] == q[0] or ("normal", 1) in (p, q)


def opposite_polarity(a: str, b: str) -> bool:
    """True when tokens a and b sit on opposite sides of a polarity axis."""
    pa, pb = polarity(a), polarity(b)
    return pa is not None and pb is not None and _conflict(pa, pb)


def keys_opposed(a_key: str, b_key: str) -> bool:
    """True when one key has a polarity the other lacks and contradicts ("normal x" vs
    "abnormal x", "hyperkalemia" vs "hypokalemia"); equal polarities on both sides cancel."""
    a_pol = {p for t in a_key.split() if (p := polarity(t)) is not None}
    b_pol = {p for t in b_key.split() if (p := polarity(t)) is not None}
    return any(_conflict(p, q) for p in a_pol - b_pol for q in b_pol - a_pol)


# Prefixes that negate or reverse the word they join: "noncaseating" is not "caseating",
# "acalculous" not "calculous", "dephosphorylated" not "hyperphosphorylated", "demyelination"
# not "remyelination" (each pair spells alike: SequenceMatcher scores them >= 0.85).
_OPPOSING_PREFIXES = ("non", "un", "an", "a", "de", "dis", "in", "im", "ir", "anti", "re")


def _prefix_and_stem(w: str) -> tuple[str, str]:
    """(prefix, rest) for the longest of _OPPOSING_PREFIXES or polarity prefixes that leaves
    at least four letters; ("", w) for a word with none."""
    for p in sorted((*_OPPOSING_PREFIXES, *(p for p, _ in _POLARITY_PREFIXES)), key=len)[::-1]:
        if w.startswith(p) and len(w) - len(p) >= 4:
            return p, w[len(p) :]
    return "", w


def prefix_opposed(a: str, b: str) -> bool:
    """True when a and b are one stem under different prefixes, one of which negates or
    reverses it ("caseating"/"noncaseating", "tumescence"/"detumescence")."""
    if a == b:
        return False
    for x, y in ((a, b), (b, a)):
        if y.endswith(x) and y[: len(y) - len(x)] in _OPPOSING_PREFIXES:
            return True  # y is x with a prefix
    (pa, sa), (pb, sb) = _prefix_and_stem(a), _prefix_and_stem(b)
    return sa == sb and pa != pb


# Greek letters name a member of a family ("interferon gamma", "TNF alpha"): like digits,
# they agree only when equal, never by spelling ("gamma" is not "gammar", IFN-gamma R)
_GREEK_NAMES = frozenset(_GREEK.values())


def _tokens_agree(a: str, b: str) -> bool:
    if a == b:
        return True
    if opposite_polarity(a, b):
        return False
    if a in _GREEK_NAMES or b in _GREEK_NAMES:
        return False
    if prefix_opposed(a, b):
        return False
    # digits and short tokens (type 1/2, vitamin A/K) must match exactly
    if len(a) < 5 or len(b) < 5 or not a.isalpha() or not b.isalpha():
        return False
    return SequenceMatcher(None, a, b).ratio() >= 0.85


def same_concept_words(mention_key: str, alias_key: str) -> bool:
    """Precision guard for fuzzy candidates: every content word must have a partner.

    Character 3-grams alone score "wide pulse pressure" close to "low pulse pressure" and
    "vitamin k deficiency" close to "vitamin a deficiency"; word-level agreement rejects both
    while keeping spelling variants and word order changes.
    """
    a, b = content_tokens(mention_key), content_tokens(alias_key)
    if not a or len(a) != len(b) or keys_opposed(mention_key, alias_key):
        return False
    # negations and relations are stop words, yet they carry the concept: "no murmur" is not
    # "murmur", "anemia without thrombocytopenia" not "thrombocytopenia with anemia"
    framed_a, framed_b = _framed(mention_key), _framed(alias_key)
    if [r for r, _ in framed_a] != [r for r, _ in framed_b]:
        return False
    for (_, part_a), (_, part_b) in zip(framed_a, framed_b, strict=True):
        if len(part_a) != len(part_b):
            return False
        rest = list(part_b)
        for tok in part_a:
            for i, cand in enumerate(rest):
                if _tokens_agree(tok, cand):
                    del rest[i]
                    break
            else:
                return False
    return True


# Words that negate what follows or relate two things: they split a key into parts that are
# compared part by part, in order (see `same_concept_words`, `word_bag`).
_NEGATIONS = frozenset({"no", "not", "without", "none", "never", "nor", "except"})
_RELATIONS = frozenset(
    {
        "with",
        "to",
        "from",
        "into",
        "for",
        "due",
        "after",
        "before",
        "during",
        "following",
        "than",
        "versus",
        "secondary",
        "because",
    }
)


def _framed(key: str) -> list[tuple[str, list[str]]]:
    """The key's content words in parts, each with the negation or relation word before it
    ("" for the first): "anemia without thrombocytopenia" -> [("", ["anemia"]), ("without",
    ["thrombocytopenia"])]. A part with no content word is left out, with its word."""
    parts: list[tuple[str, list[str]]] = [("", [])]
    for w in key.split():
        if w in _NEGATIONS or w in _RELATIONS:
            parts.append((w, []))
        else:
            parts[-1][1].append(w)
    return [(word, c) for word, words in parts if (c := content_tokens(" ".join(words)))]


def lcs_length(masks: dict[str, int], n: int, b: str) -> int:
    """Length of the longest common subsequence of a (n letters; masks: letter -> bit set of
    its positions in a) and b, bit-parallel (Allison-Dix): an upper bound on the matches
    SequenceMatcher(None, a, b) finds."""
    full = (1 << n) - 1
    v = full
    for c in b:
        u = v & masks.get(c, 0)
        v = ((v + u) | (v - u)) & full
    return n - v.bit_count()


class KeyVocabulary:
    """The content words of a set of alias keys, to tell cheaply that a mention can pass
    `same_concept_words` against none of the keys: no key has as many content words as the
    mention and, for each word of the mention, a word that agrees with it (_tokens_agree).
    `may_match` is a necessary condition only (it ignores polarity and which word pairs
    with which), so skipping the fuzzy candidates of a mention it rejects changes no link."""

    def __init__(self, keys: Collection[str]) -> None:
        self._keys_with: dict[str, list[int]] = {}  # content word -> ids of keys holding it
        self._words: list[tuple[str, ...]] = []  # key id -> its content words
        for i, key in enumerate(keys):
            toks = tuple(content_tokens(key))
            self._words.append(toks)
            for t in dict.fromkeys(toks):
                self._keys_with.setdefault(t, []).append(i)
        # the words a non-equal token may agree with: alphabetic, >= 5 letters; by length,
        # with their letter counts, to bound SequenceMatcher's ratio before running it
        self._long = sorted(
            (w for w in self._keys_with if len(w) >= 5 and w.isalpha()), key=lambda w: (len(w), w)
        )
        chars = sorted({c for w in self._long for c in w})
        self._char = {c: i for i, c in enumerate(chars)}
        # letter x word counts, in one bincount over (letter, word) cells
        letter = np.array([self._char[c] for w in self._long for c in w], np.int64)
        word = np.repeat(np.arange(len(self._long)), [len(w) for w in self._long])
        cells = np.bincount(letter * len(self._long) + word, minlength=len(chars) * len(self._long))
        self._counts = cells.reshape(len(chars), len(self._long)).astype(np.int16)
        self._len_list = [len(w) for w in self._long]
        self._lens = np.array(self._len_list, np.int64)
        self._agree: dict[str, frozenset[str]] = {}

    def _agreeing(self, tok: str) -> frozenset[str]:
        """The vocabulary words `tok` agrees with (_tokens_agree(tok, word)); cached."""
        found = self._agree.get(tok)
        if found is None:
            found = frozenset(self._scan(tok))
            if len(self._agree) >= 1 << 16:
                self._agree.clear()  # bounded: a long-lived process meets many words
            self._agree[tok] = found
        return found

    def _scan(self, tok: str) -> list[str]:
        out = [tok] if tok in self._keys_with else []
        if len(tok) < 5 or not tok.isalpha() or not self._long:
            return out
        n = len(tok)
        # ratio = 2 * matches / (n + m) <= 2 * min(n, m) / (n + m): m within these bounds
        lo = bisect.bisect_left(self._len_list, n * 0.85 / 1.15 - 1e-9)
        hi = bisect.bisect_right(self._len_list, n * 1.15 / 0.85 + 1e-9)
        if lo >= hi:
            return out
        # ... and matches <= the letters both share (difflib's quick_ratio)
        shared = np.zeros(hi - lo, np.int16)
        for c, k in Counter(tok).items():
            row = self._char.get(c)
            if row is not None:
                shared += np.minimum(self._counts[row, lo:hi], k)
        near = np.flatnonzero(2.0 * shared >= (0.85 - 1e-9) * (n + self._lens[lo:hi])) + lo
        # ... and matches <= the longest common subsequence, far cheaper than difflib
        masks: dict[str, int] = {}
        for i, c in enumerate(tok):
            masks[c] = masks.get(c, 0) | (1 << i)
        for j in near.tolist():
            w = self._long[j]
            if w == tok or 2.0 * lcs_length(masks, n, w) / (n + len(w)) < 0.85 - 1e-9:
                continue
            if _tokens_agree(tok, w):
                out.append(w)
        return out

    def may_match(self, mention_key: str) -> bool:
        """False when `same_concept_words(mention_key, k)` is False for every key k."""
        toks = content_tokens(mention_key)
        if not toks:
            return False
        agree: list[frozenset[str]] = []
        # words the vocabulary lacks first: most mentions fail on one of them, and then no
        # word the vocabulary has is scanned for its near spellings
        for t in sorted(toks, key=lambda t: t in self._keys_with):
            ws = self._agreeing(t)
            if not ws:
                return False
            agree.append(ws)
        # the keys holding a partner of the word with the fewest such keys, then the rest
        sizes = [sum(len(self._keys_with[w]) for w in ws) for ws in agree]
        first = agree[sizes.index(min(sizes))]
        n = len(toks)
        for w in first:
            for i in self._keys_with[w]:
                words = self._words[i]
                if len(words) == n and all(any(x in ws for x in words) for ws in agree):
                    return True
        return False


# What a name may add beyond its mention only when the mention says so too: inheritance
# modes, subtype numbers and "susceptibility to" mark a monogenic (OMIM) entry, not the
# common disease the text names ("coronary artery disease" is not "Coronary artery disease,
# autosomal dominant, 1").
_SUBTYPE_MARKS: tuple[re.Pattern[str], ...] = tuple(
    re.compile(p, re.I)
    for p in (
        r"\bautosomal\b",
        r"\b(?:dominant|recessive)\b",
        r"\bx[- ]linked\b",
        r"\bsusceptibility to\b|,\s*susceptibility\b",
        r"\b(?:sub)?type\s+[0-9ivx]+[a-z]?\b",
        r",\s*[0-9]+[a-z]?\b",
        r"\b(?:disease|disorder|syndrome|cancer|deficiency)\s+(?:[0-9]+[a-z]?|[ivx]+)\b",
    )
)


@lru_cache(maxsize=1 << 16)
def subtype_marks(name: str) -> tuple[str, ...]:
    """The normalised words of every subtype mark in `name` (see _SUBTYPE_MARKS); cached, as
    the linker asks about the same KG names for many mentions."""
    return tuple(
        t for pat in _SUBTYPE_MARKS for m in pat.finditer(name) for t in norm_key(m.group()).split()
    )


# the word that announces a subtype designator: the designator is the mark ("MEN 2A" says
# what "MEN type 2A" says)
_ANNOUNCES = frozenset({"type", "subtype"})


def adds_subtype(name: str, mention: str) -> bool:
    """True when `name` carries a subtype mark (see _SUBTYPE_MARKS) that `mention` lacks."""
    marks = subtype_marks(name)
    if not marks:
        return False
    said = set(norm_key(mention).split())
    return any(t not in said for t in marks if t not in _ANNOUNCES)


# -- answer rewordings ------------------------------------------------------------------
# An answer option often wraps a KG concept in words that say how or when it is given, not
# what it is: "Oral acyclovir", "Administer naloxone", "Propranolol therapy", "Ketotifen eye
# drops", "Emergent fasciotomy". The linker tries these rewordings only when the answer as
# written links to nothing, and accepts a rewording's link only to a node of the types the
# stripped words can apply to (a route or a dose form to a drug, urgency to a procedure).
DRUG_TYPES = frozenset({"drug", "pharmacologic_class"})
PROCEDURE_TYPES = frozenset({"procedure"})
GENE_TYPES = frozenset({"gene"})
# what is done with a drug: "administer", "start", "treatment with" ...
_DRUG_VERBS = (
    r"administer|administration of|give|start|begin|initiate|initiation of|add|prescribe"
    r"|treat with|treatment with|therapy with"
)
# how it is given: routes of administration
_ROUTES = (
    r"oral|orally|intravenous|intravenously|iv|im|intramuscular|intramuscularly|subcutaneous"
    r"|subcutaneously|topical|inhaled|intranasal|nebulized|sublingual|transdermal|intrathecal"
    r"|parenteral"
)
# ... and what it is given as or for how long: the dose form, "therapy", "daily"
_DRUG_TAILS = (
    r"therapy|treatment|supplementation|supplements?|eye drops|drops|injections?|infusions?"
    r"|tablets?|daily|prophylaxis|cream|ointment"
)
_DRUG_ACTION = re.compile(
    rf"^(?:(?:{_DRUG_VERBS})\s+)?(?:an?\s+)?(?P<core>.+?)(?:\s+(?:{_DRUG_TAILS}))*$", re.I
)
_DRUG_ROUTE = re.compile(rf"^(?:(?:{_ROUTES})\s+)*(?P<core>.+?)(?:\s+(?:{_ROUTES}))?$", re.I)
# salts and esters a drug is sold as: "metoprolol succinate" is metoprolol. Never after an
# element or an ion alone ("magnesium citrate" is no magnesium), and never sulfates or
# phosphates: those also name other molecules ("DHEA sulfate", "cerebroside sulfate").
_SALT = re.compile(
    r"^(?P<core>.+?)\s+(?:acetate|succinate|tartrate|bitartrate|hydrochloride|hcl|citrate"
    r"|maleate|mesylate|besylate|bromide|fumarate|pamoate|hyclate|dipropionate|propionate"
    r"|valerate|decanoate|sodium|potassium)$",
    re.I,
)
_NOT_DRUG_BASES = frozenset(
    {
        "sodium",
        "potassium",
        "calcium",
        "magnesium",
        "lithium",
        "iron",
        "ferrous",
        "ferric",
        "zinc",
        "aluminum",
        "aluminium",
        "barium",
        "silver",
        "copper",
        "ammonium",
        "hydrogen",
        "lead",
        "mercury",
        "cadmium",
        "cobalt",
        "manganese",
        "chromium",
        "nickel",
        "bismuth",
        "gold",
        "platinum",
        "strontium",
        "cesium",
        "ethyl",
        "methyl",
    }
)
# how soon a procedure is done does not change which procedure it is
_URGENCY = re.compile(r"^(?:emergent|emergency|urgent|immediate|prompt)\s+(?P<core>.+)$", re.I)
# the record of an imaging study names the study: "echocardiogram" is echocardiography,
# an "abdominal x-ray" abdominal radiography
_GRAM = re.compile(r"(?<=\w)ogram(s?)\b", re.I)
_XRAY = re.compile(r"\bx[- ]?rays?\b", re.I)
# a gene written as one: "HFE gene" is the gene HFE (the case rule still applies)
_GENE = re.compile(r"^(?P<core>\S+)\s+gene$", re.I)
# a short form inside the answer, after the words it stands for: "Isolated
# gonadotropin-releasing hormone (GnRH) deficiency" (a trailing one the linker drops itself)
_INNER_SHORT_FORM = re.compile(r"\s*\((?P<short>[^()\s]{1,12})\)(?=\s+\w)")


def _is_short_form_of(short: str, before: str) -> bool:
    """Whether `short` ("GnRH", "CPP") abbreviates the words written before it: its first
    letter starts one of the last few words."""
    words = [w for w, _, _ in raw_tokens(before)][-6:]
    first = short.lstrip("-").lower()[:1]
    return bool(first) and any(w.lower().startswith(first) for w in words)


def answer_forms(text: str) -> list[tuple[str, frozenset[str] | None]]:
    """Rewordings of an answer option that name the concept it names, best first, each with
    the node types its link may have (None: any): the drug inside a verb or dose-form
    wrapper, then without its route too (each also without its salt); the procedure without
    an urgency word, or with "-ography" for "-ogram" ("radiography" for "x-ray"); the gene
    of "<symbol> gene"; the answer without a short form written inside it. [] when no rule
    applies."""
    text = text.strip()
    out: list[tuple[str, frozenset[str] | None]] = []
    # the drug without the action, then without the route too: "Administration of oral
    # contraceptives" is oral contraceptives before it is contraceptives
    acted = _DRUG_ACTION.match(text)
    drug = acted.group("core").strip() if acted else text
    routed = _DRUG_ROUTE.match(drug)
    for form in dict.fromkeys((drug, routed.group("core").strip() if routed else drug)):
        out.append((form, DRUG_TYPES))
        m = _SALT.match(form)
        if m is not None and norm_key(m.group("core")) not in _NOT_DRUG_BASES:
            out.append((m.group("core").strip(), DRUG_TYPES))
    procedure = text
    m = _URGENCY.match(text)
    if m is not None:
        procedure = m.group("core").strip()
        out.append((procedure, PROCEDURE_TYPES))
    imaging = _GRAM.sub(lambda g: "ographies" if g.group(1) else "ography", procedure)
    imaging = _XRAY.sub("radiography", imaging)
    if imaging != procedure:
        out.append((imaging, PROCEDURE_TYPES))
    m = _GENE.match(text)
    if m is not None:
        out.append((m.group("core"), GENE_TYPES))
    bare = text
    for m in reversed(list(_INNER_SHORT_FORM.finditer(text))):
        if _is_short_form_of(m.group("short"), text[: m.start()]):
            bare = bare[: m.start()] + bare[m.end() :]
    if bare != text:
        out.append((bare, None))
    return [(f, t) for f, t in out if norm_key(f) and norm_key(f) != norm_key(text)]


def joined_keys(key: str, vocabulary: Collection[str]) -> list[str]:
    """The key with two neighbouring words written as one where the KG writes them so:
    "gall bladder" is "gallbladder", "membrano proliferative" "membranoproliferative",
    "ifn gamma" "ifngamma" (the hyphen of "IFN-gamma" splits what "IFNgamma" joins). Only
    words of 3+ letters and no stop word: "a typical" is not "atypical"."""
    toks = key.split()
    out = []
    for i in range(len(toks) - 1):
        a, b = toks[i], toks[i + 1]
        if min(len(a), len(b)) < 3 or a in STOP_WORDS or b in STOP_WORDS:
            continue
        if not (a.isalpha() and b.isalpha()) or a + b not in vocabulary:
            continue
        out.append(" ".join([*toks[:i], a + b, *toks[i + 2 :]]))
    return out


# Word order: "Hyperplasia of the adrenal cortex" is "adrenal cortex hyperplasia", "Deficiency
# of X" is "X deficiency", "Carcinoma, squamous cell" is "squamous cell carcinoma". A bag of
# the words, without the articles and prepositions that only order them, matches such forms;
# every other word counts. Negations and words that relate two things split the bag, in
# order: "anemia without thrombocytopenia" is not "thrombocytopenia without anemia".
_BAG_GLUE = frozenset({"a", "an", "the", "of", "in", "on", "at", "by"})
# words that say what is measured, not what: dropped only beside a direction word, where
# "increased serum X level" and "increased X" are one finding (never "X level" for X)
_BAG_MEASURE = frozenset({"serum", "plasma", "blood", "circulating", "concentration", "level"})
_BAG_DIRECTION = frozenset({"increased", "decreased"})
# nouns of the direction words (norm_token maps the adjectives)
_BAG_SAME = {
    "increase": "increased",
    "elevation": "increased",
    "decrease": "decreased",
    "reduction": "decreased",
    "syndrome": "disorder",
}


def _designator(after: list[str]) -> bool:
    """Whether the word list starts with a subtype designator: a number, a number with a
    letter ("2a") or one letter."""
    return bool(after) and (after[0][:1].isdigit() or len(after[0]) == 1)


@lru_cache(maxsize=1 << 17)
def word_bag(key: str) -> str | None:
    """The order-free form of a normalised key (see _BAG_GLUE), or None for a key too short
    to compare this way: fewer than two words, or no word of three letters (a bag of "type
    2" or "5" would match unrelated names)."""
    toks = key.split()
    # "type" before a subtype designator only announces it: "MEN 2A" is "MEN type 2A"
    words = [
        _BAG_SAME.get(w, w)
        for i, w in enumerate(toks)
        if w not in _BAG_GLUE and not (w == "type" and _designator(toks[i + 1 : i + 2]))
    ]
    if _BAG_DIRECTION & set(words):
        words = [w for w in words if w not in _BAG_MEASURE]
    if "infectious" in words and "disease" in words:  # MONDO's "X infectious disease"
        words.remove("infectious")
        words.remove("disease")
        words.append("infection")
    if len(words) < 2 or not any(w.isalpha() and len(w) >= 3 for w in words):
        return None
    segments: list[list[str]] = [[]]
    for w in words:
        if w in _NEGATIONS or w in _RELATIONS:
            segments += [[w], []]
        else:
            segments[-1].append(w)
    return " | ".join(" ".join(sorted(seg)) for seg in segments if seg)
