"""An independent oracle for privacy-relevant metadata in image files, for tests only.

`probe(data)` walks every container structure it knows and reports, for every image in the
file, what metadata it carries: EXIF (every IFD and its tags, the GPS IFD and its tags, the
orientation), XMP (and whether it names GPS properties), IPTC and Photoshop resources,
comments and text, and the data after the end of the container.

- JPEG: every APPn and COM segment of every image in the file: the first one, every image the
  MPF index of a multi-picture file (MPO, gain-map JPEGs) points to, and any further JPEG that
  starts after the end of the previous one. EXIF and XMP in Photoshop APP13 resources too.
- PNG: eXIf, tEXt, zTXt and iTXt (XMP, ImageMagick's "Raw profile type" hex profiles, comments).
- GIF: application extensions (XMP DataXMP, ImageMagick 8BIM and IPTC) and comments, per frame.
- WebP: EXIF and XMP chunks, also inside animation frames.
- HEIF, HEIC, AVIF: the Exif and mime (XMP) items of every image item, found through the
  meta box's iinf, iloc and iref boxes, plus XMP boxes and location atoms in the file.

It shares no code with `chalicelib.exif` (the code under test) and uses nothing but the
standard library: every parser here is written from the format specifications, and it never
raises on malformed input (problems are listed in `Report.errors`). `exiftool_gps()` asks
Debian's exiftool, when it is installed, for a second opinion.
"""

from __future__ import annotations

import json
import re
import shutil
import struct
import subprocess
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ORIENTATION = 0x0112
EXIF_IFD = 0x8769
GPS_IFD = 0x8825
INTEROP_IFD = 0xA005
MAKER_NOTE = 0x927C
GPS_LATITUDE = 0x0002
GPS_LONGITUDE = 0x0004
THUMBNAIL_OFFSET = 0x0201
THUMBNAIL_LENGTH = 0x0202

_POINTERS = {EXIF_IFD: "Exif", GPS_IFD: "GPS", INTEROP_IFD: "Interop"}
_XMP_STANDARD = b"http://ns.adobe.com/xap/1.0/\x00"
_XMP_EXTENSION = b"http://ns.adobe.com/xmp/extension/\x00"
_XMP_UUID = bytes.fromhex("be7acfcb97a942e89c71999491e3afac")
# GPS properties in XMP: exif:GPSLatitude, exifEX:GPS..., drone-dji:GpsLatitude, ...
_XMP_GPS = re.compile(rb"(?i)[:<\s]([\w.-]*:?gps[a-z]*)")
_XMP_ORIENTATION = re.compile(rb"tiff:Orientation(?:=[\"']|>)\s*(\d+)")
_TEXT_GPS = re.compile(r"(?i)gps|latitude|longitude|iso6709")


@dataclass
class ExifBlock:
    """One EXIF (TIFF) block: every IFD found and the tags in it."""

    source: str
    size: int
    ifds: dict[str, list[int]] = field(default_factory=dict)  # "IFD0", "Exif", "GPS", "IFD1", ...
    gps_ifd: bool = False  # a GPS IFD pointer (0x8825) is present, even to an empty IFD
    orientation: int | None = None
    thumbnail: int = 0  # bytes of the JPEG thumbnail IFD1 points to
    errors: list[str] = field(default_factory=list)

    @property
    def gps_tags(self) -> list[int]:
        return self.ifds.get("GPS", [])

    @property
    def gps(self) -> bool:
        """The GPS IFD holds at least one tag."""
        return bool(self.gps_tags)

    @property
    def gps_position(self) -> bool:
        """The GPS IFD holds a latitude or a longitude (maybe empty or zero)."""
        return GPS_LATITUDE in self.gps_tags or GPS_LONGITUDE in self.gps_tags

    @property
    def tags(self) -> set[tuple[str, int]]:
        return {(ifd, tag) for ifd, tags in self.ifds.items() for tag in tags}

    @property
    def maker_note(self) -> bool:
        return ("Exif", MAKER_NOTE) in self.tags

    @property
    def orientation_only(self) -> bool:
        """Nothing but an orientation tag in IFD0, and no other IFD."""
        return self.tags <= {("IFD0", ORIENTATION)} and not self.gps_ifd


@dataclass
class XmpBlock:
    source: str
    data: bytes = field(repr=False)
    gps_fields: list[str] = field(default_factory=list)  # the GPS property names found
    orientation: int | None = None

    @property
    def gps(self) -> bool:
        return bool(self.gps_fields)

    @property
    def empty(self) -> bool:
        """An XMP packet that says nothing (no rdf:RDF at all, e.g. a bare x:xmpmeta element
        padded with spaces, which is how a strip blanks XMP in place): no information."""
        text = self.data.replace(b"\x00", b"").strip()
        return not text or b"rdf:" not in text


