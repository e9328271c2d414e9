"""The metadata probe (tests/metadata_probe.py) is itself right: on real camera and phone files
whose metadata is known (exiftool agrees where it is installed), and on files built here with
Pillow where the test puts GPS exactly where it wants it. These test the oracle, not the app."""

from __future__ import annotations

import hashlib
import io
import struct

import pytest
from PIL import Image as PILImage
from PIL import PngImagePlugin

from scripts.corpus import CORPUS
from tests.corpus import corpus_file, corpus_files
from tests.metadata_probe import (
    GPS_IFD,
    GPS_LATITUDE,
    GPS_LONGITUDE,
    ORIENTATION,
    exiftool_available,
    exiftool_gps,
    probe,
)

MAKE = 0x010F

# Corpus files with GPS, and the frames (images) it is in. Every other corpus file has none.
GPS_FRAMES: dict[str, list[int]] = {
    "ultrahdr.jpg": [0],  # Pixel 6: position in the primary's EXIF
    "exif_gps.jpg": [0],
    "r_canon.jpg": [0],  # GPSVersionID only
    "r_olympus.jpg": [0],  # GPSVersionID only
    "pug.heic": [0],  # iPhone 13 Pro
    "empty_icc.heic": [0, 1],  # iPhone XS: both top-level images carry a position
    "xiaomi.heic": [0],
    "aux_YCbCr.heic": [0],  # Galaxy S25 Ultra
    "200MP.heic": [0],  # Galaxy S24 Ultra: position tags present but empty
    "spatial_photo.heic": [0],  # Vision Pro: position 0,0 in the left image only
    "corrupted.hif": [0],  # Canon: GPSVersionID only
}
# ...of which these hold a latitude or longitude tag.
GPS_POSITION = {
    "ultrahdr.jpg",
    "exif_gps.jpg",
    "pug.heic",
    "empty_icc.heic",
    "xiaomi.heic",
    "aux_YCbCr.heic",
    "200MP.heic",
    "spatial_photo.heic",
}
PROBE_FORMAT = {
    "jpeg": "jpeg",
    "mpo": "jpeg",
    "png": "png",
    "gif": "gif",
    "webp": "webp",
    "heic": "heif",
    "heif": "heif",
    "avif": "avif",
}
NAMES = [entry.name for entry in CORPUS]  # the list itself: collecting downloads nothing


# --- the corpus ----------------------------------------------------------------------------------


def test_the_corpus_is_there_and_intact():
    items = corpus_files()
    assert 25 <= len(items) <= 60
    assert {item.type for item in items} >= {"jpeg", "mpo", "png", "gif", "webp", "heic", "avif"}
    for item in items:
        data = item.read()
        assert hashlib.sha256(data).hexdigest() == item.sha256, item.name
        assert len(data) == item.size
        assert item.note and item.source.split()[0] in ("pillow", "piexif", "pillow-heif")
        assert item.mime == {"mpo": "image/jpeg"}.get(item.type, f"image/{item.type}")


@pytest.mark.parametrize("name", NAMES)
def test_probe_reads_every_corpus_file(name):
    item = corpus_file(name)
    report = probe(item.read())
    assert report.format == PROBE_FORMAT[item.type]
    assert report.frames, report.errors
    assert report.trailing == 0
    if name not in ("ultrahdr.jpg", "corrupted.hif", "sugarshack_bad_mpo_header.jpg"):
        # Those three are damaged on purpose (cut short, broken MPF header); the rest parse clean.
        assert report.errors in ([], ["MPF entry 2 points at 60008: no SOI there"]), report.errors
    assert report.gps_frames == GPS_FRAMES.get(name, []), report.as_dict()
    assert any(frame.gps_position for frame in report.frames) == (name in GPS_POSITION)


@pytest.mark.slow
@pytest.mark.skipif(not exiftool_available(), reason="exiftool (libimage-exiftool-perl) is absent")
def test_exiftool_finds_gps_in_the_same_files_and_as_many_images():
    items = corpus_files()
    found = exiftool_gps([item.path for item in items])
    assert found is not None
    for item in items:
        documents = {key.split(":")[1] for key in found[item.name]}  # Main, Doc1, Doc2, ...
        assert len(documents) == len(probe(item.read()).gps_frames), (item.name, found[item.name])


