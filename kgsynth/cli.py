"""`kgsynth` command line: runs the same Prefect flow a deployment runs, in-process."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from kgsynth.cli_common import (
    KG_HELP,
    ApiKeyEnvOption,
    BaseUrlOption,
    CacheDirOption,
    ModelOption,
    fail,
    print_summary,
    quiet_prefect,
    run_with_progress,
)
from kgsynth.cli_deploy import deploy
from kgsynth.cli_inspect import inspect_dataset
from kgsynth.cli_kg import kg_app
from kgsynth.cli_synth import synth_kg
from kgsynth.cli_verify import verify
from kgsynth.errors import KGSynthError

app = typer.Typer(add_completion=False, no_args_is_help=True, help=__doc__)
app.add_typer(kg_app, name="kg")
app.command("synth-kg")(synth_kg)
app.command("inspect")(inspect_dataset)
app.command("verify")(verify)
app.command("deploy")(deploy)
console = Console(stderr=True)


@app.callback()
def main() -> None:
    """kgsynth: QA pairs + a medical KG -> verified thinking-path CoT datasets."""


@app.command()
def build(
    qa: Annotated[
        list[Path] | None, typer.Option("--qa", help="QA file(s): .jsonl, .json, .csv, .parquet")
    ] = None,
    kg: Annotated[str | None, typer.Option("--kg", help=KG_HELP)] = None,
    out: Annotated[Path | None, typer.Option(help="output folder")] = None,
    config: Annotated[
        Path | None, typer.Option("--config", "-c", help="TOML or YAML build config")
    ] = None,
    generator: Annotated[str | None, typer.Option(help="offline | openai")] = None,
    limit: Annotated[int | None, typer.Option(help="only the first N QA rows")] = None,
    threshold: Annotated[float | None, typer.Option(help="linking score threshold")] = None,
    ner_model: Annotated[
        str | None, typer.Option("--ner-model", help="installed scispaCy NER model")
    ] = None,
    max_hops: Annotated[int | None, typer.Option("--max-hops")] = None,
    k: Annotated[int | None, typer.Option("--k", help="paths kept per entity pair")] = None,
    max_paths: Annotated[int | None, typer.Option("--max-paths")] = None,
    base_url: BaseUrlOption = None,
    model: ModelOption = None,
    api_key_env: ApiKeyEnvOption = None,
    cache_dir: CacheDirOption = None,
    shard_size: Annotated[
        int | None, typer.Option("--shard-size", help="QA rows per shard task", min=1)
    ] = None,
    task_runner: Annotated[
        str | None, typer.Option("--task-runner", help="local | dask (Dask worker processes)")
    ] = None,
    dask_address: Annotated[
        str | None,
        typer.Option("--dask-address", help="existing Dask scheduler (implies --task-runner dask)"),
    ] = None,
    workers: Annotated[
        int | None, typer.Option("--workers", help="Dask LocalCluster worker processes", min=1)
    ] = None,
    cache_results: Annotated[
        bool | None,
        typer.Option("--cache-results/--no-cache-results", help="reuse finished shards"),
    ] = None,
) -> None:
    """Build a verified thinking-path dataset (defaults: the sample QA, the HPO KG, offline)."""
    quiet_prefect()
    from kgsynth.config import load_config

    overrides = {
        "qa": qa or None,
        "kg": kg,
        "out": out,
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
    try:
        cfg = load_config(config, overrides)
        from flows.build import build_dataset

        result = run_with_progress(build_dataset, cfg)
    except KGSynthError as e:
        fail(str(e))
    print_summary(result, "kgsynth build")


if __name__ == "__main__":
    app()
