"""Shared fixtures: moto's in-process mock, the Chalice test client, real images."""

from __future__ import annotations

import copy
import dataclasses
import functools
import gc
import io
import os
import random
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any, TypeVar

import pytest

# Credentials and region before anything creates a boto3 client; never real ones.
for _name, _value in {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
}.items():
    os.environ[_name] = _value
for _name in (
    "AWS_ENDPOINT_URL",
    "AWS_ENDPOINT_URL_S3",
    "AWS_ENDPOINT_URL_DYNAMODB",
    "AWS_PROFILE",
):
    os.environ.pop(_name, None)

from chalicelib.config import Settings, get_settings  # noqa: E402

# boto3, moto, the app and Chalice's test client are imported where first used: xdist's
# controller loads this module too but runs no test, and they would cost it ~1.4 s before it
# starts the workers.
if TYPE_CHECKING:
    import boto3
    from chalice.test import Client

    from chalicelib.service import ImageService

# `make unit`, the quick loop, sets QUICK_TESTS=1: property tests then run a fifth of their
# examples (`make test` runs them all) and tests marked `slow` are left out.
QUICK = os.environ.get("QUICK_TESTS") == "1"


def examples(full: int) -> int:
    """How many examples a property test runs."""
    return max(10, full // 5) if QUICK else full


# An AVIF variant's quality search tries one quality (and the fixed one if that fails) rather
# than five, in process and in the `make run` and `chalice local` stacks the tests start: the
# route tests ask for variants of large JPEGs, the browser tests wait for those of ten photos,
# and the search is tested in tests/test_perceptual.py (the searches of five encodes were half
# the CPU time of the browser and variants tests, ~90 s). The LocalStack deployments and the
# benchmark keep the default.
SETTINGS = dataclasses.replace(get_settings(), variant_quality_search=1)
SERVER_SETTINGS = {"VARIANT_QUALITY_SEARCH": str(SETTINGS.variant_quality_search)}
BUCKET, TABLE, REGION = SETTINGS.bucket_name, SETTINGS.table_name, SETTINGS.region
ALICE = {"X-User-Id": "alice"}
BOB = {"X-User-Id": "bob"}
T = TypeVar("T")


@functools.cache
def session() -> boto3.session.Session:
    """One boto3 session for the tests' own clients: it caches the service models."""
    import boto3
    import moto  # noqa: F401  # adds its stubber to botocore's handlers, which a session copies

    return boto3.session.Session(region_name=REGION)


def __getattr__(name: str) -> Any:
    """`SESSION`, made on first use (see `session`)."""
    if name == "SESSION":
        return session()
    raise AttributeError(name)


class InProcessAWS:
    """moto's in-process mock, started once for the whole session by the first test that needs
    it, with the bucket, the table and one pair of clients. Tests that talk to a real emulator
    over HTTP (integration, e2e) stop it first, so that it intercepts none of their calls."""

    def __init__(self) -> None:
        self._mock: Any = None
        self.clients: dict[str, Any] = {}

    def start(self) -> dict[str, Any]:
        if self._mock is None:
            from moto import mock_aws

            from chalicelib.aws import dynamodb_client, s3_client
            from scripts import fast_moto
            from scripts.create_resources import create_resources

            fast_moto.install()  # five of moto's costs, same answers (see there)
            self._mock = mock_aws()
            self._mock.start()
            create_resources(BUCKET, TABLE, REGION, session=session())
            self.clients = {"s3": s3_client(REGION), "dynamodb": dynamodb_client(REGION)}
        return self.clients

    def stop(self) -> None:
        if self._mock is not None:
            self._mock.stop()
            self._mock = None


IN_PROCESS = InProcessAWS()


@pytest.fixture(autouse=True)
def _real_aws_for_integration(request: pytest.FixtureRequest) -> None:
    if request.node.get_closest_marker("integration") or request.node.get_closest_marker("e2e"):
        IN_PROCESS.stop()


# `make test` runs the server tests on two workers. Those that deploy to the one LocalStack or
# build into the project's own directories (chalice package's cache, vendor/) must not overlap:
# one xdist group, so one worker runs them one after another (`--dist loadgroup`).
ONE_AT_A_TIME = "localstack-and-builds"


@pytest.hookimpl(tryfirst=True)  # before xdist's own hook reads the groups
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if item.get_closest_marker("e2e") or item.get_closest_marker("builds"):
            item.add_marker(pytest.mark.xdist_group(ONE_AT_A_TIME))


def pytest_collection_finish() -> None:
    # What imports and collection made lives through the run: frozen, the collector stops
    # walking it again (pytest's own collections at the end of a run took ~1 s of each worker).
    gc.freeze()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        # One worker a core: the AVIF encoder's own threads (one a core by default) would
        # only contend with the other worker's.
        from PIL import AvifImagePlugin

        AvifImagePlugin.DEFAULT_MAX_THREADS = 1


def pytest_sessionfinish() -> None:
    IN_PROCESS.stop()


def _backends() -> tuple[dict[str, Any], dict[str, Any]]:
    """moto's own tables and buckets (inspected directly: no request, no Scan)."""
    from moto.core.models import DEFAULT_ACCOUNT_ID
    from moto.dynamodb.models import dynamodb_backends
    from moto.s3.models import s3_backends

    return (
        dynamodb_backends[DEFAULT_ACCOUNT_ID][REGION].tables,
        s3_backends[DEFAULT_ACCOUNT_ID]["aws"].buckets,
    )


def store_state() -> tuple[frozenset[str], frozenset[str]]:
    """Every object key and every row key (`pk|sk`) there is, cheaply, for before/after checks."""
    tables, buckets = _backends()
    rows = frozenset(
        f"{pk.value}|{sk.value}" for pk, by_sk in tables[TABLE].items.items() for sk in by_sk
    )
    return frozenset(buckets[BUCKET].keys.keys()), rows


def _reset() -> None:
    """Empty the bucket and the table (recreating them if a test removed them)."""
    tables, buckets = _backends()
    if TABLE not in tables or BUCKET not in buckets:
        from scripts.create_resources import create_resources

        create_resources(BUCKET, TABLE, REGION, session=session())
    tables[TABLE].items.clear()
    buckets[BUCKET].keys.clear()


class Seeds:
    """Uploads that a module's fixture makes before nearly every test, made through the routes
    once per worker; each later test starts from a copy of the bucket and the table as that
    upload left them (moto's own objects, deep-copied), instead of uploading again.

    A seed is made into an empty store, so the copy holds exactly what it made."""

    def __init__(self) -> None:
        self._made: dict[str, tuple[Any, Any, dict[str, list[Any]]]] = {}

    def get(self, name: str, make: Callable[[], T]) -> T:
        tables, buckets = _backends()
        table, bucket = tables[TABLE], buckets[BUCKET]
        assert store_state() == (frozenset(), frozenset()), f"seed {name!r} needs an empty store"
        if name not in self._made:
            result = make()
            keys = {key: bucket.keys.getlist(key) for key in bucket.keys}
            self._made[name] = (result, copy.deepcopy(table.items), copy.deepcopy(keys))
            return result
        result, items, keys = self._made[name]
        table.items.update(copy.deepcopy(items))
        for key, versions in copy.deepcopy(keys).items():
            bucket.keys.setlist(key, versions)
        return copy.deepcopy(result)


SEEDS = Seeds()


def make_service(clients: dict[str, Any], settings: Settings = SETTINGS) -> ImageService:
    from chalicelib.metadata import ImageTable
    from chalicelib.service import ImageService
    from chalicelib.storage import ImageStore

    return ImageService(
        settings,
        ImageStore(clients["s3"], settings.bucket_name),
        ImageTable(clients["dynamodb"], settings.table_name, settings.feed_shards),
    )


@pytest.fixture
def aws() -> Iterator[dict[str, Any]]:
    """An empty bucket and table for this test."""
    clients = IN_PROCESS.start()
    _reset()
    yield clients


@pytest.fixture
def service(aws: dict[str, Any]) -> Iterator[ImageService]:
    import app as app_module

    built = make_service(aws)
    app_module._service = built
    yield built
    app_module._service = None


@pytest.fixture
def client(service: ImageService) -> Iterator[Client]:
    from chalice.test import Client

    import app as app_module

    with Client(app_module.app, stage_name="test") as test_client:
        yield test_client


def photo(
    fmt: str = "JPEG", size: tuple[int, int] = (640, 480), seed: int = 1, **save: Any
) -> bytes:
    """A real, photo-like image (gradient plus noise) encoded by Pillow."""
    from PIL import Image as PILImage

    rng = random.Random(seed)
    width, height = size
    im = PILImage.linear_gradient("L").resize(size).convert("RGB")
    noise = PILImage.frombytes("RGB", size, rng.randbytes(width * height * 3))
    im = PILImage.blend(im, noise, 0.3)
    if fmt == "GIF":
        im = im.convert("P", palette=PILImage.Palette.ADAPTIVE)
    buffer = io.BytesIO()
    im.save(buffer, fmt, **save)
    return buffer.getvalue()


@pytest.fixture(scope="session")
def images() -> dict[str, bytes]:
    return {
        "image/jpeg": photo("JPEG", quality=90),
        "image/png": photo("PNG", size=(300, 200)),
        "image/gif": photo("GIF", size=(200, 150)),
        "image/webp": photo("WEBP", size=(500, 400), quality=80),
    }


@pytest.fixture(autouse=True)
def no_scans(monkeypatch: pytest.MonkeyPatch) -> None:
    """No request path may Scan: any Scan made by app code fails the test.

    Test helpers that inspect the table on purpose go through `allow_scan`.
    """
    from botocore.client import BaseClient

    original = BaseClient._make_api_call

    def guarded(self: Any, operation: str, params: dict[str, Any]) -> Any:
        if operation == "Scan" and not SCAN_ALLOWED:
            raise AssertionError(f"Scan called on {params.get('TableName')}")
        return original(self, operation, params)

    monkeypatch.setattr(BaseClient, "_make_api_call", guarded)


SCAN_ALLOWED: list[bool] = []
