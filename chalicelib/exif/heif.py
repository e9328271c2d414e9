"""HEIF, HEIC and AVIF (ISOBMFF): metadata items blanked in place, every offset left valid.

Removing an item would mean rewriting `iinf`, `iloc` and `iref` and moving the data after it,
which `iloc` addresses by absolute file offsets. Instead the payload of every item that is not
an image (coded or derived: an allowlist) is overwritten with harmless bytes of the same length:
an `Exif` item keeps its TIFF-header offset (and an "Exif\\0\\0" before the TIFF) and gets a TIFF
with the orientation alone (when it is not 1; HEIF readers orient by the `irot` and `imir`
properties) or with no tags, padded with zeros, so that a reader finds a valid TIFF where it
found the old one; an XMP item (`mime`, application/rdf+xml) becomes an empty XMP packet padded
with spaces; any other item (`iptc`, other `mime` or `uri ` items, region annotations, types
nobody thought of) becomes zeros. Items are found through `iinf` and located through `iloc`
(versions 0-2, field sizes 0/4/8, any number of extents, in the file or in `idat`). `uuid` and
`udta` boxes become `free` boxes of zeros (see `_freed`).
"""

from __future__ import annotations

import bisect
from collections.abc import Iterator
from itertools import pairwise

from chalicelib.exif.common import (
    EXIF_HEADER,
    MalformedImage,
    exif_orientation,
    minimal_exif,
    unpack,
)

# Coded images (HEVC and its tiles and layers, AV1, AVC, JPEG, JPEG 2000, uncompressed, VVC,
# EVC, JPEG XS, masks) and derived ones (grid, overlay, identity, tone map, sample transform).
_IMAGE_ITEMS = frozenset(
    b"hvc1 hvt1 lhv1 av01 avc1 jpeg j2k1 unci vvc1 vvi1 evc1 jxs1 mski".split()
    + b"grid iovl iden tmap sato".split()
)
_XMP = b"application/rdf+xml"
_EMPTY_XMP = b'<x:xmpmeta xmlns:x="adobe:ns:meta/"/>'
_EMPTY_TIFF = b"MM\x00*\x00\x00\x00\x08\x00\x00\x00\x00\x00\x00"  # one IFD, no entries
Box = tuple[bytes, int, int, int]  # type, start, payload start, end
Item = tuple[bytes, bytes]  # item type, content type
Extents = list[tuple[int, int]]
Location = tuple[int, int, Extents]  # construction method, data reference, (offset, length)s
Patch = tuple[int, bytes]  # offset, new bytes


def strip_heif(data: bytes) -> bytes:
    boxes = list(_boxes(data, 0, len(data)))
    if not boxes or boxes[0][0] != b"ftyp":
        raise MalformedImage("no ftyp box at the start of the file")
    patches = _freed(data, boxes)
    media = [(start, end) for kind, _, start, end in boxes if kind == b"mdat"]
    for kind, _, start, end in boxes:
        if kind == b"meta":
            patches += _meta(data, start, end, media)
    if all(data[at : at + len(new)] == new for at, new in patches):
        return data
    out = bytearray(data)
    for at, new in patches:
        out[at : at + len(new)] = new
    return bytes(out)


def _boxes(data: bytes, pos: int, end: int) -> Iterator[Box]:
    """The boxes in data[pos:end]."""
    while pos < end:
        if pos + 8 > end:
            raise MalformedImage("a box header runs past its container")
        size, kind = unpack(">I4s", data, pos, "a box header")
        header = 8
        if size == 1:
            (size,) = unpack(">Q", data, pos + 8, "a box header")
            header = 16
        elif size == 0:
            size = end - pos  # to the end of the container
        if kind == b"uuid":
            header += 16
        if size < header or pos + size > end:
            raise MalformedImage("a box runs past its container")
        yield kind, pos, pos + header, pos + size
        pos += size


