"""SSIM with Pillow alone, and AVIF variants at each image's own lowest passing quality."""

from __future__ import annotations

import io

import pytest
from PIL import Image as PILImage
from PIL import ImageFilter

from chalicelib import imaging, perceptual
from chalicelib.formats import VariantFormat
from chalicelib.models import SizeName
from scripts.tune_encoders import ssim as libvips_ssim
from tests.conftest import photo
from tests.corpus import corpus_file


def pixels(data: bytes) -> PILImage.Image:
    im = PILImage.open(io.BytesIO(data))
    im.load()
    return im.convert("RGB")


def scene() -> PILImage.Image:
    """Flat areas, edges and texture: what SSIM is sensitive to."""
    im = pixels(photo(size=(400, 300), seed=3)).filter(ImageFilter.GaussianBlur(2))
    im.paste((30, 60, 200), (40, 40, 180, 140))
    im.paste((250, 250, 240), (220, 150, 380, 280))
    return im


def test_an_image_against_itself_is_1():
    im = scene()
    assert perceptual.Reference(im).ssim(im.copy()) == pytest.approx(1.0, abs=1e-6)


@pytest.mark.parametrize("damage", ["blur", "jpeg", "noise"])
def test_it_agrees_with_libvips_within_0_004(damage):
    reference = scene()
    if damage == "blur":
        test = reference.filter(ImageFilter.GaussianBlur(1.2))
    elif damage == "jpeg":
        buffer = io.BytesIO()
        reference.save(buffer, "JPEG", quality=30)
        test = pixels(buffer.getvalue())
    else:
        test = PILImage.blend(reference, pixels(photo(size=(400, 300), seed=9)), 0.15)
    ours, theirs = perceptual.Reference(reference).ssim(test), libvips_ssim(reference, test)
    assert theirs < 0.99  # a real difference to measure
    assert abs(ours - theirs) < 0.004


def test_sizes_must_match():
    with pytest.raises(ValueError, match="sizes differ"):
        perceptual.Reference(scene()).ssim(scene().resize((200, 150)))


def test_bisection_finds_the_lowest_passing_quality_within_its_tries():
    tried: list[int] = []

    def encode(quality: int) -> int:
        tried.append(quality)
        return quality

    assert perceptual.lowest_passing(encode, lambda q: q >= 71, (40, 84), 6) == 71
    assert len(tried) <= 6  # 45 qualities: bisection needs at most 6
    tried.clear()
    found = perceptual.lowest_passing(encode, lambda q: q >= 71, (40, 84), 3)
    assert found is not None and found >= 71 and len(tried) == 3
    assert perceptual.lowest_passing(encode, lambda q: False, (40, 84), 5) is None


@pytest.mark.slow
def test_a_searched_avif_reaches_its_jpegs_ssim_in_fewer_bytes_than_the_fixed_quality():
    data = corpus_file("xmp_test.jpg").read()  # a real Canon photo
    wanted: list[tuple[SizeName, VariantFormat]] = [("medium", "avif")]
    searched = imaging.variants(data, "image/jpeg", wanted, 10**8, 5)["medium", "avif"]
    fixed = imaging.variants(data, "image/jpeg", wanted, 10**8, 0)["medium", "avif"]
    with imaging.decoded(data, "image/jpeg", 10**8) as source:
        resized = source.sized("medium")
        jpeg = source.encode("medium", "jpeg")
    assert (searched.width, searched.height) == (fixed.width, fixed.height) == resized.size
    assert libvips_ssim(resized, pixels(searched.data)) >= libvips_ssim(resized, pixels(jpeg.data))
    assert len(searched.data) < 0.8 * len(fixed.data)
    # The same bytes whoever makes it (the step after an upload, or a request).
    again = imaging.variants(data, "image/jpeg", wanted, 10**8, 5)["medium", "avif"]
    assert again.data == searched.data


def test_only_avif_of_jpeg_based_images_is_searched():
    png = photo("PNG", size=(300, 200))
    jpeg = photo("JPEG", size=(300, 200))
    cases: list[tuple[bytes, str, VariantFormat]] = [
        (png, "image/png", "avif"),
        (jpeg, "image/jpeg", "webp"),
    ]
    for data, kind, fmt in cases:
        wanted: list[tuple[SizeName, VariantFormat]] = [("small", fmt)]
        searched = imaging.variants(data, kind, wanted, 10**8, 5)["small", fmt]
        assert searched.data == imaging.variants(data, kind, wanted, 10**8, 0)["small", fmt].data


@pytest.mark.parametrize("size", [(1, 1), (3, 3), (10, 1), (1, 2000), (12, 7), (2000, 3)])
def test_tiny_and_sliver_images_get_their_variants(size):
    buffer = io.BytesIO()
    PILImage.new("RGB", size, (120, 30, 200)).save(buffer, "JPEG")
    wanted: list[tuple[SizeName, VariantFormat]] = [("small", "avif"), ("square", "avif")]
    made = imaging.variants(buffer.getvalue(), "image/jpeg", wanted, 10**8, 5)
    for variant in made.values():
        assert pixels(variant.data).size == (variant.width, variant.height)
