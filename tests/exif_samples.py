"""Images carrying metadata in every container, built in the tests (no sample files needed).

Each builder hides the same sentinels: `MAKE_TEXT` in EXIF (next to a GPS IFD), `GPS_TEXT` in
XMP, `IPTC_TEXT` in IPTC and `COMMENT_TEXT` in comments, so that a test can check the bytes
for them as well as what Pillow reads back.
"""

from __future__ import annotations

import io
import random
import re
import struct
import zlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from PIL import Image

GPS_IFD, ORIENTATION, MAKE = 0x8825, 0x0112, 0x010F
MAKE_TEXT = b"PhoneCo"
GPS_TEXT = b"exif:GPSLatitude"
IPTC_TEXT = b"Photoshop 3.0"
COMMENT_TEXT = b"secret comment"
SECRETS = (MAKE_TEXT, GPS_TEXT, IPTC_TEXT, COMMENT_TEXT)
XMP = (
    b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF'
    b' xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"><rdf:Description'
    b' xmlns:exif="http://ns.adobe.com/exif/1.0/" exif:GPSLatitude="52,31.2N"'
    b' exif:GPSLongitude="13,24.6E"/></rdf:RDF></x:xmpmeta>'
)


def gps_exif(orientation: int | None = 6) -> Image.Exif:
    """EXIF with a camera make, a GPS position and (optionally) an orientation."""
    exif = Image.Exif()
    if orientation is not None:
        exif[ORIENTATION] = orientation
    exif[MAKE] = MAKE_TEXT.decode()
    exif[GPS_IFD] = {1: "N", 2: (52.0, 31.0, 12.0), 3: "E", 4: (13.0, 24.0, 36.0)}
    return exif


def picture(size: tuple[int, int] = (48, 32), seed: int = 1, mode: str = "RGB") -> Image.Image:
    """Small but busy pixels (gradient plus noise), so that a wrong decode shows."""
    rng = random.Random(seed)
    im = Image.linear_gradient("L").resize(size).convert("RGB")
    noise = Image.frombytes("RGB", size, rng.randbytes(size[0] * size[1] * 3))
    return Image.blend(im, noise, 0.5).convert(mode)


def encode(im: Image.Image, fmt: str, **options: Any) -> bytes:
    buffer = io.BytesIO()
    im.save(buffer, fmt, **options)
    return buffer.getvalue()


def frames(data: bytes) -> list[tuple[str, tuple[int, int], bytes]]:
    """Mode, size and decoded pixels of every frame (the orientation is not applied)."""
    decoded = []
    with Image.open(io.BytesIO(data)) as im:
        for index in range(getattr(im, "n_frames", 1)):
            im.seek(index)
            frame = im.convert("RGBA")
            decoded.append((im.mode, frame.size, frame.tobytes()))
    return decoded


def leaks(data: bytes) -> list[bytes]:
    """The sentinels still present in `data`."""
    return [secret for secret in SECRETS if secret in data]


# --- JPEG ---------------------------------------------------------------------------------

_MARKER = re.compile(rb"\xff[^\x00\xd0-\xd7\xff]")


def segment(marker: int, payload: bytes) -> bytes:
    return bytes([0xFF, marker]) + struct.pack(">H", len(payload) + 2) + payload


def exif_segment(exif: Image.Exif) -> bytes:
    return segment(0xE1, b"Exif\x00\x00" + exif.tobytes()[6:])


def jpeg_markers(data: bytes) -> list[tuple[int, int]]:
    """(marker, offset) of every marker of the first image, in order, up to its EOI."""
    found, pos = [], 2
    while True:
        marker = data[pos + 1]
        found.append((marker, pos))
        if marker == 0xD9:
            return found
        (length,) = struct.unpack_from(">H", data, pos + 2)
        pos += 2 + length
        if marker == 0xDA:
            match = _MARKER.search(data, pos)
            assert match is not None
            pos = match.start()


def insert_at(data: bytes, offset: int, extra: bytes) -> bytes:
    return data[:offset] + extra + data[offset:]


def metadata_segments() -> list[bytes]:
    """One of each metadata segment a JPEG can carry; none of them is needed for the pixels."""
    return [
        exif_segment(gps_exif(None)),
        segment(0xE1, b"http://ns.adobe.com/xap/1.0/\x00" + XMP),
        segment(0xE1, b"http://ns.adobe.com/xmp/extension/\x00" + b"0" * 40 + XMP),
        segment(0xED, IPTC_TEXT + b"\x008BIM\x04\x04\x00\x00\x00\x00\x00\x05\x1c\x02\x05AB"),
        segment(0xFE, COMMENT_TEXT),
        segment(0xE0, b"JFXX\x00\x13\x01\x01" + MAKE_TEXT),  # a JFXX RGB thumbnail
        segment(0xE2, b"FPXR\x00\x00\x01" + MAKE_TEXT),
        segment(0xE3, b"META\x00" + MAKE_TEXT),
        segment(0xEC, b"Ducky\x00" + COMMENT_TEXT),
        segment(0xEF, b"vendor" + GPS_TEXT),
    ]


