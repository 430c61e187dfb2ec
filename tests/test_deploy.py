"""Deployments against a real Prefect server (SQLite, 127.0.0.1; tests/prefect_server.py).

prefect.yaml's deployments are registered with their cron schedules and parameters, a run is
triggered with parameters of the test's own, and a process that is not this one executes it:
a process worker polling the work pool (`prefect deploy --all`), or `kgsynth deploy` serving
the same deployments itself. The run must end Completed with its dataset written.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from prefect_server import PREFECT, PrefectServer, Proc

from kgsynth.export.hub import read_dataset

REPO = Path(__file__).resolve().parents[1]
KGSYNTH = str(Path(sys.executable).parent / "kgsynth")
BUILD = "build_dataset/nightly-build"
SYNTH = "synth_from_kg/weekly-synth"
LIMIT = 160  # the first hpo row that passes every check is the 159th
RUN_TIMEOUT_S = 300


@pytest.fixture(scope="module")
def server() -> Iterator[PrefectServer]:
    with PrefectServer() as srv:
        yield srv


def _read_deployment(srv: PrefectServer, name: str) -> Any:
    from prefect.client.orchestration import get_client

    with srv.api(), get_client(sync_client=True) as client:
        return client.read_deployment_by_name(name)


def _run_build(
    srv: PrefectServer, runner: Proc, medqa: Path, cache_dir: Path, tmp: Path
) -> tuple[Any, Path]:
    """Trigger the nightly build with this test's parameters; wait until it has ended."""
    from prefect.deployments import run_deployment

    out = tmp / "out"
    config = {
        "qa": [str(medqa)],
        "limit": LIMIT,
        "out": str(out),
        "cache_dir": str(cache_dir),  # the session's: the KG is parsed already
        "run": {"shard_size": 60, "result_dir": str(tmp / "results")},
    }
    with srv.api():
        flow_run = run_deployment(BUILD, parameters={"config": config}, timeout=RUN_TIMEOUT_S)
    state = flow_run.state
    assert state is not None and state.is_final(), (
        f"flow run not finished after {RUN_TIMEOUT_S}s (state {state})\n{runner.tail()}"
    )
    assert state.is_completed(), f"flow run ended {state}\n{runner.tail()}"
    return flow_run, out


def _check_dataset(out: Path) -> None:
    summary = json.loads((out / "build.json").read_text())
    assert summary["counts"]["input"] == LIMIT
    assert summary["exported"] + summary["rejected"] == LIMIT
    assert summary["run"]["shards"] == 3  # 160 rows, 60 per shard
    rows = read_dataset(out)
    assert rows.height == summary["exported"] > 0


def test_prefect_yaml_deployments_run_on_a_process_worker(
    server: PrefectServer, medqa_path: Path, cache_dir: Path, hpo_kg, tmp_path: Path
):
    server.cli("work-pool", "create", "kgsynth", "--type", "process", "--overwrite")
    server.cli("deploy", "--all", cwd=REPO)

    # both deployments are on the server with their schedules and default parameters
    build = _read_deployment(server, BUILD)
    assert build.work_pool_name == "kgsynth"
    [sched] = build.schedules
    assert sched.active and sched.schedule.cron == "0 2 * * *"
    assert sched.schedule.timezone == "UTC"
    assert build.parameters["config"]["out"] == "out/nightly"
    synth = _read_deployment(server, SYNTH)
    assert [s.schedule.cron for s in synth.schedules] == ["0 3 * * 1"]

    # a worker in another folder: the deployment's pull step brings the run to the repo
    env = server.env | {"PREFECT_WORKER_QUERY_SECONDS": "1"}
    cmd = [PREFECT, "worker", "start", "--pool", "kgsynth", "--limit", "1"]
    worker = Proc("prefect worker", cmd, env, tmp_path / "worker.log", cwd=tmp_path)
    try:
        flow_run, out = _run_build(server, worker, medqa_path, cache_dir, tmp_path)
    finally:
        worker.stop()
    assert flow_run.deployment_id == build.id
    _check_dataset(out)


def test_kgsynth_deploy_serves_the_same_deployments(
    server: PrefectServer, medqa_path: Path, cache_dir: Path, hpo_kg, tmp_path: Path
):
    # the nightly build registered for the work pool, as in the test above
    server.cli("work-pool", "create", "kgsynth", "--type", "process", "--overwrite")
    server.cli("deploy", "--name", "nightly-build", cwd=REPO)
    env = server.env | {"PREFECT_RUNNER_POLL_FREQUENCY": "1"}
    cmd = [KGSYNTH, "deploy", "--file", str(REPO / "prefect.yaml"), "--name", "nightly-build"]
    # it is not taken over unless asked to
    refused = subprocess.run(cmd, env=env, cwd=tmp_path, capture_output=True, text=True)
    assert refused.returncode == 2, refused.stdout + refused.stderr
    assert "belongs to work pool 'kgsynth'" in refused.stderr and "--replace" in refused.stderr

    cmd.append("--replace")
    started = datetime.now(UTC)
    serving = Proc("kgsynth deploy", cmd, env, tmp_path / "serve.log", cwd=tmp_path)
    try:
        # wait for this process's registration (the deployment may exist from another test)
        deadline = time.monotonic() + 120
        while True:
            assert serving.alive(), serving.tail()
            try:
                build = _read_deployment(server, BUILD)
                if build.updated is not None and build.updated >= started:
                    break
            except Exception:  # noqa: BLE001 (not registered yet)
                pass
            assert time.monotonic() < deadline, "kgsynth deploy never registered\n" + serving.tail()
            time.sleep(0.5)
        [sched] = build.schedules
        assert sched.active and sched.schedule.cron == "0 2 * * *"

        flow_run, out = _run_build(server, serving, medqa_path, cache_dir, tmp_path)
        assert flow_run.deployment_id == build.id
        _check_dataset(out)
    finally:
        serving.stop()
    # stopping the serving process paused the deployment: no runs pile up with nobody to run
    # them (the next `kgsynth deploy` resumes it)
    assert _read_deployment(server, BUILD).paused


def test_kgsynth_deploy_check_rejects_bad_parameters(tmp_path: Path):
    from typer.testing import CliRunner

    from kgsynth.cli import app

    bad = tmp_path / "prefect.yaml"
    text = (REPO / "prefect.yaml").read_text().replace("shard_size: 128", "shard_size: 0")
    bad.write_text(text)
    (tmp_path / "flows").symlink_to(REPO / "flows")
    res = CliRunner().invoke(app, ["deploy", "--file", str(bad), "--check"])
    assert res.exit_code == 2, res.output
    assert "nightly-build" in res.output and "shard_size" in res.output
    res = CliRunner().invoke(app, ["deploy", "--file", str(REPO / "prefect.yaml"), "--check"])
    assert res.exit_code == 0, res.output
    assert BUILD in res.output and SYNTH in res.output
