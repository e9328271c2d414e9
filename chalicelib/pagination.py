"""Opaque, signed pagination tokens.

A token holds the sort key of the last image a page returned (every listing is ordered by
that key, newest first, so one cursor is enough even when a page merges several feed
shards) and a digest of the query it belongs to. It is signed with HMAC-SHA256: a token
that was altered, or replayed with other filters, is a 400.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json

from chalicelib.errors import InvalidField

_MAC_BYTES = 16


def query_digest(*parts: str | None) -> str:
    text = "\x1f".join("" if part is None else part for part in parts)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def encode_token(secret: bytes, cursor: str, digest: str) -> str:
    payload = json.dumps({"c": cursor, "q": digest}, separators=(",", ":")).encode()
    mac = hmac.new(secret, payload, hashlib.sha256).digest()[:_MAC_BYTES]
    return base64.urlsafe_b64encode(mac + payload).decode().rstrip("=")


def decode_token(secret: bytes, token: str, digest: str) -> str:
    """The cursor inside a token made for this query, or a 400 naming next_token."""
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
    except (binascii.Error, ValueError):
        raise InvalidField("next_token", "is not a token this API issued") from None
    mac, payload = raw[:_MAC_BYTES], raw[_MAC_BYTES:]
    expected = hmac.new(secret, payload, hashlib.sha256).digest()[:_MAC_BYTES]
    if not hmac.compare_digest(mac, expected):
        raise InvalidField("next_token", "is not a token this API issued")
    body = json.loads(payload)
    if body.get("q") != digest:
        raise InvalidField("next_token", "belongs to a listing with other filters")
    cursor = body.get("c")
    if not isinstance(cursor, str):
        raise InvalidField("next_token", "is not a token this API issued")
    return cursor
