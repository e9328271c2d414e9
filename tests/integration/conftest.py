"""Real HTTP: moto's server and `chalice local` on free ports, with a fault proxy between."""

from __future__ import annotations

import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

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
from tests.conftest import BUCKET, REGION, SCAN_ALLOWED, SESSION, TABLE
from tests.integration.fault_proxy import FaultProxy

pytestmark = pytest.mark.integration


@dataclass
class Stack:
    base: str
    proxy: FaultProxy
    s3: Any
    dynamodb: Any

    def objects(self) -> set[str]:
        keys: set[str] = set()
        for page in self.s3.get_paginator("list_objects_v2").paginate(Bucket=BUCKET):
            keys |= {obj["Key"] for obj in page.get("Contents", [])}
        return keys

    def rows(self) -> set[str]:
        SCAN_ALLOWED.append(True)  # the test inspects; the app never scans
        try:
            pages = self.dynamodb.get_paginator("scan").paginate(TableName=TABLE)
            return {f"{i['pk']['S']}|{i['sk']['S']}" for page in pages for i in page["Items"]}
        finally:
            SCAN_ALLOWED.pop()


@pytest.fixture(scope="session")
def stack() -> Iterator[Stack]:
    emulator = start_emulator()
    proxy = FaultProxy(emulator.url).start()
    create_resources(BUCKET, TABLE, REGION, emulator.url, session=SESSION)
    port = free_port()
    with tempfile.NamedTemporaryFile(prefix="chalice-local-", suffix=".log") as log:
        server = start_chalice_local(port, proxy.url, log=log)
        try:
            wait_for(f"http://127.0.0.1:{port}/health", timeout=60, process=server)
            yield Stack(
                base=f"http://127.0.0.1:{port}",
                proxy=proxy,
                s3=SESSION.client("s3", endpoint_url=emulator.url),
                dynamodb=SESSION.client("dynamodb", endpoint_url=emulator.url),
            )
        except BaseException:
            log.seek(0)
            print(log.read().decode(errors="replace")[-5000:])
            raise
        finally:
            stop_process(server)
            proxy.stop()
            emulator.stop()


@pytest.fixture(autouse=True)
def healed(stack: Stack) -> Iterator[None]:
    stack.proxy.heal()
    yield
    stack.proxy.heal()


@pytest.fixture
def http() -> Iterator[requests.Session]:
    with requests.Session() as session:
        yield session


@pytest.fixture
def user() -> dict[str, str]:
    return {"X-User-Id": f"user-{uuid.uuid4().hex[:12]}"}
