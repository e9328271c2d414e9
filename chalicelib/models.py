"""The image record, its S3 keys and its timestamps."""

from __future__ import annotations

import math
import uuid
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

Status = Literal["pending", "ready", "rejected", "deleting"]
RenditionName = Literal["small", "medium"]
RENDITION_SIDES: dict[RenditionName, int] = {"small": 320, "medium": 1080}


def new_image_id() -> str:
    return uuid.uuid4().hex


def utcnow() -> datetime:
    return datetime.now(UTC)


def iso_millis(moment: datetime, *, round_up: bool = False) -> str:
    """`2026-11-22T10:15:30.123Z`: fixed width, so the strings sort as the instants do."""
    moment = moment.astimezone(UTC)
    millis = moment.microsecond / 1000
    millis_int = math.ceil(millis) if round_up else math.floor(millis)
    if millis_int == 1000:
        moment, millis_int = moment.replace(microsecond=0) + timedelta(seconds=1), 0
    return moment.strftime("%Y-%m-%dT%H:%M:%S") + f".{millis_int:03d}Z"


def original_key(image_id: str) -> str:
    return f"images/{image_id}/original"


def rendition_key(image_id: str, name: RenditionName) -> str:
    return f"images/{image_id}/{name}"


UPLOAD_PREFIX = "uploads/"


def upload_key(image_id: str) -> str:
    return f"{UPLOAD_PREFIX}{image_id}"


def image_id_from_upload_key(key: str) -> str | None:
    return key[len(UPLOAD_PREFIX) :] if key.startswith(UPLOAD_PREFIX) else None


@dataclass(frozen=True)
class Rendition:
    content_type: str
    width: int
    height: int
    size: int


@dataclass(frozen=True)
class Image:
    image_id: str
    user_id: str
    title: str
    description: str
    tags: tuple[str, ...]
    filename: str
    content_type: str
    size: int
    created_at: str
    updated_at: str
    status: Status = "pending"
    width: int | None = None
    height: int | None = None
    sha256: str | None = None
    renditions: dict[str, Rendition] = field(default_factory=dict)
    version: int = 1
    # When the sweeper may remove this image if it is still not ready (internal).
    cleanup_at: str | None = None

    @property
    def sort_key(self) -> str:
        """Newest-first order of every listing: creation time, then id for uniqueness."""
        return f"{self.created_at}#{self.image_id}"

    @property
    def etag(self) -> str:
        return f'"{self.sha256}"'

    def changed(self, **changes: Any) -> Image:
        return replace(self, **changes)

    def resource(self) -> dict[str, Any]:
        """The API representation (without `urls`, which the service adds)."""
        body = asdict(self)
        body["tags"] = list(self.tags)
        del body["version"], body["cleanup_at"]
        if self.status != "ready":
            body.pop("renditions")
        return body
