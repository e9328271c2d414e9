"""Hostile and odd requests found by a black-box attack: each is a clear 4xx in our error
shape, and a refused request stores nothing."""

from __future__ import annotations

import base64
import json
import os

import pytest

from chalicelib.parsing import parse_upload
from tests.conftest import ALICE, photo
from tests.helpers import (
    assert_error,
    begin,
    body,
    call,
    complete,
    multipart,
    proxy_event,
    raw_upload,
    row_keys,
    seeded_upload,
    stalled_writer,
    stored_keys,
)

MIB = 1024 * 1024


@pytest.fixture
def image_id(client, images):
    return seeded_upload(client, images["image/png"], "image/png", title="Mine")["image_id"]


def send(client, method, path, payload, content_type="application/json", headers=ALICE):
    return client.http.request(
        method, path, headers={**headers, "Content-Type": content_type}, body=payload
    )


JSON_ROUTES = [
    ("POST", "/images"),
    ("PATCH", "/images/{id}"),
    ("PUT", "/images/{id}"),
    ("POST", "/images/uploads"),
]
DEEP = b"[" * 30_000 + b"]" * 30_000  # within the 64 KiB a JSON body may have


def nothing_new(before_keys, before_rows):
    assert stored_keys() == before_keys
    assert row_keys() == before_rows


# ----- 2: deep nesting -----------------------------------------------------------------------


@pytest.mark.parametrize(("method", "path"), JSON_ROUTES)
@pytest.mark.parametrize(
    "payload",
    [DEEP, b'{"title": ' + DEEP + b"}", b'{"tags": ' + DEEP + b"}", b'{"a": ' + DEEP + b"}"],
    ids=["array", "title", "tags", "unknown"],
)
def test_deeply_nested_json_is_400(client, image_id, method, path, payload):
    keys, rows = stored_keys(), row_keys()
    response = send(client, method, path.format(id=image_id), payload)
    assert_error(response, 400)
    nothing_new(keys, rows)


# ----- 3: lone surrogates --------------------------------------------------------------------

SURROGATE_FIELDS = {
    "POST /images": ["title", "description", "tags", "filename", "content_type"],
    "PATCH /images/{id}": ["title", "description", "tags"],
    "PUT /images/{id}": ["title", "description", "tags"],
    "POST /images/uploads": ["title", "description", "tags", "filename", "content_type"],
}
SURROGATE_CASES = [(route, field) for route, fields in SURROGATE_FIELDS.items() for field in fields]


def surrogate_document(route: str, field: str) -> bytes:
    value = '["ok", "\\ud800"]' if field == "tags" else '"x\\ud800y"'
    base: dict[str, object] = {}
    if route == "POST /images":
        base = {"image_base64": base64.b64encode(photo("PNG", size=(8, 8))).decode()}
    if route == "POST /images/uploads":
        base = {"content_type": "image/png", "size": 100}
    base.pop(field, None)
    text = json.dumps(base)[:-1] + (", " if base else "") + f'"{field}": {value}}}'
    return text.encode()


@pytest.mark.parametrize(("route", "field"), SURROGATE_CASES)
def test_lone_surrogates_are_400_naming_the_field(client, image_id, route, field):
    keys, rows = stored_keys(), row_keys()
    method, path = route.split(" ")
    response = send(client, method, path.format(id=image_id), surrogate_document(route, field))
    assert_error(response, 400, field=field)
    nothing_new(keys, rows)


def test_a_lone_surrogate_in_a_field_name_is_400(client, image_id):
    response = send(client, "PATCH", f"/images/{image_id}", b'{"\\udc00": "x"}')
    assert_error(response, 400)


def test_surrogate_pairs_are_fine(client, image_id):
    response = send(client, "PATCH", f"/images/{image_id}", b'{"title": "\\ud83d\\ude00"}')
    assert response.status_code == 200, response.body
    assert body(response)["title"] == "\N{GRINNING FACE}"


# ----- numbers and other odd JSON --------------------------------------------------------


