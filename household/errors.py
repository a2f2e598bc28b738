"""The library's own small exceptions; only the CLI turns them into one-line messages."""

from __future__ import annotations


class HouseholdError(Exception):
    """Base of every error a user can act on; its message is one line that says what to do."""


class ConfigError(HouseholdError):
    """A settings file, environment variable or flag has an invalid value."""


class ModelNotFoundError(HouseholdError):
    """A model (hub id, directory, GGUF file or Ollama tag) cannot be found or loaded."""


class DataError(HouseholdError):
    """A data file has a bad row; carries the file and line so the user can fix it."""

    def __init__(self, path: object, line: int | None, problem: str) -> None:
        self.path, self.line, self.problem = str(path), line, problem
        where = f"{self.path}:{line}" if line else self.path
        super().__init__(f"{where}: {problem}")


class InputError(HouseholdError):
    """A question or other user input cannot be processed (empty, wrong type)."""


class ServiceError(HouseholdError):
    """An external service (Ollama, Chroma server) is down, slow or missing a resource."""