def pillow_mpo(first: Image.Exif | None, second: Image.Exif | None) -> bytes:
    """A two-frame MPO written by Pillow, each frame with its own EXIF."""
    left, right = picture(seed=1), picture(seed=2)
    # Pillow's MPO writer lays a frame's own encoderinfo over the arguments of save().
    right.encoderinfo = {"exif": second.tobytes() if second is not None else b""}
    options: dict[str, Any] = {"exif": first} if first is not None else {}
    return encode(left, "MPO", save_all=True, append_images=[right], **options)


def _ifd(order: str, entries: list[tuple[int, int, int, bytes]], next_ifd: int) -> bytes:
    """A TIFF IFD of (tag, type, count, 4-byte value) entries."""
    body = struct.pack(order + "H", len(entries))
    for tag, kind, count, value in entries:
        body += struct.pack(order + "HHI", tag, kind, count) + value
    return body + struct.pack(order + "I", next_ifd)


def mpf_index(order: str, sizes: Sequence[int], offsets: Sequence[int]) -> bytes:
    """The APP2 MPF segment of a first image: an MP index IFD, its entries, an attribute IFD."""
    count = len(sizes)
    tiff_header = (b"II*\x00" if order == "<" else b"MM\x00*") + struct.pack(order + "I", 8)
    index_size = 2 + 3 * 12 + 4
    entries_at = 8 + index_size
    attributes_at = entries_at + 16 * count
    index = _ifd(
        order,
        [
            (0xB000, 7, 4, b"0100"),
            (0xB001, 4, 1, struct.pack(order + "I", count)),
            (0xB002, 7, 16 * count, struct.pack(order + "I", entries_at)),
        ],
        attributes_at,
    )
    entries = b"".join(
        struct.pack(order + "IIIHH", 0x20030000 if n == 0 else 0x20002, size, offset, 0, 0)
        for n, (size, offset) in enumerate(zip(sizes, offsets, strict=True))
    )
    attributes = _ifd(order, [(0xB101, 4, 1, struct.pack(order + "I", 1))], 0)
    return segment(0xE2, b"MPF\x00" + tiff_header + index + entries + attributes)


def mpf_attributes(order: str, number: int) -> bytes:
    """The APP2 MPF segment of a later image: an MP attribute IFD only."""
    tiff_header = (b"II*\x00" if order == "<" else b"MM\x00*") + struct.pack(order + "I", 8)
    ifd = _ifd(
        order,
        [(0xB000, 7, 4, b"0100"), (0xB101, 4, 1, struct.pack(order + "I", number))],
        0,
    )
    return segment(0xE2, b"MPF\x00" + tiff_header + ifd)


def after_app_segments(jpeg: bytes) -> int:
    """The offset of the first marker after the APPn segments that follow SOI."""
    for marker, offset in jpeg_markers(jpeg):
        if not 0xE0 <= marker <= 0xEF:
            return offset
    raise AssertionError("no marker after the APPn segments")


def assemble_mpo(jpegs: Sequence[bytes], order: str = ">", gaps: Sequence[bytes] = ()) -> bytes:
    """An MPO as a camera writes one: the MP index in the first JPEG's APP2 after its other
    APPn segments, an MP attribute APP2 in every later one, `gaps[n]` after JPEG n."""
    later = [
        insert_at(f, after_app_segments(f), mpf_attributes(order, n + 2))
        for n, f in enumerate(jpegs[1:])
    ]
    gaps = list(gaps) + [b""] * (len(jpegs) - len(gaps))
    at = after_app_segments(jpegs[0])
    first_size = len(jpegs[0]) + len(mpf_index(order, [0] * len(jpegs), [0] * len(jpegs)))
    tiff = at + 8
    sizes, offsets, position = [first_size], [0], first_size + len(gaps[0])
    for frame, gap in zip(later, gaps[1:], strict=True):
        sizes.append(len(frame))
        offsets.append(position - tiff)
        position += len(frame) + len(gap)
    first = insert_at(jpegs[0], at, mpf_index(order, sizes, offsets))
    assert len(first) == first_size
    pieces = [first, gaps[0]]
    for frame, gap in zip(later, gaps[1:], strict=True):
        pieces += [frame, gap]
    return b"".join(pieces)


