"""The --overwrite flag that every command writing a dataset folder (build, synth-kg,
verify) takes; the checks behind it live in kgsynth.export.out and kgsynth.paths_check."""

from __future__ import annotations

from typing import Annotated

import typer

OverwriteOption = Annotated[
    bool,
    typer.Option(
        "--overwrite",
        help="replace the kgsynth dataset already at --out (a folder holding other files is "
        "never replaced)",
    ),
]


def overwrite_override(flag: bool) -> bool | None:
    # without the flag, the config's `overwrite` (default false) decides
    return True if flag else None