@pytest.mark.parametrize(
    "payload",
    [
        b'{"content_type": "image/png", "size": 1e999}',
        b'{"content_type": "image/png", "size": -1}',
        b'{"content_type": "image/png", "size": 1.5}',
        b'{"content_type": "image/png", "size": true}',
        b'{"content_type": "image/png", "size": "100"}',
        b'{"content_type": "image/png", "size": null}',
        b'{"content_type": ["image/png"], "size": 100}',
    ],
)
def test_odd_numbers_and_types_are_400(client, payload):
    assert_error(send(client, "POST", "/images/uploads", payload), 400)
    assert row_keys() == []


def test_a_huge_declared_size_is_413(client):
    payload = b'{"content_type": "image/png", "size": 100000000000000000000000000000}'
    assert_error(send(client, "POST", "/images/uploads", payload), 413)
    assert row_keys() == []


@pytest.mark.parametrize("payload", [b"", b"null", b"[]", b'"x"', b"{", b"\xff\xfe", b"{}" * 2])
@pytest.mark.parametrize(("method", "path"), JSON_ROUTES)
def test_non_objects_are_400(client, image_id, method, path, payload):
    keys, rows = stored_keys(), row_keys()
    response = send(client, method, path.format(id=image_id), payload)
    if method in ("PATCH", "PUT") and payload == b"":
        assert response.status_code == 400, response.body
    assert_error(response, 400)
    nothing_new(keys, rows)


# ----- 8: unknown query parameters on every route -----------------------------------------


def test_unknown_query_parameter_on_a_raw_upload_is_400(client, images):
    response = client.http.post(
        "/images?titel=x", headers={**ALICE, "Content-Type": "image/png"}, body=images["image/png"]
    )
    assert_error(response, 400, field="titel")
    assert stored_keys() == [] and row_keys() == []


@pytest.mark.parametrize("encoding", ["multipart", "json"])
def test_query_parameters_with_a_multipart_or_json_upload_are_400(client, images, encoding):
    data = images["image/png"]
    if encoding == "multipart":
        content_type, payload = multipart({}, ("a.png", data, "image/png"))
    else:
        content_type = "application/json"
        payload = json.dumps({"image_base64": base64.b64encode(data).decode()}).encode()
    response = client.http.post(
        "/images?title=Hello", headers={**ALICE, "Content-Type": content_type}, body=payload
    )
    assert_error(response, 400, field="title")
    assert stored_keys() == [] and row_keys() == []


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/health?x=1"),
        ("GET", "/images/{id}?x=1"),
        ("GET", "/images/{id}/content?size=small"),
        ("GET", "/images/{id}/thumbnail?sise=medium"),
        ("GET", "/images/{id}/download?expires=60"),
        ("DELETE", "/images/{id}?force=1"),
        ("POST", "/images/{id}/complete?x=1"),
        ("GET", "/images?titel=x"),
    ],
)
def test_unknown_query_parameters_are_400_everywhere(client, image_id, method, path):
    response = client.http.request(method, path.format(id=image_id), headers=ALICE)
    assert_error(response, 400)
    # Nothing was deleted by the refused DELETE.
    assert client.http.get(f"/images/{image_id}", headers=ALICE).status_code == 200


@pytest.mark.parametrize("method", ["PATCH", "PUT"])
def test_unknown_query_parameters_on_updates_are_400(client, image_id, method):
    response = send(client, method, f"/images/{image_id}?title=x", b'{"title": "y"}')
    assert_error(response, 400, field="title")
    assert body(client.http.get(f"/images/{image_id}", headers=ALICE))["title"] == "Mine"


def test_unknown_query_parameters_on_direct_upload_start_are_400(client):
    payload = b'{"content_type": "image/png", "size": 100}'
    assert_error(send(client, "POST", "/images/uploads?x=1", payload), 400, field="x")
    assert row_keys() == []


# ----- 9: the title filter is normalised as titles are ------------------------------------


