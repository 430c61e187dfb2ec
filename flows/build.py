"""The build flow: QA pairs + a medical KG -> a verified thinking-path dataset.

Prefect wiring only; every stage lives in kgsynth/stages:
read -> dedup (whole input) -> load KG -> decontam -> link -> evidence -> paths -> generate
-> verify (-> quality), shard by shard on the configured task runner with each shard's
result cached (kgsynth/runs.py), the input waiting on disk for its shard and each shard's
kept rows and rejects written to Parquet parts as it finishes (kgsynth/export/parts.py) ->
export (Parquet + card, from the parts). Every row that leaves becomes a Reject, so input =
exported + rejected holds (checked before anything is written).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from pathlib import Path

from prefect import flow, task
from prefect.cache_policies import NO_CACHE
from prefect.utilities.annotations import quote

from kgsynth import resources, runs
from kgsynth.config import BuildConfig
from kgsynth.export.card import dataset_card
from kgsynth.export.parts import RowParts, spooled_build
from kgsynth.export.rows import rows_frame
from kgsynth.kg import KnowledgeGraph, load_kg
from kgsynth.paths_check import check_build_paths
from kgsynth.prefect_server import unpersisted_storage
from kgsynth.records import QARecord
from kgsynth.report import BuildReport, kg_summary
from kgsynth.stages import StageContext
from kgsynth.stages.decontam import DecontamStage
from kgsynth.stages.dedup import DedupStage
from kgsynth.stages.evidence import EvidenceStage
from kgsynth.stages.export import ExportInfo, ExportStage
from kgsynth.stages.generate import GenerateStage
from kgsynth.stages.link import LinkStage
from kgsynth.stages.paths import PathsStage
from kgsynth.stages.quality import QualityStage
from kgsynth.stages.read import ReadStage
from kgsynth.stages.verify import VerifyStage


@dataclass
class BuildResult:
    report: BuildReport
    files: dict[str, Path]


# an explicit (never written) result storage: see unpersisted_storage
_task = task(cache_policy=NO_CACHE, persist_result=False, result_storage=unpersisted_storage())


@_task
def read_input(cfg: BuildConfig, report: BuildReport) -> list[QARecord]:
    # duplicates across the whole input leave here, before any split of the work
    ctx = StageContext(cfg=cfg)
    records = runs.run_stage(report, ReadStage(cfg), cfg.qa_files(), ctx)
    return runs.run_stage(report, DedupStage(cfg), records, ctx)


@_task
def load_graph(cfg: BuildConfig) -> KnowledgeGraph:
    # also fills the on-disk cache that Dask workers load from; local shards reuse this object
    return resources.share_kg(cfg.kg, cfg.cache_dir, load_kg(cfg.kg, cache_dir=cfg.cache_dir))


def chain_steps(cfg: BuildConfig) -> dict[str, str]:
    """The LLM steps besides the writer that shaped every row, with their versions."""
    chain: dict[str, str] = {}
    if cfg.generator == "openai":
        from kgsynth.chain.run import chain_versions

        chain = chain_versions(cfg.chain.enabled())
    if cfg.verify.answer_match and cfg.verify.free_text.method == "judge":
        from kgsynth.llm.blocks import JUDGE

        chain["verify_judge"] = JUDGE.version  # the judge that passed free-text rows
    return chain


@_task
def export(
    rows: RowParts, kg: KnowledgeGraph, report: BuildReport, cfg: BuildConfig
) -> dict[str, Path]:
    stage = ExportStage(
        card=lambda r: dataset_card(r, cfg), summary={"config": cfg.model_dump(mode="json")}
    )
    info = stage.run(rows, StageContext(cfg=cfg, kg=kg, report=report)).info
    assert isinstance(info, ExportInfo)
    return info.files


@flow(name="build_dataset", persist_result=False, log_prints=True)
def build_dataset(config: BuildConfig) -> BuildResult:
    """QA pairs + medical KG -> verified thinking-path dataset (Parquet + card)."""
    cfg = config
    check_build_paths(cfg)  # a bad QA path, cache or --out fails now, not after the build
    report = BuildReport()
    records = read_input(cfg, report)
    with report.timed("load_kg"):
        kg = load_graph(cfg)
    report.kg = kg_summary(kg)
    if runs.needs_llm(cfg):
        from kgsynth.llm.client import LLMClient

        LLMClient(cfg.llm).close()  # a missing API key fails here, before any shard starts

    if cfg.decontam.active:
        # a bad benchmark file fails now, and each index is built once, not once per worker
        DecontamStage(cfg).indexes(StageContext(cfg=cfg, kg=kg))

    # the per-row stages, each set up from this build's config, run shard by shard
    stages = (
        DecontamStage(cfg),  # first: no LLM call (entity extraction on) for a benchmark's row
        LinkStage(cfg),
        EvidenceStage(cfg),
        PathsStage(cfg),
        GenerateStage(cfg),
        VerifyStage(cfg),
        QualityStage(cfg),
    )
    # the input waits on disk for its shard; rows and rejects leave memory as their shards
    # finish, as Parquet parts (run_shards empties `records`)
    when = datetime.now(UTC)
    frame = partial(rows_frame, kg_name=kg.name, kg_hash=kg.hash, created_at=when)
    with spooled_build(cfg.out, partial(frame, chain=chain_steps(cfg))) as spool:
        with report.timed("shards"):
            sharded = runs.run_shards(stages, records, kg.hash, cfg, spool=spool)
        report.absorb(sharded)
        # an LLM outage fails the build here, before export writes a thinned dataset
        report.check_llm_failures(cfg.llm.max_failure_ratio)

        with report.timed("export"):
            # quoted: Prefect would otherwise walk these looking for futures (there are none)
            files = export(quote(spool.rows), kg, quote(report), cfg)
    return BuildResult(report=report, files=files)
