"""Request decoding: JSON bodies, query strings and form fields into the typed shapes of
`chalicelib/schemas.py`, and the three encodings of an upload. Every refusal is a 400 (or
413) that names the field at fault."""

from __future__ import annotations

import base64
import binascii
import functools
import json
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, TypeVar

import msgspec
import msgspec.inspect

from chalicelib.errors import BadRequest, InvalidField, TooLarge
from chalicelib.formats import ACCEPTED_TYPES
from chalicelib.metadata import ListFilter
from chalicelib.models import iso_millis
from chalicelib.schemas import JsonUpload, ListQuery, MultipartFields, RawUploadQuery
from chalicelib.validation import check_unicode, clean_tag, fold, media_type

S = TypeVar("S", bound=msgspec.Struct)

# Room for the JSON or multipart framing and text fields around an image.
ENVELOPE_BYTES = 64 * 1024
# Base64 is 4/3 of the image; line breaks (`base64` wraps at 76 columns), their JSON escapes
# and escaped slashes add up to about 8 % more. The image limit applies to the decoded bytes.
_BASE64_ALLOWANCE = 1.5
_INTEGER = re.compile(r"[+-]?[0-9]{1,18}")
_PATH = re.compile(r" - at `\$(?:\.([^.\[`]+)|\[)")
_UNKNOWN = re.compile(r"unknown field `(.*)`")
_MISSING = re.compile(r"missing required field `(.*)`")


class Upload(msgspec.Struct, frozen=True):
    """An image upload as the client sent it: bytes, declared type, metadata."""

    data: bytes
    declared_type: str
    fields: dict[str, Any]  # as sent; cleaned by the service's field rules
    encoding: str = "raw"  # raw, multipart or json (reported in the metrics)


def check_body_size(body: bytes, limit: int) -> None:
    if len(body) > limit:
        raise TooLarge(
            f"the request body is {len(body):,} bytes; at most {limit:,} are accepted here",
            code="body_too_large",
        )


# ----- typed decoding --------------------------------------------------------------------


def _invalid(exc: msgspec.ValidationError, kind: type[msgspec.Struct], where: str) -> BadRequest:
    """A 400 naming the field from msgspec's message (`... - at `$.limit``)."""
    text = str(exc)
    if unknown := _UNKNOWN.search(text):
        known = ", ".join(kind.__struct_fields__)
        return InvalidField(unknown.group(1), f"unknown {where}; accepted: {known}")
    if missing := _MISSING.search(text):
        return InvalidField(missing.group(1), "is required")
    located = _PATH.search(text)
    message = text[: located.start()] if located else text
    if located and located.group(1):
        return InvalidField(located.group(1), message[:1].lower() + message[1:])
    return BadRequest(f"the body must be a JSON object: {message}", code="invalid_json")


def decode_json(body: bytes, kind: type[S]) -> S:
    """A JSON body as `kind`, or a 400 naming the field."""
    try:
        return msgspec.json.decode(body, type=kind)
    except msgspec.ValidationError as exc:
        raise _invalid(exc, kind, "field") from None
    except msgspec.DecodeError as exc:
        raise _diagnose(body, str(exc)) from None


@functools.cache
def _integer_fields(kind: type[msgspec.Struct]) -> frozenset[str]:
    """Fields of `kind` that hold integers: msgspec's lax conversion would also take `1e3`."""
    info = msgspec.inspect.type_info(kind)
    assert isinstance(info, msgspec.inspect.StructType)
    return frozenset(
        f.encode_name
        for f in info.fields
        if any(isinstance(t, msgspec.inspect.IntType) for t in _alternatives(f.type))
    )


def _alternatives(info: msgspec.inspect.Type) -> list[msgspec.inspect.Type]:
    if isinstance(info, msgspec.inspect.Metadata):
        return _alternatives(info.type)
    if isinstance(info, msgspec.inspect.UnionType):
        return [t for member in info.types for t in _alternatives(member)]
    return [info]


