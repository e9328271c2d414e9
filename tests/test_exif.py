"""No GPS or other EXIF beyond orientation is stored or served; pixels are not re-encoded."""

from __future__ import annotations

import io
from typing import Any

import pytest
from PIL import Image as PILImage
from PIL import ImageChops

from chalicelib import exif
from chalicelib.imaging import process
from tests.conftest import ALICE, SESSION, photo
from tests.helpers import body, raw_upload

GPS_IFD, ORIENTATION, MAKE = 0x8825, 0x0112, 0x010F


def tagged_exif(orientation: int | None = 6, gps: bool = True) -> PILImage.Exif:
    data = PILImage.Exif()
    if orientation is not None:
        data[ORIENTATION] = orientation
    data[MAKE] = "PhoneCo"
    if gps:
        data[GPS_IFD] = {1: "N", 2: (52.0, 31.0, 12.0), 3: "E", 4: (13.0, 24.0, 36.0)}
    return data


def left_red_right_blue(size=(600, 300)) -> PILImage.Image:
    im = PILImage.new("RGB", size, "blue")
    im.paste("red", (0, 0, size[0] // 2, size[1]))
    return im


def encode(im: PILImage.Image, fmt: str, **options) -> bytes:
    buffer = io.BytesIO()
    im.save(buffer, fmt, **options)
    return buffer.getvalue()


def stored_original(image_id: str) -> bytes:
    s3 = SESSION.client("s3")
    data: bytes = s3.get_object(Bucket="image-service-local", Key=f"images/{image_id}/original")[
        "Body"
    ].read()
    return data


def test_gps_is_removed_and_the_photo_stays_upright(client):
    original = encode(left_red_right_blue(), "JPEG", exif=tagged_exif(6), quality=95)
    image = body(raw_upload(client, original))
    assert (image["width"], image["height"]) == (300, 600)  # as displayed: portrait
    stored = stored_original(image["image_id"])
    with PILImage.open(io.BytesIO(stored)) as im:
        kept = im.getexif()
        assert dict(kept) == {ORIENTATION: 6}
        assert kept.get_ifd(GPS_IFD) == {}
        with PILImage.open(io.BytesIO(original)) as before:
            assert ImageChops.difference(im.convert("RGB"), before.convert("RGB")).getbbox() is None
    assert image["size"] == len(stored) < len(original)
    # The entropy-coded scan data is copied, not re-encoded.
    assert stored[stored.rindex(b"\xff\xda") :] == original[original.rindex(b"\xff\xda") :]
    served = client.http.get(
        f"/images/{image['image_id']}/content", headers={**ALICE, "Accept": "image/jpeg"}
    ).body
    assert served == stored
    medium = client.http.get(
        f"/images/{image['image_id']}/thumbnail?size=medium",
        headers={**ALICE, "Accept": "image/jpeg"},
    ).body
    with PILImage.open(io.BytesIO(medium)) as thumb:
        assert thumb.size == (300, 600)
        assert not thumb.getexif()
        rgb = thumb.convert("RGB")
        top, bottom = rgb.getpixel((150, 50)), rgb.getpixel((150, 550))
        assert top[0] > 200 and top[2] < 60  # the red left half is now on top
        assert bottom[2] > 200 and bottom[0] < 60


def test_exif_without_orientation_is_dropped_entirely(client):
    original = encode(left_red_right_blue(), "JPEG", exif=tagged_exif(None))
    stored = stored_original(body(raw_upload(client, original))["image_id"])
    assert b"Exif\x00\x00" not in stored
    with PILImage.open(io.BytesIO(stored)) as im:
        assert not im.getexif()


def test_orientation_only_exif_is_stored_byte_for_byte(client):
    only = PILImage.Exif()
    only[ORIENTATION] = 3
    original = encode(left_red_right_blue(), "JPEG", exif=only)
    assert exif.strip(original, "image/jpeg") is original
    image = body(raw_upload(client, original))
    assert stored_original(image["image_id"]) == original
    assert (image["width"], image["height"]) == (600, 300)


def test_xmp_and_iptc_segments_are_removed():
    base = encode(left_red_right_blue(), "JPEG")
    xmp = b"http://ns.adobe.com/xap/1.0/\x00<x:xmpmeta>exif:GPSLatitude</x:xmpmeta>"
    iptc = b"Photoshop 3.0\x008BIM"
    segment = (
        b"\xff\xe1"
        + len(xmp + b"..").to_bytes(2, "big")
        + xmp
        + b"\xff\xed"
        + len(iptc + b"..").to_bytes(2, "big")
        + iptc
    )
    tagged = base[:2] + segment + base[2:]
    assert exif.strip(tagged, "image/jpeg") == base


@pytest.mark.parametrize("fmt", ["PNG", "WEBP"])
def test_png_and_webp_metadata_is_removed_without_touching_pixels(fmt):
    im = left_red_right_blue((64, 32))
    options: dict[str, Any] = {"exif": tagged_exif(6)}
    if fmt == "WEBP":
        options.update(xmp=b"<x:xmpmeta>GPS</x:xmpmeta>", lossless=True)
    original = encode(im, fmt, **options)
    stripped = exif.strip(original, f"image/{fmt.lower()}")
    assert len(stripped) < len(original)
    with PILImage.open(io.BytesIO(stripped)) as clean:
        assert dict(clean.getexif()) == {ORIENTATION: 6}
        assert clean.getexif().get_ifd(GPS_IFD) == {}
        assert "xmp" not in clean.info
        assert ImageChops.difference(clean.convert("RGB"), im).getbbox() is None
    plain = encode(im, fmt)
    assert exif.strip(plain, f"image/{fmt.lower()}") is plain


def test_images_without_metadata_are_untouched():
    for fmt in ("JPEG", "PNG", "GIF", "WEBP"):
        data = photo(fmt, size=(40, 30))
        result = process(data, f"image/{fmt.lower()}", 10**8)
        assert result.original == data


@pytest.mark.parametrize(
    "broken",
    [
        b"\xff\xd8\xff\xe1\xff\xff",  # a segment longer than the file
        b"\xff\xd8\x00\x00\x00\x00",  # no marker where one must be
    ],
)
def test_broken_containers_are_reported(broken):
    with pytest.raises(exif.MalformedImage):
        exif.strip(broken, "image/jpeg")
