"""Direct-to-S3 uploads: presigned POST, finalisation (route, S3 event), cleanup."""

from __future__ import annotations

import io
import json
import struct
import zlib
from datetime import timedelta

import pytest
import requests
from PIL import Image as PILImage

import app as app_module
from chalicelib.errors import Unavailable
from chalicelib.models import new_image_id, upload_key, utcnow
from chalicelib.service import SweepReport
from tests.conftest import ALICE, BOB, BUCKET, SESSION, photo
from tests.helpers import (
    BackgroundDelete,
    assert_error,
    begin,
    body,
    complete,
    row_keys,
    start,
    stored_keys,
    then_delete,
)


def test_start_returns_a_pending_image_and_a_pinned_post_policy(client):
    response = start(client, size=12345, filename="big.jpg", title="Big", tags="a,b")
    assert response.status_code == 201
    started = body(response)
    image = started["image"]
    assert image["status"] == "pending"
    assert (image["size"], image["content_type"], image["filename"]) == (
        12345,
        "image/jpeg",
        "big.jpg",
    )
    assert image["width"] is None and image["sha256"] is None and "urls" not in image
    upload = started["upload"]
    assert upload["method"] == "POST"
    assert upload["fields"]["key"] == upload_key(image["image_id"])
    assert upload["fields"]["Content-Type"] == "image/jpeg"
    assert upload["fields"]["x-amz-algorithm"] == "AWS4-HMAC-SHA256"
    policy = json.loads(__import__("base64").b64decode(upload["fields"]["policy"]))
    conditions = policy["conditions"]
    assert {"key": upload_key(image["image_id"])} in conditions
    assert {"Content-Type": "image/jpeg"} in conditions
    assert ["content-length-range", 1, 12345] in conditions
    # The owner sees it pending; nobody else sees it at all.
    assert body(client.http.get(f"/images/{image['image_id']}", headers=ALICE))["status"] == (
        "pending"
    )
    assert_error(client.http.get(f"/images/{image['image_id']}", headers=BOB), 404)


@pytest.mark.parametrize(
    ("doc", "status", "field"),
    [
        ({"content_type": "image/tiff"}, 400, "content_type"),
        ({"content_type": None}, 400, "content_type"),
        ({"size": 0}, 400, "size"),
        ({"size": "big"}, 400, "size"),
        ({"size": True}, 400, "size"),
        ({"size": 50 * 1024 * 1024 + 1}, 413, None),
        ({"tags": "a b"}, 400, "tags"),
        ({"owner": "bob"}, 400, "owner"),
    ],
)
def test_start_refuses_bad_requests(client, doc, status, field):
    assert_error(start(client, **doc), status, field=field)
    assert row_keys() == []


def test_start_needs_identity(client):
    assert_error(start(client, headers={}), 401)


@pytest.mark.slow
def test_a_20_mb_photo_through_the_presigned_flow_ends_ready_with_renditions(client):
    big = big_jpeg()
    assert len(big) >= 20_000_000
    image_id, _ = begin(client, big, title="Huge")
    response = complete(client, image_id)
    assert response.status_code == 200, response.body
    image = body(response)
    assert image["status"] == "ready"
    assert (image["width"], image["height"], image["size"]) == (5000, 3750, len(big))
    assert image["renditions"]["small"]["width"] == 320
    assert image["renditions"]["medium"]["width"] == 1080
    assert sorted(stored_keys()) == sorted(
        f"images/{image_id}/{name}" for name in ("original", "small", "medium", "square")
    )
    redirect = client.http.get(f"/images/{image_id}/content", headers=BOB)
    assert redirect.status_code == 302  # 20 MB is never streamed through the API
    assert requests.get(redirect.headers["Location"], timeout=60).content == big


_BIG: list[bytes] = []


def big_jpeg() -> bytes:
    if not _BIG:
        _BIG.append(photo("JPEG", size=(5000, 3750), seed=7, quality=97, subsampling=0))
    return _BIG[0]


