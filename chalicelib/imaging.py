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
    content_type: str
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
    source = Source(stored, content_type, orientation, (width, height), decoded)
    if orientation in (5, 6, 7, 8):
        width, height = height, width
    return Processed(
        original=stored,
        content_type=content_type,
        width=width,
        height=height,
        renditions=_renditions(source),
    )


@dataclass(frozen=True)
class Source:
    """What renditions are made from: the stored bytes and their decoded pixels."""

    data: bytes
    content_type: str
    orientation: int
    size: tuple[int, int]  # of the stored image, before orientation
    pixels: PILImage  # at least as large as the largest rendition (JPEG: DCT-scaled)

    def own_rendition(self, side: int) -> RenditionImage | None:
        """A size the original already fits, upright and in the rendition's format, is the
        original's own bytes: a re-encoded copy would only be bigger."""
        rendition_type = _RENDITION_TYPES[self.content_type]
        if self.orientation != 1 or rendition_type != self.content_type:
            return None
        if max(self.size) > side:
            return None
        return RenditionImage(self.data, self.content_type, *self.size)


def _orientation(im: PILImage) -> int:
    value = im.getexif().get(exif.ORIENTATION_TAG, 1)
    return value if isinstance(value, int) and 1 <= value <= 8 else 1


_SIXTEEN_BIT = ("I;16", "I;16B", "I;16L", "I;16N", "I")


def _decode_for_renditions(im: PILImage, content_type: str) -> PILImage:
    """Decode the whole image (so truncation is caught), as small as renditions allow.

    For JPEG, draft mode makes libjpeg scale the DCT by 1/2, 1/4 or 1/8 while decoding,
    to the smallest size still at least as large as the medium rendition. Palette images
    stay palette images (their stills are smallest so); 16-bit samples are scaled to 8 bits,
    not clipped.
    """
    largest = RENDITION_SIDES["medium"]
    if content_type == "image/jpeg" and im.mode in ("RGB", "L"):
        scale = min(1.0, largest / max(im.size))
        im.draft(im.mode, (max(1, int(im.width * scale)), max(1, int(im.height * scale))))
    im.load()
    frame = im
    if frame.mode in _SIXTEEN_BIT:
        frame = frame.convert("I").point(lambda value: value * (1 / 256)).convert("L")
    elif frame.mode not in ("RGB", "RGBA", "L", "LA", "P"):
        has_alpha = frame.mode in ("PA", "RGBa", "La") or "transparency" in frame.info
        frame = frame.convert("RGBA" if has_alpha else "RGB")
    return frame


def _fit(im: PILImage, side: int, resample: Any, reducing_gap: float | None) -> PILImage:
    """`im` scaled down (never up) so that its longest side is `side`, aspect kept."""
    if max(im.size) <= side:
        return im
    if im.mode == "P":
        im = im.convert("RGBA" if "transparency" in im.info else "RGB")
    scale = side / max(im.size)
    size = (max(1, round(im.width * scale)), max(1, round(im.height * scale)))
    return im.resize(size, resample, reducing_gap=reducing_gap)


def _renditions(source: Source) -> dict[RenditionName, RenditionImage]:
    """Medium by area averaging (BOX) from the draft-decoded image, which is at most about
    twice its size; small from medium by integer reduction and a short Lanczos step. Measured
    against LANCZOS for both (scripts/bench.py, `renditions`), this is about 40 ms less per
    12-megapixel photo and looks the same at these sizes."""
    from PIL import Image

    medium = _fit(source.pixels, RENDITION_SIDES["medium"], Image.Resampling.BOX, None)
    small = _fit(medium, RENDITION_SIDES["small"], Image.Resampling.LANCZOS, 1.1)
    rendition_type = _RENDITION_TYPES[source.content_type]
    sized: tuple[tuple[RenditionName, PILImage], ...] = (("medium", medium), ("small", small))
    return {
        name: source.own_rendition(RENDITION_SIDES[name])
        or _encode(im, source.orientation, rendition_type)
        for name, im in sized
    }


def _encode(im: PILImage, orientation: int, content_type: str) -> RenditionImage:
    from PIL import Image

    if orientation in _UPRIGHT:
        im = im.transpose(getattr(Image.Transpose, _UPRIGHT[orientation]))
    if content_type != "image/png" and im.mode not in ("RGB", "L", "RGBA"):
        im = im.convert("RGBA" if "transparency" in im.info or "A" in im.mode else "RGB")
    if content_type == "image/jpeg" and im.mode == "RGBA":
        im = im.convert("RGB")
    buffer = io.BytesIO()
    options = _SAVE_OPTIONS[content_type]
    if im.mode == "P":  # stills of palette images: as small as PNG makes them
        options = {**options, "optimize": True}
    im.save(buffer, **options)
    return RenditionImage(buffer.getvalue(), content_type, *im.size)
