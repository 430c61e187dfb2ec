"""One exported row as its page shows it: options with the gold one marked, each option's KG
evidence, the reasoning with every hop it cites marked, and the graph of the row's paths.

The row comes from an untrusted file, so every field is read defensively (a missing or
null field shows as nothing) and every text reaches the page through the template's
escaping or as JSON read by the page's script with textContent; nothing here makes HTML.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from typing import Any

# the hop arrows of kgsynth's path lines (kgsynth.paths.format writes and the kg_faithful
# check parses them): "A -[relation]-> B" (A is the KG edge's head), "A <-[relation]- B"
_ARROW = re.compile(r" (?:-\[(?P<f>[^\]]+)\]->|<-\[(?P<b>[^\]]+)\]-) ")
_NUMBERING = re.compile(r"^\s*(?:\d+[.)]|[-*•])\s+")

_HOP_KEYS = ("head_id", "head_name", "relation", "tail_id", "tail_name")
ROLES = ("answer", "finding", "distractor", "intermediate")
# the columns the page shows in its own sections; any other struct column is a check's
# evidence, shown as it is
SHOWN = {
    "id",
    "source",
    "question",
    "options",
    "answer",
    "answer_idx",
    "question_entities",
    "answer_entities",
    "paths",
    "path_scores",
    "n_paths_found",
    "evidence",
    "reasoning",
    "conclusion",
    "checks",
    "generator",
    "model",
    "prompt_version",
    "chain_prompts",
    "kg_name",
    "kg_hash",
    "created_at",
}


def _list(value: Any) -> list[Any]:
    return [v for v in value if v is not None] if isinstance(value, list) else []


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _str(value: Any) -> str:
    return "" if value is None else str(value)


def _hops(value: Any) -> list[dict[str, str]]:
    out = []
    for h in _list(value):
        if isinstance(h, dict) and h.get("head_id") and h.get("tail_id"):
            out.append({k: _str(h.get(k)) for k in _HOP_KEYS})
    return out


def _start(hops: list[dict[str, str]], starts: set[str]) -> str:
    """Where a path starts walking: the end of its first hop not shared with the second (a
    one-hop path: its end among `starts`, the question's findings, if one is)."""
    first = hops[0]
    if len(hops) > 1:
        nxt = {hops[1]["head_id"], hops[1]["tail_id"]}
        return first["tail_id"] if first["head_id"] in nxt else first["head_id"]
    if first["tail_id"] in starts and first["head_id"] not in starts:
        return first["tail_id"]
    return first["head_id"]


def walk_text(hops: list[dict[str, str]], start: str) -> str:
    """A path as kgsynth writes it (kgsynth.paths.format): `A -[r]-> B <-[s]- C`."""
    parts: list[str] = []
    cur = start
    for h in hops:
        if h["head_id"] == cur:
            parts += [h["head_name"]] if not parts else []
            parts += [f"-[{h['relation']}]->", h["tail_name"]]
            cur = h["tail_id"]
        else:
            parts += [h["tail_name"]] if not parts else []
            parts += [f"<-[{h['relation']}]-", h["head_name"]]
            cur = h["head_id"]
    return " ".join(parts)


class RowGraph:
    """The row's KG subgraph: its paths' hops plus every option's evidence hops, each node
    with its role (the answer, a question finding, a distractor, an intermediate)."""

    def __init__(self, row: dict[str, Any]) -> None:
        self.findings = {
            _str(e.get("kg_id")): _str(e.get("name"))
            for e in map(_dict, _list(row.get("question_entities")))
            if e.get("kg_id")
        }
        answers = {
            _str(e.get("kg_id")): _str(e.get("name"))
            for e in map(_dict, _list(row.get("answer_entities")))
            if e.get("kg_id")
        }
        evidence = _dict(row.get("evidence"))
        self.gold = _str(row.get("answer_idx") or evidence.get("gold"))
        self.answer_ids = set(answers)
        self.distractor_ids: set[str] = set()
        for opt in map(_dict, _list(evidence.get("options"))):
            ids = {_str(i) for i in _list(opt.get("kg_ids"))}
            if _str(opt.get("letter")) == self.gold:
                self.answer_ids |= ids
            else:
                self.distractor_ids |= ids
        self.distractor_ids -= self.answer_ids
        # every name a node goes by (the KG's, from entities and hops, first): the reasoning
        # may cite any of them
        self.names: dict[str, list[str]] = {}
        for kg_id, name in [*self.findings.items(), *answers.items()]:
            self._name(kg_id, name)
        self.nodes: dict[str, dict[str, Any]] = {}
        self.edges: dict[tuple[str, str, str], dict[str, Any]] = {}
        for i, path in enumerate(_list(row.get("paths"))):
            for hop in _hops(path):
                self._add(hop, "path", f"path {i + 1}")
        for opt in map(_dict, _list(evidence.get("options"))):
            letter = _str(opt.get("letter"))
            for kind, key in (("support", "supports"), ("contradiction", "contradictions")):
                for s in map(_dict, _list(opt.get(key))):
                    for hop in _hops(s.get("hops")):
                        self._add(hop, kind, letter)
        for opt in map(_dict, _list(evidence.get("options"))):
            for kg_id in _list(opt.get("kg_ids")):
                # an option's entity that no hop names goes by the option's text
                self._name(_str(kg_id), _str(opt.get("text")))
        # the question's findings, the answer and the options' entities stand in the graph
        # even with no hop to them: a finding no path reaches is worth seeing
        for kg_id in [*self.findings, *self.answer_ids, *self.distractor_ids]:
            self._node(kg_id, "")
        for node in self.nodes.values():
            node["label"] = (self.names.get(node["id"]) or [node["id"]])[0]

    def role(self, kg_id: str) -> str:
        if kg_id in self.answer_ids:
            return "answer"
        if kg_id in self.findings:
            return "finding"
        if kg_id in self.distractor_ids:
            return "distractor"
        return "intermediate"

    def _name(self, kg_id: str, name: str) -> None:
        known = self.names.setdefault(kg_id, [])
        if name and name not in known:
            known.append(name)

    def _node(self, kg_id: str, name: str) -> None:
        if kg_id not in self.nodes:
            self.nodes[kg_id] = {"id": kg_id, "label": kg_id, "role": self.role(kg_id)}
        self._name(kg_id, name)

    def _add(self, hop: dict[str, str], kind: str, where: str) -> None:
        self._node(hop["head_id"], hop["head_name"])
        self._node(hop["tail_id"], hop["tail_name"])
        key = (hop["head_id"], hop["relation"], hop["tail_id"])
        edge = self.edges.get(key)
        if edge is None:
            edge = {
                "id": f"e{len(self.edges)}",
                "source": hop["head_id"],
                "target": hop["tail_id"],
                "relation": hop["relation"],
                "kinds": [],
                "on": [],
            }
            self.edges[key] = edge
        if kind not in edge["kinds"]:
            edge["kinds"].append(kind)
        if where not in edge["on"]:
            edge["on"].append(where)

    def edge_id(self, hop: dict[str, str]) -> str | None:
        edge = self.edges.get((hop["head_id"], hop["relation"], hop["tail_id"]))
        return None if edge is None else edge["id"]

    def ids_named(self, name: str) -> set[str]:
        folded = name.strip().casefold()
        return {i for i, names in self.names.items() if any(n.casefold() == folded for n in names)}

    def elements(self) -> dict[str, Any]:
        """The graph as the page's script reads it (JSON)."""
        edges = []
        for e in self.edges.values():
            # evidence for a wrong option only: the page can hide it
            distractor_only = "path" not in e["kinds"] and all(w != self.gold for w in e["on"])
            edges.append(e | {"distractor_only": distractor_only})
        return {"nodes": list(self.nodes.values()), "edges": edges}


def _names_pattern(graph: RowGraph) -> re.Pattern[str] | None:
    """The graph's node names as one regex, longest first (so a name inside a longer one
    is not marked alone); names under 3 characters are left out."""
    names = sorted(
        {n for known in graph.names.values() for n in known if len(n) >= 3}, key=len, reverse=True
    )
    if not names:
        return None
    return re.compile(r"(?<!\w)(?:" + "|".join(map(re.escape, names)) + r")(?!\w)", re.I)


def _prose(line: str, graph: RowGraph, names: re.Pattern[str] | None) -> list[dict[str, Any]]:
    """A line of prose with the graph's entities it names marked."""
    if names is None:
        return [{"kind": "text", "text": line}]
    out: list[dict[str, Any]] = []
    pos = 0
    for m in names.finditer(line):
        ids = sorted(graph.ids_named(m.group(0)))
        if not ids:
            continue
        if m.start() > pos:
            out.append({"kind": "text", "text": line[pos : m.start()]})
        out.append({"kind": "node", "text": m.group(0), "node": ids[0], "title": ids[0]})
        pos = m.end()
    if pos < len(line):
        out.append({"kind": "text", "text": line[pos:]})
    return out


def _segments_of_line(
    line: str, graph: RowGraph, names: re.Pattern[str] | None
) -> list[dict[str, Any]]:
    """A reasoning line as text, entity and hop segments: a path line's hops are marked,
    each with the graph edge it names (none: the hop is not one of the row's); a line of
    prose has the entities it names marked."""
    arrows = list(_ARROW.finditer(line))
    if not arrows:
        return _prose(line, graph, names)
    out: list[dict[str, Any]] = []
    lead = _NUMBERING.match(line)
    pos = lead.end() if lead else 0
    if pos:
        out.append({"kind": "text", "text": line[:pos]})
    names = [line[pos : arrows[0].start()]]
    names += [line[a.end() : b.start()] for a, b in zip(arrows, arrows[1:], strict=False)]
    names.append(line[arrows[-1].end() :])
    for i, name in enumerate(names):
        ids = sorted(graph.ids_named(name))
        out.append({"kind": "node", "text": name, "node": ids[0] if ids else None, "title": ""})
        if i == len(arrows):
            break
        m = arrows[i]
        left, right = names[i], names[i + 1]
        relation = (m.group("f") or m.group("b")).strip()
        head, tail = (left, right) if m.group("f") else (right, left)
        edge = None
        for h in graph.ids_named(head):
            for t in graph.ids_named(tail):
                edge = edge or graph.edge_id({"head_id": h, "relation": relation, "tail_id": t})
        out.append(
            {
                "kind": "hop",
                "text": m.group(0),
                "edge": edge,
                "title": f"{head.strip()} -[{relation}]-> {tail.strip()}",
            }
        )
    return out


def reasoning_lines(text: str, graph: RowGraph) -> list[list[dict[str, Any]]]:
    names = _names_pattern(graph)
    return [_segments_of_line(line, graph, names) for line in text.splitlines()]


def question_segments(question: str, entities: Iterable[Any]) -> list[dict[str, Any]]:
    """The question with each linked finding's mention marked (offsets checked)."""
    spans = []
    for e in map(_dict, entities):
        start, end = e.get("start"), e.get("end")
        if isinstance(start, int) and isinstance(end, int) and 0 <= start < end <= len(question):
            spans.append((start, end, _str(e.get("kg_id")), _str(e.get("name"))))
    out: list[dict[str, Any]] = []
    pos = 0
    for start, end, kg_id, name in sorted(spans):
        if start < pos:
            continue  # overlapping mentions: the first one stays marked
        if start > pos:
            out.append({"kind": "text", "text": question[pos:start]})
        out.append({"kind": "node", "text": question[start:end], "node": kg_id, "title": name})
        pos = end
    if pos < len(question):
        out.append({"kind": "text", "text": question[pos:]})
    return out


def _support(s: dict[str, Any], graph: RowGraph) -> dict[str, Any]:
    hops = _hops(s.get("hops"))
    finding = _str(s.get("finding_id"))
    return {
        "finding": _str(s.get("finding_name")) or finding,
        "finding_id": finding,
        "assertion": _str(s.get("assertion")),
        "weight": s.get("weight") if isinstance(s.get("weight"), int | float) else None,
        "path": walk_text(hops, finding) if hops else "",
        "edges": [e for e in (graph.edge_id(h) for h in hops) if e],
    }


def options_view(row: dict[str, Any], graph: RowGraph) -> list[dict[str, Any]]:
    evidence = _dict(row.get("evidence"))
    ranking = [_str(x) for x in _list(evidence.get("ranking"))]
    by_letter = {_str(o.get("letter")): o for o in map(_dict, _list(evidence.get("options")))}
    out = []
    for opt in map(_dict, _list(row.get("options"))):
        letter = _str(opt.get("letter"))
        ev = by_letter.get(letter, {})
        score = ev.get("score")
        out.append(
            {
                "letter": letter,
                "text": _str(opt.get("text")),
                "gold": letter == graph.gold,
                "best": letter == _str(evidence.get("best")),
                "rank": ranking.index(letter) + 1 if letter in ranking else None,
                "score": score if isinstance(score, int | float) else None,
                "kg_ids": [_str(i) for i in _list(ev.get("kg_ids"))],
                "supports": [_support(s, graph) for s in map(_dict, _list(ev.get("supports")))],
                "contradictions": [
                    _support(s, graph) for s in map(_dict, _list(ev.get("contradictions")))
                ],
            }
        )
    return out


def paths_view(row: dict[str, Any], graph: RowGraph) -> list[dict[str, Any]]:
    scores = _list(row.get("path_scores"))
    out = []
    for i, path in enumerate(_list(row.get("paths"))):
        hops = _hops(path)
        if not hops:
            continue
        out.append(
            {
                "text": walk_text(hops, _start(hops, set(graph.findings))),
                "hops": len(hops),
                "score": scores[i] if i < len(scores) else None,
                "edges": [e for e in (graph.edge_id(h) for h in hops) if e],
            }
        )
    return out


def row_view(row: dict[str, Any], check_names: list[str]) -> dict[str, Any]:
    """Everything the row template shows, built from the row's fields."""
    graph = RowGraph(row)
    checks = _dict(row.get("checks"))
    evidence = _dict(row.get("evidence"))
    extra = {
        k: json.dumps(v, indent=1, default=str, ensure_ascii=False)
        for k, v in row.items()
        if k not in SHOWN and v is not None and not k.startswith("_")
    }
    return {
        "id": _str(row.get("id")),
        "source": _str(row.get("source")),
        "question": question_segments(
            _str(row.get("question")), _list(row.get("question_entities"))
        ),
        "answer": _str(row.get("answer")),
        "gold": graph.gold,
        "options": options_view(row, graph),
        "margin": evidence.get("margin"),
        "paths": paths_view(row, graph),
        "n_paths_found": row.get("n_paths_found"),
        "reasoning": reasoning_lines(_str(row.get("reasoning")), graph),
        "conclusion": _str(row.get("conclusion")),
        "checks": [(n, checks.get(n)) for n in check_names],
        "passed": checks.get("passed"),
        "reasons": [_str(r) for r in _list(checks.get("reasons"))],
        "graph": graph.elements(),
        "extra": extra,
        "meta": _meta(row),
    }


def _meta(row: dict[str, Any]) -> list[tuple[str, str]]:
    keys = ("generator", "model", "prompt_version", "kg_name", "kg_hash", "created_at")
    out = [(k, _str(row.get(k))) for k in keys if row.get(k) is not None]
    chain = [
        f"{_str(c.get('step'))} {_str(c.get('version'))}"
        for c in map(_dict, _list(row.get("chain_prompts")))
    ]
    if chain:
        out.append(("chain_prompts", ", ".join(chain)))
    return out
