"""A small reader for OBO 1.2 ontology files: only the fields a KG needs."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

_SYNONYM = re.compile(r'^"((?:[^"\\]|\\.)*)"\s+(EXACT|RELATED|BROAD|NARROW)\b')


@dataclass
class OboTerm:
    id: str
    name: str = ""
    synonyms: list[tuple[str, str]] = field(default_factory=list)  # (text, scope)
    is_a: list[str] = field(default_factory=list)
    alt_ids: list[str] = field(default_factory=list)
    obsolete: bool = False


@dataclass
class Obo:
    header: dict[str, str]
    terms: list[OboTerm]


def read_obo(path: Path) -> Obo:
    header: dict[str, str] = {}
    terms: list[OboTerm] = []
    cur: OboTerm | None = None
    in_term = False
    with path.open(encoding="utf-8") as fh:
        for line in fh:
            line = line.rstrip("\n")
            if line.startswith("["):
                in_term = line == "[Term]"
                cur = None
                continue
            if not line or ": " not in line:
                continue
            tag, _, value = line.partition(": ")
            if not in_term:
                if not terms and tag not in header:
                    header[tag] = value
                if tag == "property_value" and value.startswith("owl:versionInfo"):
                    header["versionInfo"] = value.split('"')[1] if '"' in value else value
                continue
            if tag == "id":
                cur = OboTerm(id=value)
                terms.append(cur)
            elif cur is None:
                continue
            elif tag == "name":
                cur.name = value
            elif tag == "synonym":
                m = _SYNONYM.match(value)
                if m:
                    cur.synonyms.append((m.group(1).replace('\\"', '"'), m.group(2)))
            elif tag == "is_a":
                cur.is_a.append(value.split(" ", 1)[0])
            elif tag == "alt_id":
                cur.alt_ids.append(value)
            elif tag == "is_obsolete" and value.strip() == "true":
                cur.obsolete = True
    return Obo(header=header, terms=terms)