def test_mpo_frames_each_carry_their_own_exif():
    for name in ("fujifilm.mpo", "frozenpond.mpo", "sugarshack.mpo", "ignore_frame_size.mpo"):
        report = probe(corpus_file(name).read())
        assert [frame.role for frame in report.frames] == ["primary", "image"], name
        second = report.frame(1)
        assert "MPF entry 2" in second.where
        assert second.offset and second.offset > 0
        assert ("IFD0", MAKE) in second.exif_tags, name
        assert not second.gps and not second.gps_ifd
    # The iPhone's gain map is the MPF's second image: XMP, no EXIF.
    gain_map = probe(corpus_file("frame_size.mpo").read()).frame(1)
    assert gain_map.xmp and not gain_map.exif


def test_second_jpeg_is_found_without_a_usable_mpf_index():
    broken = probe(corpus_file("sugarshack_bad_mpo_header.jpg").read())
    assert len(broken.frames) == 2
    assert "after the end of the previous one" in broken.frame(1).where
    assert ("IFD0", MAKE) in broken.frame(1).exif_tags
    # The MPF offset is 2 bytes short of the second SOI: the scan finds it where it is.
    moved = probe(corpus_file("sugarshack_ifd_offset.mpo").read())
    assert [frame.offset for frame in moved.frames] == [0, 60010]
    assert moved.frame(1).exif


def test_gps_in_the_second_image_of_a_real_heic():
    report = probe(corpus_file("empty_icc.heic").read())
    primary, second = report.frame(0), report.frame(1)
    assert primary.role == "primary" and second.role == "image"
    assert primary.item_id != second.item_id
    for frame in (primary, second):
        (block,) = frame.exif
        assert {GPS_LATITUDE, GPS_LONGITUDE} <= set(block.gps_tags)
        assert frame.xmp
    # The Vision Pro's right-eye image has EXIF too, but without GPS.
    spatial = probe(corpus_file("spatial_photo.heic").read())
    assert spatial.frame(1).exif and not spatial.frame(1).gps


def test_an_empty_gps_ifd_is_seen_but_is_no_gps():
    report = probe(corpus_file("empty_gps_ifd.jpg").read())
    (frame,) = report.frames
    assert frame.gps_ifd and not frame.gps
    assert frame.orientation == 6
    assert report.findings() == [
        "frame 0 (JPEG image at offset 0 (the first image)): a GPS IFD pointer in APP1 Exif at 20",
        "frame 0 (JPEG image at offset 0 (the first image)): EXIF (IFD0 12, Exif 31, GPS 0, "
        "Interop 2 tags) in APP1 Exif at 20",
    ]


@pytest.mark.parametrize(
    ("name", "orientation"),
    [
        *[(f"hopper_orientation_{n}.jpg", n) for n in range(2, 9)],
        ("hopper_orientation_6.webp", 6),
        ("arrow.heic", 6),
        ("200MP.heic", 6),
    ],
)
def test_orientation(name, orientation):
    report = probe(corpus_file(name).read())
    assert report.frame(0).orientation == orientation
    if name.startswith("hopper"):
        assert report.findings() == []  # nothing but the orientation
        assert report.findings(allow_orientation=False)


def test_xmp_orientation_and_other_containers():
    for name in ("xmp_tags_orientation.png", "xmp_tags_orientation.avif"):
        (xmp,) = probe(corpus_file(name).read()).frame(0).xmp
        assert xmp.orientation == 3 and not xmp.gps
    gif = probe(corpus_file("transparent.gif").read())
    assert "XMP DataXMP" in gif.frame(0).xmp[0].source
    png = probe(corpus_file("exif_imagemagick.png").read()).frame(0)
    assert "Raw profile type exif" in png.exif[0].source
    assert probe(corpus_file("exif.png").read()).frame(0).exif[0].source.startswith("eXIf")
    png16 = probe(corpus_file("RGB_16__128x128.png").read()).frame(0)
    assert png16.exif and png16.xmp
    webp = probe(corpus_file("flower2.webp").read()).frame(0)
    assert webp.exif and webp.xmp
    assert probe(corpus_file("iss634.webp").read()).frame(0).where.endswith("(42 animation frames)")
    comment = probe(corpus_file("second_frame_comment.gif").read())
    assert [frame.comments for frame in comment.frames] == [
        [],
        [b"Comment in the second frame"],
        [],
    ]
    assert probe(corpus_file("hopper_gray.jpg").read()).frame(0).comments