def test_completing_twice_is_harmless(client, images):
    image_id, _ = begin(client, images["image/jpeg"])
    first = body(complete(client, image_id))
    second = complete(client, image_id)
    assert second.status_code == 200
    assert body(second)["status"] == "ready"
    assert body(second)["updated_at"] == first["updated_at"]
    assert len(stored_keys()) == 4  # the original and three renditions


def test_complete_before_the_upload_is_409(client):
    image_id = body(start(client))["image"]["image_id"]
    assert_error(complete(client, image_id), 409, "not_uploaded")


def _racing(service, monkeypatch, interleave):
    """Run `interleave` just before /complete reads the uploaded bytes: the window in which
    a concurrent DELETE or finalisation can remove them after the row was read."""
    real_get = service.store.get
    ran: list[str] = []

    def get(key: str):
        if key.startswith("uploads/") and not ran:
            ran.append(key)
            interleave()
        return real_get(key)

    monkeypatch.setattr(service.store, "get", get)


def test_complete_losing_to_a_delete_is_404_and_leaves_nothing(
    client, service, images, monkeypatch
):
    image_id, _ = begin(client, images["image/jpeg"])
    _racing(service, monkeypatch, lambda: service.delete(ALICE["X-User-Id"], image_id))
    assert_error(complete(client, image_id), 404)
    assert stored_keys() == [] and row_keys() == []


def test_a_delete_while_the_bytes_are_processed_is_404_and_nothing_is_ever_stored(
    client, service, images, monkeypatch
):
    """The DELETE lands after the uploaded bytes were read: nothing is stored for a moment
    either (an S3 event's finalisation is awaited by nobody, so a bucket checked right after
    the DELETE's 204 would see such objects)."""
    image_id, _ = begin(client, images["image/jpeg"])
    delete = lambda: service.delete(ALICE["X-User-Id"], image_id)  # noqa: E731
    stored = then_delete(monkeypatch, service, (service, "_process"), delete)
    assert_error(complete(client, image_id), 404)
    assert stored == []
    assert stored_keys() == [] and row_keys() == []


def test_a_delete_while_a_finalisation_stores_waits_for_it_then_removes_everything(
    client, service, images, monkeypatch
):
    """The finalisation leases the row just before it stores: a DELETE arriving while it
    stores waits for it (not for the lease to lapse) and then removes what it stored, so no
    object outlives the DELETE's 204, even for a moment."""
    image_id, _ = begin(client, images["image/jpeg"])
    deleting = BackgroundDelete(service, ALICE["X-User-Id"], image_id)
    put = service.store.put

    def put_while_a_delete_arrives(key, *args):
        if not deleting.started:
            assert deleting.arrives(), "the DELETE did not wait for the writer"
        put(key, *args)

    monkeypatch.setattr(service.store, "put", put_while_a_delete_arrives)
    assert body(complete(client, image_id))["status"] == "ready"
    deleting.result()  # 204, once the writer had finished: not after the lease lapsed
    assert deleting.seconds < service.settings.writer_lease_seconds / 2
    assert stored_keys() == [] and row_keys() == []
    assert_error(client.http.get(f"/images/{image_id}", headers=ALICE), 404)


def test_a_lease_marks_only_an_image_still_in_its_status_as_a_new_version(client, service, images):
    image_id, _ = begin(client, images["image/jpeg"])
    row = service.table.get(image_id)
    leased = service._lease(image_id, "pending")
    assert leased.version == row.version + 1 and leased.lease_until > row.updated_at
    assert leased.changed(version=row.version, lease_until=None) == row  # nothing else
    assert service.table.get(image_id) == leased
    assert service._lease(image_id, "ready") is None  # not ready
    assert service._lease(new_image_id(), "pending") is None  # no such row
    assert service.table.get(image_id) == leased