def _freed(data: bytes, boxes: list[Box]) -> list[Patch]:
    """`uuid` boxes (XMP, vendor metadata) and `udta` boxes (a sequence's location, titles),
    at the top level or in `moov` and `trak`, made `free` boxes full of zeros: readers skip
    those, and no image needs them."""
    patches = []
    for kind, start, payload, end in boxes:
        if kind in (b"uuid", b"udta"):
            fields = payload - 16 if kind == b"uuid" else payload  # from the extended type on
            patches += [(start + 4, b"free"), (fields, bytes(end - fields))]
        elif kind in (b"moov", b"trak"):
            patches += _freed(data, list(_boxes(data, payload, end)))
    return patches


def _meta(data: bytes, start: int, end: int, media: Extents) -> list[Patch]:
    """(offset, bytes) patches that blank the metadata items of a `meta` box.

    Each item's data must lie in an `mdat` box's payload (file offsets) or in `idat`'s, and no
    two items may share a byte: blanking then cannot touch a box header, `iinf`, `iloc` or
    another item, so a second strip finds what the first left. A file that breaks this (no
    camera writes one) is refused rather than half stripped."""
    children: dict[bytes, tuple[int, int]] = {}
    for kind, _, child_start, child_end in _boxes(data, start + 4, end):  # after version, flags
        children.setdefault(kind, (child_start, child_end))
    items = _metadata_items(data, *children[b"iinf"]) if b"iinf" in children else {}
    if not items:
        return []
    if b"iloc" not in children:
        raise MalformedImage("metadata items without locations")
    locations = _locations(data, *children[b"iloc"])
    located: list[tuple[Item, Extents]] = []
    total = 0
    for item_id, item in items.items():
        if item_id not in locations:
            continue  # an item without data
        method = locations[item_id][0]
        ranges = _ranges(len(data), *locations[item_id], children.get(b"idat"))
        total += sum(b - a for a, b in ranges)
        if total > len(data):  # the work stays linear in the size of the file
            raise MalformedImage("metadata items overlap")
        if method == 0 and not all(_inside(media, extent) for extent in ranges):
            raise MalformedImage("a metadata item's data lies outside the media data")
        located.append((item, ranges))
    extents = sorted(extent for _, ranges in located for extent in ranges)
    if any(first[1] > second[0] for first, second in pairwise(extents)):
        raise MalformedImage("metadata items overlap")
    patches: list[Patch] = []
    for item, ranges in located:
        new, done = _blank(item, b"".join(data[a:b] for a, b in ranges)), 0
        for a, b in ranges:
            patches.append((a, new[done : done + b - a]))
            done += b - a
    return patches


def _inside(boxes: Extents, extent: tuple[int, int]) -> bool:
    """Whether `extent` lies within one of `boxes`: payloads in file order, not overlapping."""
    at = bisect.bisect_right(boxes, extent[0], key=lambda box: box[0]) - 1
    return at >= 0 and boxes[at][0] <= extent[0] and extent[1] <= boxes[at][1]


def _metadata_items(data: bytes, start: int, end: int) -> dict[int, Item]:
    """The items an `iinf` box describes that are not images: ID -> (item type, content type)."""
    count_size = 2 if _byte(data, start, end) == 0 else 4
    items = {}
    for kind, _, pos, infe_end in _boxes(data, start + 4 + count_size, end):
        if kind != b"infe":
            continue
        version = _byte(data, pos, infe_end)
        read = _Reader(data, pos + 4, infe_end)
        if version > 3:
            raise MalformedImage(f"infe version {version} is unknown")
        if version >= 2:
            item_id, _ = read.int(4 if version == 3 else 2), read.int(2)
            item_type = read.take(4)
            strings = data[read.pos : infe_end].split(b"\x00")  # name, content type, encoding
            items[item_id] = (
                item_type,
                strings[1] if item_type == b"mime" and len(strings) > 1 else b"",
            )
        else:  # versions 0 and 1 describe MIME items only
            item_id, _ = read.int(2), read.int(2)
            strings = data[read.pos : infe_end].split(b"\x00")
            items[item_id] = (b"mime", strings[1] if len(strings) > 1 else b"")
    return {item_id: item for item_id, item in items.items() if item[0] not in _IMAGE_ITEMS}


