"""Content and field rules: image type from the bytes, size limits, and how each field a
client sets is cleaned (one rule per field, in `FIELD_RULES`)."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable
from typing import Any

from chalicelib.errors import BadRequest, InvalidField, NotFound, TooLarge, UnsupportedType
from chalicelib.formats import ACCEPTED_TYPES, TYPE_NAMES, same_family, sniff
from chalicelib.models import (
    DESCRIPTION_MAX,
    FILENAME_MAX,
    TAG_MAX,
    TAGS_MAX,
    TITLE_MAX,
)

_ALIASES = {
    "image/jpg": "image/jpeg",
    "image/pjpeg": "image/jpeg",
    "image/x-png": "image/png",
    "image/heic-sequence": "image/heic",
    "image/heif-sequence": "image/heif",
}
NEUTRAL_TYPES = ("", "application/octet-stream")

IMAGE_ID = re.compile(r"[0-9a-f]{32}")
_TAG_PUNCTUATION = frozenset("_-")


def media_type(header: str | None) -> str:
    """`Image/JPEG; q=1` -> `image/jpeg`; aliases folded; '' when absent."""
    if not header:
        return ""
    value = header.split(";", 1)[0].strip().lower()
    return _ALIASES.get(value) or value


def check_size(size: int, max_bytes: int) -> None:
    if size > max_bytes:
        raise TooLarge(
            f"the image is {mib(size)}; the limit here is {mib(max_bytes)}: upload larger "
            "images directly to S3 with POST /images/uploads"
        )


def check_content(data: bytes, declared: str | None, max_bytes: int) -> str:
    """The real content type of an upload, or the contract's 400/413/415."""
    if not data:
        raise BadRequest("the image is empty", code="empty_image")
    check_size(len(data), max_bytes)
    declared_type = media_type(declared)
    if declared_type not in NEUTRAL_TYPES and declared_type not in ACCEPTED_TYPES:
        raise UnsupportedType(f"{declared_type} is not an accepted image type; send {TYPE_NAMES}")
    actual = sniff(data)
    if actual is None:
        raise UnsupportedType(f"the content is not a {TYPE_NAMES} image")
    if declared_type not in NEUTRAL_TYPES and not same_family(declared_type, actual):
        raise UnsupportedType(f"declared {declared_type} but the content is {actual}")
    return actual


def check_image_id(image_id: str) -> str:
    if not IMAGE_ID.fullmatch(image_id):
        raise NotFound("no such image")
    return image_id


def mib(size: int) -> str:
    return f"{size / (1024 * 1024):.1f} MiB" if size % (1024 * 1024) else f"{size >> 20} MiB"


def fold(text: str) -> str:
    """The form titles are compared in: NFC, then case-folded (stored and searched alike)."""
    return unicodedata.normalize("NFC", text).casefold()


def check_unicode(field: str, text: str) -> str:
    """JSON can carry lone surrogates (`"\\ud800"`), which no store can hold: a 400."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise InvalidField(field, "is not valid Unicode text (it holds a lone surrogate)") from None
    return text


def _text(field: str, value: str, limit: int, *, multiline: bool) -> str:
    text = unicodedata.normalize("NFC", check_unicode(field, value)).strip()
    if len(text) > limit:
        raise InvalidField(field, f"is {len(text)} characters; at most {limit} are allowed")
    allowed = "\n\r\t" if multiline else ""
    if any(unicodedata.category(c) == "Cc" and c not in allowed for c in text):
        raise InvalidField(field, "must not contain control characters")
    return text


def clean_title(value: str) -> str:
    return _text("title", value, TITLE_MAX, multiline=False)


def clean_description(value: str) -> str:
    return _text("description", value, DESCRIPTION_MAX, multiline=True)


def clean_filename(value: str) -> str:
    """Only the last path component is kept: filenames are metadata, never S3 keys."""
    name = _text("filename", value, 4 * FILENAME_MAX, multiline=False)
    name = re.split(r"[\\/]", name)[-1].strip()
    if len(name) > FILENAME_MAX:
        raise InvalidField("filename", f"is longer than {FILENAME_MAX} characters")
    return name


def _tag_char_ok(c: str) -> bool:
    return c in _TAG_PUNCTUATION or unicodedata.category(c)[0] in "LM" or c.isdecimal()


def clean_tag(value: str, field: str = "tags") -> str:
    tag = unicodedata.normalize("NFC", check_unicode(field, value)).strip().lower()
    if not 1 <= len(tag) <= TAG_MAX:
        raise InvalidField(field, f"each tag must be 1-{TAG_MAX} characters, got {tag!r}")
    if not all(_tag_char_ok(c) for c in tag):
        raise InvalidField(field, f"{tag!r}: tags are made of letters, digits, '_' and '-' only")
    return tag


def clean_tags(value: list[str] | str) -> tuple[str, ...]:
    """Tags from a list or a comma-separated string: trimmed, lowercased, deduplicated."""
    items = (value.split(",") if value.strip() else []) if isinstance(value, str) else value
    tags = tuple(dict.fromkeys(clean_tag(item) for item in items))
    if len(tags) > TAGS_MAX:
        raise InvalidField("tags", f"at most {TAGS_MAX} tags are allowed, got {len(tags)}")
    return tags


# How each field a client may set is cleaned; a field without a rule is taken as decoded.
FIELD_RULES: dict[str, Callable[[Any], Any]] = {
    "title": clean_title,
    "description": clean_description,
    "tags": clean_tags,
    "filename": clean_filename,
}


def clean_fields(given: dict[str, Any]) -> dict[str, Any]:
    """The fields a client sent, each cleaned by its rule."""
    return {name: FIELD_RULES.get(name, _same)(value) for name, value in given.items()}


def _same(value: Any) -> Any:
    return value
