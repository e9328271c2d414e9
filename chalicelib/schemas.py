"""The API's shapes: request bodies, query strings and responses, as typed structs.

Validation (`chalicelib/parsing.py` decodes into these), response encoding and the OpenAPI
components (`chalicelib/openapi.py`) all come from these declarations. The image's own fields
are declared once, in `chalicelib/models.py`; the shapes here derive from them.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

import msgspec
from msgspec import UNSET, Meta, Struct, UnsetType

from chalicelib.formats import ImageType
from chalicelib.models import (
    INTERNAL_FIELDS,
    TITLE_MAX,
    EditableFields,
    Image,
    Rendition,
    UploadFields,
)

UserId = Annotated[
    str, Meta(pattern=r"^[A-Za-z0-9._@-]{1,128}$", description="only this user's images")
]
Sha256 = Annotated[str, Meta(pattern="^[0-9a-f]{64}$", description="hex SHA-256 of the bytes")]
RenditionSize = Literal["small", "medium", "square"]
RenditionFormat = Literal["auto", "jpeg", "png", "webp", "avif"]


class Strict(Struct, kw_only=True, forbid_unknown_fields=True):
    """A request shape: unknown fields or parameters are a 400 naming them."""


# ----- request bodies --------------------------------------------------------------------


class JsonUpload(UploadFields, kw_only=True, forbid_unknown_fields=True):
    """`POST /images` as JSON: the image base64-encoded (a data URL works too)."""

    image_base64: Annotated[str, Meta(min_length=1, description="standard or URL-safe base64")]
    content_type: str | UnsetType = UNSET


class DirectUploadRequest(UploadFields, kw_only=True, forbid_unknown_fields=True):
    """`POST /images/uploads`: what will be uploaded straight to S3."""

    content_type: ImageType
    size: Annotated[int, Meta(ge=1, description="bytes; at most MAX_DIRECT_UPLOAD_BYTES")]


class ImageUpdate(EditableFields, kw_only=True, forbid_unknown_fields=True):
    """`PATCH`/`PUT /images/{image_id}`: the fields to change."""


class MultipartFields(EditableFields, kw_only=True, forbid_unknown_fields=True):
    """The text parts of a multipart upload (the image is the `file` part)."""


# ----- query strings ---------------------------------------------------------------------


class NoQuery(Strict):
    """Routes that take no query parameters refuse any."""


class RawUploadQuery(UploadFields, kw_only=True, forbid_unknown_fields=True):
    """`POST /images` with a raw image body: the metadata rides in the query string."""


class ListQuery(Strict):
    user_id: UserId | UnsetType = UNSET
    tag: (
        Annotated[str, Meta(min_length=1, max_length=200, description="only images with this tag")]
        | UnsetType
    ) = UNSET
    title: (
        Annotated[str, Meta(max_length=TITLE_MAX, description="case-insensitive substring")]
        | UnsetType
    ) = UNSET
    content_type: Annotated[str, Meta(description="only images of this type")] | UnsetType = UNSET
    created_after: (
        Annotated[str, Meta(description="ISO 8601 date or date-time, exclusive")] | UnsetType
    ) = UNSET
    created_before: (
        Annotated[str, Meta(description="ISO 8601 date or date-time, exclusive")] | UnsetType
    ) = UNSET
    sha256: (
        Annotated[
            str,
            Meta(pattern="^[0-9a-f]{64}$", description="only copies of this file (hex SHA-256)"),
        ]
        | UnsetType
    ) = UNSET
    source_sha256: (
        Annotated[
            str,
            Meta(
                pattern="^[0-9a-f]{64}$",
                description="only images uploaded from this file, before its metadata was"
                " removed (hex SHA-256 of the file as sent)",
            ),
        ]
        | UnsetType
    ) = UNSET
    limit: Annotated[int, Meta(ge=1, le=100, description="page size")] = 20
    next_token: (
        Annotated[str, Meta(min_length=1, description="from the previous page; same filters")]
        | UnsetType
    ) = UNSET


class DownloadQuery(Strict):
    expires_in: Annotated[int, Meta(ge=60, le=3600, description="seconds")] = 900
    attachment: Annotated[bool, Meta(description="serve with the filename as an attachment")] = (
        False
    )
    redirect: Annotated[bool, Meta(description="answer 302 to the URL")] = False


class GalleryQuery(Strict):
    user: UserId | UnsetType = UNSET  # header mode: sign in as this user


class AssetQuery(Strict):
    v: Annotated[str, Meta(max_length=64, description="the asset's version")] | UnsetType = UNSET


class ThumbnailQuery(Strict):
    size: Annotated[
        RenditionSize,
        Meta(description="small: longest side 320 px; medium: 1080 px; square: 640x640 crop"),
    ] = "small"
    format: Annotated[
        RenditionFormat,
        Meta(
            description="auto (AVIF if Accept lists it, else WebP if it does, else the base "
            "format), the image's base format (jpeg, or png for PNG, GIF and transparent "
            "images), webp or avif"
        ),
    ] = "auto"


# ----- responses -------------------------------------------------------------------------


class ErrorDetail(Struct, kw_only=True):
    code: str
    message: str
    field: Annotated[str, Meta(description="the field at fault")] | UnsetType = UNSET


class ErrorBody(Struct):
    error: ErrorDetail


def _resource_fields() -> list[tuple[str, Any] | tuple[str, Any, Any]]:
    """The image resource: every field of the stored image but the internal ones, plus the
    presigned URLs of ready images."""
    overrides: dict[str, Any] = {
        "status": Annotated[
            Literal["pending", "ready", "rejected"],
            Meta(description="pending until the bytes are checked; rejected if refused"),
        ]
    }
    public: list[tuple[str, Any] | tuple[str, Any, Any]] = [
        (f.name, overrides.get(f.name, f.type))
        for f in msgspec.structs.fields(Image)
        if f.name not in INTERNAL_FIELDS and f.name != "renditions"
    ]
    return [
        *public,
        ("renditions", dict[RenditionSize, Rendition] | UnsetType, UNSET),
        (
            "urls",
            Annotated[
                dict[Literal["original", "small", "medium", "square"], str],
                Meta(
                    description="presigned GET URLs of the original and of each size's base "
                    "rendition (valid at least GALLERY_URL_SECONDS; the same URLs all through "
                    "a GALLERY_URL_WINDOW_SECONDS window, so browsers cache them)"
                ),
            ]
            | UnsetType,
            UNSET,
        ),
        (
            "sources",
            Annotated[
                dict[RenditionSize, dict[Literal["jpeg", "png", "webp", "avif"], str]],
                Meta(description="presigned GET URLs of each size in every format it exists in"),
            ]
            | UnsetType,
            UNSET,
        ),
    ]


ImageResource: type[Struct] = msgspec.defstruct(
    "Image", _resource_fields(), kw_only=True, module=__name__
)


class ImageList(Struct):
    items: list[ImageResource]  # type: ignore[valid-type]
    count: int
    next_token: str | None


class UploadForm(Struct, kw_only=True):
    method: Literal["POST"]
    url: str
    fields: dict[str, str]
    expires_at: str


class DirectUploadStarted(Struct, kw_only=True):
    image: ImageResource  # type: ignore[valid-type]
    upload: UploadForm


class DownloadLink(Struct, kw_only=True):
    url: str
    expires_in: int
    expires_at: str


class Health(Struct, kw_only=True):
    status: Literal["ok", "unavailable"]
    checks: dict[str, Literal["ok", "unavailable"]]
