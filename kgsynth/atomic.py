"""Publishing a folder of files all at once: readers see the whole folder or none of it."""

from __future__ import annotations

import errno
import hashlib
import os
import re
import secrets
import shutil
import socket
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def staged_folder(final: Path) -> Iterator[Path]:
    """A temporary sibling of `final` to write into, renamed to `final` when the block ends
    without error (if another writer published `final` first, theirs is kept) and removed
    when it raises, so a crash never leaves a half-written folder under the final name."""
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=final.parent, prefix=".tmp-"))
    try:
        yield tmp
        if final.exists():
            shutil.rmtree(tmp)
        else:
            tmp.rename(final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


# -- replacing a folder: kgsynth's own temporary names beside it ------------------------------
#
# A folder is written as `.<name>.kgsynth-tmp-<host>-<pid>-<random>` beside `final` and renamed
# into place; an existing `final` is first renamed to `.<name>.kgsynth-old-<host>-<pid>-<random>`
# and removed once the new folder stands. On Linux (rename(2) is atomic on one file system) a
# kill leaves `final` either the old folder or the new one, except between the two renames,
# when neither stands under `final` and the old one lies under its -old- name:
# `recover_interrupted` (run before each write) renames it back. The host and pid in the
# names tell a dead run's leftovers from those of a run still going: only the former are
# touched, and never a name kgsynth does not make.

_HOST = re.sub(r"[^A-Za-z0-9.]", "_", socket.gethostname()) or "host"
_KINDS = ("tmp", "old")


def _tag(final: Path) -> str:
    # the folder's own name, or a hash-suffixed prefix of it: a temp name must fit NAME_MAX
    name = final.name
    if len(name) <= 64:
        return name
    return name[:48] + "~" + hashlib.sha256(name.encode()).hexdigest()[:12]


def temp_prefix(final: Path, kind: str) -> str:
    """The start of this process's `kind` ("tmp" or "old") temporary name for `final`."""
    assert kind in _KINDS
    return f".{_tag(final)}.kgsynth-{kind}-{_HOST}-{os.getpid()}-"


def is_temp_name(name: str) -> bool:
    """Whether `name` is one of kgsynth's temporary folder names (of any run)."""
    return re.fullmatch(r"\..+\.kgsynth-(tmp|old)-.+-\d+-[A-Za-z0-9_]+", name) is not None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # another user's process
    return True


def stale_temps(final: Path) -> list[tuple[str, Path]]:
    """(kind, path) of the temporary folders of `final` that runs on this host left when they
    died; another host's, or a live run's, are not stale (their owner may still use them)."""
    pattern = re.compile(
        re.escape(f".{_tag(final)}.kgsynth-") + r"(tmp|old)-(.+)-(\d+)-[A-Za-z0-9_]+"
    )
    if not final.parent.is_dir():
        return []
    found = []
    for p in sorted(final.parent.iterdir()):
        m = pattern.fullmatch(p.name)
        if m and m[2] == _HOST and not _alive(int(m[3])) and p.is_dir() and not p.is_symlink():
            found.append((m[1], p))
    return found


def recover_interrupted(final: Path) -> None:
    """Undo what a killed run left beside `final`: an old folder cut off between the two
    renames goes back to `final`; other leftovers (a half-written new folder, an old one
    already replaced) are removed."""
    for kind, p in stale_temps(final):
        if kind == "old" and not os.path.lexists(final):
            p.rename(final)
        else:
            shutil.rmtree(p, ignore_errors=True)


def swap_in(new: Path, final: Path) -> None:
    """Rename `new` to `final`, replacing a `final` folder that exists: see the note above."""
    try:
        new.rename(final)  # `final` absent, or an empty folder, which rename(2) replaces
        return
    except OSError as e:
        if e.errno not in (errno.ENOTEMPTY, errno.EEXIST):
            raise
    backup = final.parent / (temp_prefix(final, "old") + secrets.token_hex(4))
    final.rename(backup)
    try:
        new.rename(final)
    except BaseException:
        backup.rename(final)  # interrupted or failed: the old folder stays
        raise
    shutil.rmtree(backup, ignore_errors=True)


@contextmanager
def staged_replace(final: Path, check: Callable[[Path], None]) -> Iterator[Path]:
    """A temporary sibling of `final` to write into; when the block ends without error,
    `check(final)` runs once more (the folder may have changed while the block ran) and the
    new folder takes `final`'s place (swap_in). When the block or the check raises, the
    temporary folder is removed and `final` is left as it was."""
    recover_interrupted(final)
    final.parent.mkdir(parents=True, exist_ok=True)
    while True:
        # not mkdtemp: its 0700 would become the published folder's mode; mkdir keeps umask's
        tmp = final.parent / (temp_prefix(final, "tmp") + secrets.token_hex(4))
        try:
            tmp.mkdir()
            break
        except FileExistsError:
            continue
    try:
        yield tmp
        check(final)
        swap_in(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
