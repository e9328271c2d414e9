"""Real iPhone HEICs over HTTP, as issue 13 asks, against any running deployment (`make run`'s
stack in tests/integration/test_variants.py, LocalStack in tests/e2e/test_localstack.py):
through the three encodings of `POST /images` and a direct upload, each comes back GPS-free,
and every size is there upright in JPEG, WebP and AVIF."""

from __future__ import annotations

import base64
import io
import time
from typing import Any

import requests
from PIL import Image as PILImage

from tests.corpus import corpus_file
from tests.metadata_probe import probe

SIZES = ("small", "medium", "square")
FORMATS = {"jpeg": "JPEG", "webp": "WEBP", "avif": "AVIF"}
# pug.heic (iPhone 13 Pro, GPS in its EXIF) is 4032x3024; arrow.heic (iPhone 8 Plus) is stored
# 4032x3024 and turned upright by its orientation: 3024x4032.
BOXES = {
    "pug.heic": {"small": (320, 240), "medium": (1080, 810), "square": (640, 640)},
    "arrow.heic": {"small": (240, 320), "medium": (810, 1080), "square": (640, 640)},
}


def upload(
    base: str, user: dict[str, str], data: bytes, encoding: str, events: bool
) -> dict[str, Any]:
    """The image after an upload of `data` with `encoding` (raw, multipart, json, direct)."""
    if encoding == "raw":
        response = requests.post(
            f"{base}/images", data=data, headers={**user, "Content-Type": "image/heic"}, timeout=120
        )
    elif encoding == "multipart":
        files = {"file": ("IMG_0042.HEIC", data, "image/heic")}
        response = requests.post(f"{base}/images", files=files, headers=user, timeout=120)
    elif encoding == "json":
        document = {"image_base64": base64.b64encode(data).decode(), "filename": "IMG_0042.HEIC"}
        response = requests.post(f"{base}/images", json=document, headers=user, timeout=120)
    else:
        return direct_upload(base, user, data, events)
    assert response.status_code == 201, (encoding, response.status_code, response.text[:300])
    image: dict[str, Any] = response.json()
    return image


def direct_upload(base: str, user: dict[str, str], data: bytes, events: bool) -> dict[str, Any]:
    started = requests.post(
        f"{base}/images/uploads",
        json={"content_type": "image/heic", "size": len(data), "filename": "IMG_0042.HEIC"},
        headers=user,
        timeout=60,
    )
    assert started.status_code == 201, started.text
    form = started.json()["upload"]
    files = {"file": ("IMG_0042.HEIC", data, "image/heic")}
    posted = requests.post(form["url"], data=form["fields"], files=files, timeout=120)
    assert posted.status_code in (200, 201, 204), posted.text[:300]
    path = f"{base}/images/{started.json()['image']['image_id']}"
    if events:  # the deployment's S3 event finalises it
        deadline = time.monotonic() + 120
        while True:
            image: dict[str, Any] = requests.get(path, headers=user, timeout=60).json()
            if image["status"] == "ready":
                return image
            assert time.monotonic() < deadline, f"still {image['status']} after 120 s"
            time.sleep(1)
    done = requests.post(f"{path}/complete", headers=user, timeout=120)
    assert done.status_code == 200, done.text
    completed: dict[str, Any] = done.json()
    return completed


def every_variant(base: str, user: dict[str, str], image_id: str, timeout: float) -> dict[str, Any]:
    """The image's `sources` once every size lists every format."""
    deadline = time.monotonic() + timeout
    while True:
        got = requests.get(f"{base}/images/{image_id}", headers=user, timeout=60)
        sources: dict[str, dict[str, str]] = got.json()["sources"]
        if all(set(sources[size]) == set(FORMATS) for size in SIZES):
            return sources
        assert time.monotonic() < deadline, f"variants not made after {timeout} s: {sources}"
        time.sleep(1)


def check_iphone_heics(base: str, user: dict[str, str], *, events: bool, timeout: float) -> None:
    """pug.heic through all four ways in, arrow.heic (turned by its orientation) raw; then
    the stored original of each is checked for GPS and every rendition for format and size."""
    uploads = [("pug.heic", encoding) for encoding in ("raw", "multipart", "json", "direct")]
    uploads.append(("arrow.heic", "raw"))
    made = []
    for name, encoding in uploads:
        data = corpus_file(name).read()
        image = upload(base, user, data, encoding, events)
        assert image["content_type"] == "image/heic", (name, encoding, image["content_type"])
        made.append((name, encoding, image["image_id"]))
    for name, encoding, image_id in made:
        where = (name, encoding)
        download = requests.get(f"{base}/images/{image_id}/download", headers=user, timeout=60)
        original = requests.get(download.json()["url"], timeout=120).content
        assert probe(original).findings() == [], (where, probe(original).findings())
        sources = every_variant(base, user, image_id, timeout)
        for size in SIZES:
            for fmt, url in sources[size].items():
                fetched = requests.get(url, timeout=60)
                assert fetched.status_code == 200, (where, size, fmt, fetched.status_code)
                with PILImage.open(io.BytesIO(fetched.content)) as im:
                    assert (im.format, im.size) == (FORMATS[fmt], BOXES[name][size]), (
                        where,
                        size,
                        fmt,
                        im.format,
                        im.size,
                    )
        deleted = requests.delete(f"{base}/images/{image_id}", headers=user, timeout=60)
        assert deleted.status_code == 204, (where, deleted.status_code)
