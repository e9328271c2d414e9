"""JPEG, MPO included: every image of the file walked segment by segment, scans included.

An image's end is found by walking it: segments by their lengths, entropy-coded data up to the
next marker that is neither byte stuffing (FF00) nor a restart marker (RSTn), one scan after
another (a progressive JPEG has several, with segments between them), up to its EOI. Later
images are the ones the first image's MP index (APP2 "MPF") points to; their MP entries are
rewritten to the new offsets and sizes. Bytes outside those images are dropped.
"""

from __future__ import annotations

import re
import struct
from dataclasses import dataclass, field

from chalicelib.exif.common import EXIF_HEADER, MalformedImage, Part, Splicer, reduced_exif

_SOI, _EOI, _SOS, _COM, _APP0, _APP1, _APP2 = 0xD8, 0xD9, 0xDA, 0xFE, 0xE0, 0xE1, 0xE2
_MPF = b"MPF\x00"
# APPn segments kept as they are (besides JFIF, EXIF and MPF): what decoders need for colour.
_KEPT_APPS = {
    _APP2: (b"ICC_PROFILE\x00", b"urn:iso:std:iso:ts:21496:-1\x00"),  # ICC, gain map numbers
    0xEE: (b"Adobe",),  # colour transform of CMYK and YCCK images
}
_FILL = re.compile(rb"\xff+")
_NEXT_MARKER = re.compile(rb"\xff[^\x00\xff]")
_SCAN_END = re.compile(rb"\xff[^\x00\xd0-\xd7\xff]")  # a marker: not stuffing, RSTn or fill


@dataclass
class _MpIndex:
    """The first image's MPF segment (a part of its own, patched in place) and its entries."""

    segment: bytearray
    order: str
    entries: int  # where the MP entries start in `segment`
    offsets: list[int]
    tiff: int = 0  # where its TIFF header is in the input
    original: bytes = b""


@dataclass
class _Image:
    parts: list[Part] = field(default_factory=list)
    changed: bool = False
    end: int = 0  # just past its EOI, in the input
    mp_index: _MpIndex | None = None


def strip_jpeg(data: bytes) -> bytes:
    """The first image and those its MP index points to, stripped, end to end. When a later
    image cannot be walked (an MP entry points outside the file or into another image, or the
    image is broken), the MP index and every later image are dropped: the first image stays."""
    first = _walk(data, 0, first=True)
    index, later = first.mp_index, []
    if index is not None:
        try:
            later = _later_images(data, index, first.end)
        except MalformedImage:
            first.parts = [part for part in first.parts if part is not index.segment]
            first.changed, index = True, None
    images = [first, *(image for _, image in later)]
    if index is not None:
        _rewrite_entries(index, images)
    untouched = (
        not any(image.changed for image in images)
        and [image.end for image in images] == [*(start for start, _ in later), len(data)]
        and (index is None or index.segment == index.original)
    )
    return data if untouched else b"".join(part for image in images for part in image.parts)


def _later_images(data: bytes, index: _MpIndex, end: int) -> list[tuple[int, _Image]]:
    """Where each image the MP index points to after the first starts, and the image walked."""
    found = []
    for offset in index.offsets[1:]:
        start = index.tiff + offset
        if not end <= start < len(data):
            raise MalformedImage("an MP entry points outside the file or into an image")
        image = _walk(data, start, first=False)
        found.append((start, image))
        end = image.end
    return found


def _walk(data: bytes, start: int, first: bool) -> _Image:
    """One image, from its SOI to its EOI, with every segment it does not need dropped."""
    if data[start : start + 2] != b"\xff\xd8":
        raise MalformedImage("no JPEG start of image where an image must begin")
    image, splicer = _Image(), Splicer(data, start)
    seen: set[bytes] = set()  # EXIF and MPF: the first one counts, later ones are dropped
    pos = start + 2
    while True:
        pos = _marker(data, pos, splicer)
        marker = data[pos + 1]
        if marker == _EOI:
            break
        if 0xD0 <= marker <= 0xD7 or marker == 0x01:  # RSTn, TEM: no length
            pos += 2
            continue
        if marker == _SOI:
            raise MalformedImage("a JPEG start of image inside an image")
        length = int.from_bytes(data[pos + 2 : pos + 4], "big")  # cut short: end is too far
        end = pos + 2 + length
        if length < 2 or end > len(data):
            raise MalformedImage("a JPEG segment runs past the end of the file")
        if marker == _APP2 and data.startswith(_MPF, pos + 4, end):
            if _MPF in seen:
                splicer.replace(pos, end)
            elif first:
                image.mp_index = _keep_mp_index(data, pos, end, splicer)
            # else: a later image's MP attributes, kept
            seen.add(_MPF)
        else:
            new = _segment(data, marker, pos, end, seen)
            if new is not None:
                splicer.replace(pos, end, new)
        pos = _scan_end(data, end) if marker == _SOS else end
    image.end = pos + 2
    image.parts = splicer.close(image.end)
    image.changed = splicer.changed
    return image


