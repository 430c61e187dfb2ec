"""`kgsynth view DATASET`: a local, read-only web page over a dataset folder."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from kgsynth.cli_common import err, fail

DEFAULT_PORT = 8765


def view(
    dataset: Annotated[Path, typer.Argument(help="dataset folder (what `build --out` wrote)")],
    port: Annotated[
        int,
        typer.Option(min=0, max=65535, help="port on 127.0.0.1 (0: any free port)"),
    ] = DEFAULT_PORT,
) -> None:
    """Browse a dataset in a web browser (on 127.0.0.1, read-only).

    The card and its plots, the rows with filters and full-text search, each row with its
    KG paths as a graph, the rejects by stage and reason."""
    # starlette, uvicorn and polars load here: `kgsynth --help` and other commands stay quick
    from kgsynth.export.hub import DatasetError
    from kgsynth.view.app import HOST, bind, make_server
    from kgsynth.view.dataset import ViewDataset

    try:
        data = ViewDataset(dataset)
    except DatasetError as e:
        fail(str(e))
    try:
        sock = bind(port)
    except OSError as e:
        fail(f"--port {port}: cannot listen on {HOST}:{port} ({e.strerror or e})")
    data.start_index()
    url = f"http://{HOST}:{sock.getsockname()[1]}/"
    # stdout: the address alone, for a script to read; stderr: the words around it
    print(url, flush=True)
    err.print(f"serving {dataset} read-only at {url} (Ctrl-C stops)", soft_wrap=True, markup=False)
    try:
        make_server(data).run(sockets=[sock])
    except KeyboardInterrupt:
        pass  # uvicorn stops on Ctrl-C, then raises it again: stopping is the normal end
    finally:
        data.close()
        sock.close()
