"""`kgsynth synth-kg`: multiple-choice questions posed from KG chains with a unique answer."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from kgsynth.cli_common import (
    CacheDirOption,
    KgOption,
    LLMBaseUrl,
    LLMKeyEnv,
    LLMModel,
    err,
    run_flow,
)
from kgsynth.cli_paths import OverwriteOption, overwrite_override

if TYPE_CHECKING:
    from flows.synth import SynthResult


def synth_kg(
    kg: KgOption = "hpo",
    n: Annotated[int | None, typer.Option(help="rows to export (default 100)")] = None,
    out: Annotated[Path | None, typer.Option(help="output folder (default out/synth)")] = None,
    overwrite: OverwriteOption = False,
    hops: Annotated[
        str | None, typer.Option(help="hops per chain: N or MIN-MAX (default 2-5)")
    ] = None,
    rare_percentile: Annotated[
        float | None,
        typer.Option(
            "--rare-percentile",
            help="start entities have a degree at or below this percentile (default 25)",
        ),
    ] = None,
    seed: Annotated[int | None, typer.Option(help="seeds every attempt (default 0)")] = None,
    cache_dir: CacheDirOption = None,
    generator: Annotated[
        str | None,
        typer.Option(help="offline (template questions) or openai (LLM-written)"),
    ] = None,
    base_url: LLMBaseUrl = None,
    model: LLMModel = None,
    api_key_env: LLMKeyEnv = None,
    start_type: Annotated[
        list[str] | None, typer.Option(help="allowed start type (repeatable)")
    ] = None,
    answer_type: Annotated[
        list[str] | None, typer.Option(help="allowed answer type (repeatable)")
    ] = None,
    relation: Annotated[
        list[str] | None, typer.Option(help="relation chains may use (repeatable)")
    ] = None,
    metapath: Annotated[
        list[str] | None,
        typer.Option(
            "--metapath",
            help="chain shape, e.g. 'phenotype -has_phenotype- disease -associated_with- gene'"
            " (repeatable; sets the hops)",
        ),
    ] = None,
    n_options: Annotated[int | None, typer.Option(help="options per question (default 5)")] = None,
    max_attempts: Annotated[
        int | None,
        typer.Option(help="attempts before giving up (default 50 per row)"),
    ] = None,
) -> None:
    """Pose KG chains from rare entities as questions whose answer is unique in the KG."""

    def start() -> SynthResult:
        from kgsynth.paths_check import check_synth_paths
        from kgsynth.synth.config import load_synth_config, parse_hops

        lo, hi = parse_hops(hops) if hops else (None, None)
        cfg = load_synth_config(
            {
                "kg": kg,
                "n": n,
                "out": out,
                "overwrite": overwrite_override(overwrite),
                "min_hops": lo,
                "max_hops": hi,
                "rare_percentile": rare_percentile,
                "seed": seed,
                "cache_dir": cache_dir,
                "generator": generator,
                "start_types": start_type or None,
                "answer_types": answer_type or None,
                "relations": relation or None,
                "metapaths": metapath or None,
                "n_options": n_options,
                "max_attempts": max_attempts,
                "llm": {"base_url": base_url, "model": model, "api_key_env": api_key_env},
            }
        )
        check_synth_paths(cfg)  # before the flow (and its imports) start
        from flows.synth import synth_from_kg
        from kgsynth.prefect_server import call_flow

        return call_flow(synth_from_kg, cfg)

    result = run_flow("kgsynth synth-kg", start, unit="attempts")
    if not result.complete:
        err.print(
            f"[bold yellow]warning:[/] only {result.report.exported} of {result.requested} rows "
            f"after {result.report.n_input} attempts (raise --max-attempts or "
            "loosen the constraints)"
        )
        raise typer.Exit(1)
