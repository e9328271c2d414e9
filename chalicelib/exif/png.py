"""PNG and APNG: chunks walked by their lengths; what is not needed to render is dropped."""

from __future__ import annotations

import struct
import zlib

from chalicelib.exif.common import EXIF_HEADER, MalformedImage, Splicer, reduced_exif, unpack

_SIGNATURE = b"\x89PNG\r\n\x1a\n"
# Critical chunks; colour, transparency and physical size; HDR; the APNG animation chunks.
_KEPT = frozenset(
    b"IHDR PLTE IDAT IEND tRNS gAMA cHRM sRGB iCCP sBIT bKGD hIST sPLT pHYs"
    b" cICP mDCv cLLi acTL fcTL fdAT".split()
)


def strip_png(data: bytes) -> bytes:
    if not data.startswith(_SIGNATURE + b"\x00\x00\x00\x0dIHDR"):
        raise MalformedImage("no PNG signature and header chunk")
    splicer, pos, seen_exif = Splicer(data), len(_SIGNATURE), False
    while pos < len(data):  # a PNG cut after a chunk (say, without IEND) still decodes
        length, kind = unpack(">I4s", data, pos, "a PNG chunk")
        end = pos + 12 + length
        if end > len(data):
            raise MalformedImage("a PNG chunk runs past the end of the file")
        if kind == b"eXIf" and not seen_exif:
            seen_exif = True
            _exif(data, pos, end, splicer)
        elif kind not in _KEPT:
            splicer.replace(pos, end)  # text (XMP, IPTC, comments), tIME, later eXIf, unknown
        pos = end
        if kind == b"IEND":
            break
    parts = splicer.close(pos)  # anything after IEND is left out
    return data if not splicer.changed and pos == len(data) else b"".join(parts)


def _exif(data: bytes, pos: int, end: int, splicer: Splicer) -> None:
    body = data[pos + 8 : end - 4]
    tiff = body[len(EXIF_HEADER) :] if body.startswith(EXIF_HEADER) else body
    kept = reduced_exif(tiff)
    if kept != tiff:
        splicer.replace(pos, end, _chunk(b"eXIf", kept) if kept else b"")


def _chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
