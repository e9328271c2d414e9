"""Who is calling: the X-User-Id header locally, the Cognito `sub` claim in production."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from chalicelib.config import AuthMode
from chalicelib.errors import Unauthorized

USER_ID = re.compile(r"[A-Za-z0-9._@-]{1,128}")


def caller_id(headers: Mapping[str, str], context: Mapping[str, Any], mode: AuthMode) -> str:
    """The caller's user id, or 401. In cognito mode any X-User-Id header is ignored."""
    if mode == "cognito":
        claims = (context.get("authorizer") or {}).get("claims") or {}
        sub = claims.get("sub")
        if not isinstance(sub, str) or not USER_ID.fullmatch(sub):
            raise Unauthorized("a valid Cognito identity is required")
        return sub
    user = headers.get("x-user-id")
    if user is None:
        raise Unauthorized("the X-User-Id header is required")
    if not USER_ID.fullmatch(user):
        raise Unauthorized("X-User-Id must be 1-128 characters of A-Z a-z 0-9 . _ @ -")
    return user
