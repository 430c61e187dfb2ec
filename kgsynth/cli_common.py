"""What every CLI command shares: the stderr console and how an error ends a command."""

from __future__ import annotations

from typing import NoReturn

import typer
from rich.console import Console
from rich.markup import escape

err = Console(stderr=True)


def fail(message: str) -> NoReturn:
    """Print `error: message` on stderr and exit with status 2 (bad input or config)."""
    # soft_wrap: a file path in the message must stay on one line to be copied
    err.print(f"[bold red]error:[/] {escape(message)}", soft_wrap=True)
    raise typer.Exit(2)
