"""Performance figures of the image service, each a ratio to a floor measured in the same run.

    python scripts/bench.py [--tiny] [--strict] [--output PATH] [--profile-dir DIR]
                            [--only FIGURE,...]

Every figure divides what the app does by the least the same work could cost on the same
machine, measured in the same run, so the figures compare across machines and over time:

- upload_overhead: median `POST /images` (a ~200 KB photo, raw body) through the Chalice test
  client on moto's in-process mock, the variants step queued on SQS as deployed / the same work
  done directly (put the original, make and put each rendition with plain Pillow, one 1 KB
  put_item, one SQS message).
- read_overhead: median `GET /images/{id}` / one consistent get_item of the image's row.
- list_scaling: how much slower a tag page gets from 100 to 10,000 stored images, relative to
  how much slower the bare DynamoDB query for that page gets (moto's query cost grows with the
  table, the floor nets that out).
- read_amplification: items DynamoDB returned to the app per image listed, walking every
  page (default page size) of a tag with 10,000 images.
- cold_start: a fresh `import app` / a fresh `import boto3, chalice`.
- renditions: the three renditions of a 12-megapixel JPEG / Pillow's plain full decode of it,
  in a fresh process whose heap keeps freed memory, so that neither side pays page faults (the
  ratio in CPU time of the process is in the note: on a busy machine neither clock is steady).
- renditions_vs_libvips: the same / libvips (one thread) making the same three with
  thumbnail_buffer, alternating in the same fresh process.
- variant_ms: the AVIF and WebP variants of one medium rendition, decode included (recorded).
- modern_bytes: the medium renditions of 20 varied photos (scripts/tune_encoders.py's) in the
  format negotiated for Chromium's Accept header (AVIF) / their JPEG renditions, in bytes; each
  must also reach the SSIM of its JPEG against the same resized pixels, or the figure misses.
- upload_memory: peak RSS growth (the kernel's VmHWM, reset just before; in a fresh process)
  during a ~10 MiB upload through the API / 10 MiB.
- http_reads_rps: `GET /images/{id}` per second through `chalice local` with 8 clients.
- package_mb: the deployment zip `chalice package` builds, in MB (10^6 bytes).

Writes bench-results.json (one flat object) at the repository root, or `--output`. Misses are
printed as MISSED and the exit status stays 0, unless `--strict`. `--only` measures the named
figures (and any measured with them) and writes them only to an explicit `--output`. `--tiny`
runs every figure
with a few repetitions, 200 images and 80 HTTP reads, so that a test can check that the bench
still works (its figures mean nothing). `--profile-dir` writes pyinstrument reports of the app
side of the in-process figures (profiling inflates Python-heavy code, so read them as shares).
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import io
import json
import math
import os
import platform
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from itertools import count
from typing import TYPE_CHECKING, Any

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

if TYPE_CHECKING:
    from chalice.test import Client

    from chalicelib.service import ImageService

MIB = 1024 * 1024
USER = "bench-user"
TAG = "t"
LISTING_TABLE = "image-service-bench-listing"
HTTP_CLIENTS = 8

# Credentials and region before anything creates a boto3 client; never real ones.
FAKE_AWS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_REGION": "us-east-1",
}
FIGURES = (
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
)


@dataclass(frozen=True)
class Plan:
    """How much work each figure does: the full run, or `--tiny`."""

    reps: int = 31  # timed repetitions per median (after the warm-up)
    warmup: int = 3
    cold_reps: int = 31
    images_small: int = 100
    images_large: int = 10_000
    http_requests: int = 2_000
    cli_photos: int = 100  # imported by imgsvc -j 4
    gallery_photos: int = 20  # the first screen
    profile_dir: str | None = None


TINY = Plan(
    reps=3,
    warmup=1,
    cold_reps=3,
    images_small=100,
    images_large=200,
    http_requests=80,
    cli_photos=12,
    gallery_photos=2,  # the suite measures 10 against make run too (test_gallery_weight)
)


@dataclass(frozen=True)
class Figure:
    key: str
    value: float
    target: float | None  # the largest acceptable value; None: recorded only
    note: str = ""
    valid: bool = True  # False: a condition besides the value failed (noted)

    @property
    def passed(self) -> bool:
        return self.valid and (self.target is None or self.value <= self.target)


def log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


# ----- environment and shared helpers ---------------------------------------------------------


def prepare_environment() -> None:
    """Fake credentials, no endpoint override: every in-process AWS call goes to moto."""
    os.environ.update(FAKE_AWS)
    for name in ("AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL_DYNAMODB"):
        os.environ.pop(name, None)
    os.environ.pop("AWS_PROFILE", None)


def paired_medians(
    app_side: Callable[[], object],
    floor_side: Callable[[], object],
    plan: Plan,
    clock: Callable[[], float] = time.perf_counter,
) -> tuple[float, float]:
    """Median seconds of each side, alternating them so that drift hits both alike; by the
    wall clock, or by `clock` (time.process_time: CPU time of the process, all threads)."""
    for _ in range(plan.warmup):
        app_side()
        floor_side()
    gc.collect()
    app_times: list[float] = []
    floor_times: list[float] = []
    for _ in range(plan.reps):
        start = clock()
        app_side()
        app_times.append(clock() - start)
        start = clock()
        floor_side()
        floor_times.append(clock() - start)
    return statistics.median(app_times), statistics.median(floor_times)


def profile(plan: Plan, name: str, work: Callable[[], object], times: int) -> None:
    """With --profile-dir, run `work` under pyinstrument and write tree and flat reports."""
    if plan.profile_dir is None:
        return
    from pyinstrument import Profiler

    os.makedirs(plan.profile_dir, exist_ok=True)
    profiler = Profiler(interval=0.0002)
    profiler.start()
    for _ in range(times):
        work()
    profiler.stop()
    base = os.path.join(plan.profile_dir, name)
    with open(f"{base}.txt", "w", encoding="utf-8") as out:
        out.write(profiler.output_text(unicode=True, color=False))
    with open(f"{base}.flat.txt", "w", encoding="utf-8") as out:
        out.write(profiler.output_text(unicode=True, color=False, flat=True))
    log(f"profile of {name} ({times} runs) written to {base}.txt and {base}.flat.txt")


def expect(response: Any, status: int) -> Any:
    if response.status_code != status:
        raise RuntimeError(f"expected {status}, got {response.status_code}: {response.body!r}")
    return response


def photo(
    size: tuple[int, int],
    *,
    seed: int = 1,
    noise: float = 0.3,
    blur: float = 1.5,
    quality: int = 85,
) -> bytes:
    """A photo-like JPEG: smooth colour gradients under (optionally blurred) grain."""
    from PIL import Image, ImageFilter

    width, height = size
    rng = random.Random(seed)
    channels = (
        Image.linear_gradient("L").resize(size),
        Image.linear_gradient("L").rotate(90).resize(size),
        Image.radial_gradient("L").resize(size),
    )
    base = Image.merge("RGB", channels)
    grain = Image.frombytes("RGB", size, rng.randbytes(width * height * 3))
    if blur:
        grain = grain.filter(ImageFilter.GaussianBlur(blur))
    buffer = io.BytesIO()
    Image.blend(base, grain, noise).save(buffer, "JPEG", quality=quality)
    return buffer.getvalue()


def photo_near(limit: int) -> bytes:
    """A JPEG of 93-100% of `limit` bytes (under it), found by scaling its dimensions."""
    width = 3000
    for _ in range(8):
        size = (width, width * 3 // 4)
        data = photo(size, noise=0.6, blur=0, quality=95)
        if 0.93 * limit <= len(data) < limit:
            return data
        width = int(width * math.sqrt(0.97 * limit / len(data)))
    raise RuntimeError(f"could not make a JPEG just under {limit} bytes")


def machine() -> str:
    model = platform.processor() or platform.machine()
    with contextlib.suppress(OSError), open("/proc/cpuinfo", encoding="utf-8") as cpuinfo:
        for line in cpuinfo:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    return (
        f"{model}; {os.cpu_count()} cores; Python {platform.python_version()}; "
        f"{platform.platform()}"
    )


# ----- the in-process service on moto ---------------------------------------------------------


@dataclass
class Mocked:
    """The app wired to moto's in-process mock, plus plain boto3 clients for the floors."""

    client: Client
    service: ImageService
    s3: Any
    dynamodb: Any
    bucket: str
    table: str
    sqs: Any = None
    queue_url: str = ""


