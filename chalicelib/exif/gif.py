"""GIF: header, logical screen descriptor, global colour table, then blocks up to the trailer.

Kept: images (descriptor, local colour table, LZW data), graphic control extensions (delay,
disposal, transparency), the looping extension (NETSCAPE2.0 or ANIMEXTS1.0, reduced to its loop
count) and ICC profiles (ICCRGBG1012). Dropped: comments, plain text, every other application
extension (XMP among them), extra sub-blocks in the kept extensions, what follows the trailer.
"""

from __future__ import annotations

from chalicelib.exif.common import MalformedImage, Splicer

_IMAGE, _EXTENSION = 0x2C, 0x21
_GRAPHIC_CONTROL, _APPLICATION = 0xF9, 0xFF
_LOOPING = (b"NETSCAPE2.0", b"ANIMEXTS1.0")
_ICC_PROFILE = b"ICCRGBG1012"


def strip_gif(data: bytes) -> bytes:
    if data[:6] not in (b"GIF87a", b"GIF89a"):
        raise MalformedImage("no GIF header")
    pos = _after_colour_table(data, 10, 13)
    splicer = Splicer(data)
    # Up to the trailer; a GIF cut after a block (without trailer, say) still decodes, and a
    # byte that starts no block ends the GIF as the trailer would.
    while pos < len(data) and data[pos] in (_IMAGE, _EXTENSION):
        if data[pos] == _IMAGE:
            pos = _after_colour_table(data, pos + 9, pos + 10)
            pos = _sub_blocks_end(data, pos + 1)  # after the LZW minimum code size
        else:
            end = _sub_blocks_end(data, pos + 2)
            kept = _extension(data, pos, end)
            if kept != data[pos:end]:
                splicer.replace(pos, end, kept)
            pos = end
    pos += data[pos : pos + 1] == b";"
    parts = splicer.close(pos)  # anything after the trailer is left out
    return data if not splicer.changed and pos == len(data) else b"".join(parts)


def _after_colour_table(data: bytes, flags: int, pos: int) -> int:
    """Where the block whose flags byte is at `flags`, ending at `pos`, and its colour table end."""
    if pos > len(data):
        raise MalformedImage("a GIF block runs past the end of the file")
    if data[flags] & 0x80:
        pos += 3 << ((data[flags] & 7) + 1)
    if pos > len(data):
        raise MalformedImage("a GIF colour table runs past the end of the file")
    return pos


def _sub_blocks_end(data: bytes, pos: int) -> int:
    """Where the data sub-blocks starting at `pos` end (after their empty terminator)."""
    while pos < len(data):
        size = data[pos]
        if size == 0:
            return pos + 1
        pos += size + 1
    raise MalformedImage("GIF data sub-blocks run past the end of the file")


def _extension(data: bytes, pos: int, end: int) -> bytes:
    """What to keep of the extension at data[pos:end] (b"" for nothing)."""
    label, first = data[pos + 1], data[pos + 3 : pos + 3 + data[pos + 2]]
    after = pos + 3 + len(first)  # the second sub-block, or the terminator
    if label == _GRAPHIC_CONTROL and len(first) == 4:
        return data[pos:after] + b"\x00"
    if label == _APPLICATION and first in _LOOPING:
        loop = data[after + 1 : after + 1 + data[after]]
        return (
            data[pos:after] + b"\x03" + loop + b"\x00" if len(loop) == 3 and loop[0] == 1 else b""
        )
    if label == _APPLICATION and first == _ICC_PROFILE:
        return data[pos:end]
    return b""
