"""Defaults shared by the configs, the CLI and the benches."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from pydantic import AfterValidator

# KG, alias-index and LLM-response caches, shared by every build and synthesis run; not
# expanded here: each user expands "~" itself (configs through CacheDir, flags on use)
DEFAULT_CACHE_DIR = Path("~/.cache/kgsynth")

# a config's cache folder, "~" expanded on validation (polars expands "~" itself while
# os.mkdir does not: two different folders); give the field validate_default=True
CacheDir = Annotated[Path, AfterValidator(Path.expanduser)]
