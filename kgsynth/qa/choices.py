"""Answer choices written inside the question text, after an "Answer Choices:" line.

HLE lists them one per line ("A. ..."); MedXpertQA runs them on one line ("(A) ... (B) ...").
Letters must run A, B, C, ... in order, so a letter inside an option's text is not a marker.
"""

from __future__ import annotations

import re

from kgsynth.qa.fields import LETTERS

_MARKER = re.compile(r"answer choices\s*:", re.I)
_LINE = re.compile(r"\s*(?:\(([A-Z])\)|([A-Z])[.):])\s*(.*)", re.S)
_INLINE = re.compile(r"\(([A-Z])\)\s*")


def split_choices(question: str) -> tuple[str, dict[str, str]] | None:
    """(question stem, letter -> option text), or None when no choices are listed."""
    marks = list(_MARKER.finditer(question))
    if not marks:
        return None
    block = question[marks[-1].end() :]
    options = _by_line(block) or _inline(block)
    if options is None:
        return None
    return question[: marks[-1].start()].strip(), options


def _by_line(block: str) -> dict[str, str] | None:
    opts: dict[str, list[str]] = {}
    for line in block.strip().splitlines():
        m = _LINE.fullmatch(line)
        want = LETTERS[len(opts)] if len(opts) < len(LETTERS) else None
        if m is not None and (m.group(1) or m.group(2)) == want:
            opts[want] = [m.group(3)]
        elif opts:
            opts[next(reversed(opts))].append(line)  # an option's text may run over lines
        elif line.strip():
            return None  # text before "A.": not one choice per line
    joined = {k: "\n".join(v).strip() for k, v in opts.items()}
    return joined if len(joined) >= 2 else None


def _inline(block: str) -> dict[str, str] | None:
    cuts: list[re.Match[str]] = []
    for m in _INLINE.finditer(block):
        if len(cuts) < len(LETTERS) and m.group(1) == LETTERS[len(cuts)]:
            cuts.append(m)
    if len(cuts) < 2 or block[: cuts[0].start()].strip():
        return None
    ends = [m.start() for m in cuts[1:]] + [len(block)]
    return {m.group(1): block[m.end() : end].strip() for m, end in zip(cuts, ends, strict=True)}
