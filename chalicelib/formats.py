"""Image formats: each accepted type, how it is recognised from its bytes, and what its
renditions are. Adding a format is one entry here (and a metadata walker in `exif/`)."""

from __future__ import annotations

from typing import Literal

import msgspec

ImageType = Literal[
    "image/jpeg",
    "image/png",
    "image/gif",
    "image/webp",
    "image/heic",
    "image/heif",
    "image/avif",
]
# What renditions are offered in: the image's base format, then the modern ones.
VariantFormat = Literal["jpeg", "png", "webp", "avif"]
MODERN: tuple[VariantFormat, ...] = ("avif", "webp")  # in the order `auto` prefers them


class Format(msgspec.Struct, frozen=True):
    content_type: str
    extension: str
    pillow: str  # the Pillow plugin that opens it
    family: str  # types of one family do not contradict each other (HEIC is HEIF)


FORMATS: dict[str, Format] = {
    f.content_type: f
    for f in (
        Format("image/jpeg", "jpg", "JPEG", "jpeg"),
        Format("image/png", "png", "PNG", "png"),
        Format("image/gif", "gif", "GIF", "gif"),
        Format("image/webp", "webp", "WEBP", "webp"),
        Format("image/heic", "heic", "HEIF", "heif"),
        Format("image/heif", "heif", "HEIF", "heif"),
        Format("image/avif", "avif", "AVIF", "avif"),
    )
}
ACCEPTED_TYPES: tuple[str, ...] = tuple(FORMATS)
VARIANT_TYPES: dict[VariantFormat, str] = {
    "jpeg": "image/jpeg",
    "png": "image/png",
    "webp": "image/webp",
    "avif": "image/avif",
}
TYPE_NAMES = "JPEG, PNG, GIF, WebP, HEIC/HEIF or AVIF"

_HEIC_BRANDS = {b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx"}
_AVIF_BRANDS = {b"avif", b"avis"}
_HEIF_BRANDS = {b"mif1", b"msf1", b"miaf", b"mif2"}


def sniff(data: bytes) -> str | None:
    """The accepted image type the bytes are, if any, from their first bytes alone."""
    if data.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if data[:6] in (b"GIF87a", b"GIF89a"):
        return "image/gif"
    if len(data) >= 12 and data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    return _sniff_isobmff(data)


def _sniff_isobmff(data: bytes) -> str | None:
    """HEIF and AVIF start with an ISO base media `ftyp` box naming their brands."""
    if len(data) < 16 or data[4:8] != b"ftyp":
        return None
    size = int.from_bytes(data[:4], "big")
    if not 16 <= size <= min(len(data), 4096):
        return None
    major = data[8:12]
    brands = {major} | {data[at : at + 4] for at in range(16, size - 3, 4)}
    if major in _AVIF_BRANDS:
        return "image/avif"
    if major in _HEIC_BRANDS:
        return "image/heic"
    if major in _HEIF_BRANDS or brands & (_HEIF_BRANDS | _HEIC_BRANDS | _AVIF_BRANDS):
        if brands & _AVIF_BRANDS and not brands & _HEIC_BRANDS:
            return "image/avif"
        if brands & _HEIC_BRANDS:
            return "image/heic"
        if brands & _HEIF_BRANDS:
            return "image/heif"
    return None


def same_family(declared: str, actual: str) -> bool:
    return FORMATS[declared].family == FORMATS[actual].family


def base_format(content_type: str, has_alpha: bool) -> VariantFormat:
    """The format of an image's renditions: PNG for PNG and GIF originals and any image with
    transparency (GIF renditions being stills of its first frame), JPEG for everything else."""
    if has_alpha or content_type in ("image/png", "image/gif"):
        return "png"
    return "jpeg"
