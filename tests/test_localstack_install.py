"""infra/localstack/host.py's cached installs: one at a time into the same directory, side by
side into different ones (the executor tests' handler venv must not wait for LocalStack's)."""

from __future__ import annotations

import importlib.util
import threading
from pathlib import Path
from types import ModuleType

import pytest

HOST_PY = Path(__file__).resolve().parents[1] / "infra" / "localstack" / "host.py"


@pytest.fixture
def host(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    spec = importlib.util.spec_from_file_location("localstack_host_under_test", HOST_PY)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    monkeypatch.setattr(module, "CACHE", tmp_path)
    return module


def test_installs_into_different_directories_run_side_by_side(host, tmp_path):
    slow_started, slow_may_finish = threading.Event(), threading.Event()

    def slow() -> None:
        slow_started.set()
        assert slow_may_finish.wait(10)

    (tmp_path / "venv").mkdir()
    (tmp_path / "handler-venv").mkdir()
    big = threading.Thread(target=host._cached, args=("big", tmp_path / "venv" / "s", [], slow))
    big.start()
    assert slow_started.wait(10)
    ran = []
    small = threading.Thread(
        target=host._cached,
        args=("small", tmp_path / "handler-venv" / "s", [], lambda: ran.append("small")),
    )
    small.start()
    small.join(5)
    # the big install still holds its directory's lock: the small one elsewhere ran anyway
    assert ran == ["small"] and big.is_alive()
    slow_may_finish.set()
    big.join(10)
    assert not big.is_alive()


def test_a_second_install_into_the_same_directory_waits_then_finds_the_stamp(host, tmp_path):
    (tmp_path / "venv").mkdir()
    stamp = tmp_path / "venv" / "s"
    started, may_finish = threading.Event(), threading.Event()
    runs = []

    def install() -> None:
        runs.append("install")
        started.set()
        assert may_finish.wait(10)

    first = threading.Thread(target=host._cached, args=("venv", stamp, ["v1"], install))
    first.start()
    assert started.wait(10)
    second = threading.Thread(target=host._cached, args=("venv", stamp, ["v1"], install))
    second.start()
    second.join(0.3)
    assert second.is_alive()  # waiting for the first
    may_finish.set()
    first.join(10)
    second.join(10)
    assert runs == ["install"]  # the second found the stamp
    host._cached("venv", stamp, ["v2"], lambda: runs.append("update"))
    assert runs == ["install", "update"]  # new inputs: installed again
