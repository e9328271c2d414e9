"""Renditions: what each size holds, for the images real clients send."""

from __future__ import annotations

import io

import pytest
from PIL import Image as PILImage
from PIL import ImageStat

from chalicelib import imaging
from chalicelib.exif import ORIENTATION_TAG
from chalicelib.imaging import process
from tests.conftest import photo

LIMIT = 64_000_000


def decoded(data: bytes) -> PILImage.Image:
    im = PILImage.open(io.BytesIO(data))
    im.load()
    return im


def test_16_bit_greyscale_png_keeps_its_tones():
    gradient = PILImage.linear_gradient("L").resize((1600, 1200))  # 0..255 top to bottom
    sixteen = gradient.convert("I").point(lambda v: v * 257).convert("I;16")
    buffer = io.BytesIO()
    sixteen.save(buffer, "PNG")
    assert decoded(buffer.getvalue()).mode.startswith("I")
    processed = process(buffer.getvalue(), "image/png", LIMIT)
    for rendition in processed.renditions.values():
        grey = decoded(rendition.data).convert("L")
        mean = ImageStat.Stat(grey).mean[0]
        assert 100 < mean < 155, f"{rendition.width}px rendition has mean {mean} (white is 255)"
        top, bottom = grey.getpixel((0, 0)), grey.getpixel((0, grey.height - 1))
        assert isinstance(top, int) and isinstance(bottom, int)
        assert top < 10 and bottom > 245


def test_a_jpeg_that_already_fits_is_its_own_rendition():
    data = photo("JPEG", size=(300, 200), quality=60)
    processed = process(data, "image/jpeg", LIMIT)
    assert processed.renditions["small"].data == data
    assert processed.renditions["medium"].data == data
    assert (processed.renditions["small"].width, processed.renditions["small"].height) == (300, 200)


def test_a_jpeg_that_fits_only_medium_is_medium_as_is_and_small_resized():
    data = photo("JPEG", size=(900, 600), quality=60)
    processed = process(data, "image/jpeg", LIMIT)
    assert processed.renditions["medium"].data == data
    small = processed.renditions["small"]
    assert (small.width, small.height) == (320, 213) and len(small.data) < len(data)


def test_a_png_that_fits_is_its_own_rendition():
    data = photo("PNG", size=(200, 100))
    processed = process(data, "image/png", LIMIT)
    assert processed.renditions["small"].data == processed.renditions["medium"].data == data
    square = decoded(processed.renditions["square"].data)
    assert square.size == (100, 100) and square.format == "PNG"


def test_a_square_that_fits_is_its_own_square():
    data = photo("JPEG", size=(500, 500))
    assert process(data, "image/jpeg", LIMIT).renditions["square"].data == data


def test_a_small_gif_still_is_no_bigger_than_the_gif():
    data = photo("GIF", size=(300, 200))
    processed = process(data, "image/gif", LIMIT)
    for name, rendition in processed.renditions.items():
        assert rendition.content_type == "image/png"
        assert len(rendition.data) <= len(data), (len(rendition.data), len(data))
        assert decoded(rendition.data).size == ((200, 200) if name == "square" else (300, 200))


def test_an_image_that_fits_but_is_not_upright_is_turned():
    im = PILImage.open(io.BytesIO(photo("JPEG", size=(300, 200))))
    exif = PILImage.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise to display
    buffer = io.BytesIO()
    im.save(buffer, "JPEG", exif=exif)
    processed = process(buffer.getvalue(), "image/jpeg", LIMIT)
    assert (processed.width, processed.height) == (200, 300)
    for name, rendition in processed.renditions.items():
        assert rendition.data != buffer.getvalue()
        assert decoded(rendition.data).size == ((200, 200) if name == "square" else (200, 300))


def _detail_at(size: tuple[int, int], box: tuple[int, int, int, int]) -> bytes:
    """A flat grey JPEG with a patch of fine black-and-white stripes inside `box`."""
    im = PILImage.new("RGB", size, (128, 128, 128))
    left, top, right, bottom = box
    for x in range(left, right, 8):
        im.paste((0, 0, 0), (x, top, min(x + 4, right), bottom))
        im.paste((255, 255, 255), (x + 4, top, min(x + 8, right), bottom))
    buffer = io.BytesIO()
    im.save(buffer, "JPEG", quality=90)
    return buffer.getvalue()


def test_the_square_is_cut_where_the_detail_is_in_the_decoded_pixels():
    # A photo (its medium is larger than the square) and a panorama (its medium is not): the
    # square holds the striped patch, and as much of it as fits.
    for size, patch, striped in (
        ((4000, 3000), (3000, 0, 4000, 3000), 1000 / 3000),
        ((5000, 1000), (200, 0, 1100, 1000), 900 / 1000),
    ):
        square = processed_square(_detail_at(size, patch)).convert("L")
        assert square.size == (640, 640)
        columns = [square.crop((x, 0, x + 8, 640)) for x in range(0, 640, 8)]
        share = sum(ImageStat.Stat(c).stddev[0] > 40 for c in columns) / len(columns)
        assert abs(share - striped) < 0.05, (size, share)


def processed_square(data: bytes) -> PILImage.Image:
    return decoded(process(data, "image/jpeg", LIMIT).renditions["square"].data)


@pytest.mark.parametrize(
    ("size", "mode", "orientation", "scaled"),
    [
        ((2400, 1800), "RGB", 1, (1200, 900)),  # decoded at half scale (draft mode)
        ((800, 600), "RGB", 6, (800, 600)),  # whole, then turned upright
        ((2400, 1800), "L", 1, (1200, 900)),
    ],
)
def test_jpeg_pixels_are_those_pillow_decodes(size, mode, orientation, scaled):
    # libjpeg-turbo writes Pillow's 4-byte layout itself (imaging._decode_into_pillows_layout):
    # the pixels must be exactly those of Pillow's own decode at the same DCT scale.
    im = PILImage.open(io.BytesIO(photo("JPEG", size=size, quality=90))).convert(mode)
    tags = PILImage.Exif()
    tags[ORIENTATION_TAG] = orientation
    buffer = io.BytesIO()
    im.save(buffer, "JPEG", quality=90, exif=tags)
    data = buffer.getvalue()
    opened = PILImage.open(io.BytesIO(data))
    imaging._decode_into_pillows_layout(opened)
    assert opened.tile[0].args == ("RGBX" if mode == "RGB" else mode, "")
    with imaging.decoded(data, "image/jpeg", LIMIT) as source:
        pixels = source.pixels
    reference = PILImage.open(io.BytesIO(data))
    reference.draft(mode, scaled)
    reference.load()
    assert reference.size == scaled
    expected = reference.transpose(PILImage.Transpose.ROTATE_270) if orientation == 6 else reference
    assert pixels.mode == mode
    assert pixels.size == expected.size
    assert pixels.tobytes() == expected.tobytes()
