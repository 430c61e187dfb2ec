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


class OutputError(KGSynthError):
    """An output folder kgsynth may not write: a file, under a file, not creatable, not empty
    and not a kgsynth dataset, or a dataset to replace without `overwrite`."""


class LLMAuthError(KGSynthError):
    """The LLM endpoint refused the API key (HTTP 401/403): every request would fail the
    same way, so the run stops at once. The message names the endpoint (without credentials)
    and the variable that holds the key, never the key."""


class LLMFailureError(KGSynthError):
    """More rows than `llm.max_failure_ratio` allows got no usable LLM reply: the run stops
    before anything is written, rather than publish a thinned dataset."""
