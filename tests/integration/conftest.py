"""Real HTTP: moto's server and `chalice local` on free ports, with a fault proxy between."""

from __future__ import annotations

import os
import sys
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import boto3
import pytest
import requests

from scripts.create_resources import create_resources
from scripts.local_env import (
    free_port,
    start_chalice_local,
    start_emulator,
    stop_process,
    wait_for,
)
from tests.conftest import BUCKET, REGION, SCAN_ALLOWED, SERVER_SETTINGS, SESSION, TABLE
from tests.integration.fault_proxy import FaultProxy

pytestmark = pytest.mark.integration

# `make hostile URL=...`: the race and fuzz tests against that deployment, not a local stack.
DEPLOYED = os.environ.get("STACK_URL", "")

# A shell's foreground job starts with SIGINT and SIGHUP at their defaults. A command the tests
# signal gets the same even when this pytest inherited them ignored (nohup, a background job):
# Python, make and our runner keep an ignored signal ignored, so Ctrl-C would do nothing.
_DEFAULT_SIGNALS = (
    "import os, signal, sys\n"
    "for sig in (signal.SIGINT, signal.SIGHUP):\n"
    "    signal.signal(sig, signal.SIG_DFL)\n"
    "os.execvp(sys.argv[1], sys.argv[1:])\n"
)


def as_foreground_job(command: list[str]) -> list[str]:
    """`command`, started with SIGINT and SIGHUP at their defaults."""
    return [sys.executable, "-c", _DEFAULT_SIGNALS, *command]


@dataclass
class Stack:
    base: str
    fault_proxy: FaultProxy | None  # None: a deployment (`make hostile`)
    s3: Any
    dynamodb: Any
    log: Any = None  # chalice local's output, shown when a test fails
    emulator_url: str = ""
    bucket: str = BUCKET
    table: str = TABLE

    @property
    def proxy(self) -> FaultProxy:
        if self.fault_proxy is None:
            raise RuntimeError("a deployment has no fault proxy: this test needs make test's stack")
        return self.fault_proxy

    def log_tail(self, size: int = 8000) -> str:
        if self.log is None:
            return ""
        self.log.flush()
        with open(self.log.name, "rb") as read:
            read.seek(0, os.SEEK_END)
            read.seek(max(0, read.tell() - size))
            return read.read().decode(errors="replace")

    def objects(self) -> set[str]:
        keys: set[str] = set()
        for page in self.s3.get_paginator("list_objects_v2").paginate(Bucket=self.bucket):
            keys |= {obj["Key"] for obj in page.get("Contents", [])}
        return keys

    def rows(self) -> set[str]:
        SCAN_ALLOWED.append(True)  # the test inspects; the app never scans
        try:
            pages = self.dynamodb.get_paginator("scan").paginate(TableName=self.table)
            return {f"{i['pk']['S']}|{i['sk']['S']}" for page in pages for i in page["Items"]}
        finally:
            SCAN_ALLOWED.pop()


def deployed_stack(url: str) -> Stack:
    """A deployment in header mode (`make hostile`): its API root, and the bucket and table
    behind it, from STACK_BUCKET and STACK_TABLE (default: the `dev` stage's), through
    STACK_ENDPOINT (default: the URL's own host when it is this machine, i.e. LocalStack;
    else AWS with the environment's credentials)."""
    parts = urlsplit(url)
    local = parts.hostname in ("127.0.0.1", "localhost")
    endpoint = os.environ.get("STACK_ENDPOINT") or (
        f"{parts.scheme}://{parts.netloc}" if local else None
    )
    region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or REGION
    session = SESSION if endpoint else boto3.session.Session(region_name=region)
    return Stack(
        base=url.rstrip("/"),
        fault_proxy=None,
        s3=session.client("s3", endpoint_url=endpoint),
        dynamodb=session.client("dynamodb", endpoint_url=endpoint),
        bucket=os.environ.get("STACK_BUCKET", "image-service-dev"),
        table=os.environ.get("STACK_TABLE", "image-service-dev"),
    )


@pytest.fixture(scope="session")
def stack() -> Iterator[Stack]:
    if DEPLOYED:
        yield deployed_stack(DEPLOYED)
        return
    emulator = start_emulator()
    proxy = FaultProxy(emulator.url).start()
    create_resources(BUCKET, TABLE, REGION, emulator.url, session=SESSION)
    port = free_port()
    with tempfile.NamedTemporaryFile(prefix="chalice-local-", suffix=".log") as log:
        # The `test` stage is `local` without the background variants step, whose encoding
        # work would slow every test here; tests/integration/test_variants.py runs `local`.
        server = start_chalice_local(
            port, proxy.url, log=log, stage="test", settings=SERVER_SETTINGS
        )
        try:
            wait_for(f"http://127.0.0.1:{port}/health", timeout=60, process=server)
            yield Stack(
                base=f"http://127.0.0.1:{port}",
                fault_proxy=proxy,
                s3=SESSION.client("s3", endpoint_url=emulator.url),
                dynamodb=SESSION.client("dynamodb", endpoint_url=emulator.url),
                log=log,
                emulator_url=emulator.url,
            )
        except BaseException:
            log.seek(0)
            print(log.read().decode(errors="replace")[-5000:])
            raise
        finally:
            stop_process(server)
            proxy.stop()
            emulator.stop()


@pytest.fixture(scope="module", autouse=True)
def fresh_store(stack: Stack) -> None:
    """An empty emulator for each test module. moto copies a whole table for every
    TransactWriteItems (to roll back), so its cost, and the memory it churns, grow with the
    table: hundreds of images left by one module would slow every later one. (A deployment
    is kept: the tests make their own users and check its whole store as it is.)"""
    if stack.fault_proxy is None:
        return
    requests.post(f"{stack.emulator_url}/moto-api/reset", timeout=30).raise_for_status()
    create_resources(BUCKET, TABLE, REGION, stack.emulator_url, session=SESSION)


@pytest.fixture(autouse=True)
def healed(stack: Stack, request: pytest.FixtureRequest) -> Iterator[None]:
    if stack.fault_proxy is not None:
        stack.fault_proxy.heal()
    start = os.path.getsize(stack.log.name) if stack.log is not None else 0
    yield
    if stack.fault_proxy is not None:
        stack.fault_proxy.heal()
    report = getattr(request.node, "rep_call", None)
    if report is not None and report.failed and stack.log is not None:
        with open(stack.log.name, "rb") as read:
            read.seek(start)
            print(
                "chalice local said during this test:\n"
                + read.read().decode(errors="replace")[-8000:]
            )


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    report = yield
    if report.when == "call":
        item.rep_call = report  # type: ignore[attr-defined]
    return report


@pytest.fixture
def http() -> Iterator[requests.Session]:
    with requests.Session() as session:
        yield session


@pytest.fixture
def user() -> dict[str, str]:
    return {"X-User-Id": f"user-{uuid.uuid4().hex[:12]}"}
