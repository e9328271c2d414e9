"""The deployed service: LocalStack on this host, `chalice-local deploy`, the smoke test.

This runs the deployment zip in a Lambda whose interpreter holds only awslambdaric and boto3,
as on AWS: a dependency missing from requirements.txt fails the smoke test here.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.iphone import check_iphone_heics

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]


def test_smoke_against_the_deployed_api(deployed: str) -> None:
    """Every route over API Gateway + Lambda, and the S3 event finaliser (no /complete)."""
    result = subprocess.run(
        [
            sys.executable,
            str(ROOT / "scripts" / "smoke.py"),
            deployed,
            "--wait-for-s3-event",
            "--wait-for-variants",
        ],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    print(result.stdout, result.stderr)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "FAIL" not in result.stdout


def test_real_iphone_heics_through_every_encoding(deployed: str) -> None:
    """Issue 13 on the deployment: direct uploads finalised by the S3 event, variants by the
    queue's consumer; GPS-free originals, upright JPEG, WebP and AVIF in every size."""
    check_iphone_heics(deployed.rstrip("/"), {"X-User-Id": "iphone"}, events=True, timeout=300)
