"""The build flow: the one place where kgsynth's stages are wired together.

QA rows -> linked entities -> KG paths -> thinking-path text -> checks -> Parquet + card.
Each task takes and returns typed records; every row that leaves becomes a Reject, so
input = exported + rejected holds at the end (checked before anything is written).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from prefect import flow, task
from prefect.cache_policies import NO_CACHE

from kgsynth.config import BuildConfig
from kgsynth.export.rows import rows_frame
from kgsynth.export.write import write_outputs
from kgsynth.kg import KnowledgeGraph, load_kg
from kgsynth.linking.linker import Linker
from kgsynth.llm import make_generator
from kgsynth.paths.select import PathFinder
from kgsynth.progress import progress
from kgsynth.qa import QABatch, read_qa
from kgsynth.records import (
    GeneratedQA,
    Generation,
    LinkedQA,
    PathedQA,
    QARecord,
    Reject,
    VerifiedQA,
)
from kgsynth.report import BuildReport
from kgsynth.verify import Verifier

T = TypeVar("T")


@dataclass
class BuildResult:
    report: BuildReport
    files: dict[str, Path]


def _tracked(stage: str, items: list[T]) -> Iterator[T]:
    """Iterate while reporting progress to whoever listens (the CLI's progress bar)."""
    progress.start(stage, len(items))
    for i, item in enumerate(items, 1):
        yield item
        progress.advance(stage, i)
    progress.finish(stage)


# Stage tasks. Caching across runs is a later concern (task-level cache policies); here
# every task runs in-process and returns plain records.
_task = task(cache_policy=NO_CACHE, persist_result=False)


@_task
def read_input(cfg: BuildConfig) -> QABatch:
    return read_qa(cfg.qa_files(), limit=cfg.limit)


@_task
def load_graph(cfg: BuildConfig) -> KnowledgeGraph:
    return load_kg(cfg.kg, cache_dir=cfg.cache_dir)


@_task
def link_entities(
    records: list[QARecord], kg: KnowledgeGraph, cfg: BuildConfig
) -> tuple[list[LinkedQA], list[Reject], dict[str, str]]:
    linker = Linker(kg, cfg.linking, cfg.cache_dir)
    info = {
        "index": "cached" if linker.index_cached else "built",
        "aliases": str(len(linker.aliases)),
    }
    linked: list[LinkedQA] = []
    rejects: list[Reject] = []
    n_q = n_a = 0
    for qa in _tracked("link", records):
        item = linker(qa)
        n_q += bool(item.question_entities)
        n_a += bool(item.answer_entities)
        if not item.answer_entities:
            rejects.append(_reject(qa, "link", "no_answer_entity", f"answer '{qa.answer[:80]}'"))
        elif not item.question_entities:
            rejects.append(_reject(qa, "link", "no_question_entity", "no KG entity in question"))
        else:
            linked.append(item)
    info |= {"question_linked": str(n_q), "answer_linked": str(n_a)}
    return linked, rejects, info


@_task
def find_paths(
    linked: list[LinkedQA], kg: KnowledgeGraph, cfg: BuildConfig
) -> tuple[list[PathedQA], list[Reject]]:
    finder = PathFinder(kg, cfg.paths)
    pathed: list[PathedQA] = []
    rejects: list[Reject] = []
    for item in _tracked("paths", linked):
        p = finder(item)
        if p.paths:
            pathed.append(p)
        else:
            detail = f"no path within {cfg.paths.max_hops} hops"
            rejects.append(_reject(item.qa, "paths", "no_path", detail))
    return pathed, rejects


@_task
def generate(
    pathed: list[PathedQA], cfg: BuildConfig
) -> tuple[list[GeneratedQA], list[Reject], dict[str, str]]:
    gen = make_generator(cfg)
    info = {"name": gen.name, "model": gen.model, "prompt_version": gen.prompt_version}
    progress.start("generate", len(pathed))
    results = gen.generate(pathed)
    progress.finish("generate")
    out: list[GeneratedQA] = []
    rejects: list[Reject] = []
    for item, res in zip(pathed, results, strict=True):
        if isinstance(res, Generation):
            out.append(GeneratedQA(pathed=item, generation=res))
        else:
            rejects.append(res)
    return out, rejects, info


@_task
def verify(
    generated: list[GeneratedQA], kg: KnowledgeGraph, cfg: BuildConfig
) -> tuple[list[VerifiedQA], list[Reject]]:
    verifier = Verifier(kg, cfg.verify)
    passed: list[VerifiedQA] = []
    rejects: list[Reject] = []
    for item in _tracked("verify", generated):
        v = verifier(item)
        if v.checks.passed:
            passed.append(v)
        else:
            qa = item.pathed.linked.qa
            failed = [
                name
                for name, ok in (
                    ("kg_faithful", v.checks.kg_faithful),
                    ("answer_match", v.checks.answer_match),
                    ("no_leakage", v.checks.no_leakage),
                )
                if not ok
            ]
            rejects.append(_reject(qa, "verify", "+".join(failed), "; ".join(v.checks.reasons)))
    return passed, rejects


@_task
def export(
    verified: list[VerifiedQA], kg: KnowledgeGraph, report: BuildReport, cfg: BuildConfig
) -> dict[str, Path]:
    report.check_balance()
    rows = rows_frame(verified, kg.name, kg.hash)
    return write_outputs(cfg.out, rows, report, cfg)


def _reject(qa: QARecord, stage: str, reason: str, detail: str) -> Reject:
    return Reject(
        id=qa.id,
        stage=stage,
        reason=reason,
        detail=detail,
        source_file=qa.meta.get("file"),
        line=int(qa.meta["line"]) if qa.meta.get("line", "").isdigit() else None,
    )


def _timed(report: BuildReport, name: str, fn: Callable[..., T], *args: object) -> T:
    t0 = time.perf_counter()
    out = fn(*args)
    report.seconds[name] = round(time.perf_counter() - t0, 3)
    return out


@flow(name="build_dataset", persist_result=False, log_prints=True)
def build_dataset(config: BuildConfig) -> BuildResult:
    """QA pairs + medical KG -> verified thinking-path dataset (Parquet + card)."""
    cfg = config
    report = BuildReport()

    batch = _timed(report, "read_input", read_input, cfg)
    report.rejects += batch.rejects
    report.counts["input"] = batch.n_input

    kg = _timed(report, "load_kg", load_graph, cfg)
    report.kg = {
        "name": kg.name,
        "hash": kg.hash,
        "nodes": str(kg.n_nodes),
        "edges": str(kg.n_edges),
        "release": kg.meta.get("hpo_release", kg.meta.get("release", "")),
    }

    linked, rej, report.linker = _timed(report, "link", link_entities, batch.records, kg, cfg)
    report.rejects += rej
    report.counts["linked"] = len(linked)

    pathed, rej = _timed(report, "paths", find_paths, linked, kg, cfg)
    report.rejects += rej
    report.counts["with_path"] = len(pathed)

    generated, rej, report.generator = _timed(report, "generate", generate, pathed, cfg)
    report.rejects += rej
    report.counts["generated"] = len(generated)

    verified, rej = _timed(report, "verify", verify, generated, kg, cfg)
    report.rejects += rej
    report.counts["verified"] = len(verified)

    files = _timed(report, "export", export, verified, kg, report, cfg)
    return BuildResult(report=report, files=files)
