"""Load over real HTTP: 8 concurrent clients against `chalice local` in front of moto's server.

Each client is a thread with its own `requests.Session`. Together they work through a fixed,
shuffled plan of uploads (small real images made by Pillow, from several users with varied
tags, as raw bodies, multipart forms and base64 JSON; every tenth one sent twice with the same
Idempotency-Key) interleaved with reads (GET /images/{id} of an image already made, and single
pages of the tag, user and feed listings). Every answer must have the expected status.
Afterwards every page of every user's listing, every tag's listing and the feed is walked: each
image this test made is listed exactly once where it belongs (and nowhere else), newest first.

Zero errors: a 503 counts as one too. (moto's backends are not thread-safe, so the emulator
handles one request at a time; see scripts/local_env.py.)

The figures (throughput, p50/p95 latency per kind of request) are printed (`-s` shows
them) and recorded as properties of the test (JUnit XML). They are the local stack's, whose
bottleneck is moto in the test process (one core, the GIL), not the app.
"""

from __future__ import annotations

import base64
import os
import queue
import random
import threading
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import pytest
import requests
from requests_toolbelt import MultipartEncoder

from tests.conftest import photo

pytestmark = pytest.mark.integration

CLIENTS = 8
# Here (2 cores): about 55 s on its own, 75 s in `make test` (the other worker busy).
UPLOADS = int(os.environ.get("LOAD_UPLOADS", "160"))
READS = int(os.environ.get("LOAD_READS", "800"))
USERS = 8
TAGS = 6
TIMEOUT = 60
RUN = uuid.uuid4().hex[:8]  # users and tags of this run only: the stack is shared
# Small real images, a few of each accepted type, with their content types.
IMAGES = [
    (photo(fmt, size=size, seed=seed), f"image/{fmt.lower()}")
    for seed in range(3)
    for fmt, size in (("JPEG", (48, 32)), ("PNG", (40, 30)), ("GIF", (32, 32)), ("WEBP", (48, 48)))
]
READ_KINDS = ("get", "list_tag", "list_user", "feed")


@dataclass(frozen=True)
class Made:
    image_id: str
    user: str
    tags: tuple[str, ...]


@dataclass
class Load:
    """What the clients share: the images made so far, latencies, wrong answers."""

    users: list[str]
    tags: list[str]
    made: list[Made] = field(default_factory=list)
    latencies: defaultdict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    errors: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def record(self, kind: str, seconds: float, error: str | None = None) -> None:
        with self.lock:
            self.latencies[kind].append(seconds)
            if error is not None:
                self.errors.append(f"{kind}: {error}")

    def fail(self, kind: str, error: str) -> None:
        with self.lock:
            self.errors.append(f"{kind}: {error}")

    def add(self, image: Made) -> None:
        with self.lock:
            self.made.append(image)

    def pick(self, rng: random.Random) -> Made | None:
        with self.lock:
            return rng.choice(self.made) if self.made else None


def client_session(user: str) -> requests.Session:
    """A client's own session; its connection is kept alive, as a real client's would be."""
    session = requests.Session()
    session.headers["X-User-Id"] = user
    return session


def call(
    load: Load, kind: str, send: Callable[[], requests.Response], expect: int
) -> requests.Response | None:
    """Send once, time it and check the status: anything else is an error."""
    started = time.perf_counter()
    try:
        response = send()
    except requests.RequestException as exc:
        load.record(kind, time.perf_counter() - started, f"{type(exc).__name__}: {exc}")
        return None
    elapsed = time.perf_counter() - started
    if response.status_code != expect:
        load.record(kind, elapsed, f"{response.status_code} {response.text[:300]}")
        return None
    load.record(kind, elapsed)
    return response
    raise AssertionError("unreachable")


def upload(load: Load, http: requests.Session, base: str, rng: random.Random, n: int) -> None:
    user = str(http.headers["X-User-Id"])
    tags = tuple(sorted(rng.sample(load.tags, rng.randint(0, 3))))
    data, content_type = rng.choice(IMAGES)
    title = f"load {n}"
    encoding = ("raw", "multipart", "json")[n % 3]
    headers = {"Idempotency-Key": f"{RUN}-{n}"} if n % 10 == 0 else {}
    request: dict[str, Any]
    if encoding == "raw":
        query = {"title": title, **({"tags": ",".join(tags)} if tags else {})}
        request = {"params": query, "data": data, "headers": {"Content-Type": content_type}}
    elif encoding == "multipart":
        fields: dict[str, Any] = {"title": title, "file": (f"p{n}.img", data, content_type)}
        if tags:
            fields["tags"] = ",".join(tags)
        form = MultipartEncoder(fields=fields)
        request = {"data": form.to_string(), "headers": {"Content-Type": form.content_type}}
    else:
        document: dict[str, Any] = {"image_base64": base64.b64encode(data).decode(), "title": title}
        if tags:
            document["tags"] = list(tags)
        request = {"json": document, "headers": {}}
    request["headers"].update(headers)

    def send() -> requests.Response:
        return http.post(f"{base}/images", timeout=TIMEOUT, **request)

    response = call(load, f"upload_{encoding}", send, 201)
    if response is None:
        return
    image = response.json()
    if sorted(image["tags"]) != list(tags) or image["user_id"] != user:
        load.fail("upload", f"sent tags {tags} as {user}, got {response.text[:300]}")
    if response.headers.get("Location") != f"{base}/images/{image['image_id']}":
        load.fail("upload", f"Location {response.headers.get('Location')}")
    load.add(Made(image["image_id"], user, tags))
    if headers:  # the same request again: the same image, not a second one
        again = call(load, "upload_replay", send, 201)
        if again is not None and again.json()["image_id"] != image["image_id"]:
            load.fail("upload_replay", f"{image['image_id']} came back as {again.text[:200]}")


