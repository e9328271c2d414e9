"""How the square crop (chalicelib/crop.py) compares with a plain centre crop.

    python scripts/measure_crop.py [--photos DIR] [--show DIR] [--runs N]

Every image is judged by something that does not use the crop's own score:

- Real photos: the corpus (`make corpus`: cameras and phones; tiny test patterns, square
  images, repeats of a photo in another container and files that do not decode are skipped)
  and, with `--photos DIR`, every photo in DIR; for instance the 113 example photos of
  smartcrop.js (500px, Flickr and Unsplash: people, animals, landscapes, streets), which the
  subject boxes below cover:

      git clone --depth 1 https://github.com/jwagner/smartcrop.js /tmp/smartcrop.js
      python scripts/measure_crop.py --photos /tmp/smartcrop.js/examples/images

  Each is upright and scaled to 1080 px on its long side, as the service decodes it. Judges:
  - `saliency`: the share of a spectral-residual saliency map (Hou and Zhang, CVPR 2007;
    computed here in plain Python as OpenCV's StaticSaliencySpectralResidual does: 64x64
    grey, log-amplitude spectrum minus its 3x3 mean, back with the original phase, squared,
    5x5 Gaussian) that falls inside the square. It knows nothing of the crop's detail map,
    row weights or centre prior, but it too responds to structure, so it is the more lenient
    judge of the two.
  - `subject`: for photos with one clear subject, a box drawn by hand around it (`SUBJECTS`):
    the share of the box inside the square, divided by the most any square of that side could
    keep (1.0: as good as it gets). The corpus boxes were drawn before the crop existed, the
    smartcrop.js ones before its last parameters (PRIOR, ROW_BOTTOM, EDGE_*) were chosen,
    partly on these figures: there is no held-out set.
- Synthetic images with a known subject (a textured patch, or a piece of a real photo, on a
  flat, a gently shaded or a uniformly grainy background, at each edge of a landscape, a
  panorama and a portrait canvas), judged by `subject`.

Prints a table per image (centre crop, ours, and the best any square could do by that judge),
the mean of each column with wins, ties (within 0.01) and losses, and the time `square_box`
takes on the 1080 px pixels. `--show DIR` writes each image with both squares drawn (centre:
blue, ours: red, subject: yellow).
"""

from __future__ import annotations

import argparse
import cmath
import math
import os
import random
import statistics
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

if TYPE_CHECKING:
    from PIL.Image import Image as PILImage

Box = tuple[int, int, int, int]
Square = tuple[float, float, float, float]  # a square a judge scores: left, top, right, bottom
Fraction = tuple[float, float, float, float]  # left, top, right, bottom as shares of the size