@contextlib.contextmanager
def mocked_app() -> Iterator[Mocked]:
    import boto3
    from chalice.test import Client
    from moto import mock_aws

    import app as app_module
    from chalicelib.aws import dynamodb_client, s3_client, sqs_client
    from chalicelib.dispatch import Queue
    from chalicelib.metadata import ImageTable
    from chalicelib.service import ImageService
    from chalicelib.storage import ImageStore
    from scripts.create_resources import create_resources

    settings = app_module.SETTINGS
    session = boto3.session.Session(region_name=settings.region)
    queue = "image-service-bench-variants"
    with mock_aws():
        create_resources(
            settings.bucket_name, settings.table_name, settings.region, None, session, queue
        )
        # Uploads pay what they pay deployed: the variants step queued on SQS.
        service = ImageService(
            settings,
            ImageStore(s3_client(settings.region), settings.bucket_name),
            ImageTable(dynamodb_client(settings.region), settings.table_name, settings.feed_shards),
            dispatch=Queue(sqs_client(settings.region), queue),
        )
        app_module._service = service
        try:
            with Client(app_module.app, stage_name="test", project_dir=ROOT) as client:
                sqs = session.client("sqs")
                yield Mocked(
                    client=client,
                    service=service,
                    s3=session.client("s3"),
                    dynamodb=session.client("dynamodb"),
                    bucket=settings.bucket_name,
                    table=settings.table_name,
                    sqs=sqs,
                    queue_url=sqs.get_queue_url(QueueName=queue)["QueueUrl"],
                )
        finally:
            app_module._service = None


