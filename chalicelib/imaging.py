"""Pixels: decode checks, dimensions, metadata removal, renditions and their variants.

Pillow (and pillow-heif, registered only when a HEIF file arrives) is imported inside the
functions, so routes that never touch pixels (get, list, download, update, delete) do not pay
for it at cold start.

Every rendition is made from one decode of the original: JPEG decodes at the smallest DCT
scale still large enough (draft mode), the pixels are turned upright once, and the sizes are
made from them: medium by area averaging (BOX), small from medium (integer reduction and a
short Lanczos step), square placed on the medium's most interesting region (`chalicelib/
crop.py`), cut from the decoded pixels and reduced to 640 px by area averaging. Measured
against Lanczos for both (scripts/bench.py, `renditions`), this is about 40 ms less per
12-megapixel photo and looks the same at these sizes. A size the original already fits,
upright and in its base format, is the original's own bytes.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from chalicelib import exif
from chalicelib.formats import FORMATS, VARIANT_TYPES, VariantFormat, base_format
from chalicelib.models import SIZES, SizeName

if TYPE_CHECKING:
    from PIL.Image import Image as PILImage

# WebP and AVIF chosen by measurement (scripts/tune_encoders.py, 2026-12-01): the one quality
# at which each of 20 photos' medium renditions reaches the SSIM of its JPEG (q85, against the
# same resized pixels), with the fewest bytes, at an effort whose encode of a 1080 px medium
# takes under a second of one core. AVIF speed 6 q84: 0.95 of the JPEGs' bytes, ~0.85 s (speed
# 8 needs q89, 1.19, ~0.4 s: its quality is erratic photo to photo). WebP method 6 q93: 1.21
# (method 4 q93: 1.24, 0.4x the time). WebP and AVIF beat JPEG q85 at its own SSIM only photo
# by photo: each at its own lowest passing quality, AVIF speed 6 is 0.58 and WebP 0.75. So the
# AVIF quality is searched per image (Source.variant); 84 is where a search that finds no
# passing quality ends, and what a PNG-based image gets.
SAVE_OPTIONS: dict[VariantFormat, dict[str, Any]] = {
    "jpeg": {"format": "JPEG", "quality": 85},
    "png": {"format": "PNG", "compress_level": 3},
    "webp": {"format": "WEBP", "quality": 93, "method": 6},
    "avif": {"format": "AVIF", "quality": 84, "speed": 6},
}
# The lowest quality a per-image search (Source.variant) tries: below it no tuning photo
# reached its JPEG's SSIM.
SEARCH_FLOOR: dict[VariantFormat, int] = {"avif": 40}
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
_SIXTEEN_BIT = ("I;16", "I;16B", "I;16L", "I;16N", "I")
_HEIF = ("image/heic", "image/heif")


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
    renditions: dict[SizeName, RenditionImage]


def process(data: bytes, content_type: str, max_pixels: int) -> Processed:
    """Check that `data` decodes, strip its metadata, and build its base renditions."""
    try:
        stored = exif.strip(data, content_type)
    except (exif.MalformedImage, ValueError):
        raise Undecodable(f"the content does not decode as {content_type}") from None
    with decoded(stored, content_type, max_pixels) as source:
        base = source.base_format
        renditions = {size: source.own(size) or source.encode(size, base) for size in SIZES}
    width, height = source.upright_size
    return Processed(stored, content_type, width, height, renditions)


def variants(
    stored: bytes,
    content_type: str,
    wanted: list[tuple[SizeName, VariantFormat]],
    max_pixels: int,
    search_tries: int = 0,
) -> dict[tuple[SizeName, VariantFormat], RenditionImage]:
    """Renditions of an accepted (already stripped) original in other formats, from one
    decode; each at its own lowest passing quality when `search_tries` (Source.variant)."""
    with decoded(stored, content_type, max_pixels) as source:
        return {(size, fmt): source.variant(size, fmt, search_tries) for size, fmt in wanted}


@contextmanager
def decoded(stored: bytes, content_type: str, max_pixels: int) -> Iterator[Source]:
    """The image decoded for renditions, with decoding failures turned into our errors."""
    from PIL import Image

    if content_type in _HEIF:
        _register_heif()
    try:
        with Image.open(io.BytesIO(stored), formats=[FORMATS[content_type].pillow]) as im:
            width, height = im.size
            if width * height > max_pixels:
                raise TooManyPixels(
                    f"{width}x{height} is {width * height:,} pixels; the limit is {max_pixels:,}"
                )
            orientation = _orientation(im, content_type)
            pixels = _upright(_decode_for_renditions(im, content_type), orientation)
    except Image.DecompressionBombError as exc:
        raise TooManyPixels(str(exc)) from None
    except TooManyPixels:
        raise
    except (OSError, SyntaxError, ValueError, EOFError, IndexError, KeyError, RuntimeError):
        raise Undecodable(f"the content does not decode as {content_type}") from None
    yield Source(stored, content_type, orientation, (width, height), pixels)


def _register_heif() -> None:
    """pillow-heif opens HEIC/HEIF; loaded on the first such file, not at cold start."""
    import pillow_heif

    pillow_heif.register_heif_opener()


def _orientation(im: PILImage, content_type: str) -> int:
    """The EXIF orientation; HEIF's decoder has already applied its own (irot/imir)."""
    if content_type in _HEIF:
        return 1
    value = im.getexif().get(exif.ORIENTATION_TAG, 1)
    return value if isinstance(value, int) and 1 <= value <= 8 else 1


