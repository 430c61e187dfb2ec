"""The three-part thinking-path layout every generator writes."""

from __future__ import annotations

import re

HEADERS = ("Finding reasoning paths:", "Reasoning Process:", "Conclusion:")
_SPLIT = re.compile(
    r"Finding reasoning paths:\s*(?P<paths>.*?)\s*Reasoning Process:\s*(?P<reasoning>.*?)"
    r"\s*Conclusion:\s*(?P<conclusion>.*)",
    re.DOTALL | re.IGNORECASE,
)


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
