"""PATCH/PUT and DELETE: owner only, tag index consistency, nothing left behind."""

from __future__ import annotations

import json

import pytest

from tests.conftest import ALICE, BOB
from tests.helpers import assert_error, body, row_keys, seeded_upload, stored_keys


@pytest.fixture
def image(client, images):
    return seeded_upload(client, images["image/jpeg"], title="Old", tags="beach,sunset")


def patch(client, image_id, doc, headers=ALICE, method="PATCH"):
    return client.http.request(
        method,
        f"/images/{image_id}",
        headers={**headers, "Content-Type": "application/json"},
        body=json.dumps(doc).encode() if not isinstance(doc, bytes) else doc,
    )


def listed(client, **query):
    path = "/images?" + "&".join(f"{k}={v}" for k, v in query.items())
    return [item["image_id"] for item in body(client.http.get(path, headers=BOB))["items"]]


@pytest.mark.parametrize("method", ["PATCH", "PUT"])
def test_owner_updates_title_description_and_tags(client, image, method):
    response = patch(
        client,
        image["image_id"],
        {"title": "New", "description": "Now with words", "tags": "Beach, night"},
        method=method,
    )
    assert response.status_code == 200, response.body
    updated = body(response)
    assert (updated["title"], updated["description"]) == ("New", "Now with words")
    assert updated["tags"] == ["beach", "night"]
    assert updated["updated_at"] >= image["updated_at"]
    assert updated["created_at"] == image["created_at"]
    # Presigned URLs are signed at each request: compare which there are, not their bytes.
    got = body(client.http.get(f"/images/{image['image_id']}", headers=BOB))
    assert got.keys() == updated.keys() and got["urls"].keys() == updated["urls"].keys()
    assert {**got, "urls": None} == {**updated, "urls": None}


def test_tag_lookups_reflect_an_update_at_once(client, image):
    image_id = image["image_id"]
    assert listed(client, tag="sunset") == [image_id]
    patch(client, image_id, {"tags": ["night", "beach"]})
    assert listed(client, tag="sunset") == []
    assert listed(client, tag="night") == [image_id]
    assert listed(client, tag="beach") == [image_id]
    patch(client, image_id, {"title": "Renamed"})
    [item] = body(client.http.get("/images?tag=beach", headers=BOB))["items"]
    assert item["title"] == "Renamed"
    patch(client, image_id, {"tags": []})
    assert listed(client, tag="beach") == []
    assert [k for k in row_keys() if k.startswith("tag#")] == []


def test_partial_update_keeps_other_fields(client, image):
    updated = body(patch(client, image["image_id"], {"description": "d"}))
    assert (updated["title"], updated["tags"]) == ("Old", ["beach", "sunset"])
    assert body(patch(client, image["image_id"], {}))["description"] == "d"


def test_only_the_owner_may_update(client, image):
    before = row_keys()
    assert_error(patch(client, image["image_id"], {"title": "Mine"}, headers=BOB), 403)
    assert_error(patch(client, image["image_id"], {"title": "x"}, headers={}), 401)
    assert_error(patch(client, image["image_id"], {"title": "x"}, headers={"X-User-Id": "?"}), 401)
    assert body(client.http.get(f"/images/{image['image_id']}", headers=ALICE))["title"] == "Old"
    assert row_keys() == before


@pytest.mark.parametrize(
    ("doc", "field"),
    [
        ({"title": "x" * 201}, "title"),
        ({"tags": "bad tag"}, "tags"),
        ({"tags": 3}, "tags"),
        ({"title": None}, "title"),
        ({"user_id": "mallory"}, "user_id"),
        ({"content_type": "image/png"}, "content_type"),
    ],
)
def test_bad_updates_are_400(client, image, doc, field):
    assert_error(patch(client, image["image_id"], doc), 400, field=field)
    assert body(client.http.get(f"/images/{image['image_id']}", headers=ALICE))["title"] == "Old"


@pytest.mark.parametrize("payload", [b"{", b"[]", b'"text"', b"\xff\xfe"])
def test_malformed_update_bodies_are_400(client, image, payload):
    assert_error(patch(client, image["image_id"], payload), 400)


def test_update_with_another_content_type_is_415(client, image):
    response = client.http.request(
        "PATCH",
        f"/images/{image['image_id']}",
        headers={**ALICE, "Content-Type": "text/plain"},
        body=b"{}",
    )
    assert_error(response, 415)


def test_update_unknown_image_is_404(client):
    assert_error(patch(client, "0" * 32, {"title": "x"}), 404)


def test_delete_removes_objects_rows_and_index_entries(client, image):
    assert any(key.startswith("tag#") for key in row_keys())
    assert len(stored_keys()) == 4  # the original and three renditions
    response = client.http.delete(f"/images/{image['image_id']}", headers=ALICE)
    assert response.status_code == 204
    assert response.body == b""
    assert stored_keys() == []
    assert row_keys() == []
    assert listed(client, tag="beach") == []
    assert listed(client) == []
    assert_error(client.http.get(f"/images/{image['image_id']}", headers=ALICE), 404)
    assert_error(client.http.delete(f"/images/{image['image_id']}", headers=ALICE), 404)


def test_only_the_owner_may_delete(client, image):
    before_rows, before_objects = row_keys(), stored_keys()
    assert_error(client.http.delete(f"/images/{image['image_id']}", headers=BOB), 403)
    assert_error(client.http.delete(f"/images/{image['image_id']}"), 401)
    assert_error(client.http.delete(f"/images/{image['image_id']}", headers={"X-User-Id": ""}), 401)
    assert (row_keys(), stored_keys()) == (before_rows, before_objects)


def test_delete_unknown_or_malformed_is_404(client):
    assert_error(client.http.delete("/images/" + "0" * 32, headers=ALICE), 404)
    assert_error(client.http.delete("/images/xyz", headers=ALICE), 404)