def upload(client: Client, data: bytes) -> str:
    response = client.http.post(
        "/images", headers={"X-User-Id": USER, "Content-Type": "image/jpeg"}, body=data
    )
    image_id: str = json.loads(expect(response, 201).body)["image_id"]
    return image_id


def upload_and_read(env: Mocked, plan: Plan) -> tuple[Figure, Figure]:
    from PIL import Image, ImageOps

    from chalicelib.models import SIZES

    data = photo((1600, 1200))
    serial = count()
    filler = "x" * 900

    def floor_upload() -> None:
        n = next(serial)
        env.s3.put_object(
            Bucket=env.bucket, Key=f"floor/{n}/original", Body=data, ContentType="image/jpeg"
        )
        for name, side in SIZES.items():
            # Plain Pillow: open, thumbnail() with its defaults (draft decode, bicubic) or
            # ImageOps.fit (a centre crop) for the square, save.
            with Image.open(io.BytesIO(data)) as opened:
                if name == "square":
                    opened.draft("RGB", (side, side))
                    im = ImageOps.fit(opened, (side, side))
                else:
                    opened.thumbnail((side, side))
                    im = opened
                buffer = io.BytesIO()
                im.save(buffer, "JPEG", quality=85)  # the app's JPEG quality
            env.s3.put_object(
                Bucket=env.bucket,
                Key=f"floor/{n}/{name}",
                Body=buffer.getvalue(),
                ContentType="image/jpeg",
            )
        env.dynamodb.put_item(
            TableName=env.table,
            Item={"pk": {"S": f"floor#{n}"}, "sk": {"S": "floor"}, "data": {"S": filler}},
        )
        env.sqs.send_message(QueueUrl=env.queue_url, MessageBody=f'{{"image_id": "{n}"}}')

    log(f"upload_overhead: {len(data) / 1000:.0f} KB photo, {plan.reps} uploads each way")
    app_s, floor_s = paired_medians(lambda: upload(env.client, data), floor_upload, plan)
    profile(plan, "upload", lambda: upload(env.client, data), plan.reps)
    uploaded = Figure(
        "upload_overhead",
        app_s / floor_s,
        1.0,
        f"POST /images {app_s * 1000:.1f} ms / direct {floor_s * 1000:.1f} ms",
    )

    image_id = upload(env.client, data)
    path = f"/images/{image_id}"
    key = {"pk": {"S": f"image#{image_id}"}, "sk": {"S": "image"}}

    def app_read() -> None:
        expect(env.client.http.get(path, headers={"X-User-Id": USER}), 200)

    def floor_read() -> None:
        env.dynamodb.get_item(TableName=env.table, Key=key, ConsistentRead=True)

    log(f"read_overhead: {plan.reps} reads each way")
    app_s, floor_s = paired_medians(app_read, floor_read, plan)
    profile(plan, "read", app_read, plan.reps * 3)
    read = Figure(
        "read_overhead",
        app_s / floor_s,
        1.5,
        f"GET /images/{{id}} {app_s * 1000:.2f} ms / get_item {floor_s * 1000:.2f} ms",
    )
    return uploaded, read


# ----- listing ----------------------------------------------------------------------------


class _Recorder:
    """Stands in for the DynamoDB client under `ImageTable.save` and keeps what it would
    write, so seeded rows have exactly the app's layout without 10,000 transactions (moto
    deep-copies the whole table on every TransactWriteItems: seeding would be quadratic)."""

    def __init__(self) -> None:
        self.items: dict[tuple[str, str], dict[str, Any]] = {}

    @staticmethod
    def _key(item: dict[str, Any]) -> tuple[str, str]:
        return item["pk"]["S"], item["sk"]["S"]

    def put_item(self, **params: Any) -> None:
        self.items[self._key(params["Item"])] = params["Item"]

    def delete_item(self, **params: Any) -> None:
        self.items.pop(self._key(params["Key"]), None)

    def transact_write_items(self, TransactItems: list[dict[str, Any]]) -> None:
        for op in TransactItems:
            ((kind, params),) = op.items()
            (self.put_item if kind == "Put" else self.delete_item)(**params)


