"""Errors that name the file, line and field at fault, so a user can fix their input."""

from __future__ import annotations


class KGSynthError(Exception):
    """Base class: every error kgsynth raises on purpose derives from this."""


class InputError(KGSynthError):
    """Bad input file: says which file, which line (1-based) and which field."""

    def __init__(
        self, path: str, message: str, *, line: int | None = None, field: str | None = None
    ) -> None:
        self.path = str(path)
        self.line = line
        self.field = field
        self.message = message
        where = self.path
        if line is not None:
            where += f", line {line}"
        if field is not None:
            where += f", field '{field}'"
        super().__init__(f"{where}: {message}")


class ConfigError(KGSynthError):
    """Invalid build configuration."""


class UnknownKGError(KGSynthError):
    """A --kg value that is neither a built-in name nor an existing file."""
