"""Checks that read the row's per-option evidence (kgsynth.evidence) and can fail:

- evidence_margin: the evidence puts gold first, by at least min_margin (gold must also be
  supported: reached from a present finding, the most specific such finding at least
  min_clue_weight). The evidence itself is the row's `evidence`
  column, so the check keeps no column of its own.
- options_addressed: every option is discussed in the "Reasoning Process" section: its text
  as written in the question (case-insensitive, normalised) appears in a sentence that also
  names a KG entity or a finding (a question entity, a finding or node of the evidence, a
  node of a kept path) as its reason.
- no_negated_start: no kept path starts at a question entity that is not asserted present
  (denied, family, historical or hypothetical).

Each runs only on rows with evidence (None otherwise); options_addressed also needs options.
Registered after kgsynth's own checks (kgsynth.verify.builtin imports this module last).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence

from pydantic import BaseModel, ConfigDict, Field

from kgsynth.config import EvidenceConfig
from kgsynth.records import GeneratedQA
from kgsynth.sections import split_sections
from kgsynth.verify.claims import split_sentences
from kgsynth.verify.registry import Check, CheckContext, Verdict, register_check


class MarginSettings(BaseModel):
    """[verify.checks.evidence_margin]; the default is the evidence stage's."""

    model_config = ConfigDict(extra="forbid")
    min_margin: float = Field(default_factory=lambda: EvidenceConfig().min_margin, ge=0.0)
    max_hops: int = Field(default_factory=lambda: EvidenceConfig().max_hops, ge=1)
    # a build's [evidence] values when it sets others (kgsynth.config.BuildConfig)
    min_clue_weight: float = Field(
        default_factory=lambda: EvidenceConfig().min_clue_weight, ge=0.0, le=1.0
    )
    common_findings: list[str] | None = None  # None: the built-in list


def evidence_margin(ctx: CheckContext, items: Sequence[GeneratedQA]) -> list[Verdict]:
    # imported here: the scorer's module pulls scipy in, which every build would pay for at
    # start-up (the check registry imports this module)
    from kgsynth.evidence.score import judge

    settings = ctx.settings(CHECKS[0])
    assert isinstance(settings, MarginSettings)
    cfg = EvidenceConfig(
        min_margin=settings.min_margin,
        max_hops=settings.max_hops,
        min_clue_weight=settings.min_clue_weight,
        common_findings=settings.common_findings,
    )
    out = []
    for it in items:
        report = it.pathed.evidence
        if report is None:
            out.append(Verdict(None))
            continue
        why = judge(report, cfg)
        out.append(Verdict(why is None, [f"evidence_margin: {why[0]}: {why[1]}"] if why else []))
    return out


# -- options_addressed -----------------------------------------------------------------------
_NON_WORD = re.compile(r"[^0-9a-z]+")


def normalise(text: str) -> str:
    """NFKC, case-folded, every run of non-alphanumerics one space, padded with spaces so
    that containment is word-bounded (" b12 " is not in " vitamin b123 ")."""
    folded = unicodedata.normalize("NFKC", text).casefold()
    return f" {_NON_WORD.sub(' ', folded).strip()} "


def sentences(text: str) -> list[str]:
    """The claim check's sentences (an initial such as "H. pylori" ends none)."""
    return split_sentences(text)


def reason_names(it: GeneratedQA) -> set[str]:
    """Names a sentence may give as an option's reason: the question's entities (names and
    mentions), the evidence's findings and path nodes, the kept paths' nodes."""
    pathed = it.pathed
    names: set[str] = set()
    for e in pathed.linked.question_entities:
        names.update((e.name, e.mention))
    hops = [h for p in pathed.paths for h in p.hops]
    if pathed.evidence is not None:
        for o in pathed.evidence.options:
            for s in [*o.supports, *o.contradictions]:
                names.add(s.finding_name)
                hops.extend(s.path.hops)
    for h in hops:
        names.update((h.head_name, h.tail_name))
    return {n for n in map(normalise, names) if n.strip()}


def unaddressed(it: GeneratedQA) -> list[str] | None:
    """Letters of the options not discussed with a reason; None when there is nothing to
    judge (no options). A reasoning without its sections addresses nothing."""
    qa = it.pathed.linked.qa
    if not qa.options:
        return None
    parts = split_sections(it.generation.reasoning)
    sents = [normalise(s) for s in sentences(parts[1])] if parts else []
    names = reason_names(it)
    missing = []
    for letter, text in qa.options.items():
        opt = normalise(text)
        # a reason is another name than the option's own wording
        reasons = [n for n in names if n not in opt and opt not in n]
        ok = opt.strip() and any(opt in s and any(n in s for n in reasons) for s in sents)
        if not ok:
            missing.append(letter)
    return missing


def options_addressed(ctx: CheckContext, items: Sequence[GeneratedQA]) -> list[Verdict]:
    out = []
    for it in items:
        missing = unaddressed(it) if it.pathed.evidence is not None else None
        if missing is None:
            out.append(Verdict(None))
            continue
        opts = it.pathed.linked.qa.options
        why = [
            "options_addressed: not discussed with a KG reason in the reasoning: "
            + ", ".join(f"{x} '{opts[x][:40]}'" for x in missing)
        ]
        out.append(Verdict(not missing, why if missing else []))
    return out


# -- no_negated_start ------------------------------------------------------------------------
def negated_starts(it: GeneratedQA) -> list[str]:
    """Kept paths' start nodes that the question mentions, but never as present."""
    by_id: dict[str, set[str]] = {}
    for e in it.pathed.linked.question_entities:
        by_id.setdefault(e.kg_id, set()).add(e.assertion)
    bad = []
    for p in it.pathed.paths:
        seen = by_id.get(p.start_id)
        if seen is not None and "present" not in seen and p.start_id not in bad:
            bad.append(p.start_id)
    return bad


def no_negated_start(ctx: CheckContext, items: Sequence[GeneratedQA]) -> list[Verdict]:
    out = []
    for it in items:
        if it.pathed.evidence is None:
            out.append(Verdict(None))
            continue
        bad = negated_starts(it)
        why = [f"no_negated_start: path starts at a finding not present: {', '.join(bad)}"]
        out.append(Verdict(not bad, why if bad else []))
    return out


CHECKS = [
    Check(
        "evidence_margin",
        "the row's KG evidence (its evidence column) puts gold first by at least min_margin, "
        "gold reached from a present finding; null on rows without evidence",
        evidence_margin,
        config=MarginSettings,
    ),
    Check(
        "options_addressed",
        "every option's text appears in a sentence of the Reasoning Process that also names a "
        "KG entity or finding as its reason; null on rows without evidence or options",
        options_addressed,
    ),
    Check(
        "no_negated_start",
        "no kept path starts at a question finding that is not asserted present; null on rows "
        "without evidence",
        no_negated_start,
    ),
]
for _check in CHECKS:
    register_check(_check, replace=True)