# The main subject of the corpus photos that have one, as shares of the upright image; drawn by
# looking at each photo, before the crop was tuned. Scenes without one subject (a rock garden,
# a snowy wood, a house front, a bunch of roses) are judged by saliency only.
SUBJECTS: dict[str, Fraction] = {
    "pug.heic": (0.10, 0.47, 0.67, 1.00),  # the dog, sitting lower left of centre
    "nokia_bird_burst.heic": (0.27, 0.52, 0.47, 1.00),  # the tit on the trunk
    "cat.hif": (0.23, 0.05, 0.72, 0.85),  # the cat's head
    "xiaomi.heic": (0.05, 0.00, 0.58, 0.62),  # the pen, from the top left to its tip
    "flower.jpg": (0.17, 0.17, 0.63, 0.65),  # the blossom and its buds
    "guitar_cw90.hif": (0.48, 0.33, 0.90, 0.55),  # the ukulele's body, the sharp part
    "arrow.heic": (0.07, 0.07, 0.92, 0.73),  # the drawn arrow
    "transparent.gif": (0.10, 0.05, 0.85, 0.87),  # the four dice
    "xmp_test.jpg": (0.37, 0.17, 0.68, 0.66),  # the two mirrors on their pouch
    "iptc.jpg": (0.03, 0.27, 0.98, 0.76),  # the brick letters
    "empty_icc.heic": (0.10, 0.15, 0.95, 0.90),  # the pug's face
    "flower2.webp": (0.25, 0.00, 0.90, 1.00),  # the heather spike
    "aux_YCbCr.heic": (0.00, 0.00, 0.70, 1.00),  # the map and leaflet (the right is bare wall)
    # The example photos of smartcrop.js (`--photos smartcrop.js/examples/images`; 500px, Flickr
    # and Unsplash photos), the ones with one subject: people, animals, a flower, a vehicle.
    "0.jpg": (0.38, 0.15, 0.75, 0.90),  # red panda
    "23018877.jpg": (0.35, 0.25, 0.62, 0.95),  # boy in the digger
    "23534627.jpg": (0.35, 0.38, 0.55, 0.80),  # white flower
    "27305709.jpg": (0.15, 0.05, 0.68, 0.85),  # three small flowers
    "27733227.jpg": (0.55, 0.30, 0.90, 0.92),  # man crouching
    "27794187.jpg": (0.40, 0.28, 0.87, 1.00),  # the large blossom
    "27870021.jpg": (0.30, 0.10, 0.58, 0.45),  # pink flower
    "28065157.jpg": (0.20, 0.40, 0.58, 0.68),  # hoverfly
    "28155975.jpg": (0.30, 0.45, 0.60, 0.72),  # person in the corridor
    "29339717.jpg": (0.42, 0.38, 0.58, 0.55),  # moon
    "29386679.jpg": (0.20, 0.27, 0.58, 0.60),  # egret
    "30343877.jpg": (0.55, 0.20, 0.80, 0.50),  # walker under the lamp
    "32595073.jpg": (0.25, 0.45, 0.80, 1.00),  # pier
    "4.jpg": (0.40, 0.30, 0.62, 0.70),  # paraglider's face
    "img.jpg": (0.40, 0.30, 0.62, 0.70),  # the same selfie
    "60569462.jpg": (0.43, 0.68, 0.60, 0.95),  # girl among the gulls
    "60964708.jpg": (0.12, 0.08, 0.35, 0.35),  # the sun
    "60970626.jpg": (0.55, 0.12, 0.80, 0.90),  # church and moon
    "63246701.jpg": (0.20, 0.05, 0.62, 0.42),  # woman's face
    "64743063.jpg": (0.05, 0.20, 0.32, 0.80),  # man with bags
    "64749691.jpg": (0.38, 0.40, 0.56, 0.62),  # bud
    "64752859.jpg": (0.22, 0.15, 0.90, 0.85),  # flowers in the vase
    "64765319.jpg": (0.28, 0.15, 0.82, 0.78),  # runners and dog
    "64786603.jpg": (0.20, 0.08, 0.35, 1.00),  # bridge tower
    "64843515.jpg": (0.48, 0.20, 0.72, 0.72),  # girl's face
    "64856363.jpg": (0.20, 0.22, 0.55, 0.95),  # child
    "64947023.jpg": (0.45, 0.24, 0.52, 0.32),  # two walkers far away
    "64948093.jpg": (0.10, 0.60, 0.92, 0.92),  # yellow flowers
    "64950105.jpg": (0.30, 0.18, 0.47, 0.85),  # woman with a suitcase
    "64953085.jpg": (0.15, 0.15, 0.75, 0.58),  # child's face
    "65044417.jpg": (0.45, 0.15, 0.56, 0.45),  # man on the bridge
    "65073513.jpg": (0.12, 0.10, 0.90, 0.95),  # dog's face
    "65090807.jpg": (0.46, 0.33, 0.54, 0.52),  # small figure
    "65100001.jpg": (0.30, 0.45, 0.62, 0.70),  # hand on the radio
    "65131509.jpg": (0.25, 0.05, 0.60, 0.35),  # woman's face
    "65140003.jpg": (0.60, 0.10, 0.95, 0.90),  # couple on the bench
    "65144887.jpg": (0.33, 0.30, 0.60, 0.60),  # shopkeeper
    "65155627.jpg": (0.25, 0.08, 0.85, 0.55),  # man in the hoodie
    "65158073.jpg": (0.70, 0.45, 0.80, 0.65),  # butterfly
    "65160167.jpg": (0.40, 0.10, 0.68, 1.00),  # rider
    "65163341.jpg": (0.38, 0.22, 0.65, 0.40),  # lighthouse
    "65170623.jpg": (0.45, 0.25, 0.56, 0.75),  # sun and sail
    "65171835.jpg": (0.20, 0.00, 0.60, 0.85),  # yorkshire terrier
    "65210163.jpg": (0.40, 0.55, 0.62, 0.90),  # couple at sunset
    "65229417.jpg": (0.60, 0.25, 0.78, 0.88),  # man reading
    "65231965.jpg": (0.15, 0.18, 0.75, 0.62),  # two men and a bicycle
    "65235119.jpg": (0.42, 0.35, 0.62, 0.60),  # bottle cap
    "65254305.jpg": (0.55, 0.00, 1.00, 0.80),  # woman
    "65257641.jpg": (0.30, 0.20, 0.90, 0.42),  # daisy
    "65264581.jpg": (0.35, 0.15, 0.78, 0.92),  # tree
    "65309527.jpg": (0.18, 0.00, 0.78, 0.52),  # jumping man
    "65334383.jpg": (0.30, 0.30, 0.60, 0.65),  # sparrow
    "65335239.jpg": (0.58, 0.50, 0.76, 0.67),  # jeep
    "65356729.jpg": (0.20, 0.08, 0.80, 0.45),  # tulip
    "65379385.jpg": (0.15, 0.20, 0.70, 0.82),  # catkins
    "65380549.jpg": (0.38, 0.35, 0.62, 1.00),  # woman in the crowd
    "65438769.jpg": (0.50, 0.15, 0.78, 0.62),  # boat
    "65439701.jpg": (0.55, 0.20, 0.83, 0.80),  # man, dog and lamp
    "65443239.jpg": (0.12, 0.15, 0.80, 1.00),  # two men
    "7.jpg": (0.00, 0.00, 0.45, 0.80),  # gecko
    "goodtimes.jpg": (0.18, 0.12, 0.58, 0.95),  # old man
    "guitarist.jpg": (0.10, 0.12, 0.95, 0.65),  # guitarist
    "kitty.jpg": (0.12, 0.05, 0.60, 0.95),  # cat
    "makhmutova-dina-1580313-unsplash.jpg": (0.25, 0.02, 0.85, 0.50),  # woman's face
}
MIN_SIDE = 150  # smaller corpus files are test patterns, not photos
SERVICE_SIDE = 1080  # the service hands the crop pixels decoded at about this size
TIE = 0.01


