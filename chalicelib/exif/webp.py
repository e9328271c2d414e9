"""WebP: RIFF chunks, and the chunks inside each animation frame (ANMF)."""

from __future__ import annotations

import struct

from chalicelib.exif.common import EXIF_HEADER, MalformedImage, Part, reduced_exif, unpack

_KEPT = frozenset((b"VP8 ", b"VP8L", b"VP8X", b"ALPH", b"ANIM", b"ANMF", b"ICCP"))
_FRAME_KEPT = frozenset((b"ALPH", b"VP8 ", b"VP8L"))
_EXIF_FLAG, _XMP_FLAG = 0x08, 0x04
_FRAME_HEADER = 16  # position, size, duration and flags of an ANMF frame
Chunk = tuple[bytes, Part]


def strip_webp(data: bytes) -> bytes:
    if len(data) < 12 or data[:4] != b"RIFF" or data[8:12] != b"WEBP":
        raise MalformedImage("no RIFF WebP header")
    (size,) = unpack("<I", data, 4, "the RIFF header")
    end = 8 + size
    if end > len(data):
        raise MalformedImage("the RIFF payload runs past the end of the file")
    chunks, changed = _chunks(memoryview(data), 12, end, top=True)
    if not changed and end == len(data):  # else what follows the RIFF payload is left out
        return data
    kinds = {kind for kind, _ in chunks}
    for n, (kind, body) in enumerate(chunks):
        if kind == b"VP8X" and len(body):
            flags = body[0] & ~(_EXIF_FLAG | _XMP_FLAG) | (_EXIF_FLAG if b"EXIF" in kinds else 0)
            chunks[n] = (kind, bytes([flags]) + bytes(body[1:]))
    payload = _serialise(chunks)
    return b"RIFF" + struct.pack("<I", 4 + len(payload)) + b"WEBP" + payload


def _chunks(view: memoryview, pos: int, end: int, top: bool) -> tuple[list[Chunk], bool]:
    """The chunks of view[pos:end] to keep (`top`: of the file, else of an animation frame),
    and whether any was dropped or changed."""
    kept = _KEPT if top else _FRAME_KEPT
    chunks: list[Chunk] = []
    changed = seen_exif = False
    while pos < end:
        if pos + 8 > end:
            raise MalformedImage("a WebP chunk header runs past its container")
        kind, size = bytes(view[pos : pos + 4]), int.from_bytes(view[pos + 4 : pos + 8], "little")
        body_end = pos + 8 + size
        if body_end > end:
            raise MalformedImage("a WebP chunk runs past its container")
        body = view[pos + 8 : body_end]
        if kind == b"EXIF" and top and not seen_exif:
            seen_exif = True
            tiff = bytes(body[len(EXIF_HEADER) :] if body[:6] == EXIF_HEADER else body)
            reduced = reduced_exif(tiff)
            changed |= reduced != tiff
            if reduced:
                chunks.append((kind, body if reduced == tiff else reduced))
        elif kind == b"ANMF" and top:
            frame, frame_changed = _frame(body)
            chunks.append((kind, frame))
            changed |= frame_changed
        elif kind in kept:
            chunks.append((kind, body))
        else:
            changed = True  # XMP, later EXIF chunks, unknown chunks
        pos = min(body_end + (size & 1), end)  # the last padding byte is sometimes missing
    return chunks, changed


def _frame(body: memoryview) -> tuple[Part, bool]:
    """An ANMF frame with only its image chunks."""
    if len(body) < _FRAME_HEADER:
        raise MalformedImage("a WebP animation frame is cut short")
    chunks, changed = _chunks(body, _FRAME_HEADER, len(body), top=False)
    return (bytes(body[:_FRAME_HEADER]) + _serialise(chunks), True) if changed else (body, False)


def _serialise(chunks: list[Chunk]) -> bytes:
    parts: list[Part] = []
    for kind, body in chunks:
        parts += [kind, struct.pack("<I", len(body)), body, b"\x00" * (len(body) & 1)]
    return b"".join(parts)
