"""What each route takes and answers, declared next to it in `app.py` and read by the OpenAPI
generator (`chalicelib/openapi.py`). Kept small: it is imported at cold start."""

from __future__ import annotations

from typing import Any

import msgspec


class Operation(msgspec.Struct, frozen=True):
    """One route and method: its query, body and responses, as types from `schemas`."""

    query: type[msgspec.Struct] | None = None
    # A JSON body's type, or media type -> type (None: raw bytes) for routes taking several.
    body: type[msgspec.Struct] | dict[str, type[msgspec.Struct] | None] | None = None
    # status -> response body type (or a JSON Schema), None for a body-less or binary response.
    responses: dict[int, type[msgspec.Struct] | dict[str, Any] | None] = msgspec.field(
        default_factory=dict
    )
    errors: tuple[int, ...] = ()
    identity: bool = True
    headers: tuple[str, ...] = ()  # request headers the route reads (documented)
    # OpenAPI details (e.g. binary types)
    extra: dict[str, Any] = msgspec.field(default_factory=dict)


OPERATIONS: dict[tuple[str, str], Operation] = {}