def seed(dynamodb: Any, table_name: str, first: int, how_many: int, feed_shards: int) -> None:
    """Store `how_many` ready images tagged TAG, one millisecond apart, as uploads leave them:
    `save(None, pending)` then `save(pending, ready)` through the app's ImageTable."""
    from chalicelib.metadata import ImageTable
    from chalicelib.models import Image, Rendition, iso_millis, new_image_id

    recorder = _Recorder()
    table = ImageTable(recorder, table_name, feed_shards)
    epoch = datetime(2025, 1, 1, tzinfo=UTC)
    renditions = {
        "small": Rendition(content_type="image/jpeg", width=320, height=240, size=20_000),
        "medium": Rendition(content_type="image/jpeg", width=1080, height=810, size=120_000),
    }
    for n in range(first, first + how_many):
        image_id = new_image_id()
        created = epoch + timedelta(milliseconds=n)
        pending = Image(
            image_id=image_id,
            user_id=f"user{n % 50}",
            title=f"Bench image {n}",
            description="",
            tags=(TAG,),
            filename=f"{image_id}.jpg",
            content_type="image/jpeg",
            size=200_000,
            created_at=iso_millis(created),
            updated_at=iso_millis(created),
            status="pending",
            cleanup_at=iso_millis(created + timedelta(days=1)),
        )
        saved = table.save(None, pending)
        assert saved is not None
        ready = saved.changed(
            status="ready",
            width=1600,
            height=1200,
            sha256=f"{n:064x}",
            renditions=renditions,
            cleanup_at=None,
        )
        table.save(saved, ready)
    items = list(recorder.items.values())
    for start in range(0, len(items), 25):
        batch = [{"PutRequest": {"Item": item}} for item in items[start : start + 25]]
        unprocessed: dict[str, Any] = {table_name: batch}
        while unprocessed:
            unprocessed = dynamodb.batch_write_item(RequestItems=unprocessed)["UnprocessedItems"]


def listing(env: Mocked, plan: Plan) -> tuple[Figure, Figure]:
    import app as app_module
    from chalicelib.aws import dynamodb_client
    from chalicelib.metadata import ImageTable
    from chalicelib.parsing import decode_params, list_filter
    from chalicelib.schemas import ListQuery
    from chalicelib.service import ImageService
    from scripts.create_resources import create_table

    settings = replace(env.service.settings, table_name=LISTING_TABLE)
    create_table(env.dynamodb, LISTING_TABLE)
    table = ImageTable(dynamodb_client(settings.region), LISTING_TABLE, settings.feed_shards)
    service = ImageService(settings, env.service.store, table)
    app_module._service = service
    path = f"/images?tag={TAG}&limit=20"

    def app_page() -> None:
        got = json.loads(expect(env.client.http.get(path, headers={"X-User-Id": USER}), 200).body)
        if got["count"] != 20:
            raise RuntimeError(f"expected a page of 20, got {got['count']}")

    def floor_page() -> None:
        env.dynamodb.query(
            TableName=LISTING_TABLE,
            KeyConditionExpression="#pk = :pk",
            ExpressionAttributeNames={"#pk": "pk"},
            ExpressionAttributeValues={":pk": {"S": f"tag#{TAG}"}},
            ScanIndexForward=False,
            Limit=21,
            ConsistentRead=True,
        )

    try:
        medians: dict[int, tuple[float, float]] = {}
        stored = 0
        for size in (plan.images_small, plan.images_large):
            started = time.perf_counter()
            seed(env.dynamodb, LISTING_TABLE, stored, size - stored, settings.feed_shards)
            stored = size
            log(f"list_scaling: {size:,} images seeded in {time.perf_counter() - started:.1f} s")
            # One warm-up at the large size, where each call costs hundreds of ms on moto.
            warmup = plan.warmup if size == plan.images_small else 1
            medians[size] = paired_medians(app_page, floor_page, replace(plan, warmup=warmup))
        profile(plan, "list", app_page, plan.reps)

        log(f"read_amplification: walking every page of tag {TAG!r} ({stored:,} images)")
        started = time.perf_counter()
        table.stats.items_read = 0
        seen: set[str] = set()
        listed = 0
        token: str | None = None
        pages = page_size = 0
        while True:
            # The default page size, as a client that does not ask for one gets.
            params = decode_params({"tag": TAG}, ListQuery)
            items, token = service.list_images(list_filter(params), params.limit, token)
            listed += len(items)
            pages, page_size = pages + 1, params.limit
            seen.update(image.image_id for image in items)
            if token is None:
                break
        if listed != stored or len(seen) != stored:
            raise RuntimeError(f"the walk listed {listed} ({len(seen)} distinct) of {stored}")
        log(f"walked {listed:,} images in {time.perf_counter() - started:.1f} s")
    finally:
        app_module._service = env.service

    (app_small, floor_small), (app_large, floor_large) = medians.values()
    small, large = plan.images_small, plan.images_large
    scaling = Figure(
        "list_scaling",
        (app_large / app_small) / (floor_large / floor_small),
        1.3,
        f"app {app_small * 1000:.1f} -> {app_large * 1000:.1f} ms, "
        f"query {floor_small * 1000:.1f} -> {floor_large * 1000:.1f} ms ({small:,} -> {large:,})",
    )
    amplification = Figure(
        "read_amplification",
        table.stats.items_read / listed,
        1.5,
        f"{table.stats.items_read:,} items read for {listed:,} listed "
        f"({pages} pages of {page_size}, through ImageService.list_images)",
    )
    return scaling, amplification


def in_process(plan: Plan) -> list[Figure]:
    # The app's log lines are written as deployed (their cost is measured) but not shown.
    with open(os.devnull, "w") as quiet, contextlib.redirect_stdout(quiet), mocked_app() as env:
        uploaded, read = upload_and_read(env, plan)
        scaling, amplification = listing(env, plan)
    return [uploaded, read, scaling, amplification]


