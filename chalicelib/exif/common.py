"""What the container walkers share: the error they raise, bounds-checked reads, the splicer
that copies what is kept, and the reduction of an EXIF block to its orientation."""

from __future__ import annotations

import struct
from typing import Any

ORIENTATION_TAG = 0x0112
EXIF_HEADER = b"Exif\x00\x00"
Part = bytes | bytearray | memoryview


class MalformedImage(ValueError):
    """The container structure is broken (truncated, or a length or offset out of range)."""


def unpack(fmt: str, data: bytes, pos: int, what: str) -> tuple[Any, ...]:
    """`struct.unpack_from`, with running out of data reported as a MalformedImage."""
    try:
        return struct.unpack_from(fmt, data, pos)
    except struct.error:
        raise MalformedImage(f"{what} runs past the end of the file") from None


class Splicer:
    """The output as slices of the input with some ranges replaced; linear in the input size.

    Ranges are given in increasing order; what lies between them is kept as it is."""

    def __init__(self, data: bytes, start: int = 0) -> None:
        self.view = memoryview(data)
        self.parts: list[Part] = []
        self.run = start  # start of the kept range not yet added to parts
        self.changed = False

    def replace(self, start: int, end: int, new: bytes = b"") -> None:
        """Put `new` (b"" drops the range) in place of data[start:end]."""
        if start > self.run:
            self.parts.append(self.view[self.run : start])
        if new:
            self.parts.append(new)
        self.run, self.changed = end, True

    def detach(self, start: int, end: int) -> bytearray:
        """data[start:end] as a part of its own, to be patched in place later."""
        self.parts.append(self.view[self.run : start])
        part = bytearray(self.view[start:end])
        self.parts.append(part)
        self.run = end
        return part

    def close(self, end: int) -> list[Part]:
        """The parts up to `end`; anything after it is left out."""
        self.parts.append(self.view[self.run : end])
        return self.parts


def exif_orientation(tiff: bytes) -> int | None:
    """The orientation (1-8) in the first IFD of an EXIF TIFF block; None when it has none,
    an odd one, or cannot be read."""
    order = {b"MM\x00*": ">", b"II*\x00": "<"}.get(tiff[:4])
    if order is None:
        return None
    try:
        (ifd,) = struct.unpack_from(order + "I", tiff, 4)
        (count,) = struct.unpack_from(order + "H", tiff, ifd)
        for n in range(min(count, (len(tiff) - ifd - 2) // 12)):
            tag, kind, number, value = struct.unpack_from(order + "HHI4s", tiff, ifd + 2 + 12 * n)
            if tag == ORIENTATION_TAG:
                if number != 1 or kind not in (3, 4):  # one SHORT (or LONG, as Pillow allows)
                    return None
                (orientation,) = struct.unpack_from(order + ("H" if kind == 3 else "I"), value)
                return orientation if 1 <= orientation <= 8 else None
    except struct.error:
        return None
    return None


def minimal_exif(orientation: int, order: str = ">") -> bytes:
    """A TIFF block with one IFD holding only the orientation."""
    header = b"MM\x00*" if order == ">" else b"II*\x00"
    return header + struct.pack(order + "IHHHIHHI", 8, 1, ORIENTATION_TAG, 3, 1, orientation, 0, 0)


def reduced_exif(tiff: bytes) -> bytes:
    """What to keep of an EXIF TIFF block: `tiff` itself when it is already a minimal block,
    else a minimal block with its orientation, or b"" when it has none."""
    orientation = exif_orientation(tiff)
    if orientation is None:
        return b""
    if tiff == minimal_exif(orientation, "<"):
        return tiff
    return minimal_exif(orientation)
