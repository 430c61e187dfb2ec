from __future__ import annotations

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_MEDQA = REPO.parent / "shared" / "data" / "qa" / "medqa_usmle_test.jsonl"


@pytest.fixture(scope="session")
def medqa_path() -> Path:
    if not SHARED_MEDQA.exists():
        pytest.fail(f"shared MedQA file missing: {SHARED_MEDQA} (../shared must sit beside the repo)")
    return SHARED_MEDQA


@pytest.fixture(scope="session")
def cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One cache for the whole session: the HPO KG and alias index are built once."""
    return tmp_path_factory.mktemp("kgsynth-cache")


@pytest.fixture(scope="session")
def hpo_kg(cache_dir: Path):
    from kgsynth.kg import load_kg

    return load_kg("hpo", cache_dir=cache_dir)
