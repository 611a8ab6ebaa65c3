"""Exceptions raised by the conversion engine."""

from __future__ import annotations


class SpecError(Exception):
    """The document cannot be used: not OpenAPI, unparsable or unusable.

    ``problems`` lists ``{"pointer": "<JSON pointer>", "message": "..."}`` items so an API
    can answer with details instead of a stack trace.
    """

    def __init__(self, message: str, problems: list[dict[str, str]] | None = None) -> None:
        super().__init__(message)
        self.problems = problems if problems is not None else [{"pointer": "", "message": message}]


class ArgumentError(ValueError):
    """A tool argument cannot be serialised safely into the HTTP request."""
