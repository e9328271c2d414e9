"""A backend failure at each call of upload, update, delete and finalisation.

The proxy between `chalice local` and the emulator fails the chosen call and every later call
of the same kind (retries and undo attempts included). After each: the client got a 503 in the
error shape, without a traceback or the AWS message; the stored state is consistent (every
object belongs to a row, every ready row has its objects, every tag row mirrors a ready image);
and once the backend is back, the sweeper leaves no pending or half-deleted image behind.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from datetime import timedelta

import pytest
import requests

from chalicelib.metadata import ImageTable
from chalicelib.models import utcnow
from chalicelib.service import ImageService
from chalicelib.storage import ImageStore
from tests.conftest import BUCKET, SETTINGS, TABLE, photo
from tests.integration.conftest import Stack
from tests.integration.fault_proxy import Call
from tests.integration.invariants import check_store

pytestmark = pytest.mark.integration

JPEG = photo("JPEG", size=(700, 500))
USER = {"X-User-Id": "fault-tester"}


def upload(stack: Stack, http: requests.Session, tags: str = "a,b") -> requests.Response:
    return http.post(
        f"{stack.base}/images",
        params={"tags": tags},
        data=JPEG,
        headers={**USER, "Content-Type": "image/jpeg"},
    )


def ready_image(stack: Stack, http: requests.Session) -> str:
    response = upload(stack, http)
    assert response.status_code == 201, response.text
    return str(response.json()["image_id"])


def uploaded_direct(stack: Stack, http: requests.Session) -> str:
    started = http.post(
        f"{stack.base}/images/uploads",
        headers=USER,
        json={"content_type": "image/jpeg", "size": len(JPEG), "tags": ["a", "b"]},
    ).json()
    post = started["upload"]
    sent = http.post(post["url"], data=post["fields"], files={"file": ("x.jpg", JPEG)})
    assert sent.status_code in (200, 204)
    return str(started["image"]["image_id"])


# operation: (prepare -> image id or None, act -> response, status when healthy)
Operation = tuple[
    Callable[[Stack, requests.Session], str | None],
    Callable[[Stack, requests.Session, str | None], requests.Response],
    int,
]

OPERATIONS: dict[str, Operation] = {
    "upload": (lambda stack, http: None, lambda stack, http, _: upload(stack, http), 201),
    "update": (
        ready_image,
        lambda stack, http, image_id: http.patch(
            f"{stack.base}/images/{image_id}",
            headers=USER,
            json={"title": "new", "tags": ["b", "c"]},
        ),
        200,
    ),
    "delete": (
        ready_image,
        lambda stack, http, image_id: http.delete(f"{stack.base}/images/{image_id}", headers=USER),
        204,
    ),
    "finalise": (
        uploaded_direct,
        lambda stack, http, image_id: http.post(
            f"{stack.base}/images/{image_id}/complete", headers=USER
        ),
        200,
    ),
}


def call_positions(stack: Stack, http: requests.Session, name: str) -> list[tuple[Call, int]]:
    """The backend calls a healthy run of the operation makes: (call, occurrence index)."""
    prepare, act, status = OPERATIONS[name]
    image_id = prepare(stack, http)
    start = len(stack.proxy.calls)
    response = act(stack, http, image_id)
    assert response.status_code == status, response.text
    seen: Counter[tuple[str, str]] = Counter()
    positions = []
    for call in stack.proxy.calls[start:]:
        kind = (call.service, _kind(call))
        positions.append((call, seen[kind]))
        seen[kind] += 1
    return positions


def _kind(call: Call) -> str:
    """DynamoDB operation, or S3 method and key prefix (PUT images/, GET uploads/, ...)."""
    if call.service == "dynamodb":
        return call.operation
    method, path = call.operation.split(" ", 1)
    parts = path.strip("/").split("/")
    return f"{method} {parts[1] if len(parts) > 1 else ''}"


def matches(service: str, kind: str) -> Callable[[Call], bool]:
    return lambda call: call.service == service and _kind(call) == kind


def sweeper(stack: Stack) -> ImageService:
    """The scheduled sweeper, run here against the emulator, a day and more in the future."""
    return ImageService(
        SETTINGS,
        ImageStore(stack.s3, BUCKET),
        ImageTable(stack.dynamodb, TABLE, SETTINGS.feed_shards),
        clock=lambda: utcnow() + timedelta(hours=25),
    )


@pytest.mark.parametrize("name", list(OPERATIONS))
def test_a_failure_at_each_backend_call(stack, http, name):
    positions = call_positions(stack, http, name)
    assert len(positions) >= 2, positions
    prepare, act, _ = OPERATIONS[name]
    for call, occurrence in positions:
        stack.proxy.heal()
        image_id = prepare(stack, http)
        stack.proxy.fail_from(matches(call.service, _kind(call)), occurrence)
        response = act(stack, http, image_id)
        stack.proxy.heal()
        where = f"{name}: failing {call.service} {_kind(call)} #{occurrence}"
        if call.service == "s3" and _kind(call) == "POST " and name == "finalise":
            # Dropping the spent upload object is best effort (the lifecycle rule backs it).
            assert response.status_code == 200, where
        else:
            assert response.status_code == 503, f"{where}: {response.status_code} {response.text}"
            error = response.json()["error"]
            assert error["code"] == "service_unavailable", where
            assert "injected" not in response.text and "Traceback" not in response.text, where
        check_store(stack, settled=False)
    sweeper(stack).sweep(limit=1000)
    check_store(stack, settled=True)


def test_throttling_is_retried_by_botocore(stack, http):
    image_id = ready_image(stack, http)
    stack.proxy.fail(matches("dynamodb", "GetItem"), times=1, throttle=True)
    assert http.get(f"{stack.base}/images/{image_id}", headers=USER).status_code == 200
    stack.proxy.fail(matches("s3", "PUT images"), times=2, throttle=True)
    assert upload(stack, http).status_code == 201
    throttled = [c for c in stack.proxy.calls[-40:] if c.service == "s3"]
    assert throttled  # the S3 retries went through the proxy


def test_the_retry_policy_is_configured_once():
    from chalicelib import aws

    assert aws.RETRIES.retries == {"mode": "standard", "max_attempts": 3}
    assert aws.s3_client("us-east-1").meta.config.retries["mode"] == "standard"
    assert aws.dynamodb_client("us-east-1").meta.config.retries["mode"] == "standard"
