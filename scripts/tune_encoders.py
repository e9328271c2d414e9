"""The WebP and AVIF settings of chalicelib/imaging.py's SAVE_OPTIONS, chosen by measurement.

    python scripts/tune_encoders.py [--webp-methods 4,6] [--avif-speeds 6,8] [--share 1.0]
                                    [--budget-ms 1000]

The rule (issue 13): at equal or better SSIM than the JPEG rendition, against the same resized
source, the fewest bytes. For each of 20 photos (`photos()`: the corpus's real camera and phone
pictures, regions of its largest ones, and three made here) the medium rendition is made as the
service makes it (`imaging.decoded`, `Source.sized`) and encoded as its JPEG rendition is; that
JPEG's SSIM against the resized pixels is the photo's bar. For each effort (WebP `method`, AVIF
`speed`), bisection finds per photo the lowest quality whose SSIM reaches the bar. One quality
for all photos is then the lowest at which all of them (or 90, 75, 50 %) pass, found upward
from the matching per-photo quality (SSIM is not strictly monotonic in quality); "per photo"
is what a per-image search would send. The choice: for `--share` (1.0: every photo), the effort
with the fewest total bytes whose median encode (CPU time, one thread) stays within
`--budget-ms`. SAVE_OPTIONS is edited by hand from it. A run takes about 10 minutes per effort
on a busy 2-core machine. scripts/bench.py's `modern_bytes` uses `photos()`, `medium()`,
`ssim()` and `decode()` from here.

SSIM: Wang et al. (2004) on BT.601 luma, an 11-tap Gaussian window of sigma 1.5, K1 0.01,
K2 0.03, the mean over the map without its 5-pixel border; scikit-image's
`structural_similarity(gaussian_weights=True, sigma=1.5, use_sample_covariance=False,
data_range=255)` gives the same to 1e-4. Computed with libvips (pyvips, a development
dependency), in a few ms per 1080 px image.
"""

from __future__ import annotations

import argparse
import io
import math
import os
import statistics
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING, Any

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from chalicelib import imaging  # noqa: E402
from chalicelib.formats import VariantFormat  # noqa: E402

if TYPE_CHECKING:
    from PIL.Image import Image as PILImage

MAX_PIXELS = 100_000_000  # the photos here are all under the service's limit; this is a bound

# (name, corpus file, region of the upright-as-stored pixels or None, what it shows)
REAL = (
    ("rocks", "fujifilm.mpo", None, "Fujifilm W3 (JPEG): rock face, foliage"),
    ("gravel", "xmp_test.jpg", None, "Canon EOS via Lightroom (JPEG): coins on gravel"),
    ("cat", "cat.hif", None, "Sony A7S III HEIF: cat by a window, bokeh"),
    ("guitar", "guitar_cw90.hif", None, "Sony A7 IV HEIF, portrait: hard light"),
    ("pug", "pug.heic", None, "iPhone 13 Pro HEIC: indoors, plain walls"),
    ("arrow", "arrow.heic", None, "iPhone 8 Plus HEIC, portrait: ink on lined paper"),
    ("pen", "xiaomi.heic", None, "Xiaomi HEIC: pen on squared paper, shallow focus"),
    ("mural", "aux_YCbCr.heic", None, "Samsung S25 Ultra HEIC 4000x1848: wide"),
    ("deck", "spatial_photo.heic", None, "Apple Vision Pro HEIC, square: deck, plants"),
    ("pug-face", "empty_icc.heic", None, "iPhone XS HEIC 1025x900: fur (not resized)"),
    ("bird", "nokia_bird_burst.heic", None, "Nokia HEIF 1280x720: bird, leaves"),
    ("rocks-1:1", "fujifilm.mpo", (900, 700, 2700, 2050), "region, about 1:1.7: rock detail"),
    ("cat-1:1", "cat.hif", (1200, 600, 3000, 1950), "region, about 1:1.7: fur, window"),
    ("guitar-1:1", "guitar_cw90.hif", (800, 2200, 3800, 4450), "region: strings, wood"),
    ("pug-1:1", "pug.heic", (800, 600, 2600, 1950), "region: face, background blur"),
    ("mural-1:1", "aux_YCbCr.heic", (1000, 200, 2800, 1550), "region: mural detail"),
    ("pen-1:1", "xiaomi.heic", (400, 300, 2200, 1650), "region: paper grid, soft focus"),
)


@dataclass(frozen=True)
class Photo:
    name: str
    data: bytes  # as uploaded
    content_type: str
    note: str


