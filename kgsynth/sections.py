"""The three-part thinking-path layout: every writer produces it and every check reads it.

"Finding reasoning paths:" (the KG paths, numbered), "Reasoning Process:" (the numbered
steps), "Conclusion:" (the answer). Plain text helpers, below the LLM client, the chain and
the verifiers, so each of them can import these without importing the others.
"""

from __future__ import annotations

import re

HEADERS = ("Finding reasoning paths:", "Reasoning Process:", "Conclusion:")
_SPLIT = re.compile(
    r"Finding reasoning paths:\s*(?P<paths>.*?)\s*Reasoning Process:\s*(?P<reasoning>.*?)"
    r"\s*Conclusion:\s*(?P<conclusion>.*)",
    re.DOTALL | re.IGNORECASE,
)
_FROM_CONCLUSION = re.compile(r"\n?\s*Conclusion:.*\Z", re.S)


def split_sections(text: str) -> tuple[str, str, str] | None:
    """(paths part, reasoning part, conclusion part), or None unless all three are present
    in order and the conclusion is not empty."""
    m = _SPLIT.search(text.replace("**", ""))  # tolerate markdown bold around headers
    if not m or not m.group("conclusion").strip():
        return None
    return m.group("paths").strip(), m.group("reasoning").strip(), m.group("conclusion").strip()


def join_sections(paths: list[str], steps: list[str], conclusion: str) -> str:
    listed = "\n".join(f"{i}. {p}" for i, p in enumerate(paths, 1))
    numbered = "\n".join(f"{i}. {s}" for i, s in enumerate(steps, 1))
    return f"{HEADERS[0]}\n{listed}\n{HEADERS[1]}\n{numbered}\n{HEADERS[2]}\n{conclusion}"


def strip_conclusion(reasoning: str) -> str:
    """The reasoning without its conclusion: everything from the first "Conclusion:" on is
    cut (what a model is shown when it must reach the answer on its own)."""
    return _FROM_CONCLUSION.sub("", reasoning).rstrip()


def conclusion_body(conclusion: str) -> str:
    """A conclusion's text without a leading "Conclusion:" header (any case), stripped."""
    text = conclusion.strip()
    head = HEADERS[2].lower()
    return text[len(head) :].strip() if text.lower().startswith(head) else text
