"""Where the service is and who we are: `--url`, `--user`, `--token` and their environment
variables, turned into the headers every request carries."""

from __future__ import annotations

import base64
import binascii
import json
import re
from dataclasses import dataclass

DEFAULT_URL = "http://127.0.0.1:8000"
MIB = 1024 * 1024
DEFAULT_MAX_API_BYTES = 10 * MIB  # the service's MAX_IMAGE_BYTES default

_SIZE = re.compile(r"\s*([0-9]+(?:\.[0-9]+)?)\s*([kmg]i?b?|b)?\s*", re.IGNORECASE)
_UNITS = {"": 1, "b": 1, "k": 1024, "m": MIB, "g": 1024 * MIB}


@dataclass(frozen=True)
class Config:
    """The connection settings of one run."""

    url: str = DEFAULT_URL
    user: str | None = None  # header mode: sent as X-User-Id
    token: str | None = None  # cognito mode: a Cognito ID token, sent as Authorization

    @property
    def base(self) -> str:
        return self.url.rstrip("/")

    def headers(self) -> dict[str, str]:
        """The identity headers. API Gateway's Cognito user-pool authorizer reads the
        `Authorization` header and wants the raw ID token (no `Bearer ` prefix)."""
        if self.token:
            return {"Authorization": self.token}
        if self.user:
            return {"X-User-Id": self.user}
        return {}

    @property
    def me(self) -> str | None:
        """Our user id as the service sees it: the header's value, or the token's `sub`."""
        if self.token:
            return token_subject(self.token)
        return self.user


def make_config(url: str, user: str | None, token: str | None) -> Config:
    if token and token.lower().startswith("bearer "):
        token = token[7:]
    return Config(url=url or DEFAULT_URL, user=user or None, token=(token or "").strip() or None)


def token_subject(token: str) -> str | None:
    """The `sub` claim of a JWT, read without checking the signature (the service checks it;
    we only need to know who we are, for `user_id=` filters and idempotency keys)."""
    parts = token.split(".")
    if len(parts) != 3:
        return None
    payload = parts[1] + "=" * (-len(parts[1]) % 4)
    try:
        claims = json.loads(base64.urlsafe_b64decode(payload))
    except (binascii.Error, ValueError):
        return None
    sub = claims.get("sub") if isinstance(claims, dict) else None
    return sub if isinstance(sub, str) else None


def parse_size(text: str) -> int:
    """`10485760`, `10MiB`, `10M`, `512k`: a size in bytes (binary units)."""
    match = _SIZE.fullmatch(text)
    if not match:
        raise ValueError(f"not a size: {text!r} (try 10MiB or 10485760)")
    unit = (match.group(2) or "").lower().rstrip("b").rstrip("i")
    return int(float(match.group(1)) * _UNITS[unit])