@dataclass(frozen=True)
class Medium:
    """A photo's medium rendition: the resized pixels, and its JPEG as the service makes it."""

    photo: Photo
    pixels: PILImage
    jpeg: bytes
    jpeg_ssim: float


def photos(limit: int | None = None) -> list[Photo]:
    """The 20 photos (or the first `limit`): 11 real ones whole, 6 regions of real ones (as q95
    JPEGs, about twice the medium size, so they are resized too), and 3 made from them: a
    greyscale, a night shot (dark, noisy) and a flat graphic with text (screenshot-like)."""
    import pillow_heif

    from tests.corpus import corpus_file

    pillow_heif.register_heif_opener()

    def opened(file: str) -> PILImage:
        from PIL import Image

        with Image.open(corpus_file(file).path) as im:
            rgb: PILImage = im.convert("RGB")
        return rgb

    makers: list[tuple[str, str, Callable[[], bytes]]] = []
    for name, file, box, note in REAL:
        if box is None:
            makers.append((name, note, corpus_file(file).read))
        else:
            makers.append((name, note, partial(_region, opened, file, box)))
    makers += [
        (
            "grey",
            "made: the cat, greyscale",
            lambda: _jpeg(opened("cat.hif").convert("L").reduce(2), 92),
        ),
        (
            "night",
            "made: the deck at night",
            lambda: _jpeg(_night(opened("spatial_photo.heic")), 92),
        ),
        ("graphic", "made: UI, text, a chart", lambda: _jpeg(_graphic(), 95)),
    ]
    types = {name: corpus_file(file).mime for name, file, box, _ in REAL if box is None}
    return [
        Photo(name, make(), types.get(name, "image/jpeg"), note)
        for name, note, make in makers[:limit]
    ]


def _region(opened: Callable[[str], PILImage], file: str, box: tuple[int, int, int, int]) -> bytes:
    return _jpeg(opened(file).crop(box), 95)


def _jpeg(im: PILImage, quality: int) -> bytes:
    buffer = io.BytesIO()
    im.save(buffer, "JPEG", quality=quality)
    return buffer.getvalue()


def _night(day: PILImage) -> PILImage:
    """Exposure down about four stops, a warm cast, then grain as a phone's night mode leaves it."""
    from PIL import Image, ImageChops, ImageFilter

    im = day.reduce(2)
    # 1/16 of the light in linear terms is 0.28 of the value in gamma 2.2 terms.
    warm = im.point([round(v * 0.28 * f) for f in (1.0, 0.85, 0.65) for v in range(256)])
    noise = Image.effect_noise(im.size, 24).filter(ImageFilter.GaussianBlur(0.6))
    return ImageChops.add(warm, Image.merge("RGB", (noise, noise, noise)), 1, -128)


def _graphic() -> PILImage:
    """A 1920x1080 screenshot-like image: flat panels, text of several sizes, a bar chart."""
    from PIL import Image, ImageDraw

    im = Image.new("RGB", (1920, 1080), (246, 247, 249))
    draw = ImageDraw.Draw(im)
    draw.rectangle((0, 0, 1920, 40), fill=(38, 40, 46))
    draw.rectangle((0, 40, 320, 1080), fill=(228, 231, 236))
    for i in range(12):
        draw.text((30, 70 + 48 * i), f"Album {i + 1}", fill=(40, 40, 40), font=_font(22))
    draw.text((370, 70), "Uploads by format", fill=(20, 20, 20), font=_font(48))
    for line in range(12):
        text = "renditions are made once per upload and served by negotiation " * 2
        draw.text((370, 150 + 28 * line), text[line : line + 90], fill=(70, 70, 74), font=_font(18))
    colours = ((219, 68, 55), (244, 180, 0), (15, 157, 88), (66, 133, 244))
    for i, (value, colour) in enumerate(zip((0.9, 0.35, 0.6, 0.45), colours, strict=True)):
        draw.rectangle((400 + 160 * i, 1000 - int(420 * value), 500 + 160 * i, 1000), fill=colour)
    draw.rounded_rectangle((1300, 150, 1850, 1000), 24, fill=(255, 255, 255), outline=(200,) * 3)
    for i in range(8):
        draw.ellipse((1340, 190 + 100 * i, 1410, 260 + 100 * i), fill=colours[i % 4])
        draw.text(
            (1440, 210 + 100 * i), f"user{i} uploaded 3 photos", fill=(30,) * 3, font=_font(24)
        )
    return im