@dataclass
class Case:
    name: str
    image: PILImage  # upright, at most SERVICE_SIDE on the long side
    subject: Fraction | None


# --- the saliency judge --------------------------------------------------------------------

SR_SIDE = 64


def _fft(values: Sequence[complex], inverse: bool = False) -> list[complex]:
    """Iterative radix-2 FFT (len(values) a power of two); the inverse is scaled by 1/n."""
    a = list(values)
    n = len(a)
    j = 0
    for i in range(1, n):
        bit = n >> 1
        while j & bit:
            j ^= bit
            bit >>= 1
        j |= bit
        if i < j:
            a[i], a[j] = a[j], a[i]
    sign = 1 if inverse else -1
    length = 2
    while length <= n:
        half = length // 2
        twiddles = [cmath.exp(sign * 2j * math.pi * k / length) for k in range(half)]
        for start in range(0, n, length):
            for k in range(half):
                u = a[start + k]
                v = a[start + k + half] * twiddles[k]
                a[start + k] = u + v
                a[start + k + half] = u - v
        length <<= 1
    return [x / n for x in a] if inverse else a


def _fft2(rows: list[list[complex]], inverse: bool = False) -> list[list[complex]]:
    done = [_fft(row, inverse) for row in rows]
    columns = [_fft(column, inverse) for column in zip(*done, strict=True)]
    return [list(row) for row in zip(*columns, strict=True)]


def _mean3(grid: list[list[float]]) -> list[list[float]]:
    """3x3 mean with wrap-around (the spectrum is periodic)."""
    n = len(grid)
    return [
        [
            sum(grid[(i + di) % n][(j + dj) % n] for di in (-1, 0, 1) for dj in (-1, 0, 1)) / 9
            for j in range(n)
        ]
        for i in range(n)
    ]


