"""The error model: every error the API produces is `{"error": {"code", "message"}}`.

`ApiError` derives from `ChaliceUnhandledError` so that Chalice lets it travel up to the
app's middleware, which turns it into a response (see `app.py`).
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from typing import Any, TypeVar, cast

from botocore.exceptions import BotoCoreError, ClientError
from chalice.app import ChaliceUnhandledError, Response

log = logging.getLogger(__name__)

F = TypeVar("F", bound=Callable[..., Any])


class ApiError(ChaliceUnhandledError):
    status = 500
    code = "internal_error"

    def __init__(self, message: str, *, code: str | None = None, field: str | None = None):
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        self.field = field

    def body(self) -> dict[str, Any]:
        error: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.field is not None:
            error["field"] = self.field
        return {"error": error}

    def to_response(self) -> Response:
        return error_response(self.status, self.body())


class BadRequest(ApiError):
    status, code = 400, "bad_request"


class InvalidField(BadRequest):
    """A 400 that names the offending field."""

    def __init__(self, field: str, message: str):
        super().__init__(f"{field}: {message}", code="invalid_field", field=field)


class Unauthorized(ApiError):
    status, code = 401, "unauthorized"


class Forbidden(ApiError):
    status, code = 403, "forbidden"


class NotFound(ApiError):
    status, code = 404, "not_found"


class Conflict(ApiError):
    status, code = 409, "conflict"


class TooLarge(ApiError):
    status, code = 413, "image_too_large"


class UnsupportedType(ApiError):
    status, code = 415, "unsupported_media_type"


class Rejected(ApiError):
    status, code = 422, "image_rejected"


class Unavailable(ApiError):
    status, code = 503, "service_unavailable"


def error_response(status: int, body: dict[str, Any]) -> Response:
    return Response(
        body=body,
        status_code=status,
        headers={"Content-Type": "application/json", "Cache-Control": "no-store"},
    )


def error(status: int, code: str, message: str) -> Response:
    return error_response(status, {"error": {"code": code, "message": message}})


def backend_call(service: str) -> Callable[[F], F]:
    """Turn a failure of an AWS backend that the caller did not handle into a 503.

    The AWS message is logged, never returned: responses name only the service.
    """

    def decorate(fn: F) -> F:
        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            try:
                return fn(*args, **kwargs)
            except ClientError as exc:
                err = exc.response.get("Error", {})
                log.warning(
                    "%s call %s failed: %s %s",
                    service,
                    fn.__name__,
                    err.get("Code"),
                    err.get("Message"),
                )
                raise Unavailable(f"{service} is unavailable, try again later") from exc
            except BotoCoreError as exc:
                log.warning("%s call %s failed: %s", service, fn.__name__, exc)
                raise Unavailable(f"{service} is unavailable, try again later") from exc

        return cast(F, wrapper)

    return decorate
