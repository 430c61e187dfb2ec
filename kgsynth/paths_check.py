"""The paths a run reads and writes, checked before any work starts.

A run that would fail on a path (a QA file that is missing, a cache folder that is a file,
an output folder it may not write) fails here, in a second, rather than after an hour of
building. Each flow calls its check first (deployments run flows without the CLI); the CLI
calls it too, before it starts the flow. Errors are KGSynthErrors that name the path.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

from kgsynth.errors import ConfigError, InputError, OutputError
from kgsynth.export.out import check_out

if TYPE_CHECKING:
    from kgsynth.config import BuildConfig
    from kgsynth.synth.config import SynthConfig


def check_input_file(path: Path, what: str) -> None:
    """`path` is a file we can read (a QA file, a config file)."""
    if not path.exists():
        raise InputError(str(path), f"no such {what}")
    if not path.is_file():
        raise InputError(str(path), f"{what} is a folder, not a file")
    if not os.access(path, os.R_OK):
        raise InputError(str(path), f"{what} is not readable")


def check_config_file(path: Path | None) -> None:
    """A --config path names a readable file."""
    if path is None:
        return
    if not path.is_file():
        kind = "is a folder, not a file" if path.is_dir() else "no such file"
        raise ConfigError(f"{path}: config file {kind}")


def check_folder_target(folder: Path, what: str) -> None:
    """`folder` is a folder or can be made one: not a file, not under a file."""
    if os.path.lexists(folder):
        if not folder.is_dir():
            raise ConfigError(f"{what} {folder}: is a file, not a folder")
        return
    anc = folder.parent
    while not os.path.lexists(anc) and anc != anc.parent:
        anc = anc.parent
    if not anc.is_dir():
        raise ConfigError(f"{what} {folder}: cannot be created under the file {anc}")


def _inside(path: Path, folder: Path) -> bool:
    a, b = Path(os.path.realpath(path)), Path(os.path.realpath(folder))
    return a == b or b in a.parents


def _not_inside_out(out: Path, paths: list[tuple[str, Path]]) -> None:
    # the dataset folder is replaced whole: nothing a run reads or keeps may live in it
    for what, p in paths:
        if _inside(p, out):
            raise OutputError(f"--out {out}: {what} {p} lies inside it; choose another folder")


def _benchmarks(cfg: BuildConfig | SynthConfig) -> list[tuple[str, Path]]:
    """The decontam benchmark files a run will read (none when the stage is off)."""
    if not cfg.decontam.active:
        return []
    files = [("decontam benchmark file", Path(f)) for f in cfg.decontam.against]
    for what, f in files:
        check_input_file(f, what)
    return files


def check_build_paths(cfg: BuildConfig) -> None:
    """A build's QA files, benchmark files, cache folders and output folder."""
    for qa in cfg.qa_files():
        check_input_file(qa, "QA file")
    benchmarks = _benchmarks(cfg)
    check_folder_target(cfg.cache_dir, "cache_dir")
    if cfg.run.result_dir is not None:
        check_folder_target(cfg.run.result_dir, "run.result_dir")
    check_out(cfg.out, cfg.overwrite)
    kept = [("QA file", qa) for qa in cfg.qa_files()] + [("cache_dir", cfg.cache_dir)]
    kept += benchmarks
    if cfg.run.result_dir is not None:
        kept.append(("run.result_dir", cfg.run.result_dir))
    _not_inside_out(cfg.out, kept)


def check_synth_paths(cfg: SynthConfig) -> None:
    """A KG-first synthesis' benchmark files, cache folder and output folder."""
    benchmarks = _benchmarks(cfg)
    check_folder_target(cfg.cache_dir, "cache_dir")
    check_out(cfg.out, cfg.overwrite)
    _not_inside_out(cfg.out, [("cache_dir", cfg.cache_dir), *benchmarks])


def check_verify_paths(dataset: Path, out: Path, cfg: BuildConfig) -> None:
    """A re-verification's dataset (read), cache folder and output folder (written), which
    must be apart: the new dataset may not replace or sit inside the one it reads."""
    from kgsynth.export.hub import DatasetError

    if not dataset.exists():
        raise DatasetError(f"{dataset}: no such dataset folder or Parquet file")
    if _inside(out, dataset) or _inside(dataset, out):
        raise OutputError(
            f"--out {out}: write the re-verified dataset to another folder, apart from "
            f"the dataset {dataset}"
        )
    check_folder_target(cfg.cache_dir, "cache_dir")
    check_out(out, cfg.overwrite)
    _not_inside_out(out, [("cache_dir", cfg.cache_dir)])
