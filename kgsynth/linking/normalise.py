"""Text normalisation shared by alias keys and mention matching.

Both sides go through the same function, so a mention matches an alias when they agree up to
case, accents, plurals, hyphens/punctuation, possessive 's and British/American spelling.
"""

from __future__ import annotations

import re
import unicodedata
from difflib import SequenceMatcher

from spacy.lang.en.stop_words import STOP_WORDS

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


def norm_token(tok: str) -> str:
    w = _strip_accents(tok.lower())
    if w in _ROMAN:
        return _ROMAN[w]
    if len(w) > 5 and w.isalpha():
        # haemorrhage/hemorrhage, oedema/edema, foetal/fetal
        w = w.replace("ae", "e").replace("oe", "e")
    w = singular(w)
    return _POLARITY.get(w, w)


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


def content_tokens(key: str) -> list[str]:
    return [t for t in key.split() if t not in STOP_WORDS and t not in FILLER]


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


def _tokens_agree(a: str, b: str) -> bool:
    if a == b:
        return True
    if opposite_polarity(a, b):
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
    rest = list(b)
    for tok in a:
        for i, cand in enumerate(rest):
            if _tokens_agree(tok, cand):
                del rest[i]
                break
        else:
            return False
    return True


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


def adds_subtype(name: str, mention: str) -> bool:
    """True when `name` carries a subtype mark (see _SUBTYPE_MARKS) that `mention` lacks."""
    said = set(norm_key(mention).split())
    for pat in _SUBTYPE_MARKS:
        for m in pat.finditer(name):
            if any(t not in said for t in norm_key(m.group()).split()):
                return True
    return False