def _marker(data: bytes, pos: int, splicer: Splicer) -> int:
    """Where the marker at `pos` is, after any fill bytes (0xFF) before it. Bytes that are not
    a marker (a few writers leave some between segments) are skipped, as decoders skip them,
    and dropped."""
    if pos + 1 < len(data) and data[pos] == 0xFF and data[pos + 1] not in (0x00, 0xFF):
        return pos  # the usual case, without fill bytes
    fill = _FILL.match(data, pos)
    if fill is not None and fill.end() < len(data) and data[fill.end()] != 0:
        return fill.end() - 1
    found = _NEXT_MARKER.search(data, pos)
    if found is None:
        raise MalformedImage("a JPEG marker is missing")
    splicer.replace(pos, found.start())
    return found.start()


def _scan_end(data: bytes, pos: int) -> int:
    """Where the entropy-coded data starting at `pos` ends: at the next real marker."""
    match = _SCAN_END.search(data, pos)
    if match is None:
        raise MalformedImage("a JPEG scan runs past the end of the file")
    return match.start()


def _segment(data: bytes, marker: int, pos: int, end: int, seen: set[bytes]) -> bytes | None:
    """None keeps the segment; bytes replace it (b"" drops it)."""
    if marker == _COM:
        return b""
    if not _APP0 <= marker <= 0xEF:
        return None  # SOFn, DHT, DQT, DRI, SOS, DNL...: the pixels need them
    payload = pos + 4
    if marker == _APP0 and data.startswith(b"JFIF\x00", payload, end):
        return _jfif(data[payload:end])
    if marker == _APP1 and data.startswith(EXIF_HEADER, payload, end) and EXIF_HEADER not in seen:
        seen.add(EXIF_HEADER)
        tiff = data[payload + len(EXIF_HEADER) : end]
        kept = reduced_exif(tiff)
        if kept == tiff:
            return None
        return _wrap(_APP1, EXIF_HEADER + kept) if kept else b""
    if any(data.startswith(prefix, payload, end) for prefix in _KEPT_APPS.get(marker, ())):
        return None
    return b""  # XMP, IPTC, JFXX thumbnails, maker data, any other APPn


def _jfif(payload: bytes) -> bytes | None:
    """The JFIF header without its thumbnail (which may show what a crop removed)."""
    if len(payload) < 14 or payload[12:] == b"\x00\x00":
        return None
    return _wrap(_APP0, payload[:12] + b"\x00\x00")


def _wrap(marker: int, payload: bytes) -> bytes:
    return bytes([0xFF, marker]) + struct.pack(">H", len(payload) + 2) + payload


def _keep_mp_index(data: bytes, pos: int, end: int, splicer: Splicer) -> _MpIndex | None:
    """The first image's MP index, kept as a part of its own; dropped if it does not read
    (and with it the images it points to)."""
    found = _mp_index(data[pos:end])
    if found is None:
        splicer.replace(pos, end)
        return None
    found.tiff, found.original = pos + 8, data[pos:end]
    found.segment = splicer.detach(pos, end)
    return found


def _mp_index(segment: bytes) -> _MpIndex | None:
    """The MP entries of an MPF APP2 segment (FF E2, length, "MPF\\0", a TIFF structure)."""
    tiff = segment[8:]
    order = {b"MM\x00*": ">", b"II*\x00": "<"}.get(tiff[:4])
    if order is None:
        return None
    try:
        (ifd,) = struct.unpack_from(order + "I", tiff, 4)
        (count,) = struct.unpack_from(order + "H", tiff, ifd)
        fields = {}
        for n in range(count):
            tag, _, number, value = struct.unpack_from(order + "HHII", tiff, ifd + 2 + 12 * n)
            fields[tag] = (number, value)
        images, (size, at) = fields[0xB001][1], fields[0xB002]
    except (struct.error, KeyError):
        return None
    if size == 0 or size % 16 or at + size > len(tiff):
        return None
    if images != size // 16:
        return None  # two different numbers of images (Pillow fails on an assertion)
    offsets = [struct.unpack_from(order + "I", tiff, at + 16 * n + 8)[0] for n in range(images)]
    return _MpIndex(bytearray(), order, 8 + at, offsets)


def _rewrite_entries(index: _MpIndex, images: list[_Image]) -> None:
    """Each MP entry's size and offset (from the MP index's TIFF header; 0 for the first)."""
    first = images[0].parts
    at = next(n for n, part in enumerate(first) if part is index.segment)
    tiff = sum(len(part) for part in first[:at]) + 8
    position = 0
    for n, image in enumerate(images):
        size = sum(len(part) for part in image.parts)
        offset = position - tiff if n else 0
        struct.pack_into(
            index.order + "II", index.segment, index.entries + 16 * n + 4, size, offset
        )
        position += size
