"""The KG-first synthesis flow: rare-entity chains -> unique-answer questions -> Parquet.

Prefect wiring only; the stages live in kgsynth/stages/synth.py:
sample -> pose (answer unique, distractors that fail the chain) -> write -> verify, in
rounds of attempts until `n` rows pass or the attempt budget is spent -> settle -> export,
in the build's row schema (source `kg`). Every attempt that leaves becomes a Reject; for
the attempts a run used, attempts = exported + rejected (checked before anything is written).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from prefect import flow, task
from prefect.cache_policies import NO_CACHE
from prefect.utilities.annotations import quote

from kgsynth.kg import KnowledgeGraph, load_kg
from kgsynth.llm.client import LLMClient
from kgsynth.llm.structured import StructuredRunner
from kgsynth.paths_check import check_synth_paths
from kgsynth.prefect_server import unpersisted_storage
from kgsynth.progress import progress
from kgsynth.records import Reject, VerifiedQA
from kgsynth.report import BuildReport, kg_summary
from kgsynth.stages import StageResult
from kgsynth.stages.decontam import TEXT_METHODS, DecontamStage
from kgsynth.stages.export import ExportInfo, ExportStage
from kgsynth.stages.synth import (
    PoseStage,
    SampleStage,
    SynthContext,
    SynthVerifyStage,
    WriteStage,
    check_llm_failures,
    round_size,
    sampling_info,
    settle,
)
from kgsynth.synth.card import synth_card
from kgsynth.synth.config import SynthConfig
from kgsynth.synth.question import Complete


@dataclass
class SynthResult:
    report: BuildReport
    files: dict[str, Path]
    requested: int

    @property
    def complete(self) -> bool:
        return self.report.exported == self.requested


# an explicit (never written) result storage: see unpersisted_storage
_task = task(cache_policy=NO_CACHE, persist_result=False, result_storage=unpersisted_storage())


@_task
def load_graph(cfg: SynthConfig) -> KnowledgeGraph:
    return load_kg(cfg.kg, cache_dir=cfg.cache_dir)


@_task
def run_round(
    attempts: list[int], stages: tuple, ctx: SynthContext, report: BuildReport
) -> StageResult[VerifiedQA]:
    """One round of attempts through every stage; the rejects of all of them come back."""
    out = StageResult[VerifiedQA](kept=[])
    batch: list = attempts
    for st in stages:
        with report.timed(st.stage.value):
            res = st.run(batch, ctx)
        out.rejects += res.rejects
        if res.info is not None:
            report.round_info(st.stage, res.info)
        batch = res.kept
    out.kept = batch
    return out


@_task
def export(verified: list[VerifiedQA], ctx: SynthContext, sampling: dict[str, str]) -> ExportInfo:
    cfg = ctx.cfg
    stage = ExportStage(
        card=lambda r: synth_card(r, cfg, sampling),
        summary={"requested": cfg.n, "sampling": sampling, "config": cfg.model_dump(mode="json")},
    )
    info = stage.run(verified, ctx).info
    assert isinstance(info, ExportInfo)
    return info


@flow(name="synth_from_kg", persist_result=False, log_prints=True)
def synth_from_kg(config: SynthConfig, complete: Complete | None = None) -> SynthResult:
    """KG chains from rare entities -> verified unique-answer MCQ rows (Parquet + card)."""
    cfg = config
    check_synth_paths(cfg)  # a bad cache or --out fails now, not after the run
    if cfg.generator == "offline":
        complete = None
    client = (
        LLMClient(cfg.llm, cache_dir=cfg.cache_dir)
        if cfg.generator == "openai" and complete is None
        else None
    )
    report = BuildReport()
    with report.timed("load_kg"):
        kg = load_graph(cfg)
    report.kg = kg_summary(kg)
    sampling = sampling_info(kg, cfg)
    runner = StructuredRunner(client) if client is not None else None
    ctx = SynthContext(cfg=cfg, kg=kg, client=client, runner=runner, report=report)
    # decontam by the KG before a question is written (no LLM call for a chain a benchmark
    # item asks), by text once it is, before its checks (and the LLM's judge)
    stages = (
        SampleStage(),
        PoseStage(),
        DecontamStage(cfg, methods=("kg",)),
        WriteStage(complete),
        DecontamStage(cfg, methods=TEXT_METHODS, counts_rows="kg" not in cfg.decontam.methods),
        SynthVerifyStage(),
    )

    verified: list[VerifiedQA] = []
    rejects: list[Reject] = []
    tried = 0
    progress.start("rows", cfg.n)
    while len(verified) < cfg.n and tried < cfg.attempt_budget:
        size = round_size(cfg, len(verified), tried)
        # quoted: Prefect would walk the context and report (every reject so far) for futures
        done = run_round(list(range(tried, tried + size)), stages, quote(ctx), quote(report))
        verified += done.kept
        rejects += done.rejects
        tried += size
        progress.advance("rows", min(len(verified), cfg.n))
        check_llm_failures(cfg, rejects, tried)  # a dead endpoint fails now, not at the end
    progress.finish("rows")

    verified, report.rejects, report.counts = settle(cfg, verified, rejects, tried)
    # on the attempts the run used, before export writes a thinned dataset
    report.check_llm_failures(cfg.llm.max_failure_ratio, unit="attempts")
    if client is not None:
        report.llm_usage = client.usage_report()
        client.close()
    with report.timed("export"):
        files = export(quote(verified), quote(ctx), sampling).files
    return SynthResult(report=report, files=files, requested=cfg.n)
