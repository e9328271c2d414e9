"""Browsers: every response, errors included, carries CORS headers for the configured
origins; preflights are answered on every path without identity; the bucket allows the same
origins."""

from __future__ import annotations

import dataclasses

import pytest

import app as app_module
from scripts.create_resources import bucket_cors
from tests.conftest import ALICE, BUCKET, SESSION
from tests.helpers import raw_upload

ORIGIN = {"Origin": "https://photos.example"}


def test_every_response_carries_cors_headers(client, images):
    ok = raw_upload(client, images["image/png"], "image/png", headers={**ALICE, **ORIGIN})
    assert ok.status_code == 201 and ok.headers["Access-Control-Allow-Origin"] == "*"
    assert "Location" in ok.headers["Access-Control-Expose-Headers"]
    for path, headers in (
        ("/images", ORIGIN),  # 401: no identity
        ("/images?limit=0", {**ALICE, **ORIGIN}),  # 400
        ("/images/0123", {**ALICE, **ORIGIN}),  # 404
        ("/health", ORIGIN),
        ("/", ORIGIN),
    ):
        response = client.http.get(path, headers=headers)
        assert response.headers["Access-Control-Allow-Origin"] == "*", (path, response.status_code)


@pytest.mark.parametrize(
    ("path", "methods"),
    [
        ("/images", {"GET", "POST", "OPTIONS"}),
        ("/images/0123456789abcdef0123456789abcdef", {"GET", "PATCH", "PUT", "DELETE", "OPTIONS"}),
        ("/images/uploads", {"POST", "OPTIONS"}),
        ("/images/0123456789abcdef0123456789abcdef/thumbnail", {"GET", "OPTIONS"}),
    ],
)
def test_preflights_are_answered_without_identity(client, path, methods):
    response = client.http.request(
        "OPTIONS",
        path,
        headers={
            **ORIGIN,
            "Access-Control-Request-Method": "PATCH",
            "Access-Control-Request-Headers": "x-user-id, content-type",
        },
    )
    assert response.status_code == 204
    assert set(response.headers["Access-Control-Allow-Methods"].split(", ")) == methods
    allowed = response.headers["Access-Control-Allow-Headers"]
    for header in ("X-User-Id", "Content-Type", "Authorization", "Idempotency-Key"):
        assert header in allowed
    assert response.headers["Access-Control-Allow-Origin"] == "*"


@pytest.fixture
def listed_origins(service, monkeypatch):
    settings = dataclasses.replace(
        app_module.SETTINGS, cors_origins="https://photos.example, https://admin.example"
    )
    monkeypatch.setattr(app_module, "SETTINGS", settings)


def test_a_listed_origin_is_echoed_and_others_get_none(client, listed_origins):
    allowed = client.http.get("/health", headers=ORIGIN)
    assert allowed.headers["Access-Control-Allow-Origin"] == "https://photos.example"
    assert "Origin" in allowed.headers["Vary"]
    other = client.http.get("/health", headers={"Origin": "https://evil.example"})
    assert "Access-Control-Allow-Origin" not in other.headers
    assert "Origin" in other.headers["Vary"]


def test_the_bucket_allows_the_configured_origins(aws):
    s3 = SESSION.client("s3")
    rules = s3.get_bucket_cors(Bucket=BUCKET)["CORSRules"]
    assert rules[0]["AllowedOrigins"] == ["*"]
    assert {"GET", "POST"} <= set(rules[0]["AllowedMethods"])
    assert bucket_cors("https://a.example, https://b.example")["CORSRules"][0][
        "AllowedOrigins"
    ] == ["https://a.example", "https://b.example"]
