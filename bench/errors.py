"""Errors that point at the file, line or key at fault."""
from __future__ import annotations

from pathlib import Path


class BenchError(Exception):
    """A user-facing error: the CLI prints its message and exits with status 1."""


class DataError(BenchError):
    """Bad input data, located by file and (optionally) line."""

    def __init__(self, path: str | Path, message: str, line: int | None = None):
        self.path = Path(path)
        self.line = line
        where = f"{self.path}:{line}" if line is not None else str(self.path)
        super().__init__(f"{where}: {message}")
