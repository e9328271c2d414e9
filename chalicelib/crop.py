"""Where the square rendition is cut: the largest square that fits, on the most interesting part.

`square_box(im)` answers (left, top, right, bottom) of a square of side min(width, height)
inside `im`, which should be upright (EXIF orientation applied). A square image is its own
square; otherwise the square slides along the one axis that is cropped. Every step but a
loop over at most a few hundred numbers runs in Pillow's C code, on a grey copy 128 to 255 px
on its long side: about 1-2 ms for a 1080 px photo.

How the square is placed:

1. Interest is detail: |grey - Gaussian blur of grey| on the small copy, i.e. edges and
   texture at about 1/100 of the picture's size, where something is sharp and structured.
   Transparent pixels count nothing. Rows count less the lower they are (fully at the top,
   ROW_BOTTOM at the bottom): faces and subjects sit higher than ground, floors and clothes,
   which is what keeps a portrait's square on the head.
2. The interest is summed across the uncropped axis (one number per column of a landscape,
   per row of a portrait) and the square slides along the other. Its score is the interest
   inside it, its outer EDGE_SHARE on each side counting from EDGE_FLOOR up to fully (a
   subject cut by the square's edge is worth less than one it frames), times a mild pull to
   the centre: PRIOR less at the far ends, so a square leaves the centre only for clearly
   more interest.
3. The best score wins; an exact tie goes to the position nearest the centre. An image
   without any detail (flat) gets the centre square.

smartcrop.js scores crops the same way (detail, with boosts for saturated and skin-like
colour, weighted less near the crop's edges); thumbor centres the crop on the centre of mass
of its focal points (faces, else the strongest corners), which lands in the empty middle
between two subjects where a sliding window keeps one whole. smartcrop's colour boosts were
tried here and measured no better nor worse than detail alone (scripts/measure_crop.py), so
they are left out. That script compares this crop with the centre square, judged by a
spectral-residual saliency model and by subject boxes drawn by hand.
"""

from __future__ import annotations

import operator
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from PIL.Image import Image as PILImage

Box = tuple[int, int, int, int]

ANALYSIS_SIDE = 128  # the grey copy is reduced by a whole factor to 128-255 px long ...
MIN_SHORT = 8  # ... but not to less than this on its short side (panoramas) ...
MAX_LONG = 4096  # ... and to at most this on its long side (time, at any aspect ratio)
ROW_BOTTOM = 0.6  # the weight of the bottom row's interest (the top row's is 1)
EDGE_SHARE = 0.15  # each side of the square where interest counts less ...
EDGE_FLOOR = 0.5  # ... rising linearly from this much at its edge to fully
PRIOR = 0.05  # how much less a square scores at the far ends than in the centre


def square_box(im: PILImage) -> Box:
    """The largest square inside `im` (side min(width, height)), on its most interesting part."""
    width, height = im.size
    side = min(width, height)
    if width == height or side == 0:
        return (0, 0, side, side)
    wide = width > height
    length = width if wide else height
    profile = _interest_profile(im, wide)
    n = len(profile)
    window = max(1, min(n, round(side * n / length)))
    span = n - window
    if span and any(profile):  # the same share of the room before the square as found
        offset = _best_offset(profile, window) * (length - side) // span
    else:  # flat (nothing to go by), or nearly square
        offset = (length - side) // 2
    return (offset, 0, offset + side, side) if wide else (0, offset, side, offset + side)


def _best_offset(profile: list[float], window: int) -> int:
    """Where a window of `window` cells scores best along `profile` (see the module's doc)."""
    span = len(profile) - window
    kernel = [
        EDGE_FLOOR + (1 - EDGE_FLOOR) * min(1.0, t / EDGE_SHARE, (1 - t) / EDGE_SHARE)
        for t in ((i + 0.5) / window for i in range(window))
    ]
    best_key = (-1.0, 0.0)
    best = 0
    for offset in range(span + 1):
        interest = sum(map(operator.mul, kernel, profile[offset : offset + window]))
        distance = abs(offset - span / 2)
        prior = 1 - PRIOR * distance / (span / 2) if span else 1.0
        key = (interest * prior, -distance)
        if key > best_key:
            best_key, best = key, offset
    return best


def _interest_profile(im: PILImage, wide: bool) -> list[float]:
    """The interest of each column (`wide`) or row of the small copy of `im`."""
    from PIL import Image, ImageChops, ImageFilter, ImageMath

    grey, alpha = _small_grey(im)
    width, height = grey.size
    detail = ImageChops.difference(grey, grey.filter(ImageFilter.GaussianBlur(1))).convert("F")
    rows = Image.new("F", (1, height))
    rows.putdata([1 - (1 - ROW_BOTTOM) * (y + 0.5) / height for y in range(height)])
    weights = rows.resize((width, height), Image.Resampling.NEAREST)
    if alpha is not None:
        opacity = alpha.convert("F")
        weights = ImageMath.lambda_eval(lambda e: e["w"] * e["a"] / 255, w=weights, a=opacity)
    interest: PILImage = ImageMath.lambda_eval(lambda e: e["d"] * e["w"], d=detail, w=weights)
    # BOX-resizing floats to one row (column) averages each column (row) exactly.
    line = (width, 1) if wide else (1, height)
    return list(interest.resize(line, Image.Resampling.BOX).getdata())


def _small_grey(im: PILImage) -> tuple[PILImage, PILImage | None]:
    """`im` in grey, reduced by a whole factor to ANALYSIS_SIDE up to twice that on its long
    side (keeping MIN_SHORT on its short side, at most MAX_LONG on its long side), and its
    alpha if it has any."""
    long, short = max(im.size), min(im.size)
    factor = max(1, min(long // ANALYSIS_SIDE, short // MIN_SHORT), -(-long // MAX_LONG))
    if im.mode in ("I", "F") or im.mode.startswith("I;16"):
        return _stretched(im.convert("F").reduce(factor)), None
    im = _eight_bit(im)
    alpha = None
    if im.mode in ("LA", "RGBA"):  # two bands reduce faster than four
        alpha, im = im.getchannel("A"), im.convert("L")
    if factor > 1:
        im = im.reduce(factor)
        alpha = alpha.reduce(factor) if alpha is not None else None
    return (im if im.mode == "L" else im.convert("L")), alpha


def _eight_bit(im: PILImage) -> PILImage:
    """`im` as L, LA, RGB or RGBA; a transparent colour or palette entry becomes alpha."""
    transparency = "transparency" in im.info
    if im.mode in ("LA", "RGBA") or (im.mode in ("L", "RGB") and not transparency):
        return im
    if im.mode == "La":  # Pillow converts premultiplied grey to LA only
        return im.convert("LA")
    has_alpha = transparency or im.mode.endswith(("A", "a"))
    try:
        return im.convert("RGBA" if has_alpha else "L")
    except ValueError:  # a mode Pillow cannot make grey of (LAB): its first band
        return im.getchannel(0)


def _stretched(samples: PILImage) -> PILImage:
    """Wide samples (16-bit, 32-bit, float) as 8-bit grey, their range stretched to 0-255."""
    from PIL import Image

    low, high = samples.getextrema()
    assert isinstance(low, float) and isinstance(high, float)  # one band of floats
    if not high > low or high - low == float("inf"):  # flat, or NaN or infinite samples
        return Image.new("L", samples.size)
    scale = 255 / (high - low)
    return samples.point(lambda v: (v - low) * scale).convert("L")