def _locations(data: bytes, start: int, end: int) -> dict[int, Location]:
    """How each item's data is found, from an `iloc` box."""
    version = _byte(data, start, end)
    if version > 2:
        raise MalformedImage(f"iloc version {version} is unknown")
    read = _Reader(data, start + 4, end)
    sizes = read.int(1), read.int(1)
    offset_size, length_size, base_size = sizes[0] >> 4, sizes[0] & 15, sizes[1] >> 4
    index_size = sizes[1] & 15 if version else 0
    if any(size not in (0, 4, 8) for size in (offset_size, length_size, base_size, index_size)):
        raise MalformedImage("iloc field sizes must be 0, 4 or 8")
    locations = {}
    for _ in range(read.int(4 if version == 2 else 2)):
        item_id = read.int(4 if version == 2 else 2)
        method = read.int(2) & 15 if version else 0
        reference, base, count = read.int(2), read.int(base_size), read.int(2)
        if count > 1 and not index_size + offset_size + length_size:
            raise MalformedImage("iloc extents that take no bytes")  # else the loop is unbounded
        extents: Extents = []
        for _ in range(count):
            read.int(index_size)
            extents.append((base + read.int(offset_size), read.int(length_size)))
        locations[item_id] = (method, reference, extents)
    return locations


def _ranges(
    size: int, method: int, reference: int, extents: Extents, idat: tuple[int, int] | None
) -> Extents:
    """The file ranges of an item's extents (offsets relative to the file, or to `idat`)."""
    if reference:
        return []  # in another file: nothing of it is stored here
    if method == 0:
        start, end = 0, size
    elif method == 1 and idat is not None:
        start, end = idat
    else:
        raise MalformedImage("a metadata item's data cannot be located")
    ranges = []
    for offset, length in extents:
        a = start + offset
        b = end if length == 0 else a + length  # 0: to the end of the container
        if not start <= a <= b <= end:
            raise MalformedImage("a metadata item's data lies outside its container")
        ranges.append((a, b))
    return ranges


def _blank(item: Item, payload: bytes) -> bytes:
    """Harmless bytes of the payload's length."""
    item_type, content_type = item
    if item_type == b"Exif":
        return _blank_exif(payload)
    if content_type == _XMP and len(payload) >= len(_EMPTY_XMP):
        return _EMPTY_XMP.ljust(len(payload), b" ")
    return b" " * len(payload) if content_type == _XMP else bytes(len(payload))


def _blank_exif(payload: bytes) -> bytes:
    """The 4-byte offset of the TIFF header kept, then zeros up to the TIFF but for an
    "Exif\\0\\0" just before it, then a minimal TIFF: readers find it where they found the old."""
    if len(payload) < 4:
        return bytes(len(payload))
    tiff_at = 4 + int.from_bytes(payload[:4], "big")
    if len(payload) - tiff_at <= 4:  # as readers do with an offset that leaves no TIFF
        tiff_at = 4
    prefix, tiff = payload[4:tiff_at], payload[tiff_at:]
    header = EXIF_HEADER if prefix.endswith(EXIF_HEADER) else b""
    orientation = exif_orientation(tiff) or 1
    new = minimal_exif(orientation) if orientation != 1 else _EMPTY_TIFF
    new = new if len(new) <= len(tiff) else b""
    padding = bytes(len(prefix) - len(header)), bytes(len(tiff) - len(new))
    return payload[:4] + padding[0] + header + new + padding[1]


def _byte(data: bytes, pos: int, end: int) -> int:
    if pos + 4 > end:
        raise MalformedImage("a full box header runs past its box")
    return data[pos]


class _Reader:
    """Big-endian integers and byte strings from data[pos:end], bounds checked."""

    def __init__(self, data: bytes, pos: int, end: int) -> None:
        self.data, self.pos, self.end = data, pos, end

    def take(self, size: int) -> bytes:
        if self.pos + size > self.end:
            raise MalformedImage("a box's fields run past its end")
        self.pos += size
        return self.data[self.pos - size : self.pos]

    def int(self, size: int) -> int:
        return int.from_bytes(self.take(size), "big")
