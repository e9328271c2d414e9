"""How close a rendition looks to its pixels (SSIM), with Pillow alone, and the per-image
quality search it makes possible.

Why per image: one AVIF quality for every photo must suit the hardest one (q84 for the 20 of
scripts/tune_encoders.py, 0.95 of their JPEG renditions' bytes); each at its own lowest quality
that still reaches its JPEG rendition's SSIM is about 0.6. Every AVIF variant of a JPEG-based
image is searched (chalicelib/imaging.py, Source.variant), whichever step makes it: the search
is deterministic, so a variant is the same bytes either way.

SSIM as Wang et al. (2004) on BT.601 luma, K1 0.01, K2 0.03, the mean over the map without a
5-pixel border, as the tuning script computes it with libvips. numpy and libvips are not in
the function's zip, so the Gaussian window (sigma 1.5) is two passes of a 5x5 Pillow kernel of
sigma 1.5/sqrt(2) over 32-bit integer images in fixed point. On the tuning photos it is within
0.003 of the libvips figure, slightly below it; `MARGIN` covers what that could change.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from functools import lru_cache
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from PIL.Image import Image as PILImage

_SCALE = 64  # fixed point: the kernels run on integers, so local means keep 1/64 grey level
_C1, _C2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
_BORDER = 5
MARGIN = 0.001  # a candidate must beat its bar by this much (see the module's doc)
Encoded = TypeVar("Encoded")


@lru_cache(maxsize=1)
def _kernel() -> Any:
    from PIL import ImageFilter

    sigma = 1.5 / math.sqrt(2)  # twice: a window of sigma 1.5
    taps = [math.exp(-(i * i) / (2 * sigma * sigma)) for i in range(-2, 3)]
    weights = [a * b for a in taps for b in taps]
    return ImageFilter.Kernel((5, 5), weights, scale=sum(weights))


def _luma(im: PILImage) -> PILImage:
    if im.mode not in ("L", "RGB"):
        im = im.convert("RGB")
    return (im.convert("L") if im.mode == "RGB" else im).convert("I")  # ITU-R 601-2 luma


def _local_mean(fixed_point: PILImage) -> PILImage:
    kernel = _kernel()
    return fixed_point.filter(kernel).filter(kernel).convert("F")


def _lambda(expression: Callable[[dict[str, Any]], Any], **images: PILImage) -> PILImage:
    from PIL import ImageMath

    result: PILImage = ImageMath.lambda_eval(expression, **images)
    return result


class Reference:
    """The pixels a rendition should look like, with their local statistics made once for
    every candidate compared to them."""

    def __init__(self, pixels: PILImage) -> None:
        self._x = _luma(pixels)
        self._mx = _local_mean(_lambda(lambda e: e["x"] * _SCALE, x=self._x))
        self._xx = _local_mean(_lambda(lambda e: e["x"] * e["x"] * _SCALE, x=self._x))

    def ssim(self, candidate: PILImage) -> float:
        from PIL import Image

        y = _luma(candidate)
        if y.size != self._x.size:
            raise ValueError(f"sizes differ: {self._x.size} {y.size}")
        my = _local_mean(_lambda(lambda e: e["y"] * _SCALE, y=y))
        yy = _local_mean(_lambda(lambda e: e["y"] * e["y"] * _SCALE, y=y))
        xy = _local_mean(_lambda(lambda e: e["x"] * e["y"] * _SCALE, x=self._x, y=y))
        s, s2 = 1.0 / _SCALE, 1.0 / (_SCALE * _SCALE)

        def ssim_map(e: dict[str, Any]) -> Any:
            mxy = e["mx"] * e["my"] * s2
            mxx, myy = e["mx"] * e["mx"] * s2, e["my"] * e["my"] * s2
            numerator = (mxy * 2.0 + _C1) * ((e["xy"] * s - mxy) * 2.0 + _C2)
            return numerator / ((mxx + myy + _C1) * (e["xx"] * s - mxx + e["yy"] * s - myy + _C2))

        values = _lambda(ssim_map, mx=self._mx, my=my, xx=self._xx, yy=yy, xy=xy)
        width, height = values.size
        inner = values
        if min(width, height) > 2 * _BORDER:  # a sliver or a few pixels: the whole map
            inner = values.crop((_BORDER, _BORDER, width - _BORDER, height - _BORDER))
        mean: float = inner.resize((1, 1), Image.Resampling.BOX).getpixel((0, 0))  # type: ignore[assignment]
        return mean


def lowest_passing(
    encode: Callable[[int], Encoded],
    passes: Callable[[Encoded], bool],
    qualities: tuple[int, int],
    tries: int,
) -> Encoded | None:
    """The encoding at the lowest quality in `qualities` (inclusive) found to pass, by
    bisection in at most `tries` encodes; None if none tried passed. SSIM rises with quality
    nearly monotonically, so this is the bytes-for-bar optimum within a quality step or two."""
    low, high = qualities
    best = None
    for _ in range(tries):
        if low > high:
            break
        quality = (low + high) // 2
        data = encode(quality)
        if passes(data):
            best, high = data, quality - 1
        else:
            low = quality + 1
    return best
