"""The square rendition's crop box (chalicelib/crop.py): where the most interesting square is."""

from __future__ import annotations

import random
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image, ImageDraw

from chalicelib.crop import square_box
from tests.conftest import examples

Box = tuple[int, int, int, int]
BACKGROUND = (200, 205, 210)


def texture(size: tuple[int, int], seed: int = 1) -> Image.Image:
    """A busy, colourful patch: discs of random colours with fine noise on top."""
    rng = random.Random(seed)
    w, h = size
    patch = Image.new("RGB", size, (rng.randrange(256), rng.randrange(256), rng.randrange(256)))
    draw = ImageDraw.Draw(patch)
    for _ in range(80):
        x, y, r = rng.randrange(w), rng.randrange(h), rng.randrange(2, max(3, min(w, h) // 5))
        draw.ellipse((x - r, y - r, x + r, y + r), fill=tuple(rng.randrange(256) for _ in "rgb"))
    return Image.blend(patch, noise(size, seed), 0.25)


def noise(size: tuple[int, int], seed: int, mode: str = "RGB") -> Image.Image:
    bands = len(mode)
    data = random.Random(seed).randbytes(size[0] * size[1] * bands)
    return Image.frombytes(mode, size, data)


def sky(size: tuple[int, int]) -> Image.Image:
    """A soft top-to-bottom gradient: shading without detail."""
    ramp = Image.linear_gradient("L").resize(size, Image.Resampling.BILINEAR)
    return Image.composite(
        Image.new("RGB", size, (235, 235, 225)), Image.new("RGB", size, (150, 180, 220)), ramp
    )


def with_subject(
    size: tuple[int, int], edge: str, background: str = "flat"
) -> tuple[Image.Image, Box]:
    """A textured square subject near `edge` of a flat (or sky) picture, and its box."""
    w, h = size
    side = min(w, h) * 2 // 5
    margin = min(w, h) // 40
    x = {"left": margin, "right": w - side - margin}.get(edge, (w - side) // 2)
    y = {"top": margin, "bottom": h - side - margin}.get(edge, (h - side) // 2)
    im = Image.new("RGB", size, BACKGROUND) if background == "flat" else sky(size)
    im.paste(texture((side, side)), (x, y))
    return im, (x, y, x + side, y + side)


def assert_square_inside(box: Box, size: tuple[int, int]) -> None:
    left, top, right, bottom = box
    assert all(isinstance(v, int) for v in box), box
    assert right - left == bottom - top == min(size), (box, size)
    assert 0 <= left <= right <= size[0] and 0 <= top <= bottom <= size[1], (box, size)
    assert (left == 0 and right == size[0]) or (top == 0 and bottom == size[1]), (box, size)


def contains(box: Box, inner: Box) -> bool:
    return box[0] <= inner[0] and box[1] <= inner[1] and inner[2] <= box[2] and inner[3] <= box[3]


def centre(size: tuple[int, int]) -> Box:
    w, h = size
    side = min(w, h)
    return ((w - side) // 2, (h - side) // 2, (w - side) // 2 + side, (h - side) // 2 + side)


SHAPES = {
    "landscape 3:2": ((1200, 800), ("left", "right")),
    "panorama 8:3": ((1600, 600), ("left", "right")),
    "wide 2:1 small": ((300, 150), ("left", "right")),
    "portrait 2:3": ((600, 900), ("top", "bottom")),
    "phone portrait 9:16": ((608, 1080), ("top", "bottom")),
    "tall 1:2 small": ((150, 300), ("top", "bottom")),
}


@pytest.mark.parametrize("background", ["flat", "sky"])
@pytest.mark.parametrize(
    ("size", "edge"),
    [(size, edge) for size, edges in SHAPES.values() for edge in edges],
    ids=[f"{name} {edge}" for name, (_, edges) in SHAPES.items() for edge in edges],
)
def test_a_subject_near_an_edge_is_inside_the_square(size, edge, background):
    im, subject = with_subject(size, edge, background)
    box = square_box(im)
    assert_square_inside(box, size)
    assert contains(box, subject), f"subject {subject} not inside {box} of {size}"
    assert box != centre(size)  # the centre square would cut it


@pytest.mark.parametrize("size", [(1200, 800), (800, 1200), (1001, 300), (3, 2), (2, 5)])
@pytest.mark.parametrize(
    ("mode", "colour"),
    [
        ("RGB", BACKGROUND),
        ("L", 90),
        ("RGBA", (*BACKGROUND, 128)),
        ("P", 7),
        ("I;16", 30000),
        ("F", 0.25),
        ("1", 1),
    ],
)
def test_a_flat_image_gets_the_centre_square(size, mode, colour):
    assert square_box(Image.new(mode, size, colour)) == centre(size)


def test_a_portrait_leans_to_its_top_when_top_and_bottom_are_alike():
    # the same detail at the top and at the bottom: the top wins (heads sit high)
    im = Image.new("RGB", (600, 1000), BACKGROUND)
    im.paste(texture((600, 150)), (0, 0))
    im.paste(texture((600, 150)), (0, 850))
    assert square_box(im) == (0, 0, 600, 600)


def test_a_sky_without_detail_gets_the_centre_square():
    assert square_box(sky((1200, 800))) == centre((1200, 800))


def test_an_even_texture_gets_the_centre_square():
    # the same texture everywhere: nothing pulls the square off centre beyond the noise
    size = (1200, 600)
    tile = texture((200, 200))
    im = Image.new("RGB", size)
    for x in range(0, size[0], 200):
        for y in range(0, size[1], 200):
            im.paste(tile, (x, y))
    box = square_box(im)
    assert abs(box[0] - centre(size)[0]) <= 60, box


@pytest.mark.parametrize("size", [(1, 1), (7, 7), (512, 512), (1080, 1080)])
def test_a_square_image_is_its_own_square(size):
    assert square_box(noise(size, 1)) == (0, 0, *size)
    assert square_box(Image.new("L", size)) == (0, 0, *size)


def test_an_empty_image_gets_an_empty_box():
    assert square_box(Image.new("RGB", (0, 0))) == (0, 0, 0, 0)
    assert square_box(Image.new("RGB", (5, 0))) == (0, 0, 0, 0)


@settings(max_examples=examples(150), deadline=None)
@given(
    width=st.integers(1, 600),
    height=st.integers(1, 600),
    seed=st.integers(0, 2**32),
    mode=st.sampled_from(["RGB", "L", "RGBA", "LA"]),
)
def test_the_box_is_always_the_largest_square_inside(width, height, seed, mode):
    im = noise((width, height), seed, mode)
    assert_square_inside(square_box(im), im.size)


def test_the_same_pixels_give_the_same_box():
    im = noise((900, 600), 7)
    first = square_box(im)
    assert all(square_box(im) == first for _ in range(5))
    assert square_box(im.copy()) == first
    assert square_box(Image.frombytes("RGB", im.size, im.tobytes())) == first


def palette_with_alpha(im: Image.Image) -> Image.Image:
    """`im` (RGBA) as PA: on the web palette, its alpha kept (Pillow's own RGBA to PA
    quantizes, about a second for these sizes)."""
    pa = im.convert("RGB").convert("P").convert("PA")
    pa.putalpha(im.getchannel("A"))
    return pa


def _modes_of(im: Image.Image) -> dict[str, Image.Image]:
    """`im` (RGB, white background) in every mode Pillow may hand over."""
    grey = im.convert("L")
    wide = grey.convert("I").point(lambda v: v * 257)
    converted = {
        mode: im.convert(mode)
        for mode in ("1", "L", "P", "RGB", "RGBX", "CMYK", "YCbCr", "LAB", "HSV", "I", "F")
    }
    converted.update(
        {
            "LA": im.convert("LA"),
            "La": im.convert("LA").convert("La"),
            "PA": palette_with_alpha(im.convert("RGBA")),
            "RGBA": im.convert("RGBA"),
            "RGBa": im.convert("RGBA").convert("RGBa"),
            "I;16": wide.convert("I;16"),
            "I;16B": wide.convert("I;16B"),
            "I;16L": wide.convert("I;16L"),
            "F (scaled)": grey.convert("F").point(lambda v: v * 1000.0 - 5000.0),
        }
    )
    palette = im.convert("P")
    palette.info["transparency"] = palette.getpixel((0, 0))  # the background's index
    converted["P with a transparent index"] = palette
    return converted


@pytest.mark.parametrize("size", [(900, 600), (600, 900)])
def test_every_mode_finds_the_subject(size):
    w, h = size
    side = min(w, h) * 2 // 5
    im = Image.new("RGB", size, (255, 255, 255))
    subject = (w - side - 10, h - side - 10, w - 10, h - 10)  # near the right or bottom edge
    im.paste(texture((side, side)), subject[:2])
    for mode, converted in _modes_of(im).items():
        box = square_box(converted)
        assert_square_inside(box, size)
        assert contains(box, subject), f"{mode}: {box} misses the subject {subject}"


@pytest.mark.parametrize("mode", ["RGBA", "LA", "PA", "RGBa", "La"])
def test_transparent_pixels_are_not_interesting(mode):
    # busy colours under fully transparent pixels on the left, an opaque subject on the right
    size = (1200, 600)
    im = texture(size, seed=3).convert("RGBA")
    alpha = Image.new("L", size, 0)
    alpha.paste(255, (800, 100, 1150, 450))
    im.putalpha(alpha)
    # (Pillow's RGBA to La drops the alpha; through LA it keeps it)
    if mode == "La":
        converted = im.convert("LA").convert("La")
    elif mode == "PA":
        converted = palette_with_alpha(im)
    else:
        converted = im.convert(mode)
    assert converted.getextrema()[-1] == (0, 255)
    box = square_box(converted)
    assert box[0] >= 550, box  # the square holds the opaque subject (800-1150)


def test_odd_samples_do_not_break_it():
    nan = Image.new("F", (300, 200), float("nan"))
    assert_square_inside(square_box(nan), nan.size)
    infinite = Image.new("F", (300, 200), 0.0)
    infinite.paste(float("inf"), (0, 0, 10, 10))
    assert_square_inside(square_box(infinite), infinite.size)
    assert_square_inside(square_box(Image.new("I", (300, 200), -(2**31))), (300, 200))
    assert_square_inside(square_box(Image.new("1", (30, 20), 1)), (30, 20))


@pytest.mark.parametrize(
    "size", [(4000, 10), (10, 4000), (20000, 9), (10000, 1), (1, 10000), (2, 1), (1, 3), (300, 1)]
)
def test_extreme_aspect_ratios(size):
    w, h = size
    im = Image.new("RGB", size, BACKGROUND)
    box = square_box(im)
    assert box == centre(size)
    # a textured stretch near the far end: the square lands on it
    if w > h:
        stretch = (w - w // 20 - max(h, w // 50), 0, w - w // 20, h)
    else:
        stretch = (0, h - h // 20 - max(w, h // 50), w, h - h // 20)
    im.paste(texture((stretch[2] - stretch[0], stretch[3] - stretch[1])), stretch[:2])
    box = square_box(im)
    assert_square_inside(box, size)
    if max(size) >= 10:  # (a texture of a pixel or two has no detail)
        middle = (box[0] + box[2]) / 2 if w > h else (box[1] + box[3]) / 2
        lo, hi = (stretch[0], stretch[2]) if w > h else (stretch[1], stretch[3])
        assert lo - min(size) <= middle <= hi + min(size), (box, stretch)  # a cell or so


def test_a_1080_photo_takes_a_few_milliseconds():
    im = texture((1080, 810), seed=5)
    square_box(im)  # imports
    times = []
    for _ in range(10):
        start = time.perf_counter()
        square_box(im)
        times.append(time.perf_counter() - start)
    assert min(times) < 0.010, f"fastest of 10 runs took {min(times) * 1000:.1f} ms"


def test_the_measurement_script_runs_on_its_synthetic_images():
    from scripts import measure_crop

    cases = measure_crop.synthetic_cases([])  # the textured subjects (no corpus needed)
    rows = measure_crop.measure(cases, square_box, runs=1, with_saliency=False, show=None)
    assert rows and all(row.ours == 1.0 for row in rows)
    assert all(row.centre < 1.0 for row in rows)


def test_the_saliency_judge_sees_a_subject():
    from scripts import measure_crop

    im, _ = with_subject((900, 600), "left")
    grid = measure_crop.saliency_map(im)
    left, right = (0, 0, 600, 600), (300, 0, 900, 600)
    assert measure_crop.saliency_share(grid, im.size, left) > 0.8
    assert measure_crop.saliency_share(grid, im.size, right) < 0.5