@dataclass
class Frame:
    """One image of the file (a JPEG of a multi-picture file, a GIF frame, a HEIF image item),
    or the file itself where the format keeps its metadata at file level (PNG, WebP)."""

    index: int
    where: str
    role: str = "image"  # primary, image, thumbnail, auxiliary, input, file, metadata
    offset: int | None = None  # JPEG images and GIF frames: where they start
    item_id: int | None = None  # HEIF image items
    segments: list[str] = field(default_factory=list)  # the blocks seen, in file order
    exif: list[ExifBlock] = field(default_factory=list)
    xmp: list[XmpBlock] = field(default_factory=list)
    iptc: list[str] = field(default_factory=list)  # where IPTC records were found
    photoshop: list[str] = field(default_factory=list)  # where Photoshop resources were found
    comments: list[bytes] = field(default_factory=list)
    text: list[tuple[str, str]] = field(default_factory=list)  # other text: (keyword, value)
    gps_text: list[str] = field(default_factory=list)  # GPS or location named in other blocks
    other: list[str] = field(default_factory=list)  # vendor blocks this probe does not read

    @property
    def gps(self) -> bool:
        """GPS anywhere in this frame: GPS IFD tags, XMP GPS properties, location text."""
        return (
            any(block.gps for block in self.exif)
            or any(block.gps for block in self.xmp)
            or bool(self.gps_text)
        )

    @property
    def gps_ifd(self) -> bool:
        return any(block.gps_ifd for block in self.exif)

    @property
    def gps_position(self) -> bool:
        return any(block.gps_position for block in self.exif) or any(
            block.gps for block in self.xmp
        )

    @property
    def orientation(self) -> int | None:
        for block in self.exif:
            if block.orientation is not None:
                return block.orientation
        return None

    @property
    def exif_tags(self) -> set[tuple[str, int]]:
        return {tag for block in self.exif for tag in block.tags}

    @property
    def metadata(self) -> bool:
        """Any metadata at all in this frame."""
        return bool(
            self.exif
            or self.xmp
            or self.iptc
            or self.photoshop
            or self.comments
            or self.text
            or self.gps_text
            or self.other
        )

    def findings(self, allow_orientation: bool = True) -> list[str]:
        """What is left in this frame that a privacy strip should have removed."""
        found = []
        for block in self.exif:
            if allow_orientation and block.orientation_only:
                continue
            if block.gps:
                found.append(f"GPS tags {block.gps_tags} in {block.source}")
            elif block.gps_ifd:
                found.append(f"a GPS IFD pointer in {block.source}")
            ifds = ", ".join(f"{name} {len(tags)}" for name, tags in block.ifds.items())
            found.append(f"EXIF ({ifds or 'unreadable'} tags) in {block.source}")
        found += [
            f"XMP in {block.source}" + (" with GPS" if block.gps else "")
            for block in self.xmp
            if block.gps or not block.empty
        ]
        found += [f"IPTC in {where}" for where in self.iptc]
        found += [f"Photoshop resources in {where}" for where in self.photoshop]
        found += [f"comment {comment[:40]!r}" for comment in self.comments]
        found += [f"text {keyword!r}" for keyword, _ in self.text]
        found += [f"location in {where}" for where in self.gps_text]
        found += [f"vendor block {what}" for what in self.other]
        return [f"frame {self.index} ({self.where}): {item}" for item in found]


@dataclass
class Report:
    format: str  # jpeg, png, gif, webp, heif, avif, unknown
    size: int
    frames: list[Frame] = field(default_factory=list)
    end: int = 0  # where the container ends
    errors: list[str] = field(default_factory=list)

    @property
    def trailing(self) -> int:
        """Bytes after the end of the container (after the last JPEG's EOI, IEND, ...)."""
        return max(0, self.size - self.end)

    @property
    def gps_frames(self) -> list[int]:
        return [frame.index for frame in self.frames if frame.gps]

    @property
    def has_gps(self) -> bool:
        return any(frame.gps for frame in self.frames)

    @property
    def has_gps_ifd(self) -> bool:
        return any(frame.gps_ifd for frame in self.frames)

    @property
    def has_exif(self) -> bool:
        return any(frame.exif for frame in self.frames)

    @property
    def has_xmp(self) -> bool:
        return any(frame.xmp for frame in self.frames)

    @property
    def has_iptc(self) -> bool:
        return any(frame.iptc for frame in self.frames)

    @property
    def orientations(self) -> list[int | None]:
        return [frame.orientation for frame in self.frames]

    def frame(self, index: int) -> Frame:
        return self.frames[index]

    def findings(self, allow_orientation: bool = True, allow_trailing: bool = False) -> list[str]:
        """Privacy-relevant metadata left anywhere in the file; [] for a clean file."""
        found = [item for frame in self.frames for item in frame.findings(allow_orientation)]
        if self.trailing and not allow_trailing:
            found.append(f"{self.trailing} bytes after the end of the {self.format} container")
        return found

    def as_dict(self) -> dict[str, Any]:
        """A JSON-friendly summary."""
        return {
            "format": self.format,
            "size": self.size,
            "trailing": self.trailing,
            "errors": self.errors,
            "frames": [
                {
                    "index": frame.index,
                    "where": frame.where,
                    "role": frame.role,
                    "segments": frame.segments,
                    "exif": [
                        {
                            "source": block.source,
                            "ifds": {
                                name: [hex(t) for t in tags] for name, tags in block.ifds.items()
                            },
                            "gps_ifd": block.gps_ifd,
                            "orientation": block.orientation,
                            "thumbnail": block.thumbnail,
                            "errors": block.errors,
                        }
                        for block in frame.exif
                    ],
                    "xmp": [
                        {"source": block.source, "size": len(block.data), "gps": block.gps_fields}
                        for block in frame.xmp
                    ],
                    "iptc": frame.iptc,
                    "photoshop": frame.photoshop,
                    "comments": [comment.decode("latin-1") for comment in frame.comments],
                    "text": frame.text,
                    "gps_text": frame.gps_text,
                    "other": frame.other,
                    "gps": frame.gps,
                    "orientation": frame.orientation,
                }
                for frame in self.frames
            ],
        }


def probe(data: bytes) -> Report:
    """What metadata `data` holds, image by image."""
    if data.startswith(b"\xff\xd8"):
        return _probe_jpeg(data)
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return _probe_png(data)
    if data[:6] in (b"GIF87a", b"GIF89a"):
        return _probe_gif(data)
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return _probe_webp(data)
    if data[4:8] == b"ftyp":
        return _probe_isobmff(data)
    return Report("unknown", len(data), errors=["not a JPEG, PNG, GIF, WebP or ISOBMFF file"])


def probe_file(path: str | Path) -> Report:
    return probe(Path(path).read_bytes())


# --- EXIF (TIFF structure) -----------------------------------------------------------------------

_TIFF_SIZES = {1: 1, 2: 1, 3: 2, 4: 4, 5: 8, 6: 1, 7: 1, 8: 2, 9: 4, 10: 8, 11: 4, 12: 8, 13: 4}


