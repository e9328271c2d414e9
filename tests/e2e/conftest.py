"""The LocalStack deployment the e2e tests share: one per session, whichever tests ask.

`deployed` is the invoke URL of the `dev` stage deployed to LocalStack on this host. The browser
tests (tests/browser) ask for it too, through their own fixture of that name: both go through
`deployment()`, which deploys once, counts who holds the deployment, and removes it when the
last one lets go (at the end of the session), so one session deploys once.
"""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import ModuleType

import pytest

from scripts import deploy_local

ROOT = Path(__file__).resolve().parents[2]
# The port `make localstack` uses (LOCALSTACK_PORT, as in mk/localstack.mk).
PORT = int(os.environ.get("LOCALSTACK_PORT", "4566"))


def load_host() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "localstack_host", ROOT / "infra" / "localstack" / "host.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class _Deployment:
    url: str | None = None
    holders = 0
    started_localstack = False


@contextmanager
def deployment() -> Iterator[str]:
    """The session's deployment: made by the first holder, removed after the last."""
    shared = _Deployment
    if shared.url is None:
        host = load_host()
        # A LocalStack the developer started is reused and left running; one we start, we stop.
        shared.started_localstack = not host.is_running()
        if shared.started_localstack:
            host.start(port=PORT)
        try:
            shared.url = deploy_local.deploy(PORT)
        except BaseException:
            if shared.started_localstack:
                host.stop()
            raise
    shared.holders += 1
    try:
        yield shared.url
    finally:
        shared.holders -= 1
        if shared.holders == 0:
            shared.url = None
            try:
                deploy_local.destroy(PORT)
            finally:
                if shared.started_localstack:
                    load_host().stop()


@pytest.fixture(scope="session")
def deployed() -> Iterator[str]:
    with deployment() as url:
        yield url