def mp_entries(data: bytes) -> list[dict[str, Any]]:
    with Image.open(io.BytesIO(data)) as im:
        entries: list[dict[str, Any]] = im.mpinfo[0xB002]
        return entries


# --- PNG ----------------------------------------------------------------------------------


def png_chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def png_chunks(data: bytes) -> list[bytes]:
    kinds, pos = [], 8
    while pos < len(data):
        (length,) = struct.unpack_from(">I", data, pos)
        kinds.append(data[pos + 4 : pos + 8])
        pos += 12 + length
    return kinds


def insert_png_chunks(data: bytes, before: bytes, chunks: Iterable[bytes]) -> bytes:
    """`chunks` inserted before the first chunk of kind `before`."""
    pos = 8
    while data[pos + 4 : pos + 8] != before:
        pos += 12 + struct.unpack_from(">I", data, pos)[0]
    return insert_at(data, pos, b"".join(chunks))


def png_metadata_chunks() -> list[bytes]:
    """One of each metadata chunk a PNG can carry, and an unknown one."""
    return [
        png_chunk(b"tEXt", b"Comment\x00" + COMMENT_TEXT),
        png_chunk(b"zTXt", b"Raw profile type iptc\x00\x00" + zlib.compress(IPTC_TEXT)),
        png_chunk(b"iTXt", b"XML:com.adobe.xmp\x00\x00\x00\x00\x00" + XMP),
        png_chunk(b"tIME", b"\x07\xea\x0b\x16\x0a\x0f\x1e"),
        png_chunk(b"prVt", MAKE_TEXT),
        png_chunk(b"eXIf", gps_exif(None).tobytes()[6:]),
    ]


# --- GIF ----------------------------------------------------------------------------------


def gif_start(data: bytes) -> int:
    """The offset of the first block after the header and the global colour table."""
    flags = data[10]
    return 13 + (3 << ((flags & 7) + 1) if flags & 0x80 else 0)


def sub_blocks(payload: bytes) -> bytes:
    chunks = [payload[n : n + 255] for n in range(0, len(payload), 255)]
    return b"".join(bytes([len(chunk)]) + chunk for chunk in chunks) + b"\x00"


def gif_xmp(xmp: bytes = XMP) -> bytes:
    """An XMP application extension: raw XMP then the 258-byte "magic trailer" of the XMP spec,
    which makes a reader that walks sub-blocks skip the packet."""
    magic = b"\x01" + bytes(range(255, -1, -1)) + b"\x00"
    return b"!\xff\x0bXMP DataXMP" + xmp + magic


def gif_metadata_extensions() -> list[bytes]:
    """One of each extension a GIF can carry that is not needed for the pixels."""
    return [
        gif_xmp(),
        b"!\xfe" + sub_blocks(COMMENT_TEXT),
        b"!\x01" + sub_blocks(b"\x00\x00\x00\x00\x10\x00\x10\x00\x08\x08\x01\x00" + MAKE_TEXT),
        b"!\xff\x0bMGLIB  0000" + sub_blocks(IPTC_TEXT),
    ]


# --- WebP ---------------------------------------------------------------------------------


def riff_chunk(kind: bytes, body: bytes) -> bytes:
    return kind + struct.pack("<I", len(body)) + body + b"\x00" * (len(body) & 1)


def webp_chunks(data: bytes) -> list[tuple[bytes, bytes]]:
    chunks, pos = [], 12
    while pos + 8 <= len(data):
        kind = data[pos : pos + 4]
        (size,) = struct.unpack_from("<I", data, pos + 4)
        chunks.append((kind, data[pos + 8 : pos + 8 + size]))
        pos += 8 + size + (size & 1)
    return chunks


def riff(chunks: Iterable[tuple[bytes, bytes]]) -> bytes:
    payload = b"WEBP" + b"".join(riff_chunk(kind, body) for kind, body in chunks)
    return b"RIFF" + struct.pack("<I", len(payload)) + payload


# --- ISOBMFF (HEIF, AVIF) -----------------------------------------------------------------


XMP_UUID = bytes.fromhex("be7acfcb97a942e89c71999491e3afac")  # a uuid box that holds XMP