def parse_exif(tiff: bytes, source: str) -> ExifBlock:
    """Every IFD reachable from the TIFF header: IFD0, the Exif, GPS and Interop IFDs, IFD1..."""
    block = ExifBlock(source, len(tiff))
    if len(tiff) < 8 or tiff[:4] not in (b"II*\x00", b"MM\x00*"):
        block.errors.append("no TIFF header")
        return block
    order = "<" if tiff[:2] == b"II" else ">"
    (first,) = struct.unpack_from(order + "I", tiff, 4)
    queue: list[tuple[str, int]] = [("IFD0", first)]
    seen: set[int] = set()
    chain = 0
    while queue:
        name, offset = queue.pop(0)
        if offset == 0 or offset in seen:
            continue
        seen.add(offset)
        if offset + 2 > len(tiff):
            block.errors.append(f"{name} at {offset} is past the end")
            continue
        (count,) = struct.unpack_from(order + "H", tiff, offset)
        if offset + 2 + 12 * count > len(tiff):
            block.errors.append(f"{name} at {offset} runs past the end")
            count = (len(tiff) - offset - 2) // 12
        tags = block.ifds.setdefault(name, [])
        values: dict[int, int] = {}
        for n in range(count):
            entry = offset + 2 + 12 * n
            tag, kind, number = struct.unpack_from(order + "HHI", tiff, entry)
            tags.append(tag)
            if kind == 3 and number >= 1:
                (values[tag],) = struct.unpack_from(order + "H", tiff, entry + 8)
            elif kind in (4, 13) and number >= 1:
                (values[tag],) = struct.unpack_from(order + "I", tiff, entry + 8)
            if tag in _POINTERS and kind in (4, 13):
                (pointer,) = struct.unpack_from(order + "I", tiff, entry + 8)
                queue.append((_POINTERS[tag], pointer))
                if tag == GPS_IFD:
                    block.gps_ifd = True
            elif tag in _POINTERS:
                block.errors.append(f"{name} has pointer {tag:#06x} of type {kind}")
                if tag == GPS_IFD:
                    block.gps_ifd = True
        if name == "IFD0" and ORIENTATION in values:
            block.orientation = values[ORIENTATION]
        if THUMBNAIL_LENGTH in values and THUMBNAIL_OFFSET in values:
            block.thumbnail = values[THUMBNAIL_LENGTH]
        if name.startswith("IFD") and offset + 2 + 12 * count + 4 <= len(tiff):
            (following,) = struct.unpack_from(order + "I", tiff, offset + 2 + 12 * count)
            chain += 1
            queue.append((f"IFD{chain}", following))
    return block


def _exif_after_header(payload: bytes) -> bytes:
    """The TIFF block of an EXIF payload, with or without its 'Exif\\0\\0' header."""
    if payload.startswith(b"Exif\x00"):
        return payload[6:]
    return payload


# --- XMP, text, Photoshop image resources --------------------------------------------------------


def parse_xmp(data: bytes, source: str) -> XmpBlock:
    names = sorted({match.group(1).decode("latin-1") for match in _XMP_GPS.finditer(data)})
    orientation = _XMP_ORIENTATION.search(data)
    return XmpBlock(source, data, names, int(orientation.group(1)) if orientation else None)


def _looks_like_xmp(data: bytes) -> bool:
    return b"<x:xmpmeta" in data or b"<?xpacket" in data or b"<rdf:RDF" in data


def _read_photoshop(data: bytes, source: str, frame: Frame) -> None:
    """Photoshop image resources ('8BIM' blocks): IPTC, and copies of EXIF and XMP."""
    frame.photoshop.append(source)
    pos = 0
    while pos + 12 <= len(data):
        if data[pos : pos + 4] not in (b"8BIM", b"MeSa", b"PHUT", b"AgHg", b"DCSR"):
            frame.other.append(f"{source}: unreadable resource data at {pos}")
            return
        (resource,) = struct.unpack_from(">H", data, pos + 4)
        name_length = data[pos + 6]
        pos += 6 + ((name_length + 2) & ~1)
        if pos + 4 > len(data):
            return
        (size,) = struct.unpack_from(">I", data, pos)
        body = data[pos + 4 : pos + 4 + size]
        pos += 4 + size + (size & 1)
        where = f"{source} resource {resource:#06x}"
        if resource == 0x0404:
            frame.iptc.append(where)
        elif resource in (0x0422, 0x0423):
            frame.exif.append(parse_exif(_exif_after_header(body), where))
        elif resource == 0x0424:
            frame.xmp.append(parse_xmp(body, where))
        elif resource == 0x040F:
            pass  # ICC profile
        elif re.search(rb"(?i)gps", body):
            frame.gps_text.append(where)


def _note_text(frame: Frame, keyword: str, value: str, source: str) -> None:
    if keyword.lower() == "comment":
        frame.comments.append(value.encode("utf-8", "replace"))
    else:
        frame.text.append((keyword, value[:200]))
    if _TEXT_GPS.search(keyword) or _TEXT_GPS.search(value[:4096]):
        frame.gps_text.append(source)


def _raw_profile(text: str) -> bytes | None:
    """ImageMagick's 'Raw profile type NAME' text: '\\nNAME\\n   LENGTH\\nHEX...'."""
    parts = text.strip().split(None, 2)
    if len(parts) < 3 or not parts[1].isdigit():
        return None
    try:
        return bytes.fromhex("".join(parts[2].split()))[: int(parts[1])]
    except ValueError:
        return None


# --- JPEG ----------------------------------------------------------------------------------------


@dataclass
class _Segment:
    marker: int
    offset: int
    payload: bytes