@pytest.mark.parametrize(
    ("stored", "searched"),
    [("Café du coin", "cafe\u0301"), ("Cafe\u0301 du coin", "CAFÉ"), ("Straße", "STRASSE")],
)
def test_title_filter_matches_canonically_equal_text(client, images, stored, searched):
    image = body(raw_upload(client, images["image/png"], "image/png", title=stored))
    response = client.http.get(
        "/images?" + __import__("urllib.parse").parse.urlencode({"title": searched}),
        headers=ALICE,
    )
    assert [item["image_id"] for item in body(response)["items"]] == [image["image_id"]]


# ----- 10: every JSON route has a body limit -------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path"), [("PATCH", "/images/{id}"), ("PUT", "/images/{id}"), JSON_ROUTES[3]]
)
def test_json_bodies_are_bounded(client, image_id, method, path):
    padding = " " * (12 * MIB)
    payload = ('{"title": "x"' + padding + "}").encode()
    keys, rows = stored_keys(), row_keys()
    response = send(client, method, path.format(id=image_id), payload)
    assert_error(response, 413, "body_too_large")
    nothing_new(keys, rows)


# ----- 11: wrapped base64 --------------------------------------------------------------------


def test_the_image_limit_applies_to_the_decoded_bytes_of_wrapped_base64():
    image = os.urandom(int(9.8 * MIB))
    wrapped = base64.encodebytes(image).decode()  # 76 columns, as `base64` writes it
    payload = json.dumps({"image_base64": wrapped}).encode()
    upload = parse_upload("application/json", payload, {}, 10 * MIB)
    assert upload.data == image


def test_wrapped_base64_of_a_real_photo_uploads(client):
    data = photo("JPEG", size=(800, 600), quality=95)
    wrapped = base64.encodebytes(data).decode().replace("\n", "\r\n")
    payload = json.dumps({"image_base64": wrapped}).encode()
    response = send(client, "POST", "/images", payload)
    assert response.status_code == 201, response.body
    assert body(response)["size"] == len(data)


def test_decoded_images_over_the_limit_are_413(client, service):
    too_big = os.urandom(service.settings.max_image_bytes + 1)
    payload = json.dumps({"image_base64": base64.b64encode(too_big).decode()}).encode()
    assert_error(send(client, "POST", "/images", payload), 413)
    assert stored_keys() == [] and row_keys() == []


# ----- 12: Location is absolute, under the prefix the request came through ------------------


@pytest.mark.parametrize(
    ("context_path", "host", "proto", "expected_root"),
    [
        (
            "/api/images",
            "abc.execute-api.us-east-1.amazonaws.com",
            "https",
            "https://abc.execute-api.us-east-1.amazonaws.com/api",
        ),
        (
            "/restapis/abc123/api/_user_request_/images",
            "127.0.0.1:4566",
            None,
            "http://127.0.0.1:4566/restapis/abc123/api/_user_request_",
        ),
        ("/images", "images.example.com", "https", "https://images.example.com"),
    ],
)
def test_location_is_absolute_under_the_request_prefix(
    service, context_path, host, proto, expected_root
):
    headers = {"Content-Type": "image/png", "X-User-Id": "alice", "Host": host}
    if proto:
        headers["X-Forwarded-Proto"] = proto
    event = proxy_event(
        "POST",
        "/images",
        "/images",
        headers=headers,
        claims=None,
        body=photo("PNG", size=(8, 8)),
        context_path=context_path,
    )
    response = call(event)
    assert response["statusCode"] == 201, response
    image_id = json.loads(response["body"])["image_id"]
    location = response["headers"]["Location"]
    assert location == f"{expected_root}/images/{image_id}"


def test_location_under_localstack_s_user_request_path(service, monkeypatch):
    """LocalStack passes `/api/images` as the path whatever URL was used; inside LocalStack
    (LOCALSTACK_HOSTNAME set) a Host that is not the API's own name means the
    `/restapis/{id}/{stage}/_user_request_/` form."""
    monkeypatch.setenv("LOCALSTACK_HOSTNAME", "127.0.0.1")
    for host, root in (
        ("127.0.0.1:4566", "http://127.0.0.1:4566/restapis/abc123/api/_user_request_"),
        ("abc123.execute-api.localhost.localstack.cloud:4566", None),
    ):
        event = proxy_event(
            "POST",
            "/images",
            "/images",
            headers={"Content-Type": "image/png", "X-User-Id": "alice", "Host": host},
            claims=None,
            body=photo("PNG", size=(8, 8)),
            context_path="/api/images",
        )
        event["requestContext"].update(apiId="abc123", stage="api")
        response = call(event)
        image_id = json.loads(response["body"])["image_id"]
        expected = f"{root or 'http://' + host + '/api'}/images/{image_id}"
        assert response["headers"]["Location"] == expected


