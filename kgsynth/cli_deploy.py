"""`kgsynth deploy`: serve the deployments of prefect.yaml from this one process.

The deployments `prefect deploy --all` registers for a work pool (names, entrypoints, cron
schedules, parameters, all read from the same prefect.yaml) are registered here with the
Prefect server in PREFECT_API_URL and served by this process: it runs each flow run, due by
its schedule or triggered, in a subprocess. No work pool and no worker; Ctrl-C stops it and
pauses the schedules until it serves again.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from kgsynth.cli_common import fail
from kgsynth.redact import has_credentials, redact_url

out = Console()


@dataclass
class DeploymentSpec:
    """One entry of prefect.yaml's `deployments`, the fields kgsynth deploy uses."""

    name: str
    entrypoint: str  # path/to/file.py:flow_function, relative to prefect.yaml's folder
    parameters: dict[str, Any] = field(default_factory=dict)
    crons: list[tuple[str, str | None]] = field(default_factory=list)  # (cron, timezone)
    description: str | None = None
    tags: list[str] = field(default_factory=list)


def read_deployments(file: Path) -> list[DeploymentSpec]:
    """The deployments of a prefect.yaml, checked for the fields a served deployment needs."""
    import yaml  # here, not at the top: every kgsynth command imports this module

    try:
        data = yaml.safe_load(file.read_text(encoding="utf-8")) or {}
    except OSError as e:
        fail(f"{file}: cannot read ({e.strerror})")
    except yaml.YAMLError as e:
        fail(f"{file}: not valid YAML: {e}")
    entries = data.get("deployments") if isinstance(data, dict) else None
    if not isinstance(entries, list) or not entries:
        fail(f"{file}: no `deployments` list")
    specs = []
    for i, d in enumerate(entries):
        where = f"{file}: deployments[{i}]"
        if not isinstance(d, dict) or not d.get("name") or ":" not in str(d.get("entrypoint")):
            fail(f"{where}: needs a `name` and an `entrypoint` (path/to/file.py:flow)")
        crons = []
        for s in d.get("schedules") or []:
            if not isinstance(s, dict) or "cron" not in s:
                fail(f"{where} ({d['name']}): only cron schedules are served (`- cron: ...`)")
            crons.append((str(s["cron"]), s.get("timezone")))
        _refuse_credentials(where, d.get("parameters"))
        specs.append(
            DeploymentSpec(
                name=str(d["name"]),
                entrypoint=str(d["entrypoint"]),
                parameters=dict(d.get("parameters") or {}),
                crons=crons,
                description=d.get("description"),
                tags=list(d.get("tags") or []),
            )
        )
    return specs


def _credential_urls(value: Any, at: str) -> Iterator[tuple[str, str]]:
    """(dotted parameter name, masked URL) of each URL in `value` that holds credentials."""
    if isinstance(value, dict):
        for k, v in value.items():
            yield from _credential_urls(v, f"{at}.{k}" if at else str(k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from _credential_urls(v, f"{at}[{i}]")
    elif isinstance(value, str) and "//" in value and has_credentials(value):
        yield at, redact_url(value)


def _refuse_credentials(where: str, parameters: Any) -> None:
    # The server stores a deployment's parameters as written, in the clear, and the runs it
    # starts read them back from there: refused, not stripped, since a stripped URL would
    # only fail later, at the first scheduled run, on a missing password
    found = list(_credential_urls(parameters, ""))
    if found:
        name, url = found[0]
        fail(
            f"{where}: parameter {name} ({url}) holds credentials, which the Prefect server "
            "would store in the clear: keep them out of prefect.yaml; put the API key in the "
            "variable llm.api_key_env names, or the endpoint URL with its credentials in "
            "OPENAI_BASE_URL of the serving process with llm.base_url left unset"
        )


def deploy(
    file: Annotated[
        Path, typer.Option("--file", "-f", help="prefect.yaml holding the deployments")
    ] = Path("prefect.yaml"),
    name: Annotated[
        list[str] | None, typer.Option("--name", "-n", help="serve only these deployments")
    ] = None,
    limit: Annotated[
        int | None, typer.Option(help="flow runs at once (default: no limit)", min=1)
    ] = None,
    check: Annotated[
        bool, typer.Option(help="validate and list the deployments, serve nothing")
    ] = False,
    replace: Annotated[
        bool,
        typer.Option(help="delete same-named deployments of a work pool first"),
    ] = False,
) -> None:
    """Register prefect.yaml's deployments with the Prefect server and serve them."""
    from prefect.flows import load_flow_from_entrypoint
    from prefect.schedules import Cron

    file = file.resolve()
    specs = read_deployments(file)
    if name:
        unknown = sorted(set(name) - {s.name for s in specs})
        if unknown:
            fail(f"{file}: no deployment named {', '.join(unknown)}")
        specs = [s for s in specs if s.name in name]
    # as with `prefect deploy`: entrypoints and relative paths in the parameters are taken
    # from prefect.yaml's folder, where the served flow runs run too
    with _working_dir(file.parent):
        deployments = []
        for spec in specs:
            try:
                flow = load_flow_from_entrypoint(spec.entrypoint, use_placeholder_flow=False)
                # a bad parameter fails now, not at 2 a.m. in the first scheduled run
                flow.validate_parameters(spec.parameters)
            except Exception as e:  # noqa: BLE001 (any import or validation error is reported)
                fail(f"{file}: deployment {spec.name}: {e}")
            crons = ", ".join(c for c, _ in spec.crons) or "no schedule"
            out.print(f"{flow.name}/{spec.name}: {spec.entrypoint} ({crons})")
            deployments.append(
                flow.to_deployment(
                    name=spec.name,
                    schedules=[Cron(cron, timezone=tz) for cron, tz in spec.crons],
                    parameters=spec.parameters,
                    description=spec.description,
                    tags=spec.tags,
                )
            )
        if check:
            return
        _claim(deployments, replace)
        from prefect import serve

        serve(*deployments, limit=limit)


def _claim(deployments: list[Any], replace: bool) -> None:
    """A deployment `prefect deploy` registered for a work pool is not taken over silently:
    updated in place it would keep the pool and lose its pull steps, and its runs would
    crash. With --replace it is deleted (with its scheduled runs) and registered anew."""
    from prefect.client.orchestration import get_client
    from prefect.exceptions import ObjectNotFound

    with get_client(sync_client=True) as client:
        for dep in deployments:
            full = f"{dep.flow_name}/{dep.name}"
            try:
                existing = client.read_deployment_by_name(full)
            except ObjectNotFound:
                continue
            if not existing.work_pool_name:
                continue  # served before: serving again updates it
            if not replace:
                fail(
                    f"deployment {full} belongs to work pool '{existing.work_pool_name}' "
                    f"(prefect deploy): run it with a worker, or pass --replace to delete it "
                    f"and serve it from here"
                )
            client.delete_deployment(existing.id)
            out.print(f"{full}: deleted the work-pool deployment of that name")


@contextmanager
def _working_dir(path: Path) -> Iterator[None]:
    before = Path.cwd()
    os.chdir(path)
    try:
        yield
    finally:
        os.chdir(before)
