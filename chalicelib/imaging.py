"""Pixels: decode checks, dimensions, metadata removal and renditions.

Pillow is imported inside the functions, so routes that never touch pixels (get, list,
download, update, delete) do not pay for it at cold start.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from chalicelib import exif
from chalicelib.models import RENDITION_SIDES, RenditionName

if TYPE_CHECKING:
    from PIL.Image import Image as PILImage

_PIL_FORMATS = {"image/jpeg": "JPEG", "image/png": "PNG", "image/gif": "GIF", "image/webp": "WEBP"}
# GIF renditions are stills of the first frame: PNG keeps their transparency.
_RENDITION_TYPES = {
    "image/jpeg": "image/jpeg",
    "image/png": "image/png",
    "image/gif": "image/png",
    "image/webp": "image/webp",
}
_SAVE_OPTIONS: dict[str, dict[str, Any]] = {
    "image/jpeg": {"format": "JPEG", "quality": 85},
    "image/png": {"format": "PNG", "compress_level": 3},
    "image/webp": {"format": "WEBP", "quality": 80, "method": 3},
}
# EXIF orientation -> the Image.Transpose that makes the pixels upright.
_UPRIGHT = {
    2: "FLIP_LEFT_RIGHT",
    3: "ROTATE_180",
    4: "FLIP_TOP_BOTTOM",
    5: "TRANSPOSE",
    6: "ROTATE_270",
    7: "TRANSVERSE",
    8: "ROTATE_90",
}


class Undecodable(ValueError):
    """The bytes claim an image format but do not decode as one."""


class TooManyPixels(ValueError):
    """Decoding would exceed the pixel limit (a decompression bomb, or simply too big)."""


@dataclass(frozen=True)
class RenditionImage:
    data: bytes
    content_type: str
    width: int
    height: int


@dataclass(frozen=True)
class Processed:
    """An accepted image: the bytes to store and what was measured from them."""

    original: bytes
    width: int
    height: int
    renditions: dict[RenditionName, RenditionImage]


def process(data: bytes, content_type: str, max_pixels: int) -> Processed:
    """Check that `data` decodes, strip its metadata, and build its renditions."""
    from PIL import Image

    try:
        stored = exif.strip(data, content_type)
        with Image.open(io.BytesIO(stored), formats=[_PIL_FORMATS[content_type]]) as im:
            width, height = im.size
            if width * height > max_pixels:
                raise TooManyPixels(
                    f"{width}x{height} is {width * height:,} pixels; the limit is {max_pixels:,}"
                )
            orientation = _orientation(im)
            decoded = _decode_for_renditions(im, content_type)
    except Image.DecompressionBombError as exc:
        raise TooManyPixels(str(exc)) from None
    except (
        exif.MalformedImage,
        OSError,
        SyntaxError,
        ValueError,
        EOFError,
        IndexError,
        KeyError,
    ) as exc:
        if isinstance(exc, TooManyPixels):
            raise
        raise Undecodable(f"the content does not decode as {content_type}") from None
    if orientation in (5, 6, 7, 8):
        width, height = height, width
    return Processed(
        original=stored,
        width=width,
        height=height,
        renditions=_renditions(decoded, orientation, _RENDITION_TYPES[content_type]),
    )


def _orientation(im: PILImage) -> int:
    value = im.getexif().get(exif.ORIENTATION_TAG, 1)
    return value if isinstance(value, int) and 1 <= value <= 8 else 1


def _decode_for_renditions(im: PILImage, content_type: str) -> PILImage:
    """Decode the whole image (so truncation is caught), as small as renditions allow.

    For JPEG, draft mode makes libjpeg scale the DCT by 1/2, 1/4 or 1/8 while decoding,
    to the smallest size still at least as large as the medium rendition.
    """
    largest = RENDITION_SIDES["medium"]
    if content_type == "image/jpeg" and im.mode in ("RGB", "L"):
        scale = min(1.0, largest / max(im.size))
        im.draft(im.mode, (max(1, int(im.width * scale)), max(1, int(im.height * scale))))
    im.load()
    frame = im
    if frame.mode not in ("RGB", "RGBA", "L", "LA"):
        has_alpha = frame.mode in ("PA", "RGBa", "La") or "transparency" in frame.info
        frame = frame.convert("RGBA" if has_alpha else "RGB")
    return frame


def _renditions(
    decoded: PILImage, orientation: int, content_type: str
) -> dict[RenditionName, RenditionImage]:
    from PIL import Image

    out: dict[RenditionName, RenditionImage] = {}
    source = decoded
    names: tuple[RenditionName, ...] = ("medium", "small")
    for name in names:
        side = RENDITION_SIDES[name]
        resized = source.copy() if max(source.size) > side else source
        if resized is not source:
            resized.thumbnail((side, side), Image.Resampling.LANCZOS, reducing_gap=3.0)
        source = resized  # the small rendition is made from the medium one
        upright = resized
        if orientation in _UPRIGHT:
            upright = resized.transpose(getattr(Image.Transpose, _UPRIGHT[orientation]))
        if content_type == "image/jpeg" and upright.mode not in ("RGB", "L"):
            upright = upright.convert("RGB")
        buffer = io.BytesIO()
        upright.save(buffer, **_SAVE_OPTIONS[content_type])
        out[name] = RenditionImage(buffer.getvalue(), content_type, *upright.size)
    return out
