"""Remove location and other metadata from image files, losslessly.

Pillow can only drop metadata by re-encoding the pixels, which is lossy for JPEG and WebP and
rewrites every byte. One small walker per container instead copies what the pixels need,
verbatim, and leaves out everything else: an allowlist, so that a metadata container nobody
thought of is dropped rather than kept.

- JPEG (`jpeg`): every image of the file, segment by segment and scan by scan: the pictures of
  an MPO are found through the MP index in the first one's APP2 "MPF" segment, whose entries
  are rewritten. Kept: every marker that is not an APPn or a comment, JFIF (without its
  thumbnail), ICC profiles, the MPF segments, ISO 21496-1 gain map parameters and Adobe's
  colour transform. Dropped: XMP, IPTC (APP13), comments, JFXX thumbnails, any other APPn,
  stray bytes between segments.
- PNG (`png`): critical chunks, colour, transparency, physical size, HDR and APNG chunks are
  kept; text chunks (XMP, IPTC, comments), tIME and unknown chunks are dropped.
- GIF (`gif`): images, graphic control, looping and ICC extensions are kept; comments, plain
  text and other application extensions (XMP) are dropped.
- WebP (`webp`): image, alpha, animation and ICC chunks are kept, XMP and unknown chunks dropped
  (inside animation frames too), and the VP8X flags updated.
- EXIF is reduced to its orientation (a minimal TIFF with that one tag) when it has one, and
  dropped otherwise. Only the first EXIF block of an image counts; later ones are dropped.
- HEIF, HEIC and AVIF (`heif`): metadata is blanked in place rather than removed, because
  removing it would move data that absolute offsets point to.

Data after the last image (a "motion photo" video appended by a phone, a second file, junk) is
dropped: privacy first, since nobody can check what it holds. So is data between the pictures
of an MPO, and every picture after the first when the MP index cannot be followed. HEIF files
are the exception: they are only ever patched in place.

An image with nothing to drop is returned unchanged: the same object, byte for byte. Broken
structure (truncated, lengths or offsets out of range) raises MalformedImage. Every walker
reads the input once, in linear time.
"""

from __future__ import annotations

from collections.abc import Callable

from chalicelib.exif.common import ORIENTATION_TAG, MalformedImage, minimal_exif
from chalicelib.exif.gif import strip_gif
from chalicelib.exif.heif import strip_heif
from chalicelib.exif.jpeg import strip_jpeg
from chalicelib.exif.png import strip_png
from chalicelib.exif.webp import strip_webp

__all__ = ["ORIENTATION_TAG", "MalformedImage", "minimal_exif", "strip"]

_WALKERS: dict[str, Callable[[bytes], bytes]] = {
    "image/jpeg": strip_jpeg,
    "image/png": strip_png,
    "image/gif": strip_gif,
    "image/webp": strip_webp,
    "image/heic": strip_heif,
    "image/heif": strip_heif,
    "image/avif": strip_heif,
}


def strip(data: bytes, content_type: str) -> bytes:
    """`data` without GPS, EXIF beyond orientation, XMP, IPTC, comments or trailing data;
    `data` itself if there is none. A type without a walker is a ValueError."""
    walker = _WALKERS.get(content_type)
    if walker is None:
        raise ValueError(f"no metadata walker for {content_type}")
    return walker(data)