def test_location_of_a_direct_upload_is_absolute_too(client):
    response = send(
        client,
        "POST",
        "/images/uploads",
        b'{"content_type": "image/png", "size": 100}',
        headers={**ALICE, "Host": "api.example.com"},
    )
    image_id = body(response)["image"]["image_id"]
    assert response.headers["Location"] == f"http://api.example.com/images/{image_id}"


# ----- 15: messages a newcomer reads --------------------------------------------------------


def test_a_chunked_body_that_arrives_empty_says_why(client):
    response = client.http.post(
        "/images",
        headers={**ALICE, "Content-Type": "image/jpeg", "Transfer-Encoding": "chunked"},
        body=b"",
    )
    assert_error(response, 400, "length_required")
    assert "Content-Length" in body(response)["error"]["message"]


def test_the_413_names_the_direct_upload_route(client, service):
    too_big = b"\xff\xd8\xff" + b"\x00" * service.settings.max_image_bytes
    response = raw_upload(client, too_big)
    assert_error(response, 413)
    assert "POST /images/uploads" in body(response)["error"]["message"]


def test_an_unknown_form_field_names_the_file_field(client, images):
    content_type, payload = multipart({}, ("a.png", images["image/png"], "image/png"), name="image")
    response = client.http.post(
        "/images", headers={**ALICE, "Content-Type": content_type}, body=payload
    )
    assert_error(response, 400, field="image")
    assert "file" in body(response)["error"]["message"]


def test_a_patch_without_a_json_content_type_says_what_to_send(client, image_id):
    response = send(client, "PATCH", f"/images/{image_id}", b'{"title": "x"}', "text/plain")
    assert_error(response, 415, "unsupported_media_type")
    assert "application/json" in body(response)["error"]["message"]


def test_an_upload_that_lost_a_race_to_a_delete_leaves_no_object(
    client, service, images, monkeypatch
):
    """Defect 6, without threads: the delete lands between the finaliser's object writes and
    its row write (the over-HTTP race is in tests/integration/test_races.py)."""
    image_id, _ = begin(client, images["image/jpeg"])
    stalled_writer(monkeypatch, service)  # the DELETE waits out the writer's lease
    store_put = service.store.put
    deleted: list[int] = []

    def put_then_delete(key, data, content_type):
        store_put(key, data, content_type)
        if not deleted:
            deleted.append(client.http.delete(f"/images/{image_id}", headers=ALICE).status_code)

    service.store.put = put_then_delete
    response = complete(client, image_id)
    service.store.put = store_put
    assert deleted == [204]
    assert_error(response, 404)
    assert stored_keys() == [] and row_keys() == []


@pytest.mark.parametrize("first", ["delete", "patch"])
def test_a_delete_that_lost_a_race_is_404_or_redone(client, service, image_id, first):
    """Defect 1, without threads: another change lands between the delete's read and its
    write. After a delete the loser is a 404; after a PATCH the delete redoes and wins."""
    save = service.table.save
    raced: list[bool] = []

    def save_after_the_other(old, new, **kwargs):
        if not raced:
            raced.append(True)
            if first == "delete":
                assert client.http.delete(f"/images/{image_id}", headers=ALICE).status_code == 204
            else:
                patched = send(client, "PATCH", f"/images/{image_id}", b'{"title": "Raced"}')
                assert patched.status_code == 200
        return save(old, new, **kwargs)

    service.table.save = save_after_the_other
    response = client.http.delete(f"/images/{image_id}", headers=ALICE)
    service.table.save = save
    if first == "delete":
        assert_error(response, 404)
    else:
        assert response.status_code == 204, response.body
    assert stored_keys() == [] and row_keys() == []
