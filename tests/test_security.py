"""Identity, ownership, idempotent retries, limits and what never leaks."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

import pytest

import app as app_module
from chalicelib.config import Settings
from chalicelib.models import utcnow
from chalicelib.parsing import upload_body_limit
from tests.conftest import ALICE, BOB, photo
from tests.helpers import (
    assert_error,
    body,
    call,
    proxy_event,
    raw_upload,
    row_keys,
    seeded_upload,
    stored_keys,
    table_items,
)

ROOT = Path(__file__).resolve().parents[1]

# ----- production identity ------------------------------------------------------------------


@pytest.fixture
def cognito(service, monkeypatch):
    settings = Settings(
        **{
            **service.settings.__dict__,
            "auth_mode": "cognito",
            "cognito_user_pool_arn": "arn:aws:cognito-idp:us-east-1:1:userpool/x",
        }
    )
    monkeypatch.setattr(app_module, "SETTINGS", settings)
    return settings


def test_cognito_identity_is_the_sub_claim_and_x_user_id_is_ignored(cognito):
    upload = call(
        proxy_event(
            "POST",
            "/images",
            "/images",
            headers={"Content-Type": "image/png", "X-User-Id": "mallory"},
            claims={"sub": "5f1c-alice-sub", "cognito:username": "alice"},
            body=photo("PNG", size=(16, 16)),
        )
    )
    assert upload["statusCode"] == 201, upload
    image = json.loads(upload["body"])
    assert image["user_id"] == "5f1c-alice-sub"
    listed = call(
        proxy_event(
            "GET", "/images", "/images", headers={"X-User-Id": "mallory"}, claims={"sub": "someone"}
        )
    )
    assert [i["user_id"] for i in json.loads(listed["body"])["items"]] == ["5f1c-alice-sub"]
    # Mallory's header cannot delete Alice's image; Mallory's own token gets the 403.
    delete = proxy_event(
        "DELETE",
        f"/images/{image['image_id']}",
        "/images/{image_id}",
        headers={"X-User-Id": "5f1c-alice-sub"},
        claims={"sub": "mallory"},
        path_parameters={"image_id": image["image_id"]},
    )
    assert call(delete)["statusCode"] == 403


def test_cognito_mode_without_claims_is_401_even_with_a_header(cognito):
    response = call(
        proxy_event("GET", "/images", "/images", headers={"X-User-Id": "alice"}, claims=None)
    )
    assert response["statusCode"] == 401
    assert json.loads(response["body"])["error"]["code"] == "unauthorized"


def test_prod_stage_routes_sit_behind_the_cognito_authorizer():
    """Import the app as the prod stage configures it (fresh interpreter)."""
    config = json.loads((ROOT / ".chalice" / "config.json").read_text())
    env = {**os.environ, **config["stages"]["prod"]["environment_variables"]}
    script = (
        "import json, app\n"
        "out = {f'{m} {p}': (e.authorizer.name if e.authorizer else None)\n"
        "       for p, ms in app.app.routes.items() for m, e in ms.items()}\n"
        "print(json.dumps(out))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    routes = json.loads(done.stdout)
    for route, authorizer in routes.items():
        method, path = route.split(" ", 1)
        # Every /images route needs an identity; the gallery, health, the document, its
        # interactive page (/docs) and CORS preflights (which browsers send without one) do not.
        guarded = path.startswith("/images") and method != "OPTIONS"
        assert authorizer == ("images-user-pool" if guarded else None), route
    assert {"GET /images", "DELETE /images/{image_id}", "GET /health", "GET /docs"} <= set(routes)
    assert env["AUTH_MODE"] == "cognito"
    for stage in ("local", "dev"):
        assert config["stages"][stage]["environment_variables"]["AUTH_MODE"] == "header"


# ----- ownership matrix -----------------------------------------------------------------------

IDENTITIES = {"owner": ALICE, "other": BOB, "none": {}, "malformed": {"X-User-Id": "bad id!"}}


def snapshot() -> tuple[list[str], list[dict[str, Any]]]:
    return stored_keys(), sorted(table_items(), key=lambda item: json.dumps(item, sort_keys=True))


def mutations(image_id: str) -> dict[str, tuple[str, str, bytes]]:
    patch = json.dumps({"title": "changed", "tags": ["changed"]}).encode()
    return {
        "PATCH": ("PATCH", f"/images/{image_id}", patch),
        "PUT": ("PUT", f"/images/{image_id}", patch),
        "DELETE": ("DELETE", f"/images/{image_id}", b""),
        "complete": ("POST", f"/images/{image_id}/complete", b""),
    }


EXPECTED = {  # status for (route, identity) on a ready image; the owner row is checked apart
    "other": 403,
    "none": 401,
    "malformed": 401,
}


@pytest.mark.parametrize("who", ["other", "none", "malformed"])
@pytest.mark.parametrize("route", ["PATCH", "PUT", "DELETE", "complete"])
def test_refused_mutations_change_nothing(client, images, route, who):
    image = seeded_upload(client, images["image/jpeg"], tags="keep")
    before = snapshot()
    method, path, payload = mutations(image["image_id"])[route]
    response = client.http.request(
        method, path, body=payload, headers={**IDENTITIES[who], "Content-Type": "application/json"}
    )
    assert_error(response, EXPECTED[who])
    assert snapshot() == before


@pytest.mark.parametrize("route", ["PATCH", "PUT", "DELETE", "complete"])
def test_the_owner_may_mutate(client, images, route):
    image = seeded_upload(client, images["image/jpeg"], tags="keep")
    method, path, payload = mutations(image["image_id"])[route]
    response = client.http.request(
        method, path, body=payload, headers={**ALICE, "Content-Type": "application/json"}
    )
    assert response.status_code == {"DELETE": 204}.get(route, 200), response.body


@pytest.mark.parametrize("who", ["other", "none", "malformed"])
def test_nobody_but_the_owner_sees_a_pending_or_rejected_image(client, who):
    pending = body(
        client.http.post(
            "/images/uploads",
            headers={**ALICE, "Content-Type": "application/json"},
            body=json.dumps({"content_type": "image/png", "size": 10}),
        )
    )["image"]["image_id"]
    expected = 404 if who == "other" else 401
    before = snapshot()
    for method, path in [
        ("GET", ""),
        ("GET", "/download"),
        ("GET", "/content"),
        ("GET", "/thumbnail"),
        ("PATCH", ""),
        ("DELETE", ""),
        ("POST", "/complete"),
    ]:
        response = client.http.request(
            method,
            f"/images/{pending}{path}",
            body=b"{}",
            headers={**IDENTITIES[who], "Content-Type": "application/json"},
        )
        assert_error(response, expected)
    listed = client.http.get("/images?user_id=alice", headers=BOB)
    assert body(listed)["items"] == []
    assert snapshot() == before


# ----- idempotent retries ---------------------------------------------------------------------


def test_the_same_key_returns_the_first_result(client, images):
    headers = {**ALICE, "Idempotency-Key": "upload-123"}
    first = raw_upload(client, images["image/png"], "image/png", headers=headers, title="A")
    second = raw_upload(client, images["image/png"], "image/png", headers=headers, title="A")
    assert first.status_code == second.status_code == 201
    assert body(first)["image_id"] == body(second)["image_id"]
    assert second.headers["Location"] == first.headers["Location"]
    assert len([k for k in row_keys() if k.startswith("image#")]) == 1
    assert len(stored_keys()) == 4


def test_the_same_key_with_another_body_is_409(client, images):
    headers = {**ALICE, "Idempotency-Key": "upload-123"}
    raw_upload(client, images["image/png"], "image/png", headers=headers, title="A")
    before = snapshot()
    other = raw_upload(client, images["image/png"], "image/png", headers=headers, title="B")
    assert_error(other, 409, "idempotency_conflict")
    assert_error(raw_upload(client, images["image/gif"], "image/gif", headers=headers), 409)
    assert snapshot() == before


def test_keys_belong_to_one_user(client, images):
    first = raw_upload(
        client, images["image/png"], "image/png", headers={**ALICE, "Idempotency-Key": "k"}
    )
    second = raw_upload(
        client, images["image/png"], "image/png", headers={**BOB, "Idempotency-Key": "k"}
    )
    assert body(first)["image_id"] != body(second)["image_id"]
    assert body(second)["user_id"] == "bob"


def test_a_key_expires_after_24_hours(client, service, images):
    headers = {**ALICE, "Idempotency-Key": "daily"}
    first = body(raw_upload(client, images["image/png"], "image/png", headers=headers))
    service._clock = lambda: utcnow() + timedelta(hours=24, minutes=1)
    later = raw_upload(client, images["image/png"], "image/png", headers=headers)
    assert later.status_code == 201
    assert body(later)["image_id"] != first["image_id"]


def test_direct_upload_starts_are_idempotent_too(client):
    headers = {**ALICE, "Idempotency-Key": "start-1", "Content-Type": "application/json"}
    doc = json.dumps({"content_type": "image/jpeg", "size": 1000})
    first = body(client.http.post("/images/uploads", headers=headers, body=doc))
    second = body(client.http.post("/images/uploads", headers=headers, body=doc))
    assert first["image"]["image_id"] == second["image"]["image_id"]
    assert second["upload"]["fields"]["key"] == first["upload"]["fields"]["key"]
    changed = client.http.post(
        "/images/uploads",
        headers=headers,
        body=json.dumps({"content_type": "image/jpeg", "size": 1001}),
    )
    assert_error(changed, 409, "idempotency_conflict")


@pytest.mark.parametrize("key", ["", "x" * 256, "tab\there", "ünïcode"])
def test_malformed_idempotency_keys_are_400(client, images, key):
    response = raw_upload(
        client, images["image/png"], "image/png", headers={**ALICE, "Idempotency-Key": key}
    )
    assert_error(response, 400, field="Idempotency-Key")


# ----- presigned URLs, keys, limits -----------------------------------------------------------


def expiry(url: str) -> int:
    return int(parse_qs(urlparse(url).query)["X-Amz-Expires"][0])


def remaining(url: str) -> float:
    """Seconds until a presigned URL expires: signed at X-Amz-Date, for X-Amz-Expires."""
    query = parse_qs(urlparse(url).query)
    signed = datetime.strptime(query["X-Amz-Date"][0], "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
    return (signed - utcnow()).total_seconds() + expiry(url)


def test_presigned_urls_expire_and_name_one_key(client, images):
    image = body(raw_upload(client, images["image/jpeg"]))
    image_id = image["image_id"]
    for name, url in image["urls"].items():
        # Signed at the start of a 5-minute window: valid 15 to 20 minutes from now.
        assert 900 - 2 <= remaining(url) <= 1200
        assert urlparse(url).path.endswith(f"/images/{image_id}/{name}")
    download = body(client.http.get(f"/images/{image_id}/download", headers=ALICE))
    assert expiry(download["url"]) == 900
    longest = body(client.http.get(f"/images/{image_id}/download?expires_in=3600", headers=ALICE))
    assert expiry(longest["url"]) == 3600
    assert_error(
        client.http.get(f"/images/{image_id}/download?expires_in=3601", headers=ALICE), 400
    )
    redirect = client.http.get(f"/images/{image_id}/content", headers=ALICE)
    assert expiry(redirect.headers["Location"]) <= 900
    started = body(
        client.http.post(
            "/images/uploads",
            headers={**ALICE, "Content-Type": "application/json"},
            body=json.dumps({"content_type": "image/png", "size": 10}),
        )
    )
    policy = json.loads(__import__("base64").b64decode(started["upload"]["fields"]["policy"]))
    assert {"key": f"uploads/{started['image']['image_id']}"} in policy["conditions"]


@pytest.mark.parametrize(
    "filename", ["../../etc/passwd", "images/other/original", "a\\b", "%2e%2e%2fkey", "uploads/x"]
)
def test_no_user_input_reaches_an_s3_key(client, images, filename):
    image = body(
        raw_upload(
            client,
            images["image/png"],
            "image/png",
            filename=filename,
            title="../../x",
            tags="images",
        )
    )
    assert stored_keys() == sorted(
        f"images/{image['image_id']}/{n}" for n in ("medium", "original", "small", "square")
    )


def test_settings_bound_every_url_lifetime():
    settings = Settings.from_env({"UPLOAD_URL_SECONDS": "3600", "CONTENT_URL_SECONDS": "10"})
    assert settings.upload_url_seconds == 3600
    for name in ("UPLOAD_URL_SECONDS", "GALLERY_URL_SECONDS", "CONTENT_URL_SECONDS"):
        with pytest.raises(ValueError, match=name):
            Settings.from_env({name: "3601"})
    assert Settings.from_env({}).upload_url_seconds == 900


@pytest.mark.parametrize(
    ("path", "headers", "payload", "field"),
    [
        ("/images?filename=" + "f" * 256, {"Content-Type": "image/png"}, "png", "filename"),
        ("/images?title=" + "t" * 201, {"Content-Type": "image/png"}, "png", "title"),
        ("/images?description=" + "d" * 2001, {"Content-Type": "image/png"}, "png", "description"),
        ("/images?tags=" + "x" * 51, {"Content-Type": "image/png"}, "png", "tags"),
        ("/images?title=" + "t" * 201, {}, None, "title"),
        ("/images?user_id=" + "u" * 129, {}, None, "user_id"),
        ("/images?tag=" + "x" * 51, {}, None, "tag"),
    ],
)
def test_every_field_has_a_limit(client, images, path, headers, payload, field):
    if payload is None:
        response = client.http.get(path, headers=ALICE)
    else:
        response = client.http.post(path, headers={**ALICE, **headers}, body=images["image/png"])
    assert_error(response, 400, field=field)


def test_the_whole_body_is_bounded(client, service):
    # The JSON encoding reads at most what the base64 of a largest image, wrapped and
    # escaped, can take; one byte more is refused before it is parsed.
    limit = upload_body_limit("application/json", service.settings.max_image_bytes)
    huge = b"x" * (limit + 1)
    response = client.http.post(
        "/images", headers={**ALICE, "Content-Type": "application/json"}, body=huge
    )
    assert_error(response, 413)
