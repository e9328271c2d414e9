"""GET /images: filters, newest-first order, pagination, tokens, parameter errors."""

from __future__ import annotations

import base64
from datetime import datetime, timedelta, timezone
from urllib.parse import quote

import pytest

from tests.conftest import ALICE, BOB, photo
from tests.helpers import assert_error, body, json_upload, raw_upload

START = datetime(2026, 1, 1, tzinfo=timezone.utc)
TINY = {fmt: photo(fmt, size=(8, 8)) for fmt in ("PNG", "GIF", "JPEG")}


@pytest.fixture
def clock(service):
    """Each timestamp the service takes is one minute after the previous one."""
    ticks = iter(range(10**6))
    service._clock = lambda: START + timedelta(minutes=next(ticks))
    return service


def upload(client, user=ALICE, fmt="PNG", **fields):
    response = json_upload(client, TINY[fmt], headers=user, **fields)
    assert response.status_code == 201, response.body
    return body(response)


def get(client, headers=BOB, **query):
    path = "/images?" + "&".join(f"{k}={quote(str(v))}" for k, v in query.items())
    return client.http.get(path, headers=headers)


def walk(client, **query):
    """Every page of a listing; returns the ids in order and the page sizes."""
    ids, sizes, token = [], [], None
    while True:
        params = {**query, **({"next_token": token} if token else {})}
        page = body(get(client, **params))
        assert page["count"] == len(page["items"])
        ids += [item["image_id"] for item in page["items"]]
        sizes.append(page["count"])
        token = page["next_token"]
        if token is None:
            return ids, sizes


def test_feed_is_newest_first_across_users(client, clock):
    made = [upload(client, user)["image_id"] for user in (ALICE, BOB, ALICE, BOB, ALICE)]
    page = body(get(client))
    assert [item["image_id"] for item in page["items"]] == made[::-1]
    assert page["next_token"] is None
    assert all(item["status"] == "ready" and "urls" in item for item in page["items"])


@pytest.mark.slow
def test_pagination_returns_everything_once_in_order(client, clock):
    made = [upload(client, tags="all")["image_id"] for _ in range(9)]
    for limit in (1, 4, 9, 100):
        for query in ({}, {"tag": "all"}, {"user_id": "alice"}):
            ids, sizes = walk(client, limit=limit, **query)
            assert ids == made[::-1], (limit, query)
            assert all(size <= limit for size in sizes)
            assert len(sizes) == -(-9 // limit)  # no trailing empty page


def test_images_added_while_paging_do_not_disturb_the_walk(client, clock):
    made = [upload(client)["image_id"] for _ in range(10)]
    first = body(get(client, limit=4))
    upload(client)  # newer than everything: belongs before the first page
    rest, _ = walk(client, limit=4, next_token=first["next_token"])
    assert [i["image_id"] for i in first["items"]] + rest == made[::-1]


def test_filters(client, clock):
    a = upload(client, ALICE, "PNG", title="Sunset at the Beach", tags=["beach"])
    b = upload(client, BOB, "GIF", title="sunrise", tags=["beach", "morning"])
    c = upload(client, ALICE, "JPEG", title="Mountain SUNSET", tags=["hills"])

    def ids(**query):
        response = get(client, **query)
        assert response.status_code == 200, response.body
        return [item["image_id"] for item in body(response)["items"]]

    assert ids(user_id="alice") == [c["image_id"], a["image_id"]]
    assert ids(user_id="bob") == [b["image_id"]]
    assert ids(user_id="carol") == []
    assert ids(tag="beach") == [b["image_id"], a["image_id"]]
    assert ids(tag="BEACH") == [b["image_id"], a["image_id"]]
    assert ids(tag="beach", user_id="alice") == [a["image_id"]]
    assert ids(title="sunset") == [c["image_id"], a["image_id"]]
    assert ids(title="SUN", user_id="bob") == [b["image_id"]]
    assert ids(content_type="image/gif") == [b["image_id"]]
    assert ids(content_type="image/png", tag="beach") == [a["image_id"]]
    assert ids(tag="nothing") == []


def test_created_after_and_before(client, clock):
    made = [upload(client, tags="t") for _ in range(5)]  # 00:00, 00:01, ... (one per minute)
    times = [m["created_at"] for m in made]
    assert times[0] == "2026-01-01T00:00:00.000Z"

    def ids(**query):
        return [item["image_id"] for item in body(get(client, **query))["items"]]

    every = [m["image_id"] for m in made]
    assert ids(created_after=times[2]) == every[:2:-1]  # strictly after
    assert ids(created_before=times[2]) == every[1::-1]  # strictly before
    assert ids(created_after=times[0], created_before=times[4]) == every[3:0:-1]
    between_1_and_2 = (
        datetime.fromisoformat(times[1])
        + (datetime.fromisoformat(times[2]) - datetime.fromisoformat(times[1])) / 2
    )
    assert ids(created_after=between_1_and_2.isoformat(), tag="t") == every[:1:-1]
    in_paris = between_1_and_2.astimezone(timezone(timedelta(hours=1))).isoformat()
    assert in_paris.endswith("+01:00")
    assert ids(created_before=in_paris) == every[1::-1]  # offsets honoured
    assert ids(created_after="2026-01-01") == every[:0:-1]  # a date is its midnight UTC
    assert ids(created_before="2026-01-01") == []
    assert ids(created_after="2025-12-31", user_id="alice") == every[::-1]
    assert ids(created_after=times[4]) == []
    pages, _ = walk(client, created_after=times[0], limit=2)
    assert pages == every[:0:-1]


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ({"limit": "0"}, "limit"),
        ({"limit": "101"}, "limit"),
        ({"limit": "ten"}, "limit"),
        ({"created_after": "yesterday"}, "created_after"),
        ({"created_before": "2026-13-01"}, "created_before"),
        ({"created_after": "2026-02-01", "created_before": "2026-01-01"}, "created_before"),
        ({"content_type": "image/tiff"}, "content_type"),
        ({"user_id": "bad user"}, "user_id"),
        ({"tag": "two words"}, "tag"),
        ({"tag": ""}, "tag"),
        ({"title": "x" * 201}, "title"),
        ({"sort": "asc"}, "sort"),
        ({"next_token": "garbage"}, "next_token"),
        ({"next_token": ""}, "next_token"),
    ],
)
def test_invalid_parameters_are_400(client, query, field):
    assert_error(get(client, **query), 400, field=field)


