"""Re-verify an existing dataset (`kgsynth verify DATASET`): the checks a build runs, over the
rows of a dataset folder, written as a new dataset folder with the same columns.

Prefect wiring only; the stage lives in kgsynth/stages/reverify.py:
read the dataset -> load its KG -> checks (rules, claims, free-text matcher or judge,
likelihood) -> export. The dataset's build config is the starting point (same KG, linker,
checks), the caller's config overrides it. Counts carry over: the source build's
input = exported + rejected still holds.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from prefect import flow

from kgsynth import resources
from kgsynth.config import BuildConfig
from kgsynth.errors import KGSynthError
from kgsynth.kg import load_kg
from kgsynth.llm.client import LLMClient
from kgsynth.llm.structured import StructuredRunner
from kgsynth.paths_check import check_verify_paths
from kgsynth.report import BuildReport, kg_summary
from kgsynth.stages import BuildContext, Stage, StageResult
from kgsynth.stages.export import ExportInfo, ExportStage
from kgsynth.stages.reverify import Dataset, ReverifyStage, reverify_card


@dataclass
class VerifyResult:
    report: BuildReport
    files: dict[str, Path]


@flow(name="verify_dataset", persist_result=False, log_prints=True)
def verify_dataset(dataset: Path, out: Path, config: BuildConfig) -> VerifyResult:
    """Run the configured checks over an exported dataset; write the result to `out`."""
    cfg = config
    check_verify_paths(dataset, out, cfg)  # a bad cache or --out fails now, not after the run
    if out.resolve() == dataset.resolve():
        raise KGSynthError(f"{out}: write the re-verified dataset to another folder")
    report = BuildReport()
    with report.timed("read"):
        data = Dataset.read(dataset)
        kg = resources.share_kg(cfg.kg, cfg.cache_dir, load_kg(cfg.kg, cache_dir=cfg.cache_dir))
        data.check_kg(kg, cfg.kg)
    report.kg = kg_summary(kg)
    # the source build's input: its rows and its rejects
    report.record(Stage.INPUT, StageResult(kept=data.records(), rejects=data.prior_rejects))

    judge = cfg.verify.free_text.method == "judge"
    client = LLMClient(cfg.llm, cache_dir=cfg.cache_dir) if judge else None
    runner = StructuredRunner(client) if client is not None else None
    ctx = BuildContext(cfg=cfg, kg=kg, client=client, runner=runner, report=report)
    stage = ReverifyStage(data, cfg)
    with report.timed(stage.stage.value):
        result = stage.run(data.records(), ctx)
    report.record(stage.stage, result)
    if client is not None:
        report.llm_usage = client.usage_report()
        client.close()

    export = ExportStage(
        card=lambda r: reverify_card(r, dataset, ctx),
        summary={
            "source": str(dataset),
            "rows_read": data.rows.height,
            "kept": len(result.kept),
            "rejected_now": len(result.rejects),
            "rejected_before": len(data.prior_rejects),
            "config": cfg.model_dump(mode="json"),
        },
        frame=lambda kept: data.rows_of(kept, kg),
        out=out,
    )
    info = export.run(result.kept, ctx).info
    assert isinstance(info, ExportInfo)
    return VerifyResult(report=report, files=info.files)