def _gauss5(grid: list[list[float]], sigma: float = 8.0) -> list[list[float]]:
    """5x5 Gaussian (sigma 8, as OpenCV's spectral residual), edges replicated."""
    kernel = [math.exp(-(d * d) / (2 * sigma * sigma)) for d in range(-2, 3)]
    total = sum(kernel)
    kernel = [k / total for k in kernel]
    n = len(grid)

    def one_pass(g: list[list[float]]) -> list[list[float]]:
        return [
            [
                sum(kernel[d + 2] * g[i][min(max(j + d, 0), n - 1)] for d in range(-2, 3))
                for j in range(n)
            ]
            for i in range(n)
        ]

    across = one_pass(grid)
    down = one_pass([list(column) for column in zip(*across, strict=True)])
    return [list(row) for row in zip(*down, strict=True)]


def saliency_map(im: PILImage) -> list[list[float]]:
    """Spectral-residual saliency of `im` on a 64x64 grid stretched over the whole image."""
    from PIL import Image

    grey = _flatten(im).convert("L").resize((SR_SIDE, SR_SIDE), Image.Resampling.BOX)
    pixels = list(grey.getdata())
    rows = [
        [complex(pixels[i * SR_SIDE + j] / 255) for j in range(SR_SIDE)] for i in range(SR_SIDE)
    ]
    spectrum = _fft2(rows)
    log_amplitude = [[math.log(abs(c) + 1e-9) for c in row] for row in spectrum]
    residual_of = _mean3(log_amplitude)
    back = [
        [
            cmath.exp(complex(log_amplitude[i][j] - residual_of[i][j], cmath.phase(c)))
            for j, c in enumerate(row)
        ]
        for i, row in enumerate(spectrum)
    ]
    energy = [[abs(c) ** 2 for c in row] for row in _fft2(back, inverse=True)]
    return _gauss5(energy)


def _overlaps(lo: float, hi: float, cells: int, extent: int) -> list[float]:
    """How much of each of `cells` equal cells spanning [0, extent) lies in [lo, hi)."""
    size = extent / cells
    return [max(0.0, min(hi, (k + 1) * size) - max(lo, k * size)) / size for k in range(cells)]


def saliency_share(grid: list[list[float]], size: tuple[int, int], box: Square) -> float:
    """The share of the saliency map's mass inside `box` (image coordinates)."""
    xs = _overlaps(box[0], box[2], SR_SIDE, size[0])
    ys = _overlaps(box[1], box[3], SR_SIDE, size[1])
    inside = sum(ys[i] * sum(xs[j] * grid[i][j] for j in range(SR_SIDE)) for i in range(SR_SIDE))
    total = sum(sum(row) for row in grid)
    return inside / total if total > 0 else 1.0


# --- the subject judge ---------------------------------------------------------------------


def _kept(subject: Fraction, size: tuple[int, int], box: Square) -> float:
    w, h = size
    sx0, sy0, sx1, sy1 = subject[0] * w, subject[1] * h, subject[2] * w, subject[3] * h
    ix = max(0.0, min(sx1, box[2]) - max(sx0, box[0]))
    iy = max(0.0, min(sy1, box[3]) - max(sy0, box[1]))
    area = (sx1 - sx0) * (sy1 - sy0)
    return ix * iy / area if area > 0 else 1.0


def best_squares(size: tuple[int, int], breakpoints: Iterable[float]) -> list[Square]:
    """The squares of side min(w, h) where a judge's share can peak. A share is piecewise
    linear in the square's offset, bending only where an edge of the square meets one of the
    judge's `breakpoints` (along the long axis): its maximum is at one of those offsets or at
    either end."""
    w, h = size
    side = min(w, h)
    span = max(w, h) - side
    offsets = {0.0, float(span)}
    for point in breakpoints:
        offsets.update(o for o in (point, point - side) if 0 <= o <= span)
    if w >= h:
        return [(o, 0.0, o + side, float(side)) for o in sorted(offsets)]
    return [(0.0, o, float(side), o + side) for o in sorted(offsets)]


def centre_box(size: tuple[int, int]) -> Box:
    w, h = size
    side = min(w, h)
    left, top = (w - side) // 2, (h - side) // 2
    return (left, top, left + side, top + side)


