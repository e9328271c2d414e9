"""The deployed service: LocalStack on this host, `chalice-local deploy`, the smoke test.

This runs the deployment zip in a Lambda whose interpreter holds only awslambdaric and boto3,
as on AWS: a dependency missing from requirements.txt fails the smoke test here.
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest

from scripts import deploy_local

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
PORT = 4566


def load_host() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "localstack_host", ROOT / "infra" / "localstack" / "host.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def deployed() -> Iterator[str]:
    host = load_host()
    # A LocalStack the developer started is reused and left running; one we start, we stop.
    ours = not host.is_running()
    if ours:
        host.start(port=PORT)
    try:
        url = deploy_local.deploy(PORT)
        try:
            yield url
        finally:
            deploy_local.destroy(PORT)
    finally:
        if ours:
            host.stop()


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
