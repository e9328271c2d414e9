"""The gallery against the LocalStack deployment (API Gateway + Lambda, S3 in LocalStack):
the page under /restapis/<id>/api/_user_request_/, uploads straight to LocalStack's S3."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.browser.scenario import gallery_scenario

pytestmark = [pytest.mark.browser, pytest.mark.e2e]


def test_gallery_against_localstack(browser: Any, deployed: str, big_photo: Path) -> None:
    gallery_scenario(browser, deployed, big_photo, timeout_s=420)