def _jpeg_segments(data: bytes, start: int) -> tuple[list[_Segment], int, list[str]]:
    """The marker segments of the JPEG at `start`, where it ends (after EOI), problems."""
    segments: list[_Segment] = []
    errors: list[str] = []
    pos = start + 2
    while True:
        if pos + 2 > len(data):
            errors.append(f"JPEG at {start}: no EOI before the end of the file")
            return segments, len(data), errors
        if data[pos] != 0xFF:
            errors.append(f"JPEG at {start}: no marker at {pos}")
            return segments, pos, errors
        marker = data[pos + 1]
        if marker == 0xFF:
            pos += 1
            continue
        if marker == 0xD9:
            return segments, pos + 2, errors
        if 0xD0 <= marker <= 0xD7 or marker in (0x01, 0xD8):
            pos += 2
            continue
        if pos + 4 > len(data):
            errors.append(f"JPEG at {start}: truncated segment at {pos}")
            return segments, len(data), errors
        (length,) = struct.unpack_from(">H", data, pos + 2)
        end = pos + 2 + length
        if length < 2 or end > len(data):
            errors.append(f"JPEG at {start}: segment {marker:#04x} at {pos} runs past the end")
            return segments, len(data), errors
        segments.append(_Segment(marker, pos, data[pos + 4 : end]))
        pos = end
        if marker == 0xDA:  # entropy-coded data follows: up to the next real marker
            while True:
                pos = data.find(b"\xff", pos)
                if pos < 0 or pos + 1 >= len(data):
                    errors.append(f"JPEG at {start}: scan data runs to the end of the file")
                    return segments, len(data), errors
                following = data[pos + 1]
                if following == 0x00 or 0xD0 <= following <= 0xD7 or following == 0xFF:
                    pos += 1
                    continue
                break


