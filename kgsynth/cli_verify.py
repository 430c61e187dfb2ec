"""`kgsynth verify DATASET`: the build's checks over an existing dataset, into a new folder."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from kgsynth import cli_common as common
from kgsynth.cli_paths import OverwriteOption, overwrite_override

if TYPE_CHECKING:
    from flows.verify import VerifyResult


def verify(
    dataset: Annotated[Path, typer.Argument(help="dataset folder or Parquet file")],
    out: Annotated[Path, typer.Option(help="folder for the re-verified dataset")],
    overwrite: OverwriteOption = False,
    config: common.ConfigOption = None,
    kg: Annotated[str | None, typer.Option(help="the KG the dataset was built on")] = None,
    likelihood_model: Annotated[Path | None, typer.Option(help="local causal-LM folder")] = None,
    margin: Annotated[float | None, typer.Option(help="likelihood: gold's lead")] = None,
    device: Annotated[str | None, typer.Option(help="auto | cpu | cuda")] = None,
    claims: Annotated[
        bool | None, typer.Option("--claims/--no-claims", help="claim-level KG check")
    ] = None,
    free_text: Annotated[str | None, typer.Option(help="rule | embedding | judge")] = None,
    embedding_model: Annotated[Path | None, typer.Option(help="local encoder folder")] = None,
    threshold: Annotated[float | None, typer.Option(help="embedding: min cosine to gold")] = None,
    base_url: common.LLMBaseUrl = None,
    model: common.LLMModel = None,
    api_key_env: common.LLMKeyEnv = None,
    cache_dir: common.CacheDirOption = None,
) -> None:
    """Run the verifiers over an existing dataset (the check settings of its own build
    config, then --config and the flags) and write the rows that pass, with the same
    columns, to --out. Endpoints, keys, caches and models come only from --config, the
    flags and the environment, never from the dataset."""
    from kgsynth.config import load_config, read_config_file

    overrides = {
        "kg": kg,
        "cache_dir": cache_dir,
        "overwrite": overwrite_override(overwrite),
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

    def start() -> VerifyResult:
        from kgsynth.errors import ConfigError
        from kgsynth.paths_check import check_config_file, check_verify_paths
        from kgsynth.stages.reverify import dataset_kg_unusable, dataset_settings, source_config

        check_config_file(config)
        recorded = source_config(dataset)
        user_kg = kg or (read_config_file(config).get("kg") if config else None)
        if user_kg is None and (named := dataset_kg_unusable(recorded)):
            raise ConfigError(
                f"{dataset}: built on the KG file {named!r}; kgsynth does not open files a "
                "dataset names: pass --kg with the KG to check against"
            )
        cfg = load_config(config, overrides, base=dataset_settings(recorded))
        check_verify_paths(dataset, out, cfg)  # before the flow (and its imports) start
        from flows.verify import verify_dataset
        from kgsynth.prefect_server import call_flow

        return call_flow(verify_dataset, dataset, out, cfg)

    common.run_flow("kgsynth verify", start)