# ----- cold start, renditions, memory -----------------------------------------------------------


def cold_start(plan: Plan) -> Figure:
    def importing(statement: str) -> Callable[[], None]:
        command = [sys.executable, "-c", statement]

        def run() -> None:
            subprocess.run(command, cwd=ROOT, check=True)

        return run

    log(f"cold_start: {plan.cold_reps} fresh interpreters each way")
    app_s, floor_s = paired_medians(
        importing("import app"),
        importing("import boto3, chalice"),
        replace(plan, reps=plan.cold_reps, warmup=2),
    )
    return Figure(
        "cold_start",
        app_s / floor_s,
        1.2,
        f"import app {app_s * 1000:.0f} ms / import boto3, chalice {floor_s * 1000:.0f} ms",
    )


def in_child(photo_bytes: bytes, flags: list[str], env: dict[str, str] | None = None) -> Any:
    """Run this script in a fresh process with `flags` and the path of a file holding
    `photo_bytes` last; return the JSON object it prints on its last line."""
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "photo.jpg")
        with open(path, "wb") as out:
            out.write(photo_bytes)
        done = subprocess.run(
            [sys.executable, os.path.abspath(__file__), *flags, path],
            cwd=ROOT,
            env={**os.environ, **(env or {})},
            check=True,
            capture_output=True,
            text=True,
        )
    return json.loads(done.stdout.strip().splitlines()[-1])


# glibc keeps freed memory in the heap (no trim) and takes blocks up to 32 MiB from it (no
# separate mappings), so no side pays page faults for memory that it or the other side freed.
# Left to its defaults, whether the full decode's 48 MB come back from the kernel (~11,700 page
# faults, ~15 % of its time here) or from the heap depends on what the process allocated before:
# it did in a fresh process that read the photo from a file, not in one that had generated it.
STEADY_HEAP = {"MALLOC_TRIM_THRESHOLD_": str(1 << 40), "MALLOC_MMAP_THRESHOLD_": str(32 * MIB)}


def renditions(plan: Plan) -> list[Figure]:
    """The renditions step / a plain full decode, and / libvips making the same three, in a
    fresh process on a steady heap.

    A fresh process keeps the figure independent of the figures measured before it; the steady
    heap times every side on compute alone, the floor at its cheapest. libvips runs on one
    thread (VIPS_CONCURRENCY=1), as our code does."""
    from chalicelib import imaging
    from chalicelib.config import get_settings

    data = photo((4000, 3000), noise=0.3, blur=0.7, quality=92)
    log(f"renditions: 4000x3000 JPEG of {len(data) / MIB:.1f} MiB, {plan.reps} runs each way")
    measured = in_child(
        data,
        ["--renditions-child", "--child-reps", str(plan.reps), "--child-warmup", str(plan.warmup)],
        {**STEADY_HEAP, "VIPS_CONCURRENCY": "1"},
    )
    max_pixels = get_settings().max_image_pixels
    profile(plan, "renditions", lambda: imaging.process(data, "image/jpeg", max_pixels), plan.reps)
    app_s, floor_s = measured["app_s"], measured["floor_s"]
    app_vips_s, vips_s = measured["app_vips_s"], measured["vips_s"]
    return [
        Figure(
            "renditions",
            app_s / floor_s,
            1.15,
            f"small, medium and square of a 4000x3000 JPEG {app_s * 1000:.0f} ms / its full"
            f" decode {floor_s * 1000:.0f} ms; in CPU time {measured['cpu_ratio']:.2f};"
            f" page faults per run"
            f" {measured['app_faults']:,.0f} / {measured['floor_faults']:,.0f}",
        ),
        Figure(
            "renditions_vs_libvips",
            app_vips_s / vips_s,
            1.0,
            f"{app_vips_s * 1000:.0f} ms / libvips thumbnail_buffer making the same three (1080,"
            f" 320, 640 attention crop; Q=85) {vips_s * 1000:.0f} ms; against libvips decoding"
            f" once and resizing thrice: {measured['vips_once_ratio']:.2f}",
        ),
        variant_time(data, max_pixels, plan),
    ]


