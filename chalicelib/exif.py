"""Remove location and other EXIF (and XMP/IPTC) from image containers, losslessly.

Pillow can only drop metadata by re-encoding the pixels, which is lossy for JPEG and WebP
and rewrites every byte. These small container walkers instead drop metadata segments or
chunks and copy everything else verbatim; an EXIF block that holds an orientation is
replaced by a minimal one holding only that orientation. An image carrying nothing to
remove is returned unchanged, byte for byte.
"""

from __future__ import annotations

import struct
import zlib

ORIENTATION_TAG = 0x0112
_EXIF_HEADER = b"Exif\x00\x00"
_XMP_HEADERS = (b"http://ns.adobe.com/xap/1.0/\x00", b"http://ns.adobe.com/xmp/extension/\x00")


class MalformedImage(ValueError):
    """The container structure is broken (truncated segment or chunk)."""


def _read_ifd0(tiff: bytes) -> tuple[list[int], int | None, int]:
    """Tags of the first IFD, its orientation value, and the offset of the next IFD."""
    if len(tiff) < 8 or tiff[:2] not in (b"II", b"MM"):
        raise MalformedImage("bad TIFF header in EXIF")
    order = "<" if tiff[:2] == b"II" else ">"
    (offset,) = struct.unpack_from(order + "I", tiff, 4)
    if offset + 2 > len(tiff):
        raise MalformedImage("EXIF IFD out of range")
    (count,) = struct.unpack_from(order + "H", tiff, offset)
    end = offset + 2 + 12 * count
    if end + 4 > len(tiff):
        raise MalformedImage("EXIF IFD out of range")
    tags, orientation = [], None
    for n in range(count):
        tag, kind, _ = struct.unpack_from(order + "HHI", tiff, offset + 2 + 12 * n)
        tags.append(tag)
        if tag == ORIENTATION_TAG and kind == 3:
            (orientation,) = struct.unpack_from(order + "H", tiff, offset + 2 + 12 * n + 8)
    (next_ifd,) = struct.unpack_from(order + "I", tiff, end)
    return tags, orientation, next_ifd


def _orientation_only(tiff: bytes) -> tuple[bool, int | None]:
    """(True when the EXIF holds nothing but an orientation, that orientation)."""
    try:
        tags, orientation, next_ifd = _read_ifd0(tiff)
    except (MalformedImage, struct.error):
        return False, None
    return (set(tags) <= {ORIENTATION_TAG} and next_ifd == 0), orientation


def minimal_exif(orientation: int) -> bytes:
    """A TIFF block with one IFD holding only the orientation."""
    entry = struct.pack(">HHIHH", ORIENTATION_TAG, 3, 1, orientation, 0)
    return b"MM\x00\x2a" + struct.pack(">I", 8) + struct.pack(">H", 1) + entry + b"\x00" * 4


def _replacement(tiff: bytes) -> bytes | None:
    """None to keep the EXIF as it is, b'' to drop it, or a minimal orientation block."""
    clean, orientation = _orientation_only(tiff)
    if clean:
        return None
    return minimal_exif(orientation) if orientation else b""


def strip(data: bytes, content_type: str) -> bytes:
    """`data` without GPS/EXIF beyond orientation, XMP or IPTC; unchanged if there is none."""
    if content_type == "image/jpeg":
        return _strip_jpeg(data)
    if content_type == "image/png":
        return _strip_png(data)
    if content_type == "image/webp":
        return _strip_webp(data)
    return data