def test_iptc_and_photoshop_resources():
    for name in ("iptc.jpg", "xmp_test.jpg", "L_exif_xmp_iptc.heic"):
        assert probe(corpus_file(name).read()).has_iptc, name
    cmyk = probe(corpus_file("pil_sample_cmyk.jpg").read()).frame(0)
    assert cmyk.photoshop and cmyk.exif and cmyk.xmp


@pytest.mark.parametrize(
    "name", ["noexif.jpg", "L_16__128x128.png", "p_trns_single.png", "nokia_bird_burst.heic"]
)
def test_files_without_metadata_report_none(name):
    report = probe(corpus_file(name).read())
    assert report.findings(allow_orientation=False) == []
    assert not any(frame.metadata for frame in report.frames)


# --- files built here ----------------------------------------------------------------------------

GPS = {1: "N", 2: (52.0, 31.0, 12.0), 3: "E", 4: (13.0, 24.0, 36.0)}
XMP_GPS = (
    b'<?xpacket begin="\xef\xbb\xbf" id="W5M0MpCehiHzreSzNTczkc9d"?>'
    b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF '
    b'xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
    b'<rdf:Description rdf:about="" xmlns:exif="http://ns.adobe.com/exif/1.0/" '
    b'exif:GPSLatitude="52,31.2N" exif:GPSLongitude="13,24.6E"/>'
    b'</rdf:RDF></x:xmpmeta><?xpacket end="w"?>'
)


def exif_with(gps: bool, orientation: int | None = None) -> PILImage.Exif:
    exif = PILImage.Exif()
    exif[MAKE] = "PhoneCo"
    if orientation:
        exif[ORIENTATION] = orientation
    if gps:
        exif[GPS_IFD] = GPS
    return exif


def picture(colour: str = "red", size: tuple[int, int] = (64, 48)) -> PILImage.Image:
    return PILImage.new("RGB", size, colour)


def encode(im: PILImage.Image, fmt: str, **options) -> bytes:
    buffer = io.BytesIO()
    im.save(buffer, fmt, **options)
    return buffer.getvalue()


def test_jpeg_with_gps_exif():
    data = encode(picture(), "JPEG", exif=exif_with(gps=True, orientation=6))
    report = probe(data)
    assert report.gps_frames == [0]
    (block,) = report.frame(0).exif
    assert block.gps_ifd and block.gps_position
    assert block.gps_tags == [1, 2, 3, 4]
    assert block.orientation == 6
    assert ("IFD0", MAKE) in block.tags
    clean = probe(encode(picture(), "JPEG"))
    assert clean.findings(allow_orientation=False) == [] and not clean.has_exif


def test_mpo_whose_second_frame_carries_gps():
    first, second = picture("red"), picture("blue")
    second.encoderinfo = {"exif": exif_with(gps=True).tobytes()}
    data = encode(first, "MPO", save_all=True, append_images=[second])
    with PILImage.open(io.BytesIO(data)) as im:  # Pillow reads the file as built
        assert im.format == "MPO" and im.n_frames == 2
        assert im.getexif().get_ifd(GPS_IFD) == {}
        im.seek(1)
        assert im.getexif().get_ifd(GPS_IFD)
    report = probe(data)
    assert len(report.frames) == 2
    assert report.gps_frames == [1]
    assert "MPF entry 2" in report.frame(1).where
    assert report.frame(0).segments == ["APP0 JFIF", "APP2 MPF"]
    assert report.frame(1).gps_position


def test_a_jpeg_appended_to_a_clean_jpeg_is_seen():
    data = encode(picture(), "JPEG") + encode(picture("blue"), "JPEG", exif=exif_with(gps=True))
    report = probe(data)
    assert report.gps_frames == [1]
    assert "after the end of the previous one" in report.frame(1).where
    junk = probe(encode(picture(), "JPEG") + b"\x00trailing bytes")
    assert junk.trailing == 15
    assert junk.findings() == ["15 bytes after the end of the jpeg container"]


