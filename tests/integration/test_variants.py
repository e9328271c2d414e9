"""`make run` makes the WebP and AVIF variants after an upload, in the background: the upload
answers first, and shortly after, the image's `sources` list every size in every format, with
URLs a browser can fetch (and cache: the same URLs when listed again)."""

from __future__ import annotations

import io
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import pytest
import requests
from PIL import Image as PILImage

from scripts.local_env import run_local
from tests.conftest import SERVER_SETTINGS, photo
from tests.iphone import check_iphone_heics

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
USER = {"X-User-Id": "variants"}
SIZES = ("small", "medium", "square")
Sources = dict[str, dict[str, str]]


@pytest.fixture(scope="module")
def running() -> Iterator[str]:
    """`scripts/run_local.py`, what `make run` starts, on free ports."""
    with run_local(SERVER_SETTINGS) as base:
        yield base


def test_variants_are_made_after_the_upload_and_listed(running):
    data = photo("JPEG", size=(1600, 1200), quality=90)
    response = requests.post(
        f"{running}/images",
        data=data,
        headers={**USER, "Content-Type": "image/jpeg"},
        timeout=60,
    )
    assert response.status_code == 201, response.text
    image = response.json()
    assert all(set(image["sources"][size]) == {"jpeg"} for size in SIZES)
    deadline = time.monotonic() + 60
    while True:
        got = requests.get(f"{running}/images/{image['image_id']}", headers=USER, timeout=30)
        sources = got.json()["sources"]
        if all(set(sources[size]) == {"jpeg", "webp", "avif"} for size in SIZES):
            break
        assert time.monotonic() < deadline, f"variants not made: {sources}"
        time.sleep(0.5)
    for size in SIZES:
        for fmt, url in sources[size].items():
            fetched = requests.get(url, timeout=30)
            assert fetched.status_code == 200, (size, fmt)
            with PILImage.open(io.BytesIO(fetched.content)) as im:
                assert im.format == {"jpeg": "JPEG", "webp": "WEBP", "avif": "AVIF"}[fmt]
    shown, listed = shown_and_listed(running, image["image_id"])
    if signed_at(shown) != signed_at(listed):  # a window boundary fell between the two: again
        shown, listed = shown_and_listed(running, image["image_id"])
    assert listed == shown  # cacheable: the same URLs within a window
    deleted = requests.delete(f"{running}/images/{image['image_id']}", headers=USER, timeout=30)
    assert deleted.status_code == 204


def shown_and_listed(running: str, image_id: str) -> tuple[Sources, Sources]:
    """The image's `sources` as GET /images/{id} shows them and as the listing does."""
    shown = requests.get(f"{running}/images/{image_id}", headers=USER, timeout=30)
    listed = requests.get(
        f"{running}/images", params={"user_id": USER["X-User-Id"]}, headers=USER, timeout=30
    )
    return shown.json()["sources"], listed.json()["items"][0]["sources"]


def signed_at(sources: Sources) -> set[str]:
    """The X-Amz-Date of every URL: the start of the window they were signed in."""
    return {
        parse_qs(urlparse(url).query)["X-Amz-Date"][0]
        for formats in sources.values()
        for url in formats.values()
    }


def test_real_iphone_heics_through_every_encoding(running):
    """Issue 13 locally: GPS-free originals, upright JPEG, WebP and AVIF in every size."""
    check_iphone_heics(running, {"X-User-Id": "iphone"}, events=False, timeout=180)