def variant_time(data: bytes, max_pixels: int, plan: Plan) -> Figure:
    """What the step after an upload costs for one size: the AVIF and WebP variants of the
    medium rendition, from the stored original (decode included)."""
    from chalicelib import imaging
    from chalicelib.config import get_settings

    wanted: list[tuple[Any, Any]] = [("medium", "avif"), ("medium", "webp")]

    tries = get_settings().variant_quality_search

    def make() -> None:
        imaging.variants(data, "image/jpeg", wanted, max_pixels, tries)

    make()
    runs = []
    for _ in range(max(1, plan.reps // 4)):  # 7 runs; --tiny: one (each takes seconds)
        started = time.perf_counter()
        make()
        runs.append(time.perf_counter() - started)
    ms = statistics.median(runs) * 1000
    return Figure(
        "variant_ms",
        ms,
        None,
        f"AVIF (quality searched in {tries} encodes) + WebP of the medium rendition of a"
        f" 4000x3000 JPEG, decode included: {ms:.0f} ms,"
        " made after the upload (a background thread locally, an SQS consumer deployed) or on"
        " the first request that asks for one",
    )


CHROMIUM_ACCEPT = "image/avif,image/webp,image/apng,image/svg+xml,image/*,*/*;q=0.8"


def modern_bytes(plan: Plan) -> Figure:
    """The medium renditions of the tuning photos as served to Chromium / as JPEG, in bytes,
    each checked to reach its JPEG's SSIM (scripts/tune_encoders.py chose the settings so)."""
    from chalicelib import imaging
    from chalicelib.config import get_settings
    from chalicelib.responses import negotiate
    from scripts.tune_encoders import MAX_PIXELS, decode, medium, photos, ssim

    fmt = negotiate("auto", CHROMIUM_ACCEPT)
    assert fmt is not None
    chosen = photos(1 if plan.reps < 5 else None)  # --tiny: one
    log(f"modern_bytes: {len(chosen)} photos, {fmt} for Chromium against JPEG")
    jpeg_total = modern_total = 0
    short: dict[str, float] = {}  # photo: how far below its JPEG's SSIM
    tries = get_settings().variant_quality_search
    for photo in chosen:
        m = medium(photo)
        made = imaging.variants(
            photo.data, photo.content_type, [("medium", fmt)], MAX_PIXELS, tries
        )
        data = made["medium", fmt].data
        jpeg_total += len(m.jpeg)
        modern_total += len(data)
        score = ssim(m.pixels, decode(data))
        if score < m.jpeg_ssim:
            short[photo.name] = m.jpeg_ssim - score
    options = ", ".join(f"{k} {v}" for k, v in imaging.SAVE_OPTIONS[fmt].items() if k != "format")
    if tries and fmt in imaging.SEARCH_FLOOR:
        options += f", quality searched per image in {tries} encodes"
    below = ", ".join(f"{name} -{gap:.4f}" for name, gap in short.items())
    return Figure(
        "modern_bytes",
        modern_total / jpeg_total,
        0.6,
        f"{fmt} ({options}) {modern_total / 1000:.0f} KB / JPEG q85 {jpeg_total / 1000:.0f} KB,"
        f" medium renditions of {len(chosen)} photos; {len(short)} below their JPEG's SSIM"
        f"{': ' + below if short else ''}",
        valid=not short,
    )


def renditions_child(path: str, reps: int, warmup: int) -> None:
    """In a fresh process: median seconds and page faults per run of each side."""
    from PIL import Image

    from chalicelib import imaging
    from chalicelib.config import get_settings

    with open(path, "rb") as source:
        data = source.read()
    max_pixels = get_settings().max_image_pixels

    def app_side() -> None:
        imaging.process(data, "image/jpeg", max_pixels)

    def floor_side() -> None:
        with Image.open(io.BytesIO(data)) as im:
            im.load()

    import pyvips

    def vips_side() -> None:
        """libvips as its documentation suggests: thumbnail_buffer per size (each shrinks on
        load), the square cut on libvips's own 'attention' (most interesting) region."""
        for side, crop in ((1080, None), (320, None), (640, "attention")):
            options = {"height": side, "crop": crop} if crop else {}
            pyvips.Image.thumbnail_buffer(data, side, **options).jpegsave_buffer(Q=85)

    def vips_once_side() -> None:
        medium = pyvips.Image.thumbnail_buffer(data, 1080).copy_memory()
        for im in (
            medium,
            medium.thumbnail_image(320),
            medium.thumbnail_image(640, height=640, crop="attention"),
        ):
            im.jpegsave_buffer(Q=85)

    plan = Plan(reps=reps, warmup=warmup)
    app_s, floor_s = paired_medians(app_side, floor_side, plan)
    app_vips_s, vips_s = paired_medians(app_side, vips_side, plan)
    app_once_s, vips_once_s = paired_medians(app_side, vips_once_side, plan)
    app_cpu_s, floor_cpu_s = paired_medians(app_side, floor_side, plan, time.process_time)
    print(
        json.dumps(
            {
                "app_s": app_s,
                "floor_s": floor_s,
                "cpu_ratio": app_cpu_s / floor_cpu_s,
                "app_vips_s": app_vips_s,
                "vips_s": vips_s,
                "vips_once_ratio": app_once_s / vips_once_s,
                "app_faults": page_faults(app_side),
                "floor_faults": page_faults(floor_side),
            }
        )
    )


def page_faults(work: Callable[[], object], runs: int = 3) -> float:
    """Minor page faults per run of `work`, after one run to settle."""
    work()
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    for _ in range(runs):
        work()
    return (resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before) / runs


def upload_memory(plan: Plan) -> Figure:
    from chalicelib.config import get_settings

    data = photo_near(get_settings().max_image_bytes)
    log(f"upload_memory: one {len(data) / MIB:.2f} MiB upload in a fresh process")
    measured = in_child(data, ["--memory-child"])
    growth = measured["growth_bytes"]
    return Figure(
        "upload_memory",
        growth / (10 * MIB),
        5.0,
        f"peak RSS ({measured['method']}) +{growth / MIB:.1f} MiB over "
        f"{measured['baseline_bytes'] / MIB:.0f} MiB for a {len(data) / MIB:.2f} MiB upload",
    )


def _proc_status_kib(field: str) -> int | None:
    """A `VmRSS`/`VmHWM` line of /proc/self/status in KiB (None where there is no /proc)."""
    with contextlib.suppress(OSError), open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith(f"{field}:"):
                return int(line.split()[1])
    return None


def _reset_peak_rss() -> bool:
    """Linux 4.0+: writing 5 to clear_refs resets VmHWM (the peak RSS) to the current RSS."""
    try:
        with open("/proc/self/clear_refs", "w", encoding="ascii") as clear_refs:
            clear_refs.write("5")
    except OSError:
        return False
    return True


def memory_child(path: str) -> None:
    """In a fresh process: how much one upload of the file at `path` raises the peak RSS.

    The peak is the kernel's high-water mark of the resident set (VmHWM), reset just before
    the upload. getrusage's ru_maxrss is the same counter, but it cannot be reset and Linux
    carries it over execve from the parent, so in a child of a large process it reads the
    parent's peak; it is used only where /proc is missing.
    """
    prepare_environment()
    with open(path, "rb") as source:
        data = source.read()
    with mocked_app() as env:
        upload(env.client, photo((640, 480)))  # imports, moto and Pillow set up, caches warm
        gc.collect()
        before = _proc_status_kib("VmRSS")
        if before is not None and _reset_peak_rss():
            method = "VmHWM"
        else:
            method, before = "ru_maxrss", resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        upload(env.client, data)
        if method == "VmHWM":
            after = _proc_status_kib("VmHWM") or 0
        else:
            after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    # Both are in KiB on Linux.
    print(
        json.dumps(
            {
                "growth_bytes": (after - before) * 1024,
                "baseline_bytes": before * 1024,
                "method": method,
            }
        )
    )


# ----- HTTP and packaging ---------------------------------------------------------------------


def http_reads(plan: Plan) -> Figure:
    import requests

    from scripts.local_env import local_stack

    per_client = max(1, plan.http_requests // HTTP_CLIENTS)
    with local_stack() as (base, _):
        posted = requests.post(
            f"{base}/images",
            data=photo((1600, 1200)),
            headers={"X-User-Id": USER, "Content-Type": "image/jpeg"},
            timeout=60,
        )
        posted.raise_for_status()
        url = f"{base}/images/{posted.json()['image_id']}"
        start = threading.Barrier(HTTP_CLIENTS + 1)
        failures: list[str] = []

        def client() -> None:
            with requests.Session() as http:
                http.headers["X-User-Id"] = USER
                for _ in range(2):  # connect and warm up before the clock starts
                    http.get(url, timeout=60)
                start.wait()
                for _ in range(per_client):
                    got = http.get(url, timeout=60)
                    if got.status_code != 200:
                        failures.append(f"{got.status_code} {got.text[:200]}")

        threads = [threading.Thread(target=client) for _ in range(HTTP_CLIENTS)]
        for thread in threads:
            thread.start()
        start.wait()
        began = time.perf_counter()
        for thread in threads:
            thread.join()
        elapsed = time.perf_counter() - began
        if failures:
            raise RuntimeError(f"{len(failures)} reads failed, e.g. {failures[0]}")
    total = per_client * HTTP_CLIENTS
    log(f"http_reads_rps: {total} reads in {elapsed:.1f} s")
    return Figure(
        "http_reads_rps",
        total / elapsed,
        None,
        f"{total} GETs, {HTTP_CLIENTS} clients, chalice local + moto server on this host",
    )


def clients(plan: Plan) -> list[Figure]:
    """The two clients against what `make run` starts: `imgsvc upload -j 4` of ~200 KB photos
    (cli_import_ips, images per second: recorded), then the gallery's first screen and a reload
    within the URL window in headless Chromium (gallery_first_kb: recorded;
    gallery_repeat_ratio: at most 0.1)."""
    from scripts.cli_bench import cli_import_ips
    from scripts.gallery_bench import gallery_figures
    from scripts.local_env import local_stack

    with local_stack() as (base, server_pid):
        # The gallery first: it waits for its photos' variants, which the stack makes in the
        # background after each upload (the import's hundred would come first otherwise).
        gallery = gallery_figures(base + "/", photos=plan.gallery_photos)
        run = cli_import_ips(base, count=plan.cli_photos, server_pid=server_pid)
        log(f"cli_import_ips: {run.ips:.2f} images/s")
    where = f"{plan.gallery_photos} photos, a fresh headless Chromium, make run's stack"
    return [
        Figure("cli_import_ips", run.ips, None, run.note),
        Figure("gallery_first_kb", gallery["gallery_first_kb"], None, where),
        Figure(
            "gallery_repeat_ratio",
            gallery["gallery_repeat_ratio"],
            0.1,
            f"a reload within the URL window: {gallery['repeat_kb']} KiB",
            valid=bool(gallery["same_urls"]),
        ),
    ]


def package_size() -> Figure:
    """The zip `make package` builds (prod stage, CloudFormation, as deployed to AWS)."""
    with tempfile.TemporaryDirectory() as out:
        done = subprocess.run(
            ["make", "package", f"PACKAGE_DIR={out}"],
            check=False,
            cwd=ROOT,
            capture_output=True,
            text=True,
        )
        if done.returncode != 0:
            raise RuntimeError(f"make package failed:\n{done.stdout}\n{done.stderr}")
        size = os.path.getsize(os.path.join(out, "deployment.zip"))
    log(f"package_mb: deployment.zip is {size:,} bytes")
    return Figure("package_mb", size / 1e6, 15.0, "make package (prod stage)")


# Which figures each measurement yields, in the order they run.
MEASURES: tuple[tuple[tuple[str, ...], Callable[[Plan], list[Figure]]], ...] = (
    (FIGURES[:4], lambda plan: in_process(plan)),
    (("cold_start",), lambda plan: [cold_start(plan)]),
    (("renditions", "renditions_vs_libvips", "variant_ms"), lambda plan: renditions(plan)),
    (("modern_bytes",), lambda plan: [modern_bytes(plan)]),
    (("upload_memory",), lambda plan: [upload_memory(plan)]),
    (("http_reads_rps",), lambda plan: [http_reads(plan)]),
    (("cli_import_ips", "gallery_first_kb", "gallery_repeat_ratio"), clients),
    (("package_mb",), lambda plan: [package_size()]),
)


# ----- report -----------------------------------------------------------------------------


def table(figures: list[Figure]) -> str:
    lines = [f"{'figure':<20} {'value':>10} {'target':>9}  result", "-" * 50]
    for figure in figures:
        target = "-" if figure.target is None else f"<= {figure.target:g}"
        result = "recorded" if figure.target is None else "ok" if figure.passed else "MISSED"
        lines.append(f"{figure.key:<20} {figure.value:>10.3f} {target:>9}  {result}")
        if figure.note:
            lines.append(f"{'':<20} {figure.note}")
    return "\n".join(lines)


def results(figures: list[Figure]) -> dict[str, Any]:
    by_key = {figure.key: round(figure.value, 4) for figure in figures}
    return {
        **{key: by_key[key] for key in FIGURES if key in by_key},
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": machine(),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tiny", action="store_true", help="a few repetitions, 200 images")
    parser.add_argument("--strict", action="store_true", help="exit 1 when a target is missed")
    parser.add_argument("--output", help="the JSON results (default: bench-results.json)")
    parser.add_argument(
        "--only", help=f"comma-separated figures to measure, of {','.join(FIGURES)}"
    )
    parser.add_argument("--profile-dir", help="write pyinstrument reports of the app side here")
    parser.add_argument("--memory-child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--renditions-child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--child-reps", type=int, default=Plan.reps, help=argparse.SUPPRESS)
    parser.add_argument("--child-warmup", type=int, default=Plan.warmup, help=argparse.SUPPRESS)
    parser.add_argument("photo", nargs="?", help=argparse.SUPPRESS)  # a child's input file
    args = parser.parse_args(argv)
    prepare_environment()
    if args.memory_child:
        memory_child(args.photo)
        return 0
    if args.renditions_child:
        renditions_child(args.photo, args.child_reps, args.child_warmup)
        return 0
    plan = replace(TINY if args.tiny else Plan(), profile_dir=args.profile_dir)
    only = set(args.only.split(",")) if args.only else set(FIGURES)
    if only - set(FIGURES):
        parser.error(f"unknown figures {sorted(only - set(FIGURES))}; there are {FIGURES}")
    began = time.perf_counter()
    figures: list[Figure] = []
    for measured, measure in MEASURES:
        if only & set(measured):
            figures += measure(plan)
    figures.sort(key=lambda figure: FIGURES.index(figure.key))
    print(table(figures))
    if args.only is None or args.output is not None:
        output = args.output or os.path.join(ROOT, "bench-results.json")
        with open(output, "w", encoding="utf-8") as out:
            json.dump(results(figures), out, indent=2)
            out.write("\n")
    missed = [figure.key for figure in figures if not figure.passed]
    print(
        f"\n{len(figures) - len(missed)} of {len(figures)} figures within target"
        f"{' (MISSED: ' + ', '.join(missed) + ')' if missed else ''}; "
        f"{time.perf_counter() - began:.0f} s"
        + (f"; written to {output}" if args.only is None or args.output is not None else "")
    )
    return 1 if args.strict and missed else 0


if __name__ == "__main__":
    sys.exit(main())
