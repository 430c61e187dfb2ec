"""A non-editable install (`pip install .`, not `-e`) builds from any folder: the sample QA,
prompts and schema pieces ship inside the package."""

from __future__ import annotations

import os
import subprocess
import sys
import sysconfig
import venv
from pathlib import Path

import polars as pl

REPO = Path(__file__).resolve().parents[1]


def test_wheel_install_builds_the_sample_from_another_folder(tmp_path: Path, cache_dir: Path):
    env_dir = tmp_path / "venv"
    venv.create(env_dir, with_pip=True)
    py = env_dir / "bin" / "python"
    pip = [str(py), "-m", "pip", "install", "-q", "--no-deps", "--disable-pip-version-check"]
    subprocess.run([*pip, str(REPO)], check=True, cwd=tmp_path, timeout=600)
    # the dependencies come from this environment's site-packages (a plain path: its .pth
    # files, among them the editable install's finder, are not run), kgsynth from the wheel
    site = Path(sysconfig.get_paths()["purelib"])
    theirs = Path(
        subprocess.run(
            [str(py), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    )
    (theirs / "borrowed-deps.pth").write_text(f"{site}\n")
    work = tmp_path / "elsewhere"
    work.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PREFECT_API_URL")}
    where = subprocess.run(
        [str(py), "-c", "import kgsynth; print(kgsynth.__file__)"],
        capture_output=True,
        text=True,
        check=True,
        cwd=work,
        env=env,
    ).stdout
    assert where.startswith(str(theirs)), where  # not the checkout
    res = subprocess.run(
        [str(env_dir / "bin" / "kgsynth"), "build", "--out", "out", "--cache-dir", str(cache_dir)],
        capture_output=True,
        text=True,
        cwd=work,
        env=env,
        timeout=600,
    )
    assert res.returncode == 0, res.stdout[-2000:] + res.stderr[-2000:]
    rows = pl.read_parquet(work / "out" / "data" / "train-00000-of-00001.parquet")
    assert rows.height > 0 and (work / "out" / "README.md").exists()
    assert sys.prefix != str(env_dir)