def test_a_finalisation_gives_its_lease_back_whether_it_stores_or_fails(
    client, service, images, monkeypatch
):
    """A writer that failed (S3 down) holds no DELETE up; nor does one that finished."""
    image_id, _ = begin(client, images["image/jpeg"])
    put = service.store.put

    def s3_down(*args):
        raise Unavailable("S3 is unavailable; retry")

    monkeypatch.setattr(service.store, "put", s3_down)
    assert_error(complete(client, image_id), 503)
    assert service.table.get(image_id).lease_until is None
    monkeypatch.setattr(service.store, "put", put)
    assert body(complete(client, image_id))["status"] == "ready"  # the retry
    assert service.table.get(image_id).lease_until is None
    deleting = BackgroundDelete(service, ALICE["X-User-Id"], image_id)
    assert not deleting.arrives(moment=2)  # done at once
    deleting.result()
    assert stored_keys() == [] and row_keys() == []


def test_complete_losing_to_the_s3_event_answers_the_ready_image(
    client, service, images, monkeypatch
):
    image_id, _ = begin(client, images["image/jpeg"])
    _racing(service, monkeypatch, lambda: service.finalise_uploaded_object(upload_key(image_id)))
    completed = complete(client, image_id)
    assert completed.status_code == 200 and body(completed)["status"] == "ready"
    assert len(stored_keys()) == 4


def test_only_the_owner_completes(client, images):
    image_id, _ = begin(client, images["image/jpeg"])
    assert_error(complete(client, image_id, headers=BOB), 404)  # pending: invisible to others
    assert_error(complete(client, image_id, headers={}), 401)
    assert body(complete(client, image_id))["status"] == "ready"
    assert_error(complete(client, image_id, headers=BOB), 403)