def _mpf_offsets(payload: bytes, base: int) -> tuple[list[int], list[str]]:
    """File offsets of the images an MPF APP2 index lists (the first one is the file start)."""
    tiff = payload[4:]
    if len(tiff) < 8 or tiff[:4] not in (b"II*\x00", b"MM\x00*"):
        return [], ["MPF: no TIFF header"]
    order = "<" if tiff[:2] == b"II" else ">"
    try:
        (ifd,) = struct.unpack_from(order + "I", tiff, 4)
        (count,) = struct.unpack_from(order + "H", tiff, ifd)
        for n in range(count):
            tag, _, number, value = struct.unpack_from(order + "HHII", tiff, ifd + 2 + 12 * n)
            if tag != 0xB002:
                continue
            offsets = []
            for k in range(number // 16):
                _, _, image_offset = struct.unpack_from(order + "III", tiff, value + 16 * k)
                offsets.append(0 if image_offset == 0 else base + image_offset)
            return offsets, []
    except struct.error:
        return [], ["MPF: index runs past the end of its segment"]
    return [], ["MPF: no MP entry tag"]


def _app_name(payload: bytes) -> str:
    head = payload[:40].split(b"\x00", 1)[0]
    if head and all(32 <= c < 127 for c in head):
        return head.decode("ascii")
    return payload[:8].hex()


def _read_jpeg_frame(frame: Frame, segments: list[_Segment]) -> None:
    extended: dict[bytes, dict[int, bytes]] = {}
    for segment in segments:
        marker, payload = segment.marker, segment.payload
        if marker == 0xFE:
            frame.segments.append("COM")
            frame.comments.append(payload)
            if _TEXT_GPS.search(payload.decode("latin-1")):
                frame.gps_text.append(f"COM at {segment.offset}")
            continue
        if not 0xE0 <= marker <= 0xEF:
            continue
        app = f"APP{marker - 0xE0}"
        where = f"{app} at {segment.offset}"
        if payload.startswith(b"Exif\x00") or payload[:6] in (b"META\x00\x00", b"Meta\x00\x00"):
            frame.segments.append(f"{app} Exif")
            frame.exif.append(parse_exif(payload[6:], f"{app} Exif at {segment.offset}"))
        elif payload.startswith(_XMP_STANDARD):
            frame.segments.append(f"{app} XMP")
            frame.xmp.append(
                parse_xmp(payload[len(_XMP_STANDARD) :], f"{app} XMP at {segment.offset}")
            )
        elif payload.startswith(_XMP_EXTENSION):
            frame.segments.append(f"{app} extended XMP")
            body = payload[len(_XMP_EXTENSION) :]
            if len(body) >= 40:
                (chunk_offset,) = struct.unpack_from(">I", body, 36)
                extended.setdefault(body[:32], {})[chunk_offset] = body[40:]
        elif marker == 0xED and payload.startswith(b"Photoshop 3.0\x00"):
            frame.segments.append(f"{app} Photoshop")
            _read_photoshop(payload[14:], where, frame)
        elif marker == 0xE0 and payload[:5] in (b"JFIF\x00", b"JFXX\x00"):
            frame.segments.append(f"{app} {payload[:4].decode()}")
        elif marker == 0xE2 and payload.startswith((b"ICC_PROFILE\x00", b"MPF\x00")):
            frame.segments.append(f"{app} {_app_name(payload)}")
        elif marker == 0xEE and payload.startswith(b"Adobe"):
            frame.segments.append(f"{app} Adobe")
        else:
            name = _app_name(payload)
            frame.segments.append(f"{app} {name}")
            frame.other.append(f"{app} {name} at {segment.offset} ({len(payload)} bytes)")
            if _looks_like_xmp(payload):
                frame.xmp.append(parse_xmp(payload, f"{app} {name} at {segment.offset}"))
    for guid, chunks in extended.items():
        data = b"".join(chunks[offset] for offset in sorted(chunks))
        frame.xmp.append(parse_xmp(data, f"extended XMP {guid.decode('latin-1')}"))


def _probe_jpeg(data: bytes) -> Report:
    report = Report("jpeg", len(data))
    images: dict[int, str] = {}
    parsed: dict[int, tuple[list[_Segment], int]] = {}

    def parse(start: int) -> int:
        if start not in parsed:
            segments, end, errors = _jpeg_segments(data, start)
            parsed[start] = (segments, end)
            report.errors.extend(errors)
        return parsed[start][1]

    images[0] = "the first image"
    end = parse(0)
    for segment in parsed[0][0]:
        if segment.marker == 0xE2 and segment.payload.startswith(b"MPF\x00"):
            offsets, errors = _mpf_offsets(segment.payload, segment.offset + 8)
            report.errors.extend(errors)
            for number, offset in enumerate(offsets, 1):
                if offset != 0 and not data.startswith(b"\xff\xd8", offset):
                    report.errors.append(f"MPF entry {number} points at {offset}: no SOI there")
                    continue
                images[offset] = images.get(offset, "") + f"; MPF entry {number}"
    # Any further JPEG after the end of the previous one, whatever the MPF index says.
    pos = end
    while (found := data.find(b"\xff\xd8\xff", pos)) >= 0:
        images.setdefault(found, f"a JPEG starting at {found}, after the end of the previous one")
        pos = max(parse(found), found + 3)
    for start in sorted(images):
        if start != 0 and data.startswith(b"\xff\xd8", start):
            parse(start)
    report.end = max((end for _, end in parsed.values()), default=0)
    for index, start in enumerate(sorted(parsed)):
        frame = Frame(
            index,
            f"JPEG image at offset {start} ({images[start].lstrip('; ')})",
            "primary" if start == 0 else "image",
            offset=start,
        )
        _read_jpeg_frame(frame, parsed[start][0])
        report.frames.append(frame)
    return report


# --- PNG -----------------------------------------------------------------------------------------

_PNG_PLAIN = {
    b"IHDR", b"PLTE", b"IDAT", b"IEND", b"tRNS", b"gAMA", b"cHRM", b"sRGB", b"iCCP", b"sBIT",
    b"bKGD", b"hIST", b"pHYs", b"sPLT", b"acTL", b"fcTL", b"fdAT", b"cICP", b"mDCv", b"cLLi",
    b"tIME",
}  # fmt: skip


def _png_text(kind: bytes, body: bytes) -> tuple[str, str]:
    keyword, _, rest = body.partition(b"\x00")
    if kind == b"tEXt":
        return keyword.decode("latin-1"), rest.decode("latin-1")
    if kind == b"zTXt":
        return keyword.decode("latin-1"), zlib.decompress(rest[1:]).decode("latin-1")
    compressed = rest[:1] == b"\x01"
    _language, _, rest = rest[2:].partition(b"\x00")
    _translated, _, text = rest.partition(b"\x00")
    if compressed:
        text = zlib.decompress(text)
    return keyword.decode("latin-1"), text.decode("utf-8", "replace")


def _probe_png(data: bytes) -> Report:
    report = Report("png", len(data))
    frame = Frame(0, "the PNG file", "file", offset=0)
    report.frames.append(frame)
    pos = 8
    while pos + 12 <= len(data):
        (length,) = struct.unpack_from(">I", data, pos)
        kind = data[pos + 4 : pos + 8]
        body = data[pos + 8 : pos + 8 + length]
        where = f"{kind.decode('latin-1')} at {pos}"
        if pos + 12 + length > len(data):
            report.errors.append(f"PNG chunk {where} runs past the end")
        pos += 12 + length
        if kind not in (b"IDAT", b"fdAT"):
            frame.segments.append(kind.decode("latin-1"))
        if kind == b"IEND":
            report.end = pos
            break
        if kind.lower() in (b"exif", b"zxif"):
            frame.exif.append(parse_exif(_exif_after_header(body), where))
        elif kind in (b"tEXt", b"zTXt", b"iTXt"):
            try:
                keyword, text = _png_text(kind, body)
            except (zlib.error, ValueError) as error:
                report.errors.append(f"{where}: {error}")
                continue
            where = f"{where} {keyword!r}"
            if keyword == "XML:com.adobe.xmp" or _looks_like_xmp(text.encode("utf-8", "replace")):
                frame.xmp.append(parse_xmp(text.encode("utf-8", "replace"), where))
            elif keyword.lower().startswith(("raw profile type", "raw profile")):
                profile = keyword.lower().rsplit(" ", 1)[-1]
                raw = _raw_profile(text)
                if raw is None:
                    report.errors.append(f"{where}: unreadable raw profile")
                    frame.other.append(where)
                elif profile in ("exif", "app1"):
                    frame.exif.append(parse_exif(_exif_after_header(raw), where))
                elif profile == "xmp":
                    frame.xmp.append(parse_xmp(raw, where))
                elif profile == "iptc":
                    frame.iptc.append(where)
                    if raw.startswith(b"8BIM"):
                        _read_photoshop(raw, where, frame)
                elif profile == "8bim":
                    _read_photoshop(raw, where, frame)
                elif profile not in ("icc", "icm"):
                    frame.other.append(where)
            else:
                _note_text(frame, keyword, text, where)
        elif kind not in _PNG_PLAIN:
            frame.other.append(f"{where} ({length} bytes)")
            if _looks_like_xmp(body):
                frame.xmp.append(parse_xmp(body, where))
    else:
        report.errors.append("PNG: no IEND chunk")
        report.end = min(pos, len(data))
    return report


# --- GIF -----------------------------------------------------------------------------------------


def _gif_sub_blocks(data: bytes, pos: int) -> tuple[bytes, int]:
    """The data of the sub-blocks at `pos` and where they end (after the terminator)."""
    parts: list[bytes] = []
    while pos < len(data):
        size = data[pos]
        if size == 0:
            return b"".join(parts), pos + 1
        parts.append(data[pos + 1 : pos + 1 + size])
        pos += 1 + size
    return b"".join(parts), len(data)


def _probe_gif(data: bytes) -> Report:
    report = Report("gif", len(data))
    pending = Frame(0, "")
    if len(data) < 13:
        report.errors.append("GIF: truncated header")
        return report
    flags = data[10]
    pos = 13 + (3 << ((flags & 7) + 1) if flags & 0x80 else 0)
    while pos < len(data):
        introducer = data[pos]
        if introducer == 0x3B:
            report.end = pos + 1
            break
        if introducer == 0x2C:
            if pos + 10 > len(data):
                report.errors.append(f"GIF: truncated image descriptor at {pos}")
                report.end = len(data)
                break
            index = len(report.frames)
            pending.index, pending.offset = index, pos
            pending.where = f"GIF frame {index} at offset {pos}"
            pending.role = "primary" if index == 0 else "image"
            report.frames.append(pending)
            pending = Frame(index + 1, "")
            local = data[pos + 9]
            pos += 10 + (3 << ((local & 7) + 1) if local & 0x80 else 0) + 1  # + LZW code size
            _, pos = _gif_sub_blocks(data, pos)
            continue
        if introducer != 0x21 or pos + 2 > len(data):
            report.errors.append(f"GIF: unknown block {introducer:#04x} at {pos}")
            report.end = pos
            break
        label, start = data[pos + 1], pos
        if label == 0xFF and pos + 3 + 11 <= len(data) and data[pos + 2] == 11:
            identifier = data[pos + 3 : pos + 14]
            body, pos = _gif_sub_blocks(data, pos + 14)
            raw = data[start + 14 : pos]
            name = identifier.decode("latin-1")
            where = f"application extension {name!r} at {start}"
            pending.segments.append(f"APP {name}")
            if identifier == b"XMP DataXMP":
                pending.xmp.append(parse_xmp(raw, where))  # XMP keeps its length bytes inline
            elif identifier == b"MGK8BIM0000":
                _read_photoshop(body, where, pending)
            elif identifier == b"MGKIPTC0000":
                pending.iptc.append(where)
            elif identifier not in (b"NETSCAPE2.0", b"ANIMEXTS1.0", b"ICCRGBG1012"):
                pending.other.append(f"{where} ({len(body)} bytes)")
                if _looks_like_xmp(raw):
                    pending.xmp.append(parse_xmp(raw, where))
            continue
        body, pos = _gif_sub_blocks(data, pos + 2)
        if label == 0xFE:
            pending.segments.append("comment")
            pending.comments.append(body)
            if _TEXT_GPS.search(body.decode("latin-1")):
                pending.gps_text.append(f"comment at {start}")
        elif label == 0x01:
            pending.segments.append("plain text")
            pending.text.append(("plain text extension", body[12:].decode("latin-1")))
        elif label != 0xF9:
            pending.segments.append(f"extension {label:#04x}")
            pending.other.append(f"extension {label:#04x} at {start}")
    else:
        report.errors.append("GIF: no trailer")
        report.end = len(data)
    if pending.metadata or pending.segments:
        # Blocks after the last image (or a file without images) still hold metadata.
        if report.frames:
            last = report.frames[-1]
            last.segments += [f"{segment} (after the last image)" for segment in pending.segments]
            for name in ("exif", "xmp", "iptc", "photoshop", "comments", "text", "gps_text"):
                getattr(last, name).extend(getattr(pending, name))
            last.other += pending.other
        else:
            pending.where, pending.role = "GIF blocks outside any image", "file"
            report.frames.append(pending)
    return report


# --- WebP ----------------------------------------------------------------------------------------


def _riff_chunks(data: bytes, pos: int, end: int) -> Iterator[tuple[bytes, int, bytes]]:
    while pos + 8 <= end:
        kind = data[pos : pos + 4]
        (size,) = struct.unpack_from("<I", data, pos + 4)
        yield kind, pos, data[pos + 8 : min(pos + 8 + size, end)]
        pos += 8 + size + (size & 1)


def _probe_webp(data: bytes) -> Report:
    report = Report("webp", len(data))
    (riff_size,) = struct.unpack_from("<I", data, 4)
    report.end = min(8 + riff_size, len(data))
    if 8 + riff_size > len(data):
        report.errors.append("WebP: RIFF size runs past the end of the file")
    frame = Frame(0, "the WebP file", "file", offset=0)
    report.frames.append(frame)
    animation = 0

    def read(kind: bytes, pos: int, body: bytes, prefix: str) -> None:
        name = kind.decode("latin-1").strip()
        where = f"{prefix}{name} at {pos}"
        frame.segments.append(prefix + name)
        if kind == b"EXIF":
            frame.exif.append(parse_exif(_exif_after_header(body), where))
        elif kind == b"XMP ":
            frame.xmp.append(parse_xmp(body, where))
        elif kind not in (b"VP8 ", b"VP8L", b"VP8X", b"ALPH", b"ANIM", b"ANMF", b"ICCP"):
            frame.other.append(f"{where} ({len(body)} bytes)")
            if _looks_like_xmp(body):
                frame.xmp.append(parse_xmp(body, where))

    for kind, pos, body in _riff_chunks(data, 12, report.end):
        if kind == b"ANMF":
            animation += 1
            frame.segments.append("ANMF")
            for inner, inner_pos, inner_body in _riff_chunks(data, pos + 24, pos + 8 + len(body)):
                if inner not in (b"VP8 ", b"VP8L", b"ALPH"):
                    read(inner, inner_pos, inner_body, f"ANMF {animation}/")
            continue
        read(kind, pos, body, "")
    if animation:
        frame.where = f"the WebP file ({animation} animation frames)"
    return report


# --- ISOBMFF: HEIF, HEIC, AVIF -------------------------------------------------------------------


@dataclass
class _Box:
    kind: bytes
    start: int
    body: int  # where the payload starts
    end: int


def _boxes(data: bytes, pos: int, end: int, errors: list[str]) -> Iterator[_Box]:
    while pos + 8 <= end:
        size, kind = struct.unpack_from(">I4s", data, pos)
        header = 8
        if size == 1:
            if pos + 16 > end:
                errors.append(f"box {kind!r} at {pos}: truncated size")
                return
            (size,) = struct.unpack_from(">Q", data, pos + 8)
            header = 16
        elif size == 0:
            size = end - pos
        if kind == b"uuid":
            header += 16
        if size < header:
            errors.append(f"box {kind!r} at {pos}: bad size {size}")
            return
        if pos + size > end:
            errors.append(f"box {kind!r} at {pos} runs past the end ({pos + size} > {end})")
        yield _Box(kind, pos, pos + header, min(pos + size, end))
        pos += size


@dataclass
class _Item:
    id: int
    type: str
    name: str = ""
    content_type: str = ""
    content_encoding: str = ""
    hidden: bool = False
    extents: list[tuple[int, int]] = field(default_factory=list)  # (offset, length)
    construction: int = 0
    refs: dict[str, list[int]] = field(default_factory=dict)  # reference type -> to items


def _uint(data: bytes, pos: int, size: int) -> int:
    return int.from_bytes(data[pos : pos + size], "big") if size else 0


def _read_iinf(data: bytes, box: _Box, items: dict[int, _Item], errors: list[str]) -> None:
    version = data[box.body]
    pos = box.body + 4 + (2 if version == 0 else 4)
    for infe in _boxes(data, pos, box.end, errors):
        if infe.kind != b"infe":
            continue
        version, flags = data[infe.body], _uint(data, infe.body + 1, 3)
        pos = infe.body + 4
        if version < 2:
            errors.append(f"infe version {version} at {infe.start} (not read)")
            continue
        id_size = 2 if version == 2 else 4
        item_id = _uint(data, pos, id_size)
        pos += id_size + 2
        kind = data[pos : pos + 4].decode("latin-1")
        pos += 4
        strings = data[pos : infe.end].split(b"\x00")
        item = items.setdefault(item_id, _Item(item_id, kind))
        item.type, item.hidden = kind, bool(flags & 1)
        item.name = strings[0].decode("utf-8", "replace") if strings else ""
        if kind == "mime" and len(strings) > 1:
            item.content_type = strings[1].decode("latin-1")
            item.content_encoding = strings[2].decode("latin-1") if len(strings) > 2 else ""


def _read_iloc(data: bytes, box: _Box, items: dict[int, _Item]) -> None:
    version = data[box.body]
    pos = box.body + 4
    offset_size, length_size = data[pos] >> 4, data[pos] & 15
    base_size, index_size = data[pos + 1] >> 4, (data[pos + 1] & 15 if version else 0)
    pos += 2
    count_size = 2 if version < 2 else 4
    count = _uint(data, pos, count_size)
    pos += count_size
    for _ in range(count):
        item_id = _uint(data, pos, count_size)
        pos += count_size
        construction = 0
        if version:
            construction = _uint(data, pos, 2) & 15
            pos += 2
        pos += 2  # data reference index
        base = _uint(data, pos, base_size)
        pos += base_size
        extents = _uint(data, pos, 2)
        pos += 2
        item = items.setdefault(item_id, _Item(item_id, "?"))
        item.construction = construction
        for _ in range(extents):
            pos += index_size
            offset = _uint(data, pos, offset_size)
            pos += offset_size
            length = _uint(data, pos, length_size)
            pos += length_size
            item.extents.append((base + offset, length))


def _read_iref(data: bytes, box: _Box, items: dict[int, _Item], errors: list[str]) -> None:
    id_size = 2 if data[box.body] == 0 else 4
    for ref in _boxes(data, box.body + 4, box.end, errors):
        pos = ref.body
        source = _uint(data, pos, id_size)
        count = _uint(data, pos + id_size, 2)
        pos += id_size + 2
        targets = [_uint(data, pos + id_size * n, id_size) for n in range(count)]
        item = items.setdefault(source, _Item(source, "?"))
        item.refs.setdefault(ref.kind.decode("latin-1"), []).extend(targets)


def _item_data(data: bytes, item: _Item, idat: tuple[int, int] | None, errors: list[str]) -> bytes:
    parts = []
    for offset, length in item.extents:
        if item.construction == 1:
            if idat is None:
                errors.append(f"item {item.id}: in an idat box that is not there")
                continue
            start, end = idat[0] + offset, idat[1]
        elif item.construction == 0:
            start, end = offset, len(data)
        else:
            errors.append(f"item {item.id}: construction method {item.construction} not read")
            continue
        stop = end if length == 0 else start + length
        if stop > end or start > end:
            errors.append(f"item {item.id} ({item.type}): extent {start}+{length} past the end")
        parts.append(data[start : min(stop, end)])
    return b"".join(parts)


_IMAGE_ITEM_ROLES = {"thmb": "thumbnail", "auxl": "auxiliary", "dimg": "input", "base": "input"}


def _read_meta(data: bytes, meta: _Box, report: Report, label: str) -> None:
    errors = report.errors
    items: dict[int, _Item] = {}
    primary: int | None = None
    idat: tuple[int, int] | None = None
    for box in _boxes(data, meta.body + 4, meta.end, errors):
        try:
            if box.kind == b"iinf":
                _read_iinf(data, box, items, errors)
            elif box.kind == b"iloc":
                _read_iloc(data, box, items)
            elif box.kind == b"iref":
                _read_iref(data, box, items, errors)
            elif box.kind == b"pitm":
                primary = _uint(data, box.body + 4, 2 if data[box.body] == 0 else 4)
            elif box.kind == b"idat":
                idat = (box.body, box.end)
        except (IndexError, struct.error) as error:
            errors.append(f"{label}: {box.kind!r} at {box.start}: {error}")
    metadata_types = {"Exif", "mime", "uri ", "iptc"}
    images = {item_id: item for item_id, item in items.items() if item.type not in metadata_types}
    # Roles: which images are thumbnails, auxiliary images or tiles of which others.
    roles: dict[int, str] = {}
    for item in images.values():
        for ref, targets in item.refs.items():
            if ref in ("thmb", "auxl") and targets:
                roles[item.id] = f"{_IMAGE_ITEM_ROLES[ref]} of item {targets[0]}"
            elif ref in ("dimg", "base"):
                for target in targets:
                    roles.setdefault(target, f"{_IMAGE_ITEM_ROLES[ref]} of item {item.id}")
    described: dict[int, list[_Item]] = {}
    orphans: list[_Item] = []
    for item in items.values():
        if item.type in metadata_types:
            targets = item.refs.get("cdsc", [])
            for target in targets:
                described.setdefault(target, []).append(item)
            if not targets:
                orphans.append(item)
    frames: dict[int, Frame] = {}
    order = sorted(images, key=lambda item_id: (item_id != primary, item_id))
    for item_id in order:
        item, role = images[item_id], roles.get(item_id, "")
        if role.startswith("input") and item_id not in described and item_id != primary:
            continue  # a grid tile without metadata of its own: its grid stands for it
        kind = "primary" if item_id == primary else role.split(" ", 1)[0] or "image"
        where = f"{label} item {item_id} {item.type!r}" + (f" ({role})" if role else "")
        if item_id == primary:
            where += " (primary)"
        if item.hidden:
            where += " (hidden)"
        frames[item_id] = Frame(len(report.frames), where, kind, item_id=item_id)
        report.frames.append(frames[item_id])
    for target, metadata in described.items():
        frame = frames.get(target)
        if frame is None:
            frame = Frame(
                len(report.frames),
                f"{label}: metadata for item {target}, which is no image item",
                "metadata",
                item_id=target,
            )
            frames[target] = frame
            report.frames.append(frame)
        for item in metadata:
            _read_metadata_item(data, item, idat, frame, label, errors)
    if orphans:
        frame = Frame(
            len(report.frames), f"{label}: metadata items describing no image", "metadata"
        )
        report.frames.append(frame)
        for item in orphans:
            _read_metadata_item(data, item, idat, frame, label, errors)


def _read_metadata_item(
    data: bytes,
    item: _Item,
    idat: tuple[int, int] | None,
    frame: Frame,
    label: str,
    errors: list[str],
) -> None:
    payload = _item_data(data, item, idat, errors)
    where = f"{label} {item.type.strip()} item {item.id}"
    frame.segments.append(f"{item.type.strip()} item {item.id}")
    if not payload.strip(b"\x00"):
        return  # blanked (all zeros): it holds nothing
    if item.type == "Exif":
        tiff = b""
        if len(payload) >= 4:
            (skip,) = struct.unpack_from(">I", payload, 0)
            tiff = payload[4 + skip :]
        if tiff[:4] not in (b"II*\x00", b"MM\x00*"):  # a writer that got the offset wrong
            found = [i for i in (payload.find(b"II*\x00"), payload.find(b"MM\x00*")) if i >= 0]
            tiff = payload[min(found) :] if found else tiff
        frame.exif.append(parse_exif(tiff, where))
        return
    if item.type == "iptc":
        frame.iptc.append(where)
        return
    if item.type == "mime":
        body = payload
        if item.content_encoding:
            try:
                body = zlib.decompress(payload)
            except zlib.error:
                try:
                    body = zlib.decompress(payload, -15)
                except zlib.error as error:
                    errors.append(f"{where}: {item.content_encoding}: {error}")
        where += f" {item.content_type!r}"
        if "xmp" in item.content_type or "rdf+xml" in item.content_type or _looks_like_xmp(body):
            frame.xmp.append(parse_xmp(body, where))
            return
        if "iptc" in item.content_type.lower():
            frame.iptc.append(where)
            return
    frame.other.append(f"{where} ({len(payload)} bytes)")
    if re.search(rb"(?i)gps", payload):
        frame.gps_text.append(where)


_CONTAINERS = {b"moov", b"trak", b"mdia", b"minf", b"udta", b"edts", b"meco", b"moof", b"traf"}


def _scan_boxes(
    data: bytes, boxes: Iterable[_Box], report: Report, file_frame: Frame, depth: int
) -> None:
    """Metadata outside the primary meta box: track meta boxes, XMP boxes, location atoms."""
    for box in boxes:
        name = box.kind.decode("latin-1")
        if box.kind == b"meta" and depth > 0:
            file_frame.segments.append(f"meta at {box.start}")
            if data[box.body + 8 : box.body + 12] == b"hdlr":  # an ISO meta box (a full box)
                _read_meta(data, box, report, f"meta box at {box.start}")
            if re.search(rb"(?i)location|iso6709|gps", data[box.body : box.end]):
                file_frame.gps_text.append(f"meta box at {box.start}")
        elif box.kind == b"uuid" and data[box.start + 8 : box.start + 24] == _XMP_UUID:
            file_frame.segments.append("uuid XMP")
            file_frame.xmp.append(
                parse_xmp(data[box.body : box.end], f"XMP uuid box at {box.start}")
            )
        elif box.kind == b"XMP_":
            file_frame.segments.append("XMP_")
            file_frame.xmp.append(parse_xmp(data[box.body : box.end], f"XMP_ box at {box.start}"))
        elif box.kind in (b"\xa9xyz", b"loci"):
            file_frame.segments.append(name)
            file_frame.gps_text.append(f"{name!r} box at {box.start}")
        elif box.kind in _CONTAINERS:
            children = _boxes(data, box.body, box.end, report.errors)
            _scan_boxes(data, children, report, file_frame, depth + 1)


def _probe_isobmff(data: bytes) -> Report:
    report = Report("heif", len(data))
    boxes = list(_boxes(data, 0, len(data), report.errors))
    report.end = max((box.end for box in boxes), default=0)
    for box in boxes:
        if box.kind == b"ftyp":
            brands = {data[box.body : box.body + 4]} | {
                data[i : i + 4] for i in range(box.body + 8, box.end - 3, 4)
            }
            if brands & {b"avif", b"avis"}:
                report.format = "avif"
        elif box.kind == b"meta":
            _read_meta(data, box, report, "HEIF")
    file_frame = Frame(len(report.frames), "boxes outside the primary meta box", "file")
    _scan_boxes(data, boxes, report, file_frame, 0)
    if file_frame.metadata:
        file_frame.index = len(report.frames)
        report.frames.append(file_frame)
    return report


# --- a second opinion ----------------------------------------------------------------------------


def exiftool_available() -> bool:
    return shutil.which("exiftool") is not None


def exiftool_gps(paths: list[Path]) -> dict[str, list[str]] | None:
    """The GPS tags exiftool (Debian's libimage-exiftool-perl) reads in each file, by file
    name, as 'Group:Tag' in exiftool's family 1 and 3 groups ('GPS:Doc2:GPSLatitude'); None
    when exiftool is not installed."""
    if not exiftool_available() or not paths:
        return None
    result = subprocess.run(
        ["exiftool", "-j", "-a", "-ee", "-G1:3", "-n", "-q", "-q", "-api", "LargeFileSupport=1"]
        + ["-gps:all", "-xmp:all", "-charset", "filename=utf8"]
        + [str(path) for path in paths],
        capture_output=True,
        check=False,
        timeout=300,
    )
    found: dict[str, list[str]] = {Path(path).name: [] for path in paths}
    for entry in json.loads(result.stdout or b"[]"):
        name = Path(entry.pop("SourceFile")).name
        found[name] = sorted(
            key for key in entry if "gps" in key.lower().split(":")[-1] and key != "SourceFile"
        )
    return found
