"""POST /images: the three encodings, byte-exact round trips, and every refusal."""

from __future__ import annotations

import base64
import hashlib
import json

import pytest
from chalice.test import Client

from tests.conftest import ALICE, photo
from tests.helpers import (
    assert_error,
    body,
    json_upload,
    multipart,
    multipart_upload,
    raw_upload,
    row_keys,
    stored_keys,
)

TYPES = ["image/jpeg", "image/png", "image/gif", "image/webp"]


def content(client: Client, image_id: str, content_type: str) -> bytes:
    response = client.http.get(
        f"/images/{image_id}/content", headers={**ALICE, "Accept": content_type}
    )
    assert response.status_code == 200, response.body
    assert response.headers["Content-Type"] == content_type
    data: bytes = response.body
    return data


@pytest.mark.parametrize("content_type", TYPES)
def test_raw_body_round_trip_is_byte_exact(client, images, content_type):
    data = images[content_type]
    response = raw_upload(
        client, data, content_type, title="Sunset", description="Evening sky", tags="Beach,sunset"
    )
    assert response.status_code == 201, response.body
    image = body(response)
    # Absolute, on the request's own host (the test client sends none: localhost).
    assert response.headers["Location"] == f"http://localhost/images/{image['image_id']}"
    assert image["status"] == "ready"
    assert image["content_type"] == content_type
    assert image["size"] == len(data)
    assert image["sha256"] == hashlib.sha256(data).hexdigest()
    assert (image["title"], image["description"]) == ("Sunset", "Evening sky")
    assert image["tags"] == ["beach", "sunset"]
    assert image["created_at"].endswith("Z") and image["updated_at"] == image["created_at"]
    assert content(client, image["image_id"], content_type) == data


@pytest.mark.parametrize("content_type", TYPES)
def test_multipart_round_trip_is_byte_exact(client, images, content_type):
    data = images[content_type]
    response = multipart_upload(
        client, data, content_type, filename="IMG_0001.x", title="T", tags="a, b ,a"
    )
    assert response.status_code == 201, response.body
    image = body(response)
    assert image["filename"] == "IMG_0001.x"
    assert image["tags"] == ["a", "b"]
    assert content(client, image["image_id"], content_type) == data


@pytest.mark.parametrize("content_type", TYPES)
def test_base64_json_round_trip_is_byte_exact(client, images, content_type):
    data = images[content_type]
    response = json_upload(
        client, data, filename="x.bin", tags=["One", "two"], content_type=content_type
    )
    assert response.status_code == 201, response.body
    image = body(response)
    assert image["tags"] == ["one", "two"]
    assert image["filename"] == "x.bin"
    assert content(client, image["image_id"], content_type) == data


def test_measured_fields_come_from_the_bytes(client):
    data = photo("PNG", size=(123, 45))
    image = body(json_upload(client, data, content_type="application/octet-stream"))
    assert (image["width"], image["height"], image["content_type"]) == (123, 45, "image/png")


def test_json_data_url_is_accepted(client, images):
    encoded = base64.b64encode(images["image/png"]).decode()
    response = client.http.post(
        "/images",
        headers={**ALICE, "Content-Type": "application/json"},
        body=json.dumps({"image_base64": f"data:image/png;base64,{encoded}"}),
    )
    assert response.status_code == 201
    assert body(response)["content_type"] == "image/png"


def test_octet_stream_and_missing_part_type_let_the_bytes_decide(client, images):
    response = raw_upload(client, images["image/gif"], "application/octet-stream")
    assert body(response)["content_type"] == "image/gif"
    ctype, payload = multipart({}, ("a.webp", images["image/webp"], "application/octet-stream"))
    response = client.http.post("/images", headers={**ALICE, "Content-Type": ctype}, body=payload)
    assert body(response)["content_type"] == "image/webp"


def test_default_filename_is_made_from_the_id(client, images):
    image = body(raw_upload(client, images["image/png"], "image/png"))
    assert image["filename"] == f"{image['image_id']}.png"


def test_filename_keeps_only_the_last_path_component(client, images):
    response = multipart_upload(client, images["image/jpeg"], filename="C:\\fakepath\\..\\me.jpg")
    assert body(response)["filename"] == "me.jpg"


def test_unicode_tags_and_titles(client, images):
    response = raw_upload(
        client, images["image/jpeg"], title="Коты 🐈", tags="Кошка,東京,हिन्दी,snow_day,x-y"
    )
    assert response.status_code == 201, response.body
    assert body(response)["tags"] == ["кошка", "東京", "हिन्दी", "snow_day", "x-y"]


# ----- refusals ------------------------------------------------------------------------------


def assert_nothing_stored():
    assert stored_keys() == []
    assert row_keys() == []


def test_no_identity_is_401(client, images):
    assert_error(raw_upload(client, images["image/jpeg"], headers={}), 401)
    bad = {"X-User-Id": "not allowed!"}
    assert_error(raw_upload(client, images["image/jpeg"], headers=bad), 401)
    assert_error(raw_upload(client, images["image/jpeg"], headers={"X-User-Id": "a" * 129}), 401)
    assert_nothing_stored()


def test_empty_body_is_400(client):
    assert_error(raw_upload(client, b""), 400, "empty_image")
    assert_error(json_upload(client, b""), 400)
    assert_nothing_stored()


