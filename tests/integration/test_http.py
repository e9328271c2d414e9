"""The contract over real HTTP: `chalice local` in front of moto's server."""

from __future__ import annotations

import base64
import hashlib
import statistics
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests
from requests_toolbelt import MultipartEncoder

from tests.conftest import SESSION, TABLE, photo
from tests.integration.fault_proxy import dynamodb, s3

pytestmark = pytest.mark.integration

JPEG = photo("JPEG", size=(900, 600), quality=90)
SMALL = photo("PNG", size=(8, 8))


def multipart_upload(
    stack, http, user, data, filename="IMG_0001.jpg", ctype="image/jpeg", **fields
):
    form = MultipartEncoder(fields={**fields, "file": (filename, data, ctype)})
    return http.post(
        f"{stack.base}/images", data=form, headers={**user, "Content-Type": form.content_type}
    )


def test_the_whole_contract_over_http(stack, http, user):
    tag = f"t{uuid.uuid4().hex[:8]}"
    response = multipart_upload(stack, http, user, JPEG, title="Sunset", tags=f"{tag},beach")
    assert response.status_code == 201, response.text
    image = response.json()
    image_id = image["image_id"]
    location = response.headers["Location"]
    assert location == f"{stack.base}/images/{image_id}"
    assert http.get(location, headers=user).json()["image_id"] == image_id  # it can be followed
    assert image["sha256"] == hashlib.sha256(JPEG).hexdigest()

    raw = http.post(
        f"{stack.base}/images",
        params={"tags": tag},
        data=photo("GIF"),
        headers={**user, "Content-Type": "image/gif"},
    )
    assert raw.status_code == 201, raw.text
    encoded = http.post(
        f"{stack.base}/images",
        json={"image_base64": base64.b64encode(photo("WEBP")).decode(), "tags": [tag]},
        headers=user,
    )
    assert encoded.status_code == 201, encoded.text

    listed = http.get(f"{stack.base}/images", params={"tag": tag}, headers=user).json()
    assert [i["image_id"] for i in listed["items"]] == [
        encoded.json()["image_id"],
        raw.json()["image_id"],
        image_id,
    ]
    by_user = http.get(
        f"{stack.base}/images",
        params={"user_id": user["X-User-Id"]},
        headers={"X-User-Id": "someone-else"},
    ).json()
    assert by_user["count"] == 3

    got = http.get(f"{stack.base}/images/{image_id}", headers=user).json()
    assert got["title"] == "Sunset"
    assert http.get(got["urls"]["original"]).content == JPEG  # the gallery URL works

    streamed = http.get(
        f"{stack.base}/images/{image_id}/content", headers={**user, "Accept": "image/jpeg"}
    )
    assert streamed.status_code == 200
    assert streamed.content == JPEG
    assert streamed.headers["Content-Type"] == "image/jpeg"
    not_modified = http.get(
        f"{stack.base}/images/{image_id}/content",
        headers={**user, "Accept": "image/jpeg", "If-None-Match": streamed.headers["ETag"]},
    )
    assert not_modified.status_code == 304

    followed = http.get(f"{stack.base}/images/{image_id}/content", headers=user)
    assert followed.history[0].status_code == 302
    assert followed.content == JPEG

    link = http.get(
        f"{stack.base}/images/{image_id}/download", params={"attachment": "true"}, headers=user
    ).json()
    downloaded = http.get(link["url"])
    assert downloaded.content == JPEG
    assert "attachment" in downloaded.headers.get("Content-Disposition", "")

    thumb = http.get(
        f"{stack.base}/images/{image_id}/thumbnail", params={"size": "small"}, headers=user
    )
    assert thumb.status_code == 200 and thumb.content.startswith(b"\xff\xd8")

    patched = http.patch(f"{stack.base}/images/{image_id}", json={"title": "Renamed"}, headers=user)
    assert patched.json()["title"] == "Renamed"
    forbidden = http.delete(f"{stack.base}/images/{image_id}", headers={"X-User-Id": "mallory"})
    assert forbidden.status_code == 403
    assert http.delete(f"{stack.base}/images/{image_id}", headers=user).status_code == 204
    assert http.get(f"{stack.base}/images/{image_id}", headers=user).status_code == 404
    assert not {k for k in stack.objects() if image_id in k}


@pytest.mark.parametrize(
    ("method", "path", "kwargs", "status"),
    [
        ("post", "/images", {"data": b"", "headers": {"Content-Type": "image/jpeg"}}, 400),
        ("post", "/images", {"data": b"hello", "headers": {"Content-Type": "text/plain"}}, 415),
        (
            "post",
            "/images",
            {"data": b"{nope", "headers": {"Content-Type": "application/json"}},
            400,
        ),
        ("post", "/images", {"data": SMALL, "headers": {"Content-Type": "image/jpeg"}}, 415),
        (
            "post",
            "/images",
            {"data": b"--x--", "headers": {"Content-Type": "multipart/form-data; boundary=x"}},
            400,
        ),
        ("get", "/images?limit=1000", {}, 400),
        ("get", "/images?next_token=forged", {}, 400),
        ("get", "/images/not-an-id", {}, 404),
        ("patch", "/images/" + "0" * 32, {"json": {"title": "x"}}, 404),
        ("delete", "/images/" + "0" * 32, {}, 404),
        ("get", "/images/" + "0" * 32 + "/download?expires_in=5", {}, 400),
    ],
)
def test_malformed_requests_get_json_4xx(stack, http, user, method, path, kwargs, status):
    headers = {**user, **kwargs.pop("headers", {})}
    response = getattr(http, method)(f"{stack.base}{path}", headers=headers, **kwargs)
    assert response.status_code == status, response.text
    assert response.headers["Content-Type"] == "application/json"
    assert set(response.json()["error"]) >= {"code", "message"}


