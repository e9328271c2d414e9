"""Failures the user is told about in one line (never a traceback). Kept apart from the
HTTP client so that the command line can catch them without importing `requests`."""

from __future__ import annotations


class CliError(Exception):
    """A failure to report to the user as one line."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


class Unreachable(CliError):
    """No HTTP answer: wrong URL, service down, connection cut."""


class ApiError(CliError):
    """The service (or S3) answered with an error status: its own message, and the code of
    the API's error body when there is one."""

    def __init__(self, status: int, message: str, code: str = ""):
        super().__init__(message)
        self.status = status
        self.code = code

    def __str__(self) -> str:
        return f"{self.message} ({self.status})"
