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


def norm_token(tok: str) -> str:
    w = _strip_accents(tok.lower())
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


def _tokens_agree(a: str, b: str) -> bool:
    if a == b:
        return True
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
    if not a or len(a) != len(b):
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
