"""The viewer's web app (Starlette) and its server (uvicorn, on 127.0.0.1 only).

Every route is a GET that reads; the app never writes. Pages are rendered server-side from
package templates with autoescaping on; the row page's graph data travels as JSON in a
non-executable script element. Every response carries a Content-Security-Policy that lets
the page load only this server's own files and run only its own scripts, so a row whose
text holds `<script>` or an image URL can neither run code nor make the browser fetch
anything, and a Host check keeps other sites' pages (DNS rebinding) from reading it.
"""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape
from starlette.applications import Starlette
from starlette.datastructures import MutableHeaders
from starlette.middleware import Middleware
from starlette.middleware.trustedhost import TrustedHostMiddleware
from starlette.requests import Request
from starlette.responses import FileResponse, HTMLResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from kgsynth.export.hub import DatasetError
from kgsynth.view.card import render_card
from kgsynth.view.dataset import (
    CHECK_STATES,
    RejectQuery,
    RowQuery,
    ViewDataset,
    ViewQueryError,
)
from kgsynth.view.rowindex import QUESTION_HEAD
from kgsynth.view.rowpage import ROLES, row_view

HOST = "127.0.0.1"
STATIC = Path(__file__).parent / "static"
HEADERS = {
    "content-security-policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; "
        "style-src-attr 'unsafe-inline'; img-src 'self'; connect-src 'self'; "
        "base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    ),
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    "cache-control": "no-store",
}


class _SecurityHeaders:
    """Adds HEADERS to every response, static files and errors included."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for key, value in HEADERS.items():
                    headers[key] = value
            await send(message)

        await self.app(scope, receive, send_with_headers)


def _templates() -> Environment:
    env = Environment(
        loader=PackageLoader("kgsynth.view", "templates"),
        autoescape=select_autoescape(["html"]),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["num"] = lambda x, fmt="{:.3f}": "–" if x is None else fmt.format(x)
    for name in env.list_templates():
        env.get_template(name)  # compiled now, not on the first request for each page
    return env


def create_app(data: ViewDataset) -> Starlette:
    env = _templates()
    title = data.folder.resolve().name

    def page(name: str, status: int = 200, **ctx: Any) -> HTMLResponse:
        body = env.get_template(name).render(title=title, folder=str(data.folder), **ctx)
        return HTMLResponse(body, status_code=status)

    def error(status: int, message: str) -> HTMLResponse:
        return page("error.html", status, message=message, code=status)

    def summary(request: Request) -> Response:
        info = data.summary
        counts = info.get("counts") if isinstance(info.get("counts"), dict) else {}
        kg = info.get("kg") if isinstance(info.get("kg"), dict) else {}
        card = ""
        if data.card_file is not None:
            text = data.card_file.read_text("utf-8", errors="replace")
            card = render_card(text, data.plots)
        n_rejects = int(data.reject_counts()["rows"].sum())
        return page(
            "summary.html",
            n_rows=data.n_rows,
            n_rejects=n_rejects,
            n_input=counts.get("input"),
            kg=kg,
            rejects=data.reject_counts().to_dicts(),
            card=card,
            plots=sorted(data.plots),
        )

    def rows(request: Request) -> Response:
        try:
            q = RowQuery.parse(request.query_params.multi_items())
            result = data.rows_page(q)
        except ViewQueryError as e:
            return error(400, str(e))
        except DatasetError as e:
            return error(500, str(e))
        return page(
            "rows.html",
            q=q,
            result=result,
            facets=data.facets(),
            sources=data.sources,
            checks=data.checks,
            states=CHECK_STATES,
            n_rows=data.n_rows,
            question_head=QUESTION_HEAD,
        )

    def row(request: Request) -> Response:
        row_id = request.query_params.get("id", "")
        try:
            found = data.row(row_id) if row_id else None
        except DatasetError as e:
            return error(500, str(e))
        if found is None:
            return error(404, f"no exported row with id {row_id!r}")
        back = request.query_params.get("back", "")
        return page(
            "row.html",
            r=row_view(found, data.checks),
            roles=ROLES,
            back="/rows" + (back if back.startswith("?") else ""),
        )

    def rejects(request: Request) -> Response:
        try:
            q = RejectQuery.parse(request.query_params.multi_items())
        except ViewQueryError as e:
            return error(400, str(e))
        counts = data.reject_counts()
        return page(
            "rejects.html",
            q=q,
            result=data.rejects_page(q),
            counts=counts.to_dicts(),
            stages=sorted(set(counts["stage"].to_list())),
            reasons=sorted(set(counts["reason"].to_list())),
            n_rows=data.n_rows,
            has_rejects=data.rejects_file is not None,
        )

    def reject(request: Request) -> Response:
        raw = request.query_params.get("n", "")
        found = data.reject(int(raw)) if raw.isdigit() else None
        if found is None:
            return error(404, f"no reject number {raw!r}")
        named = [c for c in str(found.get("reason") or "").split("+") if c in data.checks]
        return page("reject.html", j=found, named_checks=named)

    def plot(request: Request) -> Response:
        f = data.plots.get(request.path_params["name"])
        if f is None:
            return error(404, "no such plot")
        return FileResponse(f, media_type="image/png")

    def not_found(request: Request, exc: Exception) -> Response:
        return error(404, f"no page {request.url.path}")

    routes = [
        Route("/", summary, methods=["GET"]),
        Route("/rows", rows, methods=["GET"]),
        Route("/row", row, methods=["GET"]),
        Route("/rejects", rejects, methods=["GET"]),
        Route("/reject", reject, methods=["GET"]),
        Route("/plots/{name}", plot, methods=["GET"]),
        Mount("/static", app=StaticFiles(directory=STATIC), name="static"),
    ]
    middleware = [
        Middleware(_SecurityHeaders),
        Middleware(TrustedHostMiddleware, allowed_hosts=[HOST, "localhost"]),
    ]
    return Starlette(routes=routes, middleware=middleware, exception_handlers={404: not_found})


def bind(port: int) -> socket.socket:
    """A listening socket on 127.0.0.1:`port` (0: any free port); OSError when taken."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.bind((HOST, port))
        sock.listen(128)
    except OSError:
        sock.close()
        raise
    return sock


def make_server(data: ViewDataset) -> Any:
    """A uvicorn server for the app; run it with `.run(sockets=[bind(port)])`."""
    import uvicorn

    config = uvicorn.Config(
        create_app(data),
        log_level="warning",
        access_log=False,
        lifespan="off",
        server_header=False,
    )
    return uvicorn.Server(config)