def test_undecodable_image_is_400(client, images):
    truncated = images["image/jpeg"][: len(images["image/jpeg"]) // 2]
    assert_error(raw_upload(client, truncated), 400, "undecodable_image")
    garbage = b"\x89PNG\r\n\x1a\n" + b"\x00" * 200
    assert_error(raw_upload(client, garbage, "image/png"), 400, "undecodable_image")
    assert_nothing_stored()


def test_declared_type_must_match_the_bytes(client, images):
    response = raw_upload(client, images["image/png"], "image/jpeg", filename="fake.jpg")
    assert_error(response, 415, "unsupported_media_type")
    response = multipart_upload(client, images["image/gif"], "image/png")
    assert_error(response, 415)
    response = json_upload(client, images["image/webp"], content_type="image/jpeg")
    assert_error(response, 415)
    assert_nothing_stored()


def test_unaccepted_types_are_415(client, images):
    assert_error(raw_upload(client, b"hello, world", "text/plain"), 415)
    assert_error(raw_upload(client, b"hello, world", "application/octet-stream"), 415)
    assert_error(raw_upload(client, b"II*\x00" + b"\x00" * 64, "image/tiff"), 415)
    assert_error(raw_upload(client, images["image/jpeg"], "image/tiff"), 415)
    assert_nothing_stored()


def test_too_large_is_413(client, service, images):
    service.settings = service.settings.__class__(
        **{**service.settings.__dict__, "max_image_bytes": 1000}
    )
    assert_error(raw_upload(client, images["image/jpeg"]), 413, "image_too_large")
    assert_error(multipart_upload(client, images["image/jpeg"]), 413)
    assert_error(json_upload(client, images["image/jpeg"]), 413)
    assert_nothing_stored()


def test_the_413_message_names_sizes(client, images):
    big = b"\xff\xd8\xff" + b"\x00" * (10 * 1024 * 1024 + 10)
    response = raw_upload(client, big)
    assert_error(response, 413)
    assert "10 MiB" in body(response)["error"]["message"]


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"title": "x" * 201}, "title"),
        ({"description": "x" * 2001}, "description"),
        ({"tags": ",".join(f"t{n}" for n in range(21))}, "tags"),
        ({"tags": "x" * 51}, "tags"),
        ({"tags": "a,,b"}, "tags"),
        ({"tags": "no spaces"}, "tags"),
        ({"tags": "semi;colon"}, "tags"),
        ({"title": "bell\x07"}, "title"),
        ({"colour": "red"}, "colour"),
    ],
)
def test_bad_fields_are_400_naming_the_field(client, images, params, field):
    assert_error(raw_upload(client, images["image/jpeg"], **params), 400, field=field)
    assert_nothing_stored()


def test_title_and_description_limits_are_inclusive(client, images):
    response = raw_upload(client, images["image/png"], "image/png", title="t" * 200)
    assert response.status_code == 201
    response = json_upload(client, images["image/png"], description="d\n" * 1000)
    assert response.status_code == 201


def test_twenty_tags_pass_and_duplicates_do_not_count(client, images):
    tags = [f"t{n}" for n in range(20)]
    response = json_upload(client, images["image/png"], tags=[*tags, "T0", " t1 "])
    assert body(response)["tags"] == tags


@pytest.mark.parametrize(
    "payload",
    [
        b"not json",
        b"[1, 2]",
        json.dumps({"image_base64": "@@@not base64@@@"}).encode(),
        json.dumps({"image_base64": 12}).encode(),
        json.dumps({"title": "no image"}).encode(),
        json.dumps({"image_base64": "AAAA", "extra": 1}).encode(),
        json.dumps({"image_base64": "AAAA", "tags": 5}).encode(),
        json.dumps({"image_base64": "AAAA", "tags": [1]}).encode(),
        json.dumps({"image_base64": "AAAA", "content_type": 7}).encode(),
    ],
)
def test_malformed_json_uploads_are_400(client, payload):
    response = client.http.post(
        "/images", headers={**ALICE, "Content-Type": "application/json"}, body=payload
    )
    assert_error(response, 400)
    assert_nothing_stored()


def test_malformed_multipart_is_400(client, images):
    def post(ctype: str, payload: bytes):
        return client.http.post("/images", headers={**ALICE, "Content-Type": ctype}, body=payload)

    assert_error(post("multipart/form-data", b"--x\r\n"), 400)  # no boundary
    assert_error(post("multipart/form-data; boundary=abc", b"garbage without boundary"), 400)
    ctype, payload = multipart({"title": "only fields"}, None)
    assert_error(post(ctype, payload), 400, field="file")
    ctype, payload = multipart({"mystery": "x"}, ("a.jpg", images["image/jpeg"], "image/jpeg"))
    assert_error(post(ctype, payload), 400, field="mystery")
    ctype, payload = multipart({}, ("a.jpg", images["image/jpeg"], "image/jpeg"))
    assert_error(post(ctype, payload[: len(payload) // 2]), 400)
    ctype, payload = multipart({}, ("a.jpg", b"", "image/jpeg"))
    assert_error(post(ctype, payload), 400, "empty_image")
    assert_nothing_stored()


def test_unknown_query_parameter_on_raw_upload_is_400(client, images):
    assert_error(raw_upload(client, images["image/jpeg"], titel="typo"), 400, field="titel")


def test_wrong_method_gets_the_json_error_shape(client):
    response = client.http.request("PATCH", "/images", headers=ALICE, body=b"")
    assert_error(response, 405, "method_not_allowed")
