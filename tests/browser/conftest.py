"""The gallery in a real browser: Debian's Chromium, headless, driven by Playwright.

No browser is no reason to skip: the tests fail, saying to run `make browser`.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from PIL import Image as PILImage

from scripts.gallery_bench import BrowserMissing, chromium, chromium_path
from scripts.local_env import run_local
from tests.conftest import SERVER_SETTINGS
from tests.corpus import corpus_file
from tests.e2e.conftest import deployment

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    """One headless Chromium for the session (each test opens contexts of its own)."""
    missing = ""
    try:
        chromium_path()
        import playwright.sync_api  # noqa: F401
    except BrowserMissing as exc:
        missing = str(exc)
    except ImportError:
        missing = "Playwright is not installed: `make install` (requirements-dev.txt) installs it"
    if missing:
        pytest.fail(f"the gallery tests need a browser: {missing}", pytrace=False)
    with chromium() as launched:
        yield launched


@pytest.fixture(scope="session")
def big_photo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real camera photo over MAX_IMAGE_BYTES (10 MiB), so the gallery sends it straight to
    S3: the Fujifilm MPO's first picture (3648x2736, 9.9 MB with both pictures, under the
    limit) re-encoded as a 17.7-megapixel JPEG at quality 100 (13.8 MB), like a phone's."""
    with PILImage.open(corpus_file("fujifilm.mpo").path) as im:
        im.seek(0)
        frame = im.convert("RGB")
    size = (frame.width * 4 // 3, frame.height * 4 // 3)
    buffer = io.BytesIO()
    frame.resize(size, PILImage.Resampling.LANCZOS).save(buffer, "JPEG", quality=100, subsampling=0)
    assert buffer.tell() > 10 * 1024 * 1024, buffer.tell()
    path = tmp_path_factory.mktemp("photos") / "fujifilm-large.jpg"
    path.write_bytes(buffer.getvalue())
    return path


@pytest.fixture(scope="module")
def running() -> Iterator[str]:
    """`scripts/run_local.py`, what `make run` starts, on free ports: the gallery's URL."""
    with run_local(SERVER_SETTINGS) as base:
        yield f"{base}/"


@pytest.fixture(scope="session")
def deployed() -> Iterator[str]:
    """The LocalStack deployment tests/e2e uses too (one per session)."""
    with deployment() as url:
        yield url