def gif_with_application_extension(gif: bytes, identifier: bytes, payload: bytes) -> bytes:
    """`gif` with an application extension after its global colour table, XMP-style: the
    payload as raw bytes, then the 258-byte 'magic trailer' that ends any sub-block walk."""
    flags = gif[10]
    at = 13 + (3 << ((flags & 7) + 1) if flags & 0x80 else 0)
    trailer = b"\x01" + bytes(range(255, -1, -1)) + b"\x00"
    extension = b"\x21\xff\x0b" + identifier + payload + trailer
    return gif[:at] + extension + gif[at:]


def test_gif_with_xmp_holding_gps(tmp_path):
    plain = encode(picture().convert("P"), "GIF")
    data = gif_with_application_extension(plain, b"XMP DataXMP", XMP_GPS)
    with PILImage.open(io.BytesIO(data)) as im:  # still a GIF Pillow reads (it skips the XMP)
        im.load()
        assert im.size == (64, 48)
    if exiftool_available():
        (tmp_path / "xmp.gif").write_bytes(data)
        assert exiftool_gps([tmp_path / "xmp.gif"]) == {
            "xmp.gif": ["XMP-exif:Main:GPSLatitude", "XMP-exif:Main:GPSLongitude"]
        }
    report = probe(data)
    assert report.gps_frames == [0]
    (xmp,) = report.frame(0).xmp
    assert xmp.gps_fields == ["exif:GPSLatitude", "exif:GPSLongitude"]
    assert report.trailing == 0 and not report.errors
    assert probe(plain).findings() == []


def test_gif_comment_after_the_last_frame_belongs_to_it():
    frames = [picture(colour).convert("P") for colour in ("red", "blue")]
    data = encode(frames[0], "GIF", save_all=True, append_images=frames[1:])
    data = data[:-1] + b"\x21\xfe\x05near!\x00" + data[-1:]  # a comment before the trailer
    report = probe(data)
    assert len(report.frames) == 2
    assert report.frame(1).comments == [b"near!"]
    assert report.frame(1).segments[-1] == "comment (after the last image)"


def test_png_with_xmp_in_itxt():
    info = PngImagePlugin.PngInfo()
    info.add_itxt("XML:com.adobe.xmp", XMP_GPS.decode("utf-8"), zip=True)
    report = probe(encode(picture(), "PNG", pnginfo=info))
    (xmp,) = report.frame(0).xmp
    assert xmp.source.startswith("iTXt") and xmp.gps
    assert report.gps_frames == [0]
    assert probe(encode(picture(), "PNG")).findings(allow_orientation=False) == []


def test_png_and_webp_with_gps_exif():
    for fmt, source in (("PNG", "eXIf"), ("WEBP", "EXIF")):
        report = probe(encode(picture(), fmt, exif=exif_with(gps=True)))
        assert report.gps_frames == [0], fmt
        assert report.frame(0).exif[0].source.startswith(source)


def test_webp_xmp_and_text_in_png():
    webp = probe(encode(picture(), "WEBP", xmp=XMP_GPS))
    assert webp.frame(0).xmp[0].gps
    info = PngImagePlugin.PngInfo()
    info.add_text("Comment", "taken at home")
    info.add_text("GPSPosition", "52.52 N, 13.41 E")
    png = probe(encode(picture(), "PNG", pnginfo=info)).frame(0)
    assert png.comments == [b"taken at home"]
    assert png.gps and png.gps_text == ["tEXt at 66 'GPSPosition'"]


def test_gps_in_a_photoshop_resource_of_a_jpeg():
    tiff = exif_with(gps=True).tobytes()[6:]
    resource = b"8BIM" + struct.pack(">H", 0x0422) + b"\x00\x00" + struct.pack(">I", len(tiff))
    payload = b"Photoshop 3.0\x00" + resource + tiff + b"\x00" * (len(tiff) & 1)
    segment = b"\xff\xed" + struct.pack(">H", len(payload) + 2) + payload
    plain = encode(picture(), "JPEG")
    report = probe(plain[:2] + segment + plain[2:])
    assert report.gps_frames == [0]
    assert report.frame(0).exif[0].source == "APP13 at 2 resource 0x0422"


def test_truncated_and_foreign_input_does_not_raise():
    data = encode(picture(), "JPEG", exif=exif_with(gps=True))
    for cut in (3, 10, 40, len(data) // 2):
        assert probe(data[:cut]).errors
    assert probe(b"not an image").format == "unknown"
    assert probe(corpus_file("pug.heic").read()[:5000]).errors
