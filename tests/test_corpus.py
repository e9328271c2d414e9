"""Real camera and phone files (`make corpus`) through `POST /images`: what is stored and
served carries no GPS or other metadata in any image or container (checked by an independent
probe, tests/metadata_probe.py), every picture of a multi-picture file survives, and the
renditions are upright."""

from __future__ import annotations

import io

import pytest
from PIL import Image as PILImage
from PIL import ImageChops, ImageStat

from scripts.corpus import CORPUS
from tests.conftest import BUCKET
from tests.corpus import corpus_file
from tests.helpers import assert_error, body, raw_upload, row_keys, stored_keys
from tests.metadata_probe import probe

pytestmark = pytest.mark.corpus

ACCEPTED = ("jpeg", "mpo", "png", "gif", "webp", "heic", "heif", "avif")
# Files a careful service refuses, and why.
REFUSED = {
    # Pillow's sample is cut short: its first picture never ends (and its MP index points
    # half a megabyte past the end of the file).
    "ultrahdr.jpg": 400,
    # A Galaxy S24 Ultra photo of 200 megapixels: over MAX_IMAGE_PIXELS (64 million).
    "200MP.heic": 422,
    # A real Canon file cut short (pillow-heif's own sample of a broken file).
    "corrupted.hif": 400,
}


def cases() -> list[str]:
    return [entry.name for entry in CORPUS if entry.type in ACCEPTED]


def stored(aws, image_id: str, name: str) -> bytes:
    got = aws["s3"].get_object(Bucket=BUCKET, Key=f"images/{image_id}/{name}")
    data: bytes = got["Body"].read()
    return data


T = PILImage.Transpose
TURNS = {
    2: T.FLIP_LEFT_RIGHT,
    3: T.ROTATE_180,
    4: T.FLIP_TOP_BOTTOM,
    5: T.TRANSPOSE,
    6: T.ROTATE_270,
    7: T.TRANSVERSE,
    8: T.ROTATE_90,
}


def upright_pixels(data: bytes) -> PILImage.Image:
    """The first picture as displayed: EXIF orientation applied, 16-bit samples scaled."""
    import pillow_heif

    pillow_heif.register_heif_opener()
    with PILImage.open(io.BytesIO(data)) as opened:
        opened.seek(0)
        orientation: int = opened.getexif().get(0x0112, 1)
        if opened.mode[0] == "I":
            rgb = opened.convert("I").point(lambda v: v * (1 / 256)).convert("RGB")
        else:
            rgb = opened.convert("RGB")
    turn = TURNS.get(orientation)
    upright: PILImage.Image = rgb.transpose(turn) if turn is not None else rgb
    return upright


def difference(a: PILImage.Image, b: PILImage.Image) -> float:
    small = (48, 48)
    diff = ImageChops.difference(a.resize(small), b.resize(small))
    return sum(ImageStat.Stat(diff).mean) / 3


@pytest.mark.parametrize("name", cases())
def test_a_real_file_is_stored_and_served_without_metadata_and_upright(client, aws, name):
    file = corpus_file(name)
    data = file.read()
    response = raw_upload(client, data, file.mime, filename=name)
    if name in REFUSED:
        assert_error(response, REFUSED[name])
        assert stored_keys() == [] and row_keys() == []
        return
    assert response.status_code == 201, response.body
    image = body(response)
    original = stored(aws, image["image_id"], "original")
    assert probe(original).findings() == [], name
    assert image["size"] == len(original)
    before, after = probe(data), probe(original)
    pictures = [f for f in before.frames if f.role in ("primary", "image")]
    if file.type == "mpo" and not before.errors:
        assert len([f for f in after.frames if f.role in ("primary", "image")]) == len(pictures)
    reference = upright_pixels(original)
    assert (image["width"], image["height"]) == reference.size
    for size in ("small", "medium", "square"):
        rendition = stored(aws, image["image_id"], size)
        assert probe(rendition).findings(allow_orientation=rendition == original) == []
        pixels = upright_pixels(rendition)
        if size == "square":
            assert pixels.width == pixels.height == min(640, *reference.size), name
            continue
        width, height = pixels.size
        assert abs(width / height - reference.width / reference.height) < 0.02, (size, name)
        # Upright: the rendition looks like the original turned as its EXIF says.
        assert difference(pixels, reference) < 24, (size, name)