def _diagnose(body: bytes, reason: str) -> BadRequest:
    """Why a body is not JSON we accept; only on the error path. The standard library's
    parser accepts lone surrogates, which names the field that holds one."""
    try:
        value = json.loads(body)
    except RecursionError:
        return BadRequest("the body is nested too deeply", code="invalid_json")
    except (UnicodeDecodeError, ValueError) as exc:
        return BadRequest(f"the body is not valid JSON: {exc}", code="invalid_json")
    if isinstance(value, dict):
        for name, item in value.items():
            check_unicode("(a field name)", name)
            for text in _strings(item):
                check_unicode(name, text)
    return BadRequest(f"the body is not valid JSON: {reason}", code="invalid_json")


def _strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        return [text for item in value for text in _strings(item)]
    return []


def decode_params(params: Mapping[str, str], kind: type[S], where: str = "query parameter") -> S:
    """Query parameters (or form fields) as `kind`: strings converted, unknown names refused."""
    integers = _integer_fields(kind)
    for name, value in params.items():
        check_unicode(name, value)
        if name in integers and not _INTEGER.fullmatch(value):
            raise InvalidField(name, f"must be an integer, got {value!r}")
    try:
        return msgspec.convert(dict(params), type=kind, strict=False)
    except msgspec.ValidationError as exc:
        raise _invalid(exc, kind, where) from None


# ----- uploads -----------------------------------------------------------------------------


def parse_upload(
    content_type: str | None, body: bytes, query: Mapping[str, str], max_bytes: int
) -> Upload:
    """Decode `POST /images` in any of its three encodings."""
    kind = media_type(content_type)
    if kind == "multipart/form-data":
        _no_query(query, "multipart")
        check_body_size(body, upload_body_limit(kind, max_bytes))
        return _multipart_upload(content_type or "", body)
    if kind == "application/json":
        _no_query(query, "JSON")
        check_body_size(body, upload_body_limit(kind, max_bytes))
        return _json_upload(body)
    fields = decode_params(query, RawUploadQuery)
    return Upload(data=body, declared_type=kind, fields=fields.given())


def upload_body_limit(kind: str, max_bytes: int) -> int:
    """The largest body an upload of at most `max_bytes` of image may need: framing and text
    fields around it, and for JSON the base64 text. The image limit is applied to the decoded
    bytes; this only bounds what is read."""
    if kind == "application/json":
        return int(max_bytes * 4 / 3 * _BASE64_ALLOWANCE) + ENVELOPE_BYTES
    return max_bytes + ENVELOPE_BYTES


def _no_query(query: Mapping[str, str], encoding: str) -> None:
    if query:
        name = sorted(query)[0]
        raise InvalidField(
            name,
            f"query parameters only go with raw image bodies; send {name} inside the "
            f"{encoding} body",
        )


class _Part(msgspec.Struct):
    headers: dict[bytes, bytes] = msgspec.field(default_factory=dict)
    data: bytearray = msgspec.field(default_factory=bytearray)


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
    finished = [False]

    def on_header_end() -> None:
        parts[-1].headers[header[0].lower()] = header[1]
        header[:] = [b"", b""]

    def on_end() -> None:
        finished[0] = True

    callbacks: dict[str, Any] = {
        "on_part_begin": lambda: parts.append(_Part()),
        "on_header_field": lambda data, start, end: header.__setitem__(
            0, header[0] + data[start:end]
        ),
        "on_header_value": lambda data, start, end: header.__setitem__(
            1, header[1] + data[start:end]
        ),
        "on_header_end": on_header_end,
        "on_part_data": lambda data, start, end: parts[-1].data.extend(data[start:end]),
        "on_end": on_end,
    }
    parser = MultipartParser(boundary, callbacks)  # type: ignore[arg-type]
    try:
        parser.write(body)
        parser.finalize()
    except MultipartParseError:
        raise BadRequest("the multipart body is malformed", code="invalid_body") from None
    if not finished[0]:
        raise BadRequest("the multipart body is truncated", code="invalid_body")
    return parts


