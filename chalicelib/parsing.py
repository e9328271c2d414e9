"""Request parsing: the three upload encodings, JSON bodies and query parameters."""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from chalicelib.errors import BadRequest, InvalidField, TooLarge
from chalicelib.identity import USER_ID
from chalicelib.metadata import ListQuery
from chalicelib.models import iso_millis
from chalicelib.validation import (
    ACCEPTED_TYPES,
    TITLE_MAX,
    Fields,
    clean_fields,
    clean_tags,
    media_type,
)

# Room for the multipart framing and text fields around the image itself.
_ENVELOPE_BYTES = 64 * 1024
_UPLOAD_FIELDS = ("title", "description", "tags", "filename")


@dataclass(frozen=True)
class Upload:
    """An image upload as the client sent it: bytes, declared type, metadata."""

    data: bytes
    declared_type: str
    fields: Fields


def parse_upload(
    content_type: str | None, body: bytes, query: Mapping[str, str], max_bytes: int
) -> Upload:
    """Decode `POST /images` in any of its three encodings."""
    kind = media_type(content_type)
    if kind == "multipart/form-data":
        _check_envelope(body, max_bytes)
        return _multipart_upload(content_type or "", body)
    if kind == "application/json":
        _check_envelope(body, max_bytes * 4 // 3)
        return _json_upload(body)
    unknown = sorted(set(query) - set(_UPLOAD_FIELDS))
    if unknown:
        raise InvalidField(unknown[0], "unknown query parameter")
    return Upload(data=body, declared_type=kind, fields=clean_fields(dict(query)))


def _check_envelope(body: bytes, max_bytes: int) -> None:
    if len(body) > max_bytes + _ENVELOPE_BYTES:
        raise TooLarge(f"the request body is larger than the {max_bytes >> 20} MiB limit allows")


@dataclass
class _Part:
    headers: dict[bytes, bytes] = field(default_factory=dict)
    data: bytearray = field(default_factory=bytearray)


def split_multipart(content_type: str, body: bytes) -> list[_Part]:
    """The parts of a multipart/form-data body, byte-exact."""
    from python_multipart.exceptions import MultipartParseError
    from python_multipart.multipart import MultipartParser, parse_options_header

    _, params = parse_options_header(content_type)
    boundary = params.get(b"boundary")
    if not boundary:
        raise BadRequest("multipart/form-data needs a boundary parameter", code="invalid_body")
    parts: list[_Part] = []
    header = [b"", b""]

    def on_part_begin() -> None:
        parts.append(_Part())

    def on_header_field(data: bytes, start: int, end: int) -> None:
        header[0] += data[start:end]

    def on_header_value(data: bytes, start: int, end: int) -> None:
        header[1] += data[start:end]

    def on_header_end() -> None:
        parts[-1].headers[header[0].lower()] = header[1]
        header[:] = [b"", b""]

    def on_part_data(data: bytes, start: int, end: int) -> None:
        parts[-1].data += data[start:end]

    finished = [False]

    def on_end() -> None:
        finished[0] = True

    parser = MultipartParser(
        boundary,
        {
            "on_part_begin": on_part_begin,
            "on_header_field": on_header_field,
            "on_header_value": on_header_value,
            "on_header_end": on_header_end,
            "on_part_data": on_part_data,
            "on_end": on_end,
        },
    )
    try:
        parser.write(body)
        parser.finalize()
    except MultipartParseError:
        raise BadRequest("the multipart body is malformed", code="invalid_body") from None
    if not finished[0]:
        raise BadRequest("the multipart body is truncated", code="invalid_body")
    return parts


def _multipart_upload(content_type: str, body: bytes) -> Upload:
    from python_multipart.multipart import parse_options_header

    raw: dict[str, Any] = {}
    file_part: _Part | None = None
    for part in split_multipart(content_type, body):
        _, disposition = parse_options_header(part.headers.get(b"content-disposition", b""))
        name = disposition.get(b"name", b"").decode("latin-1")
        if name == "file":
            if file_part is not None:
                raise InvalidField("file", "send exactly one file part")
            file_part = part
            filename = disposition.get(b"filename")
            if filename:
                raw.setdefault("filename", filename.decode("utf-8", "replace"))
        elif name in ("title", "description", "tags"):
            try:
                raw[name] = part.data.decode("utf-8")
            except UnicodeDecodeError:
                raise InvalidField(name, "must be UTF-8 text") from None
        else:
            raise InvalidField(name or "(unnamed part)", "unknown form field")
    if file_part is None:
        raise InvalidField("file", "a multipart upload needs a 'file' part")
    declared = media_type(file_part.headers.get(b"content-type", b"").decode("latin-1"))
    return Upload(data=bytes(file_part.data), declared_type=declared, fields=clean_fields(raw))


_JSON_UPLOAD_KEYS = ("image_base64", "content_type", *_UPLOAD_FIELDS)


def parse_json_object(body: bytes) -> dict[str, Any]:
    """A JSON object from a request body, or a 400."""
    try:
        value = json.loads(body)
    except (UnicodeDecodeError, ValueError):
        raise BadRequest("the body is not valid JSON", code="invalid_json") from None
    if not isinstance(value, dict):
        raise BadRequest("the body must be a JSON object", code="invalid_json")
    return value


def _json_upload(body: bytes) -> Upload:
    doc = parse_json_object(body)
    unknown = sorted(set(doc) - set(_JSON_UPLOAD_KEYS))
    if unknown:
        raise InvalidField(unknown[0], "unknown field")
    encoded = doc.get("image_base64")
    if not isinstance(encoded, str) or not encoded.strip():
        raise InvalidField("image_base64", "is required and must be a base64 string")
    declared = doc.get("content_type")
    if declared is not None and not isinstance(declared, str):
        raise InvalidField("content_type", "must be a string")
    if encoded.startswith("data:") and "," in encoded:
        # A data URL: `data:image/png;base64,....`
        prefix, encoded = encoded.split(",", 1)
        declared = declared or prefix[5:].split(";", 1)[0]
    return Upload(
        data=_b64decode(encoded),
        declared_type=media_type(declared),
        fields=clean_fields({k: doc.get(k) for k in _UPLOAD_FIELDS}),
    )


def _b64decode(encoded: str) -> bytes:
    compact = "".join(encoded.split())
    try:
        if "-" in compact or "_" in compact:
            return base64.urlsafe_b64decode(compact + "=" * (-len(compact) % 4))
        return base64.b64decode(compact, validate=True)
    except (binascii.Error, ValueError):
        raise InvalidField("image_base64", "is not valid base64") from None


def parse_instant(name: str, value: str) -> datetime:
    """An ISO 8601 date or date-time as an aware UTC datetime (a date means 00:00 UTC)."""
    try:
        parsed = datetime.fromisoformat(value.strip())
    except ValueError:
        raise InvalidField(name, "must be an ISO 8601 date or date-time") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    if not 1970 <= parsed.year <= 9998:
        raise InvalidField(name, "must be between the years 1970 and 9998")
    return parsed.astimezone(UTC)


def parse_int(name: str, value: str | None, default: int, low: int, high: int) -> int:
    if value is None:
        return default
    try:
        number = int(value)
    except ValueError:
        raise InvalidField(name, f"must be an integer between {low} and {high}") from None
    if not low <= number <= high:
        raise InvalidField(name, f"must be between {low} and {high}")
    return number


def parse_bool(name: str, value: str | None) -> bool:
    if value is None:
        return False
    lowered = value.lower()
    if lowered in ("true", "1", "yes"):
        return True
    if lowered in ("false", "0", "no"):
        return False
    raise InvalidField(name, "must be true or false")


@dataclass(frozen=True)
class ListParams:
    """`GET /images` after parsing: the filters, the page size and the token."""

    query: ListQuery
    limit: int
    next_token: str | None


_LIST_PARAMS = (
    "user_id",
    "tag",
    "title",
    "content_type",
    "created_after",
    "created_before",
    "limit",
    "next_token",
)


def parse_list_params(query: Mapping[str, str]) -> ListParams:
    unknown = sorted(set(query) - set(_LIST_PARAMS))
    if unknown:
        raise InvalidField(unknown[0], "unknown query parameter")
    user_id = query.get("user_id")
    if user_id is not None and not USER_ID.fullmatch(user_id):
        raise InvalidField("user_id", "must be 1-128 characters of A-Z a-z 0-9 . _ @ -")
    tag = query.get("tag")
    if tag is not None:
        tag = clean_tags([tag], field="tag")[0]
    title = query.get("title")
    if title is not None and len(title) > TITLE_MAX:
        raise InvalidField("title", f"must be at most {TITLE_MAX} characters")
    content_type = query.get("content_type")
    if content_type is not None:
        content_type = media_type(content_type)
        if content_type not in ACCEPTED_TYPES:
            raise InvalidField("content_type", f"must be one of {', '.join(ACCEPTED_TYPES)}")
    after = before = None
    if "created_after" in query:
        after_at = parse_instant("created_after", query["created_after"])
        after = iso_millis(after_at) + "#~"  # above every key of that millisecond
    if "created_before" in query:
        before_at = parse_instant("created_before", query["created_before"])
        before = iso_millis(before_at, round_up=True)  # below every key of that millisecond
        if "created_after" in query and before_at <= after_at:
            raise InvalidField("created_before", "must be later than created_after")
    next_token = query.get("next_token")
    if next_token is not None and not next_token:
        raise InvalidField("next_token", "must not be empty")
    return ListParams(
        query=ListQuery(
            user_id=user_id,
            tag=tag,
            title=title or None,
            content_type=content_type,
            after=after,
            before=before,
        ),
        limit=parse_int("limit", query.get("limit"), 20, 1, 100),
        next_token=next_token,
    )


IDEMPOTENCY_KEY_MAX = 255


def parse_idempotency_key(value: str | None) -> str | None:
    """The `Idempotency-Key` header: 1-255 printable ASCII characters, or absent."""
    if value is None:
        return None
    if not 1 <= len(value) <= IDEMPOTENCY_KEY_MAX or not all(" " < c <= "~" for c in value):
        raise InvalidField(
            "Idempotency-Key", f"must be 1-{IDEMPOTENCY_KEY_MAX} printable ASCII characters"
        )
    return value
