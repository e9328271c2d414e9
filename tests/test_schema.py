"""Real responses match the generated OpenAPI document: every route is driven to its answers,
successes and errors, and each JSON body is validated against the schema the document
declares for that route and status (and a status the document does not declare fails)."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from jsonschema import Draft202012Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

import app as app_module
from chalicelib import openapi
from tests.conftest import ALICE, BOB
from tests.helpers import begin, body, json_upload, multipart_upload, raw_upload

DOCUMENT = openapi.document(app_module.app)
REGISTRY = Registry().with_resource(
    "urn:api", Resource.from_contents(DOCUMENT, default_specification=DRAFT202012)
)


def template(path: str) -> str:
    """The document's path for a concrete one: `/images/abc` -> `/images/{image_id}`."""
    candidate: str
    for candidate in DOCUMENT["paths"]:
        pattern = "^" + re.sub(r"\{[^}]+\}", "[^/]+", candidate) + "$"
        if re.match(pattern, path):
            return candidate
    raise AssertionError(f"{path} is not in the document")


def conforms(method: str, path: str, response: Any) -> None:
    operation = DOCUMENT["paths"][template(path.split("?")[0])][method.lower()]
    declared = operation["responses"]
    status = str(response.status_code)
    assert status in declared, f"{method} {path} answered {status}, not in the document"
    content = declared[status].get("content", {})
    media = response.headers.get("Content-Type", "").split(";")[0]
    if media != "application/json":
        assert not content or media in content or response.status_code in (302, 304)
        return
    schema = content["application/json"]["schema"]
    ref = {"$ref": "urn:api" + schema["$ref"]} if "$ref" in schema else schema
    errors = list(
        Draft202012Validator(ref, registry=REGISTRY).iter_errors(json.loads(response.body))
    )
    assert not errors, f"{method} {path} {status}: {errors[0].message}"


@pytest.fixture
def recorded(client):
    seen: list[tuple[str, str, int]] = []

    def call(method: str, path: str, **kwargs: Any) -> Any:
        response = client.http.request(method, path, **kwargs)
        conforms(method, path, response)
        seen.append((method, template(path.split("?")[0]), response.status_code))
        return response

    call.seen = seen  # type: ignore[attr-defined]
    return call


def test_every_answer_of_every_route_matches_the_document(client, images, recorded):
    json_headers = {**ALICE, "Content-Type": "application/json"}
    image = body(raw_upload(client, images["image/jpeg"], tags="x", title="T"))
    image_id = image["image_id"]
    conforms("POST", "/images", raw_upload(client, images["image/png"], "image/png"))
    conforms("POST", "/images", multipart_upload(client, images["image/gif"], "image/gif"))
    conforms("POST", "/images", json_upload(client, images["image/webp"]))
    recorded("GET", "/health")
    recorded("GET", "/openapi.json")
    recorded("GET", "/")
    recorded("GET", "/?user=alice")
    recorded("GET", "/?user=not%20valid")
    recorded("GET", "/static/gallery.js")
    recorded("GET", "/static/missing.js")
    recorded("GET", "/docs")
    recorded("GET", "/docs?bogus=1")
    recorded("GET", "/static/swagger-ui-bundle.js")
    for query in ("", "?tag=x", "?user_id=alice&limit=1", "?limit=0", "?bogus=1"):
        recorded("GET", f"/images{query}", headers=ALICE)
    recorded("GET", "/images")
    for path in (f"/images/{image_id}", f"/images/{'0' * 32}", "/images/not-an-id"):
        recorded("GET", path, headers=BOB)
    for query in ("", "?expires_in=60&attachment=true", "?redirect=true", "?expires_in=1"):
        recorded("GET", f"/images/{image_id}/download{query}", headers=BOB)
    for accept in ("image/jpeg", "*/*"):
        recorded("GET", f"/images/{image_id}/content", headers={**BOB, "Accept": accept})
    recorded(
        "GET", f"/images/{image_id}/thumbnail?size=medium", headers={**BOB, "Accept": "image/jpeg"}
    )
    recorded("GET", f"/images/{image_id}/thumbnail?size=huge", headers=BOB)
    recorded("PATCH", f"/images/{image_id}", headers=json_headers, body=b'{"title": "U"}')
    recorded("PUT", f"/images/{image_id}", headers=json_headers, body=b'{"tags": 5}')
    recorded(
        "PATCH",
        f"/images/{image_id}",
        headers={**BOB, "Content-Type": "application/json"},
        body=b"{}",
    )
    recorded(
        "POST",
        "/images/uploads",
        headers=json_headers,
        body=b'{"content_type": "image/png", "size": 10}',
    )
    recorded(
        "POST",
        "/images/uploads",
        headers=json_headers,
        body=b'{"content_type": "image/png", "size": 999999999999}',
    )
    pending, _ = begin(client, images["image/jpeg"])
    recorded("GET", f"/images/{pending}/content", headers=ALICE)
    recorded("POST", f"/images/{pending}/complete", headers=ALICE)
    recorded("POST", f"/images/{'1' * 32}/complete", headers=ALICE)
    recorded("DELETE", f"/images/{image_id}", headers=BOB)
    recorded("DELETE", f"/images/{image_id}", headers=ALICE)
    recorded("DELETE", f"/images/{image_id}", headers=ALICE)
    statuses = {status for _, _, status in recorded.seen}
    assert {200, 201, 204, 302, 400, 401, 403, 404, 409, 413} <= statuses
    routes = {(method, path) for method, path, _ in recorded.seen}
    assert routes >= {
        (method.upper(), path)
        for path, item in DOCUMENT["paths"].items()
        for method in item
        if path != "/images" or method != "post"
    }