def read(load: Load, http: requests.Session, base: str, rng: random.Random) -> None:
    kind = rng.choice(READ_KINDS)
    made = load.pick(rng)
    if kind == "get" and made is not None:
        url = f"{base}/images/{made.image_id}"
        response = call(load, kind, lambda: http.get(url, timeout=TIMEOUT), 200)
        if response is not None and response.json()["image_id"] != made.image_id:
            load.fail(kind, f"asked for {made.image_id}, got {response.text[:200]}")
        return
    params: dict[str, str] = {"limit": str(rng.choice((10, 20, 50)))}
    if kind == "list_tag":
        params["tag"] = rng.choice(load.tags)
    elif kind == "list_user":
        params["user_id"] = rng.choice(load.users)
    else:
        kind = "feed"

    def send() -> requests.Response:
        return http.get(f"{base}/images", params=params, timeout=TIMEOUT)

    response = call(load, kind, send, 200)
    if response is not None and not isinstance(response.json().get("items"), list):
        load.fail(kind, f"no items: {response.text[:200]}")


def walk(http: requests.Session, base: str, **query: str) -> Iterator[dict[str, Any]]:
    """Every item of a listing, following next_token to the end."""
    token: str | None = None
    while True:
        params = {**query, "limit": "100", **({"next_token": token} if token else {})}
        response = http.get(f"{base}/images", params=params, timeout=TIMEOUT)
        assert response.status_code == 200, response.text
        page = response.json()
        yield from page["items"]
        token = page["next_token"]
        if token is None:
            return


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def report(load: Load, wall: float, record_property: Callable[[str, object], None]) -> None:
    total = sum(len(v) for v in load.latencies.values())
    lines = [
        f"load: {CLIENTS} clients, {total} requests in {wall:.1f} s = {total / wall:.1f} req/s"
    ]
    record_property("clients", CLIENTS)
    record_property("requests", total)
    record_property("seconds", round(wall, 2))
    record_property("requests_per_second", round(total / wall, 1))
    for kind, values in sorted(load.latencies.items()):
        p50, p95 = percentile(values, 0.50) * 1000, percentile(values, 0.95) * 1000
        lines.append(f"  {kind:<17} n={len(values):<5} p50={p50:7.1f} ms  p95={p95:7.1f} ms")
        record_property(f"{kind}_count", len(values))
        record_property(f"{kind}_p50_ms", round(p50, 1))
        record_property(f"{kind}_p95_ms", round(p95, 1))
    print("\n" + "\n".join(lines))


def test_concurrent_uploads_and_reads_then_each_image_listed_exactly_once(
    stack: Any, record_property: Callable[[str, object], None]
) -> None:
    load = Load(
        users=[f"load-{RUN}-u{i}" for i in range(USERS)],
        tags=[f"ld{RUN}t{i}" for i in range(TAGS)],
    )
    plan = ["upload"] * (UPLOADS - CLIENTS) + ["read"] * READS
    random.Random(RUN).shuffle(plan)
    tasks: queue.SimpleQueue[tuple[int, str]] = queue.SimpleQueue()
    for n, task in enumerate(["upload"] * CLIENTS + plan):  # a first image each, then mixed
        tasks.put((n, task))

    def client(index: int) -> None:
        rng = random.Random(f"{RUN}-{index}")
        with client_session(load.users[index % USERS]) as http:
            while True:
                try:
                    n, task = tasks.get_nowait()
                except queue.Empty:
                    return
                if task == "upload":
                    upload(load, http, stack.base, rng, n)
                else:
                    read(load, http, stack.base, rng)

    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=CLIENTS) as pool:
        for future in [pool.submit(client, i) for i in range(CLIENTS)]:
            future.result()
    wall = time.perf_counter() - started
    report(load, wall, record_property)

    assert not load.errors, f"{len(load.errors)} wrong answers, e.g. {load.errors[:5]}"
    ours = {image.image_id: image for image in load.made}
    assert len(ours) == len(load.made) == UPLOADS

    def listed(http: requests.Session, **query: str) -> Counter[str]:
        items = list(walk(http, stack.base, **query))
        keys = [(item["created_at"], item["image_id"]) for item in items]
        assert keys == sorted(keys, reverse=True), f"not newest first: {query}"
        return Counter(item["image_id"] for item in items if item["image_id"] in ours)

    with client_session(load.users[0]) as http:
        for user in load.users:
            expected = {i.image_id for i in load.made if i.user == user}
            assert listed(http, user_id=user) == dict.fromkeys(expected, 1), user
        for tag in load.tags:
            expected = {i.image_id for i in load.made if tag in i.tags}
            assert listed(http, tag=tag) == dict.fromkeys(expected, 1), tag
        assert listed(http) == dict.fromkeys(ours, 1), "feed"
