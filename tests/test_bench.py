"""The benchmark still runs: `scripts/bench.py --tiny` end to end, every figure recorded.

Tiny mode measures too little for its figures to mean anything, so the targets are not
asserted here; `make bench` is the real run.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from datetime import datetime
from pathlib import Path

import pytest

# It starts moto's server, chalice local and `make package`: not part of the quick unit loop.
pytestmark = [pytest.mark.integration, pytest.mark.builds]

ROOT = Path(__file__).resolve().parent.parent
FIGURES = {
    "upload_overhead",
    "read_overhead",
    "list_scaling",
    "read_amplification",
    "cold_start",
    "renditions",
    "renditions_vs_libvips",
    "variant_ms",
    "modern_bytes",
    "upload_memory",
    "http_reads_rps",
    "cli_import_ips",
    "gallery_first_kb",
    "gallery_repeat_ratio",
    "package_mb",
}


def test_tiny_bench_records_every_figure(tmp_path: Path) -> None:
    output = tmp_path / "bench-results.json"
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_ENDPOINT_URL")}
    done = subprocess.run(
        [sys.executable, "scripts/bench.py", "--tiny", "--output", str(output)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr[-5000:]

    results = json.loads(output.read_text())
    assert set(results) == FIGURES | {"date", "machine"}
    for key in FIGURES:
        value = results[key]
        assert isinstance(value, int | float), (key, value)
        assert not isinstance(value, bool), (key, value)
        assert math.isfinite(value), (key, value)
        assert value >= 0, (key, value)
    assert datetime.fromisoformat(results["date"]).tzinfo is not None
    assert isinstance(results["machine"], str)
    assert "cores" in results["machine"]
    assert "Python" in results["machine"]
    for key in FIGURES:
        assert key in done.stdout  # the printed table names every figure
