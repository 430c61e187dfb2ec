"""One textual form for KG paths, written by generators and parsed back by the verifier.

A path is written in walking order; each hop shows the KG's own edge direction:
    Seizure <-[has_phenotype]- Dravet syndrome -[has_phenotype]-> Ataxia
Names may contain hyphens or brackets, so the arrows carry spaces on both sides.
"""

from __future__ import annotations

import re

from kgsynth.records import KGPath

_ARROW = re.compile(r" (?:-\[(?P<f>[^\]]+)\]->|<-\[(?P<b>[^\]]+)\]-) ")


def format_path(path: KGPath) -> str:
    parts: list[str] = []
    cur = path.start_id
    for hop in path.hops:
        if hop.head_id == cur:
            if not parts:
                parts.append(hop.head_name)
            parts.append(f"-[{hop.relation}]->")
            parts.append(hop.tail_name)
            cur = hop.tail_id
        else:
            if not parts:
                parts.append(hop.tail_name)
            parts.append(f"<-[{hop.relation}]-")
            parts.append(hop.head_name)
            cur = hop.head_id
    return " ".join(parts)


def parse_path_line(line: str) -> list[tuple[str, str, str]] | None:
    """Parse one written path into (head name, relation, tail name) triples, KG-oriented.

    Returns None when the line holds no arrow (it is not a path line).
    """
    pieces = _ARROW.split(line.strip())
    # split() with 2 groups yields: name, f, b, name, f, b, name ...
    if len(pieces) < 4:
        return None
    names = pieces[0::3]
    fwd = pieces[1::3]
    bwd = pieces[2::3]
    triples: list[tuple[str, str, str]] = []
    for i, (f, b) in enumerate(zip(fwd, bwd, strict=True)):
        a, c = names[i].strip(), names[i + 1].strip()
        if f is not None:
            triples.append((a, f.strip(), c))
        else:
            triples.append((c, b.strip(), a))
    return triples