def subject_score(subject: Fraction, size: tuple[int, int], box: Square) -> float:
    """Share of the subject kept, relative to the best any square of that side keeps."""
    w, h = size
    edges = (subject[0] * w, subject[2] * w) if w >= h else (subject[1] * h, subject[3] * h)
    best = max(_kept(subject, size, square) for square in best_squares(size, edges))
    return _kept(subject, size, box) / best if best > 0 else 1.0


# --- images --------------------------------------------------------------------------------


def _flatten(im: PILImage) -> PILImage:
    """RGB, transparency composited on white (what a viewer of the square sees)."""
    from PIL import Image

    if im.mode in ("RGBA", "LA", "PA") or "transparency" in im.info:
        rgba = im.convert("RGBA")
        background = Image.new("RGB", rgba.size, "white")
        background.paste(rgba, mask=rgba.getchannel("A"))
        return background
    return im.convert("RGB")


def _fingerprint(im: PILImage) -> list[int]:
    from PIL import Image

    return list(_flatten(im).convert("L").resize((16, 16), Image.Resampling.BOX).getdata())


def corpus_cases(log: Callable[[str], None]) -> list[Case]:
    from PIL import Image

    from tests.corpus import corpus_files

    try:
        import pillow_heif  # a development requirement: the HEIF photos of the corpus

        pillow_heif.register_heif_opener()
    except ImportError:
        log("pillow-heif is not installed: HEIF photos skipped")
    cases: list[Case] = []
    for item in corpus_files():
        try:
            with Image.open(item.path) as opened:
                im = _upright(opened)
        except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as exc:
            log(f"skipped {item.name}: {type(exc).__name__}: {exc}")
            continue
        if min(im.size) >= MIN_SIDE and im.width != im.height:
            cases.append(Case(item.name, im, SUBJECTS.get(item.name)))
    return _distinct(cases)


def _distinct(cases: list[Case]) -> list[Case]:
    """`cases` without repeats of a photo (the same picture in another container)."""
    kept: list[Case] = []
    seen: list[list[int]] = []
    for case in cases:
        fingerprint = _fingerprint(case.image)
        if not any(
            sum(abs(a - b) for a, b in zip(fingerprint, other, strict=True)) / 256 < 4
            for other in seen
        ):
            seen.append(fingerprint)
            kept.append(case)
    return kept


def directory_cases(directory: Path, log: Callable[[str], None]) -> list[Case]:
    """Every photo Pillow opens in `directory` (not square, not tiny), judged by saliency."""
    from PIL import Image

    cases: list[Case] = []
    for path in sorted(directory.iterdir()):
        try:
            with Image.open(path) as opened:
                im = _upright(opened)
        except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as exc:
            log(f"skipped {path.name}: {type(exc).__name__}: {exc}")
            continue
        if min(im.size) >= MIN_SIDE and im.width != im.height:
            cases.append(Case(path.name, im, SUBJECTS.get(path.name)))
    return _distinct(cases)


def _upright(opened: PILImage) -> PILImage:
    """What the service hands the crop: upright, decoded at about SERVICE_SIDE px."""
    from PIL import Image, ImageOps

    opened.draft("RGB", (SERVICE_SIDE, SERVICE_SIDE))
    opened.load()
    im = ImageOps.exif_transpose(opened)
    if im.mode not in ("RGB", "RGBA", "L", "LA", "P"):
        im = im.convert("RGBA" if "A" in im.mode else "RGB")
    if max(im.size) > SERVICE_SIDE:
        im = im.copy()
        im.thumbnail((SERVICE_SIDE, SERVICE_SIDE), Image.Resampling.BOX)
    return im