def _font(size: int) -> Any:
    from PIL import ImageFont

    return ImageFont.load_default(size=size)


def medium(photo: Photo) -> Medium:
    """The photo's medium pixels and JPEG rendition, as imaging.process makes them."""
    with imaging.decoded(photo.data, photo.content_type, MAX_PIXELS) as source:
        pixels = source.sized("medium")
        jpeg = source.encode("medium", "jpeg").data
    return Medium(photo, pixels, jpeg, ssim(pixels, decode(jpeg)))


def decode(data: bytes) -> PILImage:
    from PIL import Image

    im = Image.open(io.BytesIO(data))
    im.load()
    return im


# ----- SSIM -----------------------------------------------------------------------------------


def ssim(reference: PILImage, test: PILImage) -> float:
    """SSIM of `test` against `reference` on their BT.601 luma (see the module's doc)."""
    import pyvips

    x, y = _luma(reference), _luma(test)
    if (x.width, x.height) != (y.width, y.height):
        raise ValueError(f"sizes differ: {reference.size} {test.size}")
    # exp(-25 / 4.5) = 0.0039 at 5 px, the 11-tap window's ends; 6 px would be 0.0003.
    mask = pyvips.Image.gaussmat(1.5, 0.003, precision="float", separable=True)

    def blur(im: Any) -> Any:  # computed once: libvips would redo it for each use
        return im.convsep(mask, precision="float").copy_memory()

    mx, my = blur(x), blur(y)
    sxx, syy, sxy = blur(x * x) - mx * mx, blur(y * y) - my * my, blur(x * y) - mx * my
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
    s = ((mx * my * 2 + c1) * (sxy * 2 + c2)) / ((mx * mx + my * my + c1) * (sxx + syy + c2))
    pad = mask.width // 2
    return float(s.crop(pad, pad, x.width - 2 * pad, x.height - 2 * pad).avg())


def _luma(im: PILImage) -> Any:
    import pyvips

    if im.mode not in ("L", "RGB"):
        im = im.convert("RGB")
    bands = len(im.getbands())
    vips = pyvips.Image.new_from_memory(im.tobytes(), im.width, im.height, bands, "uchar")
    vips = vips.cast("double")
    return vips if bands == 1 else vips.recomb([[0.299, 0.587, 0.114]])


# ----- search ---------------------------------------------------------------------------------

EFFORT = {"webp": "method", "avif": "speed"}


def encoded(pixels: PILImage, fmt: VariantFormat, quality: int, effort: int) -> bytes:
    """`pixels` as the service would encode them with this quality and effort (one thread)."""
    extra = {"max_threads": 1} if fmt == "avif" else {}
    return imaging.encode(pixels, fmt, quality=quality, **{EFFORT[fmt]: effort}, **extra).data


def passes(m: Medium, fmt: VariantFormat, quality: int, effort: int) -> tuple[bool, int, float]:
    data = encoded(m.pixels, fmt, quality, effort)
    score = ssim(m.pixels, decode(data))
    return score >= m.jpeg_ssim, len(data), score


def lowest_quality(m: Medium, fmt: VariantFormat, effort: int) -> tuple[int, int]:
    """The lowest quality whose SSIM reaches the JPEG's, by bisection, and its bytes (101 and
    the bytes at 100 if even 100 does not reach it)."""
    low, high, size = 0, 101, 0  # low fails (assumed), high passes (by definition)
    while high - low > 1:
        mid = (low + high) // 2
        ok, mid_size, _ = passes(m, fmt, mid, effort)
        if ok:
            high, size = mid, mid_size
        else:
            low = mid
    return high, size or len(encoded(m.pixels, fmt, 100, effort))


SHARES = (1.0, 0.9, 0.75, 0.5)  # of the photos that must reach their JPEG's SSIM


@dataclass
class Fixed:
    """One quality for every photo, the lowest at which `share` of them pass."""

    share: float
    quality: int
    total: int  # bytes of all photos at `quality`
    passing: int  # how many photos reach their JPEG's SSIM at it


@dataclass
class Result:
    fmt: VariantFormat
    effort: int
    per_photo: list[int]  # each photo's lowest passing quality
    own_total: int  # bytes, each photo at its own lowest passing quality (a per-image search)
    fixed: list[Fixed]  # for each of SHARES
    ms: float  # median encode time of a photo at the all-pass quality, one thread


