"""`kgsynth verify DATASET`: the build's checks over an existing dataset, into a new folder."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from kgsynth.cli_common import (
    ApiKeyEnvOption,
    BaseUrlOption,
    CacheDirOption,
    ModelOption,
    fail,
    print_summary,
    quiet_prefect,
    run_with_progress,
)
from kgsynth.errors import KGSynthError


def verify(
    dataset: Annotated[Path, typer.Argument(help="dataset folder or Parquet file")],
    out: Annotated[Path, typer.Option(help="folder for the re-verified dataset")],
    config: Annotated[
        Path | None, typer.Option("--config", "-c", help="TOML or YAML build config")
    ] = None,
    kg: Annotated[str | None, typer.Option(help="the KG the dataset was built on")] = None,
    likelihood_model: Annotated[
        Path | None, typer.Option("--likelihood-model", help="local causal-LM folder")
    ] = None,
    margin: Annotated[float | None, typer.Option(help="likelihood: gold's lead")] = None,
    device: Annotated[str | None, typer.Option(help="auto | cpu | cuda")] = None,
    claims: Annotated[
        bool | None, typer.Option("--claims/--no-claims", help="claim-level KG check")
    ] = None,
    free_text: Annotated[
        str | None, typer.Option("--free-text", help="rule | embedding | judge")
    ] = None,
    embedding_model: Annotated[
        Path | None, typer.Option("--embedding-model", help="local encoder folder")
    ] = None,
    threshold: Annotated[float | None, typer.Option(help="embedding: min cosine to gold")] = None,
    base_url: BaseUrlOption = None,
    model: ModelOption = None,
    api_key_env: ApiKeyEnvOption = None,
    cache_dir: CacheDirOption = None,
) -> None:
    """Run the verifiers over an existing dataset (its own build config, then --config and
    the flags) and write the rows that pass, with the same columns, to --out."""
    quiet_prefect()
    from kgsynth.config import load_config

    overrides = {
        "kg": kg,
        "cache_dir": cache_dir,
        "verify": {
            "claims": {"enabled": claims},
            "likelihood": {"model_path": likelihood_model, "margin": margin, "device": device},
            "free_text": {
                "method": free_text,
                "model_path": embedding_model,
                "threshold": threshold,
                "device": device,
            },
        },
        "llm": {"base_url": base_url, "model": model, "api_key_env": api_key_env},
    }
    try:
        from flows.verify import verify_dataset
        from kgsynth.stages.reverify import source_config

        cfg = load_config(config, overrides, base=source_config(dataset))
        result = run_with_progress(verify_dataset, dataset, out, cfg)
    except KGSynthError as e:
        fail(str(e))
    print_summary(result, "kgsynth verify")
