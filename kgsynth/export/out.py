"""The output folder of a run (`--out`): what kgsynth may write there, and writing it whole.

kgsynth writes a dataset folder only where it loses nothing: a folder that does not exist
yet, an empty one, or (with `overwrite`) a kgsynth dataset made of nothing but the files
kgsynth writes. A non-empty folder that is not a dataset, or a dataset holding a file of
someone else's, is refused; kgsynth does not carry such files over (refusing says which file
and leaves the choice to the user, and a dataset never ships a file its card does not list).

A kgsynth dataset is a folder whose build.json is a JSON object with `kgsynth_files`, the
list of the files the writer wrote (kgsynth.export.write), or, for datasets written before
that list, the `counts`, `exported` and `rejected` every build summary has.

The new dataset is written into a temporary sibling and renamed into place
(kgsynth.atomic.staged_replace), so a run killed mid-write leaves the old dataset whole.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from fnmatch import fnmatchcase
from pathlib import Path

from kgsynth.atomic import recover_interrupted, staged_replace
from kgsynth.errors import OutputError
from kgsynth.export.hub import CARD_FILE, DATA_GLOB, PLOTS_DIR, REJECTS_FILE, SUMMARY_FILE

MANIFEST_KEY = "kgsynth_files"  # build.json: the files the writer wrote, relative paths

# every file kgsynth writes into a dataset folder (data.parquet: the layout before data/)
OWN_FILES = (CARD_FILE, SUMMARY_FILE, REJECTS_FILE, DATA_GLOB, f"{PLOTS_DIR}/*.png", "data.parquet")
# what the writer before kgsynth_files could leave behind when a run died mid-write
LEGACY_LEFTOVERS = (f"{DATA_GLOB}.tmp", f"{REJECTS_FILE}.tmp")
OWN_DIRS = ("data", PLOTS_DIR)
# the keys of every build summary (kgsynth.report.BuildReport.summary)
_SUMMARY_KEYS = ("counts", "exported", "rejected")

OVERWRITE_HINT = "pass --overwrite (or set `overwrite = true` in the config) to replace it"


def _own(rel: str, patterns: tuple[str, ...]) -> bool:
    # fnmatchcase's `*` also matches `/`: a pattern's folder part must match on its own
    return any(rel.count("/") == p.count("/") and fnmatchcase(rel, p) for p in patterns)


def dataset_manifest(folder: Path) -> list[str] | None:
    """The files a kgsynth dataset folder's writer listed ([] for a dataset written before
    the list), or None when `folder` holds no kgsynth build.json."""
    f = folder / SUMMARY_FILE
    if not f.is_file() or f.is_symlink():
        return None
    try:
        summary = json.loads(f.read_text("utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return None
    if not isinstance(summary, dict):
        return None
    listed = summary.get(MANIFEST_KEY)
    if isinstance(listed, list) and all(isinstance(x, str) for x in listed):
        return listed
    if all(k in summary for k in _SUMMARY_KEYS):
        return []
    return None


def foreign_entries(folder: Path, manifest: list[str]) -> list[str]:
    """The entries of a dataset folder kgsynth did not write, as paths relative to it (sorted):
    a file must be one kgsynth writes and, when the folder has a list, on it; a link, a
    folder other than data/ and plots/, or anything else is foreign."""
    listed = set(manifest)
    foreign: list[str] = []
    for root, dirs, files in os.walk(folder):
        base = Path(root)
        for name in dirs + files:
            p = base / name
            rel = p.relative_to(folder).as_posix()
            if p.is_symlink():
                foreign.append(rel)
            elif p.is_dir():
                if rel not in OWN_DIRS:
                    foreign.append(rel)
            elif not p.is_file():
                foreign.append(rel)
            elif manifest:
                if rel not in listed or not _own(rel, OWN_FILES):
                    foreign.append(rel)
            elif not _own(rel, OWN_FILES + LEGACY_LEFTOVERS):
                foreign.append(rel)
        dirs[:] = [d for d in dirs if (base / d).relative_to(folder).as_posix() in OWN_DIRS]
    return sorted(foreign)


def _creatable(folder: Path, what: str) -> None:
    """`folder` does not exist: its first existing ancestor must be a folder we may write."""
    anc = folder.parent
    while not os.path.lexists(anc) and anc != anc.parent:
        anc = anc.parent
    if not anc.is_dir():
        raise OutputError(f"{what} {folder}: cannot be created under the file {anc}")
    if not os.access(anc, os.W_OK | os.X_OK):
        raise OutputError(f"{what} {folder}: cannot be created ({anc} is not writable)")


def check_out(out: Path, overwrite: bool, what: str = "--out") -> None:
    """Raise OutputError unless a dataset may be written to `out` (see the module's note);
    first puts back an old dataset that a killed replace left under a temporary name."""
    final = Path(os.path.abspath(out))
    if not final.name:
        raise OutputError(f"{what} {out}: the file-system root is no dataset folder")
    if os.path.lexists(final) and not final.is_dir():
        kind = "a file, not a folder" if final.is_file() else "not a folder"
        raise OutputError(f"{what} {out}: is {kind}")
    if not os.path.lexists(final):
        _creatable(final, what)
    if final.parent.is_dir():
        recover_interrupted(final)
    if not final.exists():
        return
    # the new folder is written beside `out` and renamed into place
    if not os.access(final.parent, os.W_OK | os.X_OK):
        raise OutputError(f"{what} {out}: its parent {final.parent} is not writable")
    entries = sorted(p.name for p in final.iterdir())
    if not entries:
        return
    manifest = dataset_manifest(final)
    if manifest is None:
        raise OutputError(
            f"{what} {out}: not empty and not a kgsynth dataset (it holds {entries[0]}); "
            "choose a new or empty folder"
        )
    if not overwrite:
        raise OutputError(f"{what} {out}: already holds a kgsynth dataset; {OVERWRITE_HINT}")
    foreign = foreign_entries(final, manifest)
    if foreign:
        raise OutputError(
            f"{what} {out}: holds {foreign[0]}, which kgsynth did not write"
            + (f" (and {len(foreign) - 1} more)" if len(foreign) > 1 else "")
            + "; kgsynth replaces a dataset folder only whole: move it out first"
        )


@contextmanager
def staged_dataset(out: Path, overwrite: bool) -> Iterator[Path]:
    """A temporary folder to write a dataset into, which replaces `out` when the block ends
    without error, if `out` may still be written then (check_out); on error `out` is left
    as it was. A link `out` stays a link: the folder it points to is replaced."""
    check_out(out, overwrite)
    final = out.resolve() if out.is_symlink() else Path(os.path.abspath(out))
    with staged_replace(final, lambda f: check_out(f, overwrite)) as tmp:
        yield tmp