def box(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I", 8 + len(payload)) + kind + payload


def full_box(kind: bytes, version: int, payload: bytes, flags: int = 0) -> bytes:
    return box(kind, struct.pack(">I", version << 24 | flags) + payload)


@dataclass
class Item:
    """An item of a synthetic HEIF file: its type, payload and where the payload goes."""

    item_type: bytes
    payload: bytes
    content_type: bytes = b""
    in_idat: bool = False
    extents: int = 1


@dataclass
class Heif:
    data: bytes
    # item index -> the (offset, length) of each extent in `data`
    extents: dict[int, list[tuple[int, int]]] = field(default_factory=dict)


def _sized(value: int, size: int) -> bytes:
    return value.to_bytes(size, "big") if size else b""


def synthetic_heif(
    items: Sequence[Item],
    iloc_version: int = 1,
    offset_size: int = 4,
    length_size: int = 4,
    base_offset_size: int = 4,
    infe_version: int = 2,
) -> Heif:
    """A HEIF-structured file (ftyp, meta with hdlr/iinf/iloc/idat, mdat) holding `items`.

    Item payloads are split into `extents` pieces, laid out in reverse order with filler bytes
    between them, so that a reader has to follow the extents. With `offset_size` 0 each item is
    addressed by its base offset alone; with `length_size` 0 an item has a single extent that
    runs to the end of its container, so such an item must come last in it."""
    ids = range(1, len(items) + 1)
    id_size = 4 if iloc_version == 2 else 2
    infes = []
    for item_id, item in zip(ids, items, strict=True):
        if infe_version >= 2:
            body = _sized(item_id, 4 if infe_version == 3 else 2) + b"\x00\x00" + item.item_type
            body += b"\x00" + (item.content_type + b"\x00" if item.item_type == b"mime" else b"")
        else:
            body = struct.pack(">HH", item_id, 0) + b"name\x00" + item.content_type + b"\x00"
        infes.append(full_box(b"infe", infe_version, body))
    count = struct.pack(">I" if infe_version >= 2 else ">H", len(items))
    iinf = full_box(b"iinf", 1 if infe_version >= 2 else 0, count + b"".join(infes))

    # Lay out each container's bytes: filler, then the pieces of each item in reverse order.
    layout: dict[bool, bytearray] = {False: bytearray(b"MDAT"), True: bytearray(b"IDAT")}
    placed: list[list[tuple[int, int]]] = []  # (offset in its container, length)
    for item in items:
        pieces = _split(item.payload, item.extents if offset_size else 1)
        spots: list[tuple[int, int]] = []
        for piece in reversed(pieces):
            container = layout[item.in_idat]
            container += b"~" * 3
            spots.insert(0, (len(container), len(piece)))
            container += piece
        placed.append(spots)

    def iloc(mdat_at: int) -> bytes:
        index_size = 0
        head = bytes([offset_size << 4 | length_size, base_offset_size << 4 | index_size])
        body = head + _sized(len(items), 4 if iloc_version == 2 else 2)
        for item_id, item, spots in zip(ids, items, placed, strict=True):
            body += _sized(item_id, id_size)
            if iloc_version:
                body += struct.pack(">H", 1 if item.in_idat else 0)
            elif item.in_idat:
                raise ValueError("iloc version 0 cannot point into idat")
            start = 0 if item.in_idat else mdat_at
            base = spots[0][0] + start if not offset_size else (start if base_offset_size else 0)
            body += struct.pack(">H", 0) + _sized(base, base_offset_size)
            body += struct.pack(">H", len(spots))
            for offset, length in spots:
                relative = offset + start - base
                body += _sized(relative, offset_size) + _sized(length, length_size)
        return full_box(b"iloc", iloc_version, body)

    ftyp = box(b"ftyp", b"heic\x00\x00\x00\x00mif1heic")
    hdlr = full_box(b"hdlr", 0, b"\x00" * 4 + b"pict" + b"\x00" * 12 + b"\x00")
    idat = box(b"idat", bytes(layout[True]))

    def meta(mdat_at: int) -> bytes:
        return full_box(b"meta", 0, hdlr + iinf + iloc(mdat_at) + idat)

    size = len(ftyp) + len(meta(0))
    mdat_at = size + 8  # where mdat's payload starts
    whole_meta = meta(mdat_at)
    assert len(whole_meta) == len(meta(0))
    data = ftyp + whole_meta + box(b"mdat", bytes(layout[False]))
    idat_at = len(ftyp) + len(whole_meta) - len(idat) + 8
    result = Heif(data)
    for index, (item, spots) in enumerate(zip(items, placed, strict=True)):
        start = idat_at if item.in_idat else mdat_at
        result.extents[index] = [(start + offset, length) for offset, length in spots]
    return result


def _split(payload: bytes, parts: int) -> list[bytes]:
    step = -(-len(payload) // parts)
    return [payload[n : n + step] for n in range(0, len(payload), step)]


def item_payload(heif: Heif, data: bytes, index: int) -> bytes:
    return b"".join(data[offset : offset + length] for offset, length in heif.extents[index])


def exif_item(exif: Image.Exif) -> bytes:
    """An Exif item's payload: the offset of the TIFF header, then "Exif\\0\\0", then the TIFF."""
    return struct.pack(">I", 6) + exif.tobytes()