_FORM_FIELDS = "file, " + ", ".join(MultipartFields.__struct_fields__)


def _multipart_upload(content_type: str, body: bytes) -> Upload:
    from python_multipart.multipart import parse_options_header

    texts: dict[str, str] = {}
    file_part: _Part | None = None
    filename: str | None = None
    for part in split_multipart(content_type, body):
        _, disposition = parse_options_header(part.headers.get(b"content-disposition", b""))
        name = disposition.get(b"name", b"").decode("utf-8", "replace")
        if name == "file":
            if file_part is not None:
                raise InvalidField("file", "send exactly one file part")
            file_part = part
            raw_name = disposition.get(b"filename")
            filename = raw_name.decode("utf-8", "replace") if raw_name else None
        elif name in MultipartFields.__struct_fields__:
            if name in texts:
                raise InvalidField(name, "is sent twice")
            try:
                texts[name] = part.data.decode("utf-8")
            except UnicodeDecodeError:
                raise InvalidField(name, "must be UTF-8 text") from None
        else:
            raise InvalidField(name or "(unnamed part)", f"unknown form field; send {_FORM_FIELDS}")
    if file_part is None:
        raise InvalidField("file", "a multipart upload needs a 'file' part")
    fields = decode_params(texts, MultipartFields, "form field").given()
    if filename:
        fields["filename"] = filename
    declared = media_type(file_part.headers.get(b"content-type", b"").decode("latin-1"))
    return Upload(bytes(file_part.data), declared, fields, "multipart")


def _json_upload(body: bytes) -> Upload:
    doc = decode_json(body, JsonUpload)
    encoded = doc.image_base64
    declared = doc.content_type if isinstance(doc.content_type, str) else None
    if encoded.startswith("data:") and "," in encoded:
        # A data URL: `data:image/png;base64,....`
        prefix, encoded = encoded.split(",", 1)
        declared = declared or prefix[5:].split(";", 1)[0]
    fields = doc.given()
    return Upload(_b64decode(encoded), media_type(declared), fields, "json")


def _b64decode(encoded: str) -> bytes:
    """Standard or URL-safe base64, wrapped or not, padded or not."""
    compact = "".join(encoded.split())
    padded = compact + "=" * (-len(compact) % 4)
    try:
        if "-" in compact or "_" in compact:
            return base64.urlsafe_b64decode(padded)
        return base64.b64decode(padded, validate=True)
    except (binascii.Error, ValueError):
        raise InvalidField("image_base64", "is not valid base64") from None


# ----- other parameters ------------------------------------------------------------------


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


def list_filter(params: ListQuery) -> ListFilter:
    """`GET /images` filters as the table reads them: cleaned values, sort-key bounds."""
    tag = clean_tag(params.tag, field="tag") if isinstance(params.tag, str) else None
    content_type = None
    if isinstance(params.content_type, str):
        content_type = media_type(params.content_type)
        if content_type not in ACCEPTED_TYPES:
            raise InvalidField("content_type", f"must be one of {', '.join(ACCEPTED_TYPES)}")
    after = before = None
    if isinstance(params.created_after, str):
        after_at = parse_instant("created_after", params.created_after)
        after = iso_millis(after_at) + "#~"  # above every key of that millisecond
    if isinstance(params.created_before, str):
        before_at = parse_instant("created_before", params.created_before)
        before = iso_millis(before_at, round_up=True)  # below every key of that millisecond
        if after is not None and before_at <= after_at:
            raise InvalidField("created_before", "must be later than created_after")
    return ListFilter(
        sha256=params.sha256 if isinstance(params.sha256, str) else None,
        source_sha256=params.source_sha256 if isinstance(params.source_sha256, str) else None,
        user_id=params.user_id if isinstance(params.user_id, str) else None,
        tag=tag,
        title=fold(params.title) if isinstance(params.title, str) and params.title else None,
        content_type=content_type,
        after=after,
        before=before,
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