def _decode_for_renditions(im: PILImage, content_type: str) -> PILImage:
    """Decode the whole image (so truncation is caught), as small as renditions allow.

    For JPEG, draft mode makes libjpeg scale the DCT by 1/2, 1/4 or 1/8 while decoding, to
    the smallest size still large enough for the medium rendition (longest side) and the
    square (shortest side). Palette images stay palette images (their stills are smallest
    so); 16-bit samples are scaled to 8 bits, not clipped.
    """
    if content_type == "image/jpeg" and im.mode in ("RGB", "L"):
        scale = min(1.0, max(SIZES["medium"] / max(im.size), SIZES["square"] / min(im.size)))
        im.draft(im.mode, (max(1, int(im.width * scale)), max(1, int(im.height * scale))))
        _decode_into_pillows_layout(im)
    im.load()
    frame = im
    if frame.mode in _SIXTEEN_BIT:
        return frame.convert("I").point(lambda value: value * (1 / 256)).convert("L")
    if frame.mode not in ("RGB", "RGBA", "L", "LA", "P"):
        has_alpha = frame.mode in ("PA", "RGBa", "La") or "transparency" in frame.info
        frame = frame.convert("RGBA" if has_alpha else "RGB")
    return frame


def _decode_into_pillows_layout(im: PILImage) -> None:
    """Have libjpeg-turbo write RGB pixels as Pillow keeps them, 4 bytes each (its RGBX
    output), rather than 3-byte rows that Pillow then spreads out line by line: the same
    pixels, about 13 % less time for a full decode and 4 % at half scale (12 megapixels)."""
    from PIL import ImageFile, features

    if not isinstance(im, ImageFile.ImageFile) or im.mode != "RGB" or len(im.tile) != 1:
        return
    tile = im.tile[0]
    args = tile.args
    if isinstance(args, tuple) and args[:1] == ("RGB",) and features.check_feature("libjpeg_turbo"):
        im.tile = [tile._replace(args=("RGBX", *args[1:]))]  # (libjpeg-turbo's RGBX output)


def _upright(im: PILImage, orientation: int) -> PILImage:
    from PIL import Image

    if orientation not in _UPRIGHT:
        return im
    return im.transpose(getattr(Image.Transpose, _UPRIGHT[orientation]))


def _has_alpha(im: PILImage) -> bool:
    """Whether any pixel is not fully opaque."""
    if im.mode == "P":
        return "transparency" in im.info
    if im.mode in ("RGBA", "LA"):
        extrema = im.getchannel("A").getextrema()
        return isinstance(extrema[0], int) and extrema[0] < 255
    return "transparency" in im.info


