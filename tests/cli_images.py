"""Image files for the `imgsvc` tests: real encodings of every accepted type, made by Pillow
(and pillow-heif for HEIC) in a directory."""

from __future__ import annotations

import hashlib
import random
from pathlib import Path
from typing import Any

from PIL import Image

MIB = 1024 * 1024
# (extension, Pillow format, save options); AVIF is Pillow's own (12.0), HEIC pillow-heif's.
# The encoders' fastest settings: the tests want real files, not small ones.
KINDS: list[tuple[str, str, dict[str, Any]]] = [
    ("jpg", "JPEG", {"quality": 85}),
    ("png", "PNG", {}),
    ("gif", "GIF", {}),
    ("webp", "WEBP", {"quality": 80}),
    ("avif", "AVIF", {"quality": 60, "speed": 10}),
    ("heic", "HEIF", {"quality": 60, "enc_params": {"preset": "ultrafast"}}),
]


def picture(size: tuple[int, int], seed: int) -> Image.Image:
    """Photo-like pixels: a gradient, a disc, some noise (different for every seed)."""
    rng = random.Random(seed)
    width, height = size
    base = Image.linear_gradient("L").rotate(rng.randrange(360)).resize(size).convert("RGB")
    tint = Image.new("RGB", size, tuple(rng.randrange(256) for _ in range(3)))
    image = Image.blend(base, tint, 0.4)
    noise = Image.frombytes("RGB", size, rng.randbytes(width * height * 3))
    return Image.blend(image, noise, 0.15)


def save(image: Image.Image, path: Path, fmt: str, **options: Any) -> Path:
    if fmt == "HEIF":
        import pillow_heif

        pillow_heif.register_heif_opener()
    if fmt == "GIF":
        image = image.quantize(colors=64, method=Image.Quantize.FASTOCTREE)
    image.save(path, fmt, **options)
    return path


def mixed_images(folder: Path, count: int, seed: int = 0) -> list[Path]:
    """`count` small images cycling through every type, in `folder` (made if need be)."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for number in range(count):
        ext, fmt, options = KINDS[number % len(KINDS)]
        rng = random.Random(seed * 1000 + number)
        size = (rng.randrange(160, 480), rng.randrange(120, 360))
        path = folder / f"img_{number:03d}.{ext}"
        paths.append(save(picture(size, seed * 1000 + number), path, fmt, **options))
    return paths


def large_png(path: Path, min_bytes: int = 10 * MIB + 1, seed: int = 7) -> Path:
    """A PNG over `min_bytes` (the API's limit is 10 MiB) that is cheap to process: a plain
    picture stored without compression."""
    side = int((min_bytes / 3) ** 0.5) + 16
    picture((side, side), seed).save(path, "PNG", compress_level=0)
    assert path.stat().st_size > min_bytes
    return path


def jpeg_with_exif(path: Path, seed: int) -> Path:
    """A JPEG carrying camera EXIF: the service strips it, so it stores other bytes than the
    file's (the existence check by SHA-256 misses it; the idempotency key still holds)."""
    exif = Image.Exif()
    exif[0x010F] = "Camera maker"  # Make
    exif[0x0110] = "Camera model"  # Model
    return save(picture((400, 300), seed), path, "JPEG", quality=85, exif=exif.tobytes())


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()
