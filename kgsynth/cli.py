"""`kgsynth` command line: runs the same Prefect flow a deployment runs, in-process."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console

from kgsynth.cli_cache import cache_app
from kgsynth.cli_common import (
    KG_HELP,
    CacheDirOption,
    ConfigOption,
    LLMBaseUrl,
    LLMKeyEnv,
    LLMModel,
    run_flow,
    tune_gc,
)
from kgsynth.cli_decontam import decontam
from kgsynth.cli_deploy import deploy
from kgsynth.cli_inspect import inspect_dataset
from kgsynth.cli_kg import kg_app
from kgsynth.cli_paths import OverwriteOption, overwrite_override
from kgsynth.cli_synth import synth_kg
from kgsynth.cli_verify import verify
from kgsynth.cli_view import view

if TYPE_CHECKING:
    from flows.build import BuildResult

app = typer.Typer(add_completion=False, no_args_is_help=True, help=__doc__)
app.add_typer(kg_app, name="kg")
app.add_typer(cache_app, name="cache")
app.command("synth-kg")(synth_kg)
app.command("inspect")(inspect_dataset)
app.command("verify")(verify)
app.command("deploy")(deploy)
app.command("view")(view)
app.command("decontam")(decontam)
console = Console(stderr=True)


@app.callback()
def main() -> None:
    """kgsynth: QA pairs + a medical KG -> verified thinking-path CoT datasets."""
    tune_gc()  # before any command imports its heavy modules


@app.command()
def build(
    qa: Annotated[
        list[Path] | None, typer.Option(help="QA file(s): .jsonl, .json, .csv, .parquet")
    ] = None,
    kg: Annotated[str | None, typer.Option(help=KG_HELP)] = None,
    out: Annotated[Path | None, typer.Option(help="output folder")] = None,
    overwrite: OverwriteOption = False,
    config: ConfigOption = None,
    generator: Annotated[str | None, typer.Option(help="offline | openai")] = None,
    limit: Annotated[int | None, typer.Option(help="only the first N QA rows")] = None,
    threshold: Annotated[float | None, typer.Option(help="linking score threshold")] = None,
    ner_model: Annotated[str | None, typer.Option(help="installed scispaCy NER model")] = None,
    max_hops: Annotated[int | None, typer.Option()] = None,
    k: Annotated[int | None, typer.Option(help="paths kept per entity pair")] = None,
    max_paths: Annotated[int | None, typer.Option()] = None,
    base_url: LLMBaseUrl = None,
    model: LLMModel = None,
    api_key_env: LLMKeyEnv = None,
    cache_dir: CacheDirOption = None,
    shard_size: Annotated[int | None, typer.Option(help="QA rows per shard task", min=1)] = None,
    task_runner: Annotated[
        str | None, typer.Option(help="local | dask (Dask worker processes)")
    ] = None,
    dask_address: Annotated[
        str | None,
        typer.Option(help="existing Dask scheduler (implies --task-runner dask)"),
    ] = None,
    workers: Annotated[
        int | None, typer.Option(help="Dask LocalCluster worker processes", min=1)
    ] = None,
    cache_results: Annotated[
        bool | None,
        typer.Option("--cache-results/--no-cache-results", help="reuse finished shards"),
    ] = None,
) -> None:
    """Build a verified thinking-path dataset (defaults: the sample QA, the HPO KG, offline)."""
    from kgsynth.config import load_config

    overrides = {
        "qa": qa or None,
        "kg": kg,
        "out": out,
        "overwrite": overwrite_override(overwrite),
        "generator": generator,
        "limit": limit,
        "cache_dir": cache_dir,
        "linking": {"threshold": threshold, "ner_model": ner_model},
        "paths": {"max_hops": max_hops, "k": k, "max_paths": max_paths},
        "llm": {"base_url": base_url, "model": model, "api_key_env": api_key_env},
        "run": {
            "shard_size": shard_size,
            "task_runner": task_runner or ("dask" if dask_address else None),
            "dask_address": dask_address,
            "n_workers": workers,
            "cache_results": cache_results,
        },
    }

    def start() -> BuildResult:
        from kgsynth.paths_check import check_build_paths, check_config_file

        # every path is checked before the flow (and its imports) start
        check_config_file(config)
        cfg = load_config(config, overrides)
        check_build_paths(cfg)
        from flows.build import build_dataset
        from kgsynth.prefect_server import call_flow

        if cfg.run.task_runner == "dask":
            from kgsynth.export.plots import start_worker

            # the stages run in Dask's processes, so none starts the plot worker here
            # (kgsynth.progress on_work): start it now, in case the plots are not cached
            start_worker()
        # Dask workers report their task runs to the Prefect API; a local build needs none
        return call_flow(build_dataset, cfg, needs_api=cfg.run.task_runner == "dask")

    run_flow("kgsynth build", start)


if __name__ == "__main__":
    app()
