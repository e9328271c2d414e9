"""Two mutations of one image at once, over HTTP against chalice local and moto's server.

For each pair, many rounds: both requests are released together, neither may get a 5xx,
the outcome must be one that some serial order of the two gives, and the bucket and the
table are checked after every round (no object without its row, no row without its objects,
tag rows equal to the image's tags)."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from tests.conftest import photo
from tests.integration.conftest import Stack
from tests.integration.invariants import check_store, image_rows

pytestmark = pytest.mark.integration

ROUNDS = 12
PNG = photo("PNG", size=(40, 30))
JPEG = photo("JPEG", size=(400, 300))

Request = Callable[[requests.Session], requests.Response]


def together(*sent: Request) -> tuple[requests.Response, ...]:
    """The requests released at the same moment, each on its own connection."""
    barrier = threading.Barrier(len(sent))

    def run(request: Request) -> requests.Response:
        with requests.Session() as session:
            barrier.wait()
            return request(session)

    with ThreadPoolExecutor(len(sent)) as pool:
        futures = [pool.submit(run, request) for request in sent]
        return tuple(future.result(timeout=120) for future in futures)


def no_5xx(*responses: requests.Response) -> list[int]:
    statuses = [r.status_code for r in responses]
    for response in responses:
        assert response.status_code < 500, response.text
    return statuses


class Image:
    """One image of the user's, and the requests that change it."""

    def __init__(self, stack: Stack, user: dict[str, str], tags: str = "a,b"):
        self.stack, self.user = stack, user
        response = requests.post(
            f"{stack.base}/images",
            params={"tags": tags, "title": "first"},
            data=PNG,
            headers={**user, "Content-Type": "image/png"},
            timeout=30,
        )
        assert response.status_code == 201, response.text
        self.id = response.json()["image_id"]
        self.url = f"{stack.base}/images/{self.id}"

    def delete(self, http: requests.Session) -> requests.Response:
        return http.delete(self.url, headers=self.user)

    def patch(self, title: str, tags: list[str]) -> Request:
        return lambda http: http.patch(
            self.url, headers=self.user, json={"title": title, "tags": tags}
        )

    def complete(self, http: requests.Session) -> requests.Response:
        return http.post(f"{self.url}/complete", headers=self.user)


def direct_upload(stack: Stack, user: dict[str, str]) -> Image:
    """A pending image whose bytes are in the bucket, not yet finalised."""
    started = requests.post(
        f"{stack.base}/images/uploads",
        headers=user,
        json={"content_type": "image/jpeg", "size": len(JPEG), "tags": ["x"]},
        timeout=30,
    ).json()
    post = started["upload"]
    sent = requests.post(
        post["url"], data=post["fields"], files={"file": ("a.jpg", JPEG)}, timeout=30
    )
    assert sent.status_code in (200, 204), sent.text
    image = Image.__new__(Image)
    image.stack, image.user, image.id = stack, user, started["image"]["image_id"]
    image.url = f"{stack.base}/images/{image.id}"
    return image


def gone(stack: Stack, image: Image) -> None:
    assert requests.get(image.url, headers=image.user, timeout=30).status_code == 404
    assert image.id not in image_rows(stack)
    assert not [key for key in stack.objects() if image.id in key]


def test_delete_and_delete(stack, user):
    for _ in range(ROUNDS):
        image = Image(stack, user)
        statuses = no_5xx(*together(image.delete, image.delete))
        assert sorted(statuses) == [204, 404]
        gone(stack, image)
        check_store(stack, settled=False)


def test_delete_and_patch(stack, user):
    for _ in range(ROUNDS):
        image = Image(stack, user)
        deleted, patched = together(image.delete, image.patch("second", ["c"]))
        assert no_5xx(deleted, patched) in ([204, 200], [204, 404])
        gone(stack, image)
        check_store(stack, settled=False)


def test_patch_and_patch(stack, user):
    for _ in range(ROUNDS):
        image = Image(stack, user)
        first, second = together(image.patch("one", ["p", "q"]), image.patch("two", ["q", "r"]))
        assert no_5xx(first, second) == [200, 200]
        final = requests.get(image.url, headers=user, timeout=30).json()
        assert (final["title"], final["tags"]) in (("one", ["p", "q"]), ("two", ["q", "r"]))
        check_store(stack, settled=False)


def test_complete_and_delete(stack, user):
    for _ in range(ROUNDS):
        image = direct_upload(stack, user)
        completed, deleted = together(image.complete, image.delete)
        # complete first: 200 then 204; delete first: 204 then 404.
        assert no_5xx(completed, deleted) in ([200, 204], [404, 204])
        gone(stack, image)
        check_store(stack, settled=False)


def test_complete_and_complete(stack, user):
    for _ in range(ROUNDS):
        image = direct_upload(stack, user)
        first, second = together(image.complete, image.complete)
        assert no_5xx(first, second) == [200, 200]
        assert first.json()["status"] == second.json()["status"] == "ready"
        assert first.json()["sha256"] == second.json()["sha256"]
        assert not [key for key in stack.objects() if key.startswith(f"uploads/{image.id}")]
        check_store(stack, settled=False)


def test_complete_and_patch_of_a_pending_image(stack, user):
    for _ in range(ROUNDS):
        image = direct_upload(stack, user)
        completed, patched = together(image.complete, image.patch("named", ["y"]))
        assert no_5xx(completed, patched) == [200, 200]
        final = requests.get(image.url, headers=user, timeout=30).json()
        assert final["status"] == "ready" and (final["title"], final["tags"]) == ("named", ["y"])
        check_store(stack, settled=False)


def test_a_herd_asking_for_one_new_variant_gets_it_every_time(stack, user):
    """A new image's first visitors at once: each request for a variant not made yet makes
    it and records it in the row. None may fail (each used to retry the record five times
    in step with the others, and one in about twelve got a 409)."""
    for _ in range(3):
        image = Image(stack, user)

        def thumbnail(http: requests.Session, image: Image = image) -> requests.Response:
            return http.get(
                f"{image.url}/thumbnail",
                params={"size": "small", "format": "avif"},
                headers=user,
                allow_redirects=False,
            )

        statuses = no_5xx(*together(*[thumbnail] * 12))
        assert set(statuses) <= {200, 302}, statuses
        got = requests.get(image.url, headers=user, timeout=30).json()
        assert "avif" in got["sources"]["small"]
        check_store(stack, settled=False)


def test_two_uploads_with_one_idempotency_key(stack, user):
    for _ in range(ROUNDS):
        key = uuid.uuid4().hex

        def upload(http: requests.Session, key: str = key) -> requests.Response:
            return http.post(
                f"{stack.base}/images",
                params={"title": "once"},
                data=PNG,
                headers={**user, "Content-Type": "image/png", "Idempotency-Key": key},
            )

        first, second = together(upload, upload)
        statuses = no_5xx(first, second)
        # Serially the second is a replay (201, same image); at once it may be told to retry.
        assert sorted(statuses) in ([201, 201], [201, 409])
        made = {r.json()["image_id"] for r in (first, second) if r.status_code == 201}
        assert len(made) == 1
        conflict = [r for r in (first, second) if r.status_code == 409]
        assert all(r.json()["error"]["code"] == "idempotency_conflict" for r in conflict)
        check_store(stack, settled=False)
    listed = requests.get(
        f"{stack.base}/images",
        params={"user_id": user["X-User-Id"], "limit": 100},
        headers=user,
        timeout=30,
    )
    assert listed.json()["count"] == ROUNDS