def png_bomb(width: int, height: int) -> bytes:
    """A tiny PNG whose header claims a huge image (the pixels would never fit in memory)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    idat = zlib.compress(b"\x00" * 1024)
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")
    )


def refused_inputs(images):
    jpeg = images["image/jpeg"]
    return {
        "png named jpeg": (images["image/png"], "image/jpeg", 415),
        "truncated jpeg": (jpeg[: len(jpeg) // 2], "image/jpeg", 400),
        "bomb": (png_bomb(30000, 30000), "image/png", 422),
        "over the pixel limit": (png_bomb(9000, 8000), "image/png", 422),
        "text": (b"just some text\n" * 10, "image/jpeg", 415),
    }


@pytest.mark.parametrize(
    "case", ["png named jpeg", "truncated jpeg", "bomb", "over the pixel limit", "text"]
)
def test_refused_direct_uploads_become_rejected_and_leave_no_object(client, images, case):
    data, declared, _ = refused_inputs(images)[case]
    image_id, _ = begin(client, data, declared, filename="photo.jpg")
    response = complete(client, image_id)
    assert_error(response, 422)
    assert stored_keys() == []
    assert body(client.http.get(f"/images/{image_id}", headers=ALICE))["status"] == "rejected"
    assert body(client.http.get("/images", headers=ALICE))["items"] == []
    assert_error(complete(client, image_id), 422)  # and it stays refused


@pytest.mark.parametrize(
    "case", ["png named jpeg", "truncated jpeg", "bomb", "over the pixel limit", "text"]
)
def test_refused_api_uploads_get_the_contract_status_and_store_nothing(client, images, case):
    data, declared, status = refused_inputs(images)[case]
    response = client.http.post(
        "/images?filename=photo.jpg", headers={**ALICE, "Content-Type": declared}, body=data
    )
    assert_error(response, status)
    assert stored_keys() == []
    assert row_keys() == []


def s3_event(client, key: str):
    return client.events.generate_s3_event(bucket=BUCKET, key=key, event_name="ObjectCreated:Post")


def test_the_s3_event_handler_finalises_and_a_duplicate_event_is_harmless(client, images):
    image_id, _ = begin(client, images["image/png"], "image/png", tags="evt")
    event = s3_event(client, upload_key(image_id))
    assert event["Records"][0]["s3"]["object"]["key"] == upload_key(image_id)
    client.lambda_.invoke("finalise_upload", event)
    ready = body(client.http.get(f"/images/{image_id}", headers=BOB))
    assert ready["status"] == "ready"
    client.lambda_.invoke("finalise_upload", event)  # S3 may deliver an event twice
    again = body(client.http.get(f"/images/{image_id}", headers=BOB))
    assert {k: v for k, v in again.items() if k != "urls"} == {
        k: v for k, v in ready.items() if k != "urls"
    }
    assert [
        i["image_id"] for i in body(client.http.get("/images?tag=evt", headers=BOB))["items"]
    ] == [image_id]
    assert body(complete(client, image_id))["status"] == "ready"


def test_an_event_for_a_refused_upload_rejects_it(client, images):
    image_id, _ = begin(client, b"not an image at all", "image/png")
    client.lambda_.invoke("finalise_upload", s3_event(client, upload_key(image_id)))
    assert body(client.http.get(f"/images/{image_id}", headers=ALICE))["status"] == "rejected"
    assert stored_keys() == []


def test_an_event_for_an_unknown_upload_deletes_the_stray_object(client, images):
    key = upload_key("f" * 32)
    SESSION.client("s3").put_object(Bucket=BUCKET, Key=key, Body=b"stray")
    client.lambda_.invoke("finalise_upload", s3_event(client, key))
    assert stored_keys() == []


def test_stale_pending_uploads_are_swept_and_stuck_ones_finalised(client, service, images):
    """A pending upload nothing was ever uploaded for is removed after PENDING_TTL_SECONDS;
    one whose bytes arrived but whose S3 event never finalised it (lost, or failed past its
    retries) is finalised by the sweeper, and reported, rather than deleted."""
    stuck_id, _ = begin(client, images["image/jpeg"])
    fresh_id = body(start(client))["image"]["image_id"]
    ready = body(
        client.http.post(
            "/images", headers={**ALICE, "Content-Type": "image/png"}, body=images["image/png"]
        )
    )
    service._clock = lambda: utcnow() + timedelta(hours=25)
    event = client.events.generate_cw_event(
        source="aws.events", detail_type="Scheduled Event", detail={}, resources=[]
    )
    response = client.lambda_.invoke("sweep_stale_images", event)
    assert response.payload is None
    service._clock = utcnow
    assert body(client.http.get(f"/images/{stuck_id}", headers=ALICE))["status"] == "ready"
    assert_error(client.http.get(f"/images/{fresh_id}", headers=ALICE), 404)
    assert body(client.http.get(f"/images/{ready['image_id']}", headers=ALICE))["status"] == (
        "ready"
    )
    assert stored_keys() == sorted(
        f"images/{image_id}/{name}"
        for image_id in (ready["image_id"], stuck_id)
        for name in ("medium", "original", "small", "square")
    )


def test_pending_uploads_younger_than_the_ttl_stay(client, service):
    image_id = body(start(client))["image"]["image_id"]
    assert app_module.get_service().sweep() == SweepReport(stale_images=0, orphan_objects=0)
    assert body(client.http.get(f"/images/{image_id}", headers=ALICE))["status"] == "pending"


def test_delete_of_a_pending_upload_removes_its_object(client, images):
    image_id, _ = begin(client, images["image/jpeg"])
    assert stored_keys() == [upload_key(image_id)]
    assert client.http.delete(f"/images/{image_id}", headers=ALICE).status_code == 204
    assert stored_keys() == [] and row_keys() == []


@pytest.mark.slow
def test_renditions_of_a_direct_upload_are_real_images(client):
    data = photo("WEBP", size=(2400, 1200))
    image_id, _ = begin(client, data, "image/webp")
    complete(client, image_id)
    medium = client.http.get(
        f"/images/{image_id}/thumbnail?size=medium", headers={**ALICE, "Accept": "image/webp"}
    )
    with PILImage.open(io.BytesIO(medium.body)) as im:
        assert (im.format, im.size) == ("WEBP", (1080, 540))