def _strip_jpeg(data: bytes) -> bytes:
    pos, kept, changed = 2, [data[:2]], False
    while True:
        if pos + 4 > len(data) or data[pos] != 0xFF:
            raise MalformedImage("JPEG segment structure is broken")
        marker = data[pos + 1]
        if marker == 0xFF:  # fill byte
            kept.append(data[pos : pos + 1])
            pos += 1
            continue
        if marker == 0xDA or 0xD0 <= marker <= 0xD7 or marker == 0x01:
            break  # start of scan: the rest is entropy-coded data, copied verbatim
        (length,) = struct.unpack_from(">H", data, pos + 2)
        end = pos + 2 + length
        if length < 2 or end > len(data):
            raise MalformedImage("JPEG segment runs past the end of the file")
        payload = data[pos + 4 : end]
        segment = data[pos:end]
        if marker == 0xE1 and payload.startswith(_EXIF_HEADER):
            replacement = _replacement(payload[len(_EXIF_HEADER) :])
            if replacement is not None:
                changed = True
                if replacement:
                    body = _EXIF_HEADER + replacement
                    segment = b"\xff\xe1" + struct.pack(">H", len(body) + 2) + body
                else:
                    segment = b""
        elif (marker == 0xE1 and payload.startswith(_XMP_HEADERS)) or marker == 0xED:
            changed, segment = True, b""  # XMP (may hold GPS) or Photoshop/IPTC
        kept.append(segment)
        pos = end
    return b"".join(kept) + data[pos:] if changed else data


_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_PNG_XMP_KEYWORDS = (
    b"XML:com.adobe.xmp",
    b"Raw profile type exif",
    b"Raw profile type xmp",
    b"Raw profile type iptc",
    b"Raw profile type APP1",
)


def _png_chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def _strip_png(data: bytes) -> bytes:
    pos, kept, changed = 8, [data[:8]], False
    while pos < len(data):
        if pos + 12 > len(data):
            raise MalformedImage("PNG chunk structure is broken")
        (length,) = struct.unpack_from(">I", data, pos)
        kind = data[pos + 4 : pos + 8]
        end = pos + 12 + length
        if end > len(data):
            raise MalformedImage("PNG chunk runs past the end of the file")
        chunk, body = data[pos:end], data[pos + 8 : pos + 8 + length]
        if kind == b"eXIf":
            replacement = _replacement(body)
            if replacement is not None:
                changed = True
                chunk = _png_chunk(kind, replacement) if replacement else b""
        elif kind in (b"tEXt", b"zTXt", b"iTXt") and body.split(b"\x00", 1)[0] in _PNG_XMP_KEYWORDS:
            changed, chunk = True, b""
        kept.append(chunk)
        pos = end
        if kind == b"IEND":
            kept.append(data[end:])
            break
    return b"".join(kept) if changed else data


def _strip_webp(data: bytes) -> bytes:
    pos, chunks, changed = 12, [], False
    while pos + 8 <= len(data):
        kind = data[pos : pos + 4]
        (size,) = struct.unpack_from("<I", data, pos + 4)
        end = pos + 8 + size + (size & 1)
        if pos + 8 + size > len(data):
            raise MalformedImage("WebP chunk runs past the end of the file")
        body = data[pos + 8 : pos + 8 + size]
        if kind == b"EXIF":
            tiff = body[len(_EXIF_HEADER) :] if body.startswith(_EXIF_HEADER) else body
            replacement = _replacement(tiff)
            if replacement is None:
                chunks.append([kind, body])
            else:
                changed = True
                if replacement:
                    chunks.append([kind, replacement])
        elif kind == b"XMP ":
            changed = True
        else:
            chunks.append([kind, body])
        pos = end
    if not changed:
        return data
    kinds = {kind for kind, _ in chunks}
    for chunk in chunks:
        if chunk[0] == b"VP8X":
            flags = chunk[1][0] & ~0x0C
            flags |= 0x08 if b"EXIF" in kinds else 0
            chunk[1] = bytes([flags]) + chunk[1][1:]
    payload = b"".join(
        kind + struct.pack("<I", len(body)) + body + (b"\x00" if len(body) & 1 else b"")
        for kind, body in chunks
    )
    return b"RIFF" + struct.pack("<I", len(payload) + 4) + b"WEBP" + payload