@dataclass
class Source:
    """What renditions are made from: the stored bytes and their decoded, upright pixels."""

    data: bytes
    content_type: str
    orientation: int
    size: tuple[int, int]  # of the stored image, before orientation
    pixels: PILImage  # upright; large enough for every rendition (JPEG: DCT-scaled)
    _sized: dict[SizeName, PILImage] = field(default_factory=dict)

    @property
    def upright_size(self) -> tuple[int, int]:
        width, height = self.size
        return (height, width) if self.orientation in (5, 6, 7, 8) else (width, height)

    @property
    def base_format(self) -> VariantFormat:
        return base_format(self.content_type, _has_alpha(self.pixels))

    def own(self, size: SizeName) -> RenditionImage | None:
        """A size the original already fits, upright and in its base format, is the
        original's own bytes: a re-encoded copy would only be bigger."""
        if self.orientation != 1 or VARIANT_TYPES[self.base_format] != self.content_type:
            return None
        width, height = self.size
        side = SIZES[size]
        fits = width == height <= side if size == "square" else max(width, height) <= side
        return RenditionImage(self.data, self.content_type, width, height) if fits else None

    def sized(self, size: SizeName) -> PILImage:
        """The pixels of a rendition, made once."""
        if size not in self._sized:
            self._sized[size] = self._make(size)
        return self._sized[size]

    def _make(self, size: SizeName) -> PILImage:
        from PIL import Image

        if size == "medium":
            return _fit(self.pixels, SIZES["medium"], Image.Resampling.BOX, None)
        if size == "small":
            return _fit(self.sized("medium"), SIZES["small"], Image.Resampling.LANCZOS, 1.1)
        from chalicelib.crop import square_box

        # Placed on the medium (cheap to analyse), cut from the decoded pixels and reduced by
        # area averaging in one step, as the medium is: sharper than cutting the medium and
        # resampling it again, and cheaper than a Lanczos step (scripts/bench.py, renditions).
        medium = self.sized("medium")
        left, top, _, _ = square_box(medium)
        side = min(self.pixels.size)
        scale = self.pixels.width / medium.width
        x = min(left * scale, self.pixels.width - side)
        y = min(top * scale, self.pixels.height - side)
        if side <= SIZES["square"]:  # never up; palette images stay palette images
            return self.pixels.crop((round(x), round(y), round(x) + side, round(y) + side))
        return _resizable(self.pixels).resize(
            (SIZES["square"], SIZES["square"]),
            Image.Resampling.BOX,
            box=(x, y, x + side, y + side),
            reducing_gap=2.0,
        )

    def encode(self, size: SizeName, fmt: VariantFormat) -> RenditionImage:
        return encode(self.sized(size), fmt)

    def variant(self, size: SizeName, fmt: VariantFormat, tries: int) -> RenditionImage:
        """`size` in WebP or AVIF: at SAVE_OPTIONS' quality or, with `tries` and a JPEG-based
        image, at the lowest quality whose SSIM reaches that of its JPEG rendition, found in
        at most `tries` encodes (chalicelib/perceptual.py). A search that finds none passing
        falls back to SAVE_OPTIONS, the quality at which the tuning photos all pass."""
        pixels = self.sized(size)
        if tries <= 0 or fmt not in SEARCH_FLOOR or self.base_format != "jpeg":
            return encode(pixels, fmt)
        from chalicelib import perceptual

        reference = perceptual.Reference(pixels)
        bar = reference.ssim(_decoded(encode(pixels, "jpeg"))) + perceptual.MARGIN
        found = perceptual.lowest_passing(
            lambda quality: encode(pixels, fmt, quality=quality),
            lambda candidate: reference.ssim(_decoded(candidate)) >= bar,
            (SEARCH_FLOOR[fmt], SAVE_OPTIONS[fmt]["quality"]),
            tries,
        )
        return found or encode(pixels, fmt)


def encode(im: PILImage, fmt: VariantFormat, **options: Any) -> RenditionImage:
    """`im` saved as `fmt` with SAVE_OPTIONS, and `options` over them (scripts/
    tune_encoders.py tries other settings through this)."""
    if fmt == "jpeg" and im.mode not in ("RGB", "L"):  # (convert() would copy even these)
        im = im.convert("RGB")
    elif fmt not in ("png", "jpeg") and im.mode not in ("RGB", "RGBA"):
        im = im.convert("RGBA" if _has_alpha(im) else "RGB")
    options = {**SAVE_OPTIONS[fmt], **options}
    if im.mode == "P":  # stills of palette images: as small as PNG makes them
        options["optimize"] = True
    buffer = io.BytesIO()
    im.save(buffer, **options)
    return RenditionImage(buffer.getvalue(), VARIANT_TYPES[fmt], *im.size)


def _decoded(rendition: RenditionImage) -> PILImage:
    from PIL import Image

    im = Image.open(io.BytesIO(rendition.data))
    im.load()
    return im


def _resizable(im: PILImage) -> PILImage:
    if im.mode != "P":
        return im
    return im.convert("RGBA" if "transparency" in im.info else "RGB")


def _fit(im: PILImage, side: int, resample: Any, reducing_gap: float | None) -> PILImage:
    """`im` scaled down (never up) so that its longest side is `side`, aspect kept."""
    if max(im.size) <= side:
        return im
    im = _resizable(im)
    scale = side / max(im.size)
    size = (max(1, round(im.width * scale)), max(1, round(im.height * scale)))
    return im.resize(size, resample, reducing_gap=reducing_gap)