def test_tampered_or_foreign_tokens_are_400(client, clock):
    for _ in range(3):
        upload(client, tags="x")
    token = body(get(client, limit=1))["next_token"]
    raw = bytearray(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
    raw[-3] ^= 1
    tampered = base64.urlsafe_b64encode(bytes(raw)).decode().rstrip("=")
    assert_error(get(client, limit=1, next_token=tampered), 400, field="next_token")
    assert_error(get(client, limit=1, next_token=token[:-2]), 400, field="next_token")
    # A token only continues the listing it came from.
    assert_error(get(client, limit=1, tag="x", next_token=token), 400, field="next_token")
    assert get(client, limit=2, next_token=token).status_code == 200  # page size may change


def test_pending_images_are_not_listed(client, clock):
    response = client.http.post(
        "/images/uploads",
        headers={**ALICE, "Content-Type": "application/json"},
        body=b'{"content_type": "image/png", "size": 100, "tags": ["t"]}',
    )
    assert response.status_code == 201
    assert body(get(client))["items"] == []
    assert body(get(client, tag="t"))["items"] == []
    assert body(get(client, user_id="alice", headers=ALICE))["items"] == []


def test_lists_after_delete_and_update(client, clock):
    keep = upload(client, tags="t")
    gone = upload(client, tags="t")
    client.http.delete(f"/images/{gone['image_id']}", headers=ALICE)
    for query in ({}, {"tag": "t"}, {"user_id": "alice"}):
        assert [i["image_id"] for i in body(get(client, **query))["items"]] == [keep["image_id"]]


def test_raw_upload_listing_round_trip(client, images):
    made = body(raw_upload(client, images["image/webp"], "image/webp", tags="w"))
    [item] = body(get(client, tag="w"))["items"]
    assert {k: v for k, v in item.items() if k != "urls"} == {
        k: v for k, v in made.items() if k != "urls"
    }


def test_sha256_finds_the_copies_of_a_file(client, clock):
    import hashlib

    data = TINY["PNG"]
    digest = hashlib.sha256(data).hexdigest()
    mine = upload(client, ALICE, "PNG", tags=["a"])
    theirs = upload(client, BOB, "PNG")
    upload(client, ALICE, "GIF")

    def ids(**query):
        response = get(client, sha256=digest, **query)
        assert response.status_code == 200, response.body
        return [item["image_id"] for item in body(response)["items"]]

    assert mine["sha256"] == digest
    assert ids() == [theirs["image_id"], mine["image_id"]]
    assert ids(user_id="alice") == [mine["image_id"]]
    assert ids(user_id="alice", tag="a") == [mine["image_id"]]
    assert ids(user_id="carol") == []
    assert_error(get(client, sha256="ABC"), 400, field="sha256")
    assert_error(get(client, sha256=digest.upper()), 400, field="sha256")


def test_source_sha256_finds_a_photo_whose_metadata_was_removed(client, clock):
    """The file on the client's disk has GPS; the stored copy has not, so its sha256 is not
    the file's: `source_sha256` finds it from the file (what `imgsvc --skip-existing` asks)."""
    import hashlib

    from tests.exif_samples import encode, gps_exif, picture
    from tests.helpers import begin, complete

    camera = encode(picture((64, 48)), "JPEG", exif=gps_exif())
    direct = encode(picture((64, 48), seed=2), "JPEG", exif=gps_exif())
    plain = TINY["PNG"]
    files = {
        name: hashlib.sha256(data).hexdigest()
        for name, data in (("camera", camera), ("direct", direct), ("plain", plain))
    }
    made = body(raw_upload(client, camera, "image/jpeg", headers=ALICE, tags="a"))
    image_id, _ = begin(client, direct, "image/jpeg")
    finalised = body(complete(client, image_id))
    kept = upload(client, ALICE, "PNG")
    assert made["sha256"] != files["camera"] and "source_sha256" not in made

    def ids(**query):
        response = get(client, **query)
        assert response.status_code == 200, response.body
        return [item["image_id"] for item in body(response)["items"]]

    assert ids(source_sha256=files["camera"]) == [made["image_id"]]
    assert ids(source_sha256=files["camera"], user_id="alice", tag="a") == [made["image_id"]]
    assert ids(source_sha256=files["camera"], sha256=made["sha256"]) == [made["image_id"]]
    assert ids(source_sha256=files["camera"], user_id="bob") == []
    assert ids(sha256=files["camera"]) == []  # sha256 stays the stored bytes' digest
    assert ids(source_sha256=files["direct"]) == [finalised["image_id"]]
    # Stored as uploaded: its sha256 is the file's, and it has no second digest.
    assert ids(sha256=files["plain"], user_id="alice") == [kept["image_id"]]
    assert ids(source_sha256=files["plain"]) == []
    assert client.http.delete(f"/images/{made['image_id']}", headers=ALICE).status_code == 204
    assert ids(source_sha256=files["camera"]) == []
    assert_error(get(client, source_sha256="ABC"), 400, field="source_sha256")


def test_a_listing_and_an_image_are_revalidated_by_etag(client, images):
    """Within the URL window a listing's bytes do not change: a reload with If-None-Match
    costs a 304; a change to an image changes the ETag of the listing and of the image."""
    for seed in range(3):
        raw_upload(client, photo("PNG", seed=seed), "image/png")
    path = "/images?user_id=alice&limit=2"
    first = client.http.get(path, headers=ALICE)
    etag = first.headers["ETag"]
    assert first.headers["Cache-Control"] == "private, no-cache"
    assert "X-User-Id" in first.headers["Vary"] and "Authorization" in first.headers["Vary"]
    again = client.http.get(path, headers=ALICE | {"If-None-Match": etag})
    assert again.status_code == 304 and again.body == b"" and again.headers["ETag"] == etag
    image_id = body(first)["items"][0]["image_id"]
    one = client.http.get(f"/images/{image_id}", headers=ALICE)
    assert (
        client.http.get(
            f"/images/{image_id}", headers=ALICE | {"If-None-Match": one.headers["ETag"]}
        ).status_code
        == 304
    )
    patched = client.http.patch(
        f"/images/{image_id}",
        headers=ALICE | {"Content-Type": "application/json"},
        body=b'{"title": "changed"}',
    )
    assert patched.status_code == 200
    changed = client.http.get(path, headers=ALICE | {"If-None-Match": etag})
    assert changed.status_code == 200 and changed.headers["ETag"] != etag
    assert body(changed)["items"][0]["title"] == "changed"
    assert (
        client.http.get(
            f"/images/{image_id}", headers=ALICE | {"If-None-Match": one.headers["ETag"]}
        ).status_code
        == 200
    )
