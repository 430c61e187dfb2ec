"""Publishing a folder of files all at once: readers see the whole folder or none of it."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
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