def _texture(size: tuple[int, int], rng: random.Random) -> PILImage:
    """A busy, colourful patch: random blocks of colour with fine noise on top."""
    from PIL import Image, ImageDraw

    patch = Image.new("RGB", size)
    draw = ImageDraw.Draw(patch)
    for _ in range(60):
        x, y = rng.randrange(size[0]), rng.randrange(size[1])
        r = rng.randrange(4, max(5, min(size) // 5))
        colour = (rng.randrange(256), rng.randrange(256), rng.randrange(256))
        draw.ellipse((x - r, y - r, x + r, y + r), fill=colour)
    return Image.blend(patch, _grain(size, rng).convert("RGB"), 0.25)


def _grain(size: tuple[int, int], rng: random.Random) -> PILImage:
    """Seeded grey noise around mid-grey (Image.effect_noise is not seeded)."""
    from PIL import Image

    noise = Image.frombytes("L", size, rng.randbytes(size[0] * size[1]))
    return noise.point(lambda v: 128 + (v - 128) // 3)


def _background(size: tuple[int, int], kind: str) -> PILImage:
    from PIL import Image

    if kind == "flat":
        return Image.new("RGB", size, (200, 205, 210))
    if kind == "gravel":
        # uniform fine texture everywhere (sand, gravel, a wall): detail that is no subject
        grain = _grain((size[0] // 2, size[1] // 2), random.Random(7)).resize(size)
        return Image.merge("RGB", (grain, grain, grain)).point(lambda v: 60 + v // 2)
    # a soft vertical gradient: sky-like, no detail
    gradient = Image.linear_gradient("L").resize(size, Image.Resampling.BILINEAR)
    top = Image.new("RGB", size, (150, 180, 220))
    bottom = Image.new("RGB", size, (235, 235, 225))
    return Image.composite(bottom, top, gradient)


def _photo_piece(cases: Sequence[Case], name: str, side: int) -> PILImage | None:
    """A square piece around the hand-drawn subject of a corpus photo."""
    from PIL import Image

    for case in cases:
        if case.name == name and case.subject is not None:
            w, h = case.image.size
            s = case.subject
            box = (round(s[0] * w), round(s[1] * h), round(s[2] * w), round(s[3] * h))
            return _flatten(case.image.crop(box)).resize((side, side), Image.Resampling.LANCZOS)
    return None


def synthetic_cases(photos: Sequence[Case]) -> list[Case]:
    """A subject at each edge of a wide (1080x720, 1080x540) and a tall (720x1080) canvas."""
    rng = random.Random(20240601)
    cases: list[Case] = []
    canvases = {"wide": (1080, 720), "panorama": (1080, 540), "tall": (720, 1080)}
    for canvas, size in canvases.items():
        w, h = size
        edges = ("left", "right") if w > h else ("top", "bottom")
        for subject_kind in ("texture", "pug", "cat"):
            side = min(w, h) // 2 if subject_kind == "texture" else min(w, h) * 3 // 5
            if subject_kind == "texture":
                patch: PILImage | None = _texture((side, side), rng)
            else:
                source = {"pug": "empty_icc.heic", "cat": "cat.hif"}[subject_kind]
                patch = _photo_piece(photos, source, side)
            if patch is None:
                continue
            for edge in edges:
                for background in ("flat", "sky", "gravel"):
                    margin = min(w, h) // 20
                    x = {"left": margin, "right": w - side - margin}.get(edge, (w - side) // 2)
                    y = {"top": margin, "bottom": h - side - margin}.get(edge, (h - side) // 2)
                    im = _background(size, background)
                    im.paste(patch, (x, y))
                    subject = (x / w, y / h, (x + side) / w, (y + side) / h)
                    name = f"{canvas} {subject_kind} {edge} {background}"
                    cases.append(Case(name, im, subject))
    return cases


# --- the table -----------------------------------------------------------------------------


@dataclass
class Row:
    name: str
    size: tuple[int, int]
    judge: str
    centre: float
    ours: float
    best: float
    ms: float


def _time_ms(square_box: Callable[[PILImage], Box], im: PILImage, runs: int) -> float:
    """The median time of `square_box(im)`, in milliseconds."""
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        square_box(im)
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1000


def measure(
    cases: Sequence[Case],
    square_box: Callable[[PILImage], Box],
    runs: int,
    with_saliency: bool,
    show: Path | None,
) -> list[Row]:
    rows: list[Row] = []
    for case in cases:
        size = case.image.size
        ours = square_box(case.image)
        ms = _time_ms(square_box, case.image, runs)
        centre = centre_box(size)
        if with_saliency:
            grid = saliency_map(case.image)
            cells = [k * max(size) / SR_SIDE for k in range(SR_SIDE + 1)]
            best = max(saliency_share(grid, size, box) for box in best_squares(size, cells))
            rows.append(
                Row(
                    case.name,
                    size,
                    "saliency",
                    saliency_share(grid, size, centre),
                    saliency_share(grid, size, ours),
                    best,
                    ms,
                )
            )
        if case.subject is not None:
            rows.append(
                Row(
                    case.name,
                    size,
                    "subject",
                    subject_score(case.subject, size, centre),
                    subject_score(case.subject, size, ours),
                    1.0,
                    ms,
                )
            )
        if show is not None:
            _draw(case, centre, ours, show)
    return rows


def _draw(case: Case, centre: Box, ours: Box, directory: Path) -> None:
    from PIL import ImageDraw

    im = _flatten(case.image)
    draw = ImageDraw.Draw(im)
    width = max(2, min(im.size) // 150)
    if case.subject is not None:
        w, h = im.size
        s = case.subject
        draw.rectangle((s[0] * w, s[1] * h, s[2] * w - 1, s[3] * h - 1), outline="yellow")
    draw.rectangle(
        (centre[0], centre[1], centre[2] - 1, centre[3] - 1), outline="blue", width=width
    )
    draw.rectangle((ours[0], ours[1], ours[2] - 1, ours[3] - 1), outline="red", width=width)
    directory.mkdir(parents=True, exist_ok=True)
    im.save(directory / (case.name.replace(" ", "_").replace(".", "_") + ".png"))


def print_table(title: str, rows: Sequence[Row]) -> None:
    print(f"\n{title}")
    print(f"{'image':34} {'size':>10} {'judge':9} {'centre':>7} {'ours':>7} {'best':>7} {'':6}")
    for row in rows:
        diff = row.ours - row.centre
        verdict = "tie" if abs(diff) < TIE else ("WIN" if diff > 0 else "LOSS")
        size = f"{row.size[0]}x{row.size[1]}"
        print(
            f"{row.name:34} {size:>10} {row.judge:9} {row.centre:7.3f} {row.ours:7.3f} "
            f"{row.best:7.3f} {verdict:6}"
        )
    for judge in sorted({row.judge for row in rows}):
        picked = [row for row in rows if row.judge == judge]
        wins = sum(row.ours - row.centre >= TIE for row in picked)
        losses = sum(row.centre - row.ours >= TIE for row in picked)
        print(
            f"{'mean (' + judge + ')':34} {'':>10} {judge:9} "
            f"{statistics.fmean(r.centre for r in picked):7.3f} "
            f"{statistics.fmean(r.ours for r in picked):7.3f} "
            f"{statistics.fmean(r.best for r in picked):7.3f} "
            f"wins {wins}, ties {len(picked) - wins - losses}, losses {losses} "
            f"of {len(picked)}"
        )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--photos", type=Path, help="also measure the photos in this directory")
    parser.add_argument("--show", type=Path, help="write each image with both squares here")
    parser.add_argument("--runs", type=int, default=20, help="timing runs per image")
    args = parser.parse_args(argv)

    from chalicelib.crop import square_box

    def log(message: str) -> None:
        print(message, file=sys.stderr)

    corpus = corpus_cases(log)
    sets = [(f"Corpus photos ({len(corpus)})", corpus)]
    if args.photos is not None:
        extra = directory_cases(args.photos, log)
        sets.append((f"Photos in {args.photos} ({len(extra)})", extra))
    photo_rows: list[Row] = []
    for title, cases in sets:
        rows = measure(cases, square_box, args.runs, True, args.show)
        print_table(title, rows)
        photo_rows += rows
    synthetic = synthetic_cases(corpus)
    rows = measure(synthetic, square_box, args.runs, False, args.show)
    print_table(f"Synthetic images with a known subject ({len(synthetic)})", rows)

    times = [row.ms for row in photo_rows if row.judge == "saliency"]
    full = [
        row.ms for row in photo_rows if row.judge == "saliency" and max(row.size) == SERVICE_SIDE
    ]
    print(
        f"\nsquare_box on the photos (median of {args.runs} runs each): median "
        f"{statistics.median(times):.2f} ms, slowest {max(times):.2f} ms; on the "
        f"{len(full)} of {SERVICE_SIDE} px: median {statistics.median(full or times):.2f} ms"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
