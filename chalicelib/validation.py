"""Content and metadata rules: image type from the bytes, size limits, field limits."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from typing import Any

from chalicelib.errors import BadRequest, InvalidField, NotFound, TooLarge, UnsupportedType

ACCEPTED_TYPES = ("image/jpeg", "image/png", "image/gif", "image/webp")
EXTENSIONS = {"image/jpeg": "jpg", "image/png": "png", "image/gif": "gif", "image/webp": "webp"}
_ALIASES = {"image/jpg": "image/jpeg", "image/pjpeg": "image/jpeg", "image/x-png": "image/png"}
NEUTRAL_TYPES = ("", "application/octet-stream")

TITLE_MAX = 200
DESCRIPTION_MAX = 2000
FILENAME_MAX = 255
TAG_MAX = 50
TAGS_MAX = 20

IMAGE_ID = re.compile(r"[0-9a-f]{32}")
_TAG_PUNCTUATION = frozenset("_-")


def sniff_type(data: bytes) -> str | None:
    """The accepted image type the bytes start with, if any."""
    if data.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if data[:6] in (b"GIF87a", b"GIF89a"):
        return "image/gif"
    if len(data) >= 12 and data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    return None


def media_type(header: str | None) -> str:
    """`Image/JPEG; q=1` -> `image/jpeg`; aliases folded; '' when absent."""
    if not header:
        return ""
    value = header.split(";", 1)[0].strip().lower()
    return _ALIASES.get(value) or value


def check_content(data: bytes, declared: str | None, max_bytes: int) -> str:
    """The real content type of an upload, or the contract's 400/413/415."""
    if not data:
        raise BadRequest("the image is empty", code="empty_image")
    if len(data) > max_bytes:
        raise TooLarge(f"image is {_mib(len(data))}; the limit is {_mib(max_bytes)}")
    declared_type = media_type(declared)
    if declared_type not in NEUTRAL_TYPES and declared_type not in ACCEPTED_TYPES:
        raise UnsupportedType(
            f"{declared_type} is not an accepted image type; send JPEG, PNG, GIF or WebP"
        )
    actual = sniff_type(data)
    if actual is None:
        raise UnsupportedType("the content is not a JPEG, PNG, GIF or WebP image")
    if declared_type not in NEUTRAL_TYPES and declared_type != actual:
        raise UnsupportedType(f"declared {declared_type} but the content is {actual}")
    return actual


def check_image_id(image_id: str) -> str:
    if not IMAGE_ID.fullmatch(image_id):
        raise NotFound("no such image")
    return image_id


def _mib(size: int) -> str:
    return f"{size / (1024 * 1024):.1f} MiB" if size % (1024 * 1024) else f"{size >> 20} MiB"


def _text(field: str, value: Any, limit: int, *, multiline: bool) -> str:
    if not isinstance(value, str):
        raise InvalidField(field, "must be a string")
    text = unicodedata.normalize("NFC", value).strip()
    if len(text) > limit:
        raise InvalidField(field, f"is {len(text)} characters; at most {limit} are allowed")
    allowed = "\n\r\t" if multiline else ""
    if any(unicodedata.category(c) == "Cc" and c not in allowed for c in text):
        raise InvalidField(field, "must not contain control characters")
    return text


def clean_title(value: Any) -> str:
    return _text("title", value, TITLE_MAX, multiline=False)


def clean_description(value: Any) -> str:
    return _text("description", value, DESCRIPTION_MAX, multiline=True)


def clean_filename(value: Any) -> str:
    """Only the last path component is kept: filenames are metadata, never S3 keys."""
    name = _text("filename", value, 4 * FILENAME_MAX, multiline=False)
    name = re.split(r"[\\/]", name)[-1].strip()
    if len(name) > FILENAME_MAX:
        raise InvalidField("filename", f"is longer than {FILENAME_MAX} characters")
    return name


def _tag_char_ok(c: str) -> bool:
    return c in _TAG_PUNCTUATION or unicodedata.category(c)[0] in "LM" or c.isdecimal()


def clean_tags(value: Any, field: str = "tags") -> list[str]:
    """Tags from a list or a comma-separated string: trimmed, lowercased, deduplicated."""
    if isinstance(value, str):
        items: list[Any] = [] if not value.strip() else value.split(",")
    elif isinstance(value, list):
        items = value
    else:
        raise InvalidField(field, "must be a list of strings or a comma-separated string")
    tags: list[str] = []
    for item in items:
        if not isinstance(item, str):
            raise InvalidField(field, "every tag must be a string")
        tag = unicodedata.normalize("NFC", item).strip().lower()
        if not 1 <= len(tag) <= TAG_MAX:
            raise InvalidField(field, f"each tag must be 1-{TAG_MAX} characters, got {tag!r}")
        if not all(_tag_char_ok(c) for c in tag):
            raise InvalidField(
                field, f"{tag!r}: tags are made of letters, digits, '_' and '-' only"
            )
        if tag not in tags:
            tags.append(tag)
    if len(tags) > TAGS_MAX:
        raise InvalidField(field, f"at most {TAGS_MAX} tags are allowed, got {len(tags)}")
    return tags


@dataclass(frozen=True)
class Fields:
    """Client-supplied metadata of an image, already validated."""

    title: str = ""
    description: str = ""
    tags: tuple[str, ...] = ()
    filename: str = ""


def clean_fields(raw: dict[str, Any]) -> Fields:
    """Validate the optional title/description/tags/filename of an upload."""
    return Fields(
        title=clean_title(raw["title"]) if raw.get("title") is not None else "",
        description=(
            clean_description(raw["description"]) if raw.get("description") is not None else ""
        ),
        tags=tuple(clean_tags(raw["tags"])) if raw.get("tags") is not None else (),
        filename=clean_filename(raw["filename"]) if raw.get("filename") is not None else "",
    )


UPDATABLE = ("title", "description", "tags")


def clean_update(body: Any) -> dict[str, Any]:
    """The fields of a PATCH/PUT body; unknown fields are a 400."""
    if not isinstance(body, dict):
        raise BadRequest("the body must be a JSON object", code="invalid_body")
    unknown = sorted(set(body) - set(UPDATABLE))
    if unknown:
        raise InvalidField(
            unknown[0], f"unknown field; updatable fields are {', '.join(UPDATABLE)}"
        )
    changes: dict[str, Any] = {}
    if "title" in body:
        changes["title"] = clean_title(body["title"])
    if "description" in body:
        changes["description"] = clean_description(body["description"])
    if "tags" in body:
        changes["tags"] = clean_tags(body["tags"])
    return changes