def test_pagination_over_250_images_returns_each_once_newest_first(stack, http, user):
    tag = f"p{uuid.uuid4().hex[:8]}"

    def upload(_: int) -> str:
        response = http.post(
            f"{stack.base}/images",
            params={"tags": tag},
            data=SMALL,
            headers={**user, "Content-Type": "image/png"},
        )
        assert response.status_code == 201, response.text
        return str(response.json()["image_id"])

    with ThreadPoolExecutor(max_workers=8) as pool:
        made = set(pool.map(upload, range(260)))
    assert len(made) == 260

    def walk(limit: int, add_during: bool = False, **query: str) -> list[dict[str, str]]:
        items, token = [], None
        while True:
            params = {**query, "limit": str(limit), **({"next_token": token} if token else {})}
            page = http.get(f"{stack.base}/images", params=params, headers=user).json()
            items += page["items"]
            token = page["next_token"]
            if add_during:
                upload(0)  # newer images arriving meanwhile must not disturb the walk
            if token is None:
                return items

    for query, limit in (({"tag": tag}, 100), ({"user_id": user["X-User-Id"]}, 33), ({}, 100)):
        items = walk(limit, **query)
        ours = [i for i in items if i["image_id"] in made]
        assert len(ours) == len(made), query
        assert len({i["image_id"] for i in ours}) == len(made), query
        keys = [(i["created_at"], i["image_id"]) for i in items]
        assert keys == sorted(keys, reverse=True), query
    during = walk(50, add_during=True, tag=tag)
    assert {i["image_id"] for i in during} == made  # nothing twice, nothing missed


def test_a_failure_between_the_s3_write_and_the_metadata_write_leaves_nothing(stack, http, user):
    before_objects, before_rows = stack.objects(), stack.rows()
    stack.proxy.fail(dynamodb("TransactWriteItems"))  # the write that makes the image ready
    response = multipart_upload(stack, http, user, JPEG, tags="fails")
    assert response.status_code == 503
    assert response.json()["error"]["code"] == "service_unavailable"
    s3_puts = [c for c in stack.proxy.calls if c.service == "s3" and c.operation.startswith("PUT")]
    assert s3_puts, "the objects were written before the failing metadata write"
    stack.proxy.heal()
    assert stack.objects() == before_objects
    assert stack.rows() == before_rows


def test_an_s3_failure_on_upload_leaves_nothing(stack, http, user):
    before_objects, before_rows = stack.objects(), stack.rows()
    stack.proxy.fail(s3("PUT", "/images/"))
    response = multipart_upload(stack, http, user, JPEG)
    assert response.status_code == 503
    stack.proxy.heal()
    assert (stack.objects(), stack.rows()) == (before_objects, before_rows)


def test_no_request_path_scanned_over_http(stack):
    operations = set(stack.proxy.operations("dynamodb"))
    assert operations, "the proxy saw DynamoDB calls"
    assert "Scan" not in operations


def median_ms(send: Callable[[], object], times: int = 15) -> float:
    """Median milliseconds of `times` calls, after one unmeasured."""
    send()
    runs = []
    for _ in range(times):
        started = time.perf_counter()
        send()
        runs.append(time.perf_counter() - started)
    return statistics.median(runs) * 1000


def test_a_kept_alive_connection_answers_without_waiting_for_a_delayed_ack(stack):
    """`chalice local` and the fault proxy answer in two sends (headers, body). With Nagle's
    algorithm on, the body waited for the client's delayed ACK: every answer on a kept-alive
    connection came 40 ms or more late, later than on a fresh connection. Now a kept-alive
    connection is the faster one, give or take the machine's noise."""
    url = f"{stack.base}/static/icon.svg"
    with requests.Session() as kept:
        kept_ms = median_ms(lambda: kept.get(url, timeout=30).raise_for_status())
    fresh_ms = median_ms(lambda: requests.get(url, timeout=30).raise_for_status())
    assert kept_ms < fresh_ms + 20, (kept_ms, fresh_ms)

    through_proxy = SESSION.client("dynamodb", endpoint_url=stack.proxy.url)
    proxied_ms = median_ms(lambda: through_proxy.describe_table(TableName=TABLE))
    direct_ms = median_ms(lambda: stack.dynamodb.describe_table(TableName=TABLE))
    assert proxied_ms < direct_ms + 20, (proxied_ms, direct_ms)