def fixed(media: list[Medium], fmt: VariantFormat, effort: int, share: float, q: int) -> Fixed:
    """From quality `q` up, the first at which `share` of the photos pass."""
    need = math.ceil(share * len(media))
    while True:
        checked = [passes(m, fmt, q, effort) for m in media]
        passing = sum(ok for ok, _, _ in checked)
        if passing >= need or q >= 100:
            return Fixed(share, q, sum(size for _, size, _ in checked), passing)
        q += 1


def tune(
    media: list[Medium], fmt: VariantFormat, effort: int, log: Callable[[str], None]
) -> Result:
    lowest = [lowest_quality(m, fmt, effort) for m in media]
    per_photo = sorted(q for q, _ in lowest)
    choices = [
        fixed(media, fmt, effort, share, per_photo[math.ceil(share * len(media)) - 1])
        for share in SHARES
    ]
    times = []
    for m in media:
        started = time.process_time()
        encoded(m.pixels, fmt, choices[0].quality, effort)
        times.append(time.process_time() - started)
    result = Result(
        fmt,
        effort,
        [q for q, _ in lowest],
        sum(size for _, size in lowest),
        choices,
        statistics.median(times) * 1000,
    )
    log(f"{fmt} {EFFORT[fmt]}={effort}: {[(f.share, f.quality, f.total) for f in choices]}")
    return result


def table(media: list[Medium], results: list[Result]) -> Iterator[str]:
    heads = [f"{r.fmt[0]}{r.effort}" for r in results]
    yield f"{'photo':<11} {'size':>9} {'JPEG KB':>7} {'SSIM':>6}  " + " ".join(
        f"{h:>4}" for h in heads
    )
    for i, m in enumerate(media):
        lowest = " ".join(f"{r.per_photo[i]:>4}" for r in results)
        size = f"{m.pixels.width}x{m.pixels.height}"
        kb = len(m.jpeg) / 1000
        yield f"{m.photo.name:<11} {size:>9} {kb:>7.1f} {m.jpeg_ssim:>6.4f}  {lowest}"
    jpeg_total = sum(len(m.jpeg) for m in media)
    yield "(a4: AVIF speed 4, w6: WebP method 6...: each photo's lowest quality reaching the"
    yield " SSIM of its JPEG q85 against the same resized pixels; 101: not even at 100)"
    yield ""
    yield f"{'setting':<15} {'quality':>15} {'KB':>6} {'/ JPEG':>6} {'passing':>8} {'ms':>5}"
    yield f"{'jpeg':<15} {'85':>15} {jpeg_total / 1000:>6.0f} {1:>6.3f} {'':>8} {'':>5}"
    for r in results:
        name = f"{r.fmt} {EFFORT[r.fmt]} {r.effort}"
        for f in r.fixed:
            quality = f"{f.quality} ({f.share:.0%} pass)"
            yield (
                f"{name:<15} {quality:>15} {f.total / 1000:>6.0f} {f.total / jpeg_total:>6.3f}"
                f" {f.passing:>4}/{len(media):<3} {r.ms:>5.0f}"
            )
        own = r.own_total
        yield f"{name:<15} {'per photo':>15} {own / 1000:>6.0f} {own / jpeg_total:>6.3f}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--webp-methods", default="4,6")
    parser.add_argument("--avif-speeds", default="6,8")
    parser.add_argument("--budget-ms", type=float, default=1000, help="per encode, one thread")
    parser.add_argument("--share", type=float, default=1.0, choices=SHARES, help="must pass")
    args = parser.parse_args(argv)

    def log(message: str) -> None:
        print(f"[tune {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)

    media = [medium(photo) for photo in photos()]
    log(f"{len(media)} photos, JPEG total {sum(len(m.jpeg) for m in media) / 1000:.0f} KB")
    results = [tune(media, "webp", int(e), log) for e in args.webp_methods.split(",") if e]
    results += [tune(media, "avif", int(e), log) for e in args.avif_speeds.split(",") if e]
    print("\n".join(table(media, results)))
    share = SHARES.index(args.share)
    for fmt in ("webp", "avif"):
        fitting = [r for r in results if r.fmt == fmt and r.ms <= args.budget_ms]
        if fitting:
            best = min(fitting, key=lambda r: (r.fixed[share].total, r.ms))
            print(
                f"chosen {fmt}: quality {best.fixed[share].quality}, {EFFORT[fmt]} {best.effort}"
                f" ({best.fixed[share].passing} of {len(media)} photos at their JPEG's SSIM)"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
