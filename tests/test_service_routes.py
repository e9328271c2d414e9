"""/health, /openapi.json, and the rule that no request path scans a table."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from openapi_spec_validator import validate

import app as app_module
from tests.conftest import ALICE, BOB, BUCKET, SESSION, TABLE
from tests.helpers import body, json_upload, multipart_upload, raw_upload


def test_health_ok(client):
    response = client.http.get("/health")
    assert response.status_code == 200
    assert body(response) == {"status": "ok", "checks": {"s3": "ok", "dynamodb": "ok"}}


def test_health_reports_the_failing_check(client):
    SESSION.client("dynamodb").delete_table(TableName=TABLE)
    response = client.http.get("/health")
    assert response.status_code == 503
    assert body(response)["checks"] == {"s3": "ok", "dynamodb": "unavailable"}


def test_health_reports_a_missing_bucket(client):
    SESSION.client("s3").delete_bucket(Bucket=BUCKET)
    response = client.http.get("/health")
    assert response.status_code == 503
    assert body(response)["checks"]["s3"] == "unavailable"


def test_a_missing_table_is_503_with_the_error_shape(client, images):
    SESSION.client("dynamodb").delete_table(TableName=TABLE)
    response = raw_upload(client, images["image/jpeg"])
    assert response.status_code == 503
    error = body(response)["error"]
    assert error["code"] == "service_unavailable"
    assert "ResourceNotFound" not in error["message"]  # AWS messages are never echoed
    assert client.http.get("/images", headers=ALICE).status_code == 503


def openapi_paths(document: dict[str, Any]) -> set[tuple[str, str]]:
    return {
        (path, method.upper())
        for path, item in document["paths"].items()
        for method in item
        if method != "parameters"
    }


def test_openapi_document_is_valid_and_matches_the_routes(client):
    response = client.http.get("/openapi.json")
    assert response.status_code == 200
    document = body(response)
    validate(document)
    declared = {
        (path, method)
        for path, methods in app_module.app.routes.items()
        for method in methods
        if method != "OPTIONS"  # CORS preflights: tests/test_cors.py
    }
    assert openapi_paths(document) == declared


def test_every_route_of_the_contract_is_declared():
    contract = {
        ("/health", "GET"),
        ("/openapi.json", "GET"),
        ("/images", "POST"),
        ("/images", "GET"),
        ("/images/{image_id}", "GET"),
        ("/images/{image_id}/download", "GET"),
        ("/images/{image_id}/content", "GET"),
        ("/images/{image_id}", "PATCH"),
        ("/images/{image_id}", "PUT"),
        ("/images/{image_id}", "DELETE"),
        ("/images/uploads", "POST"),
        ("/images/{image_id}/complete", "POST"),
        ("/images/{image_id}/thumbnail", "GET"),
        ("/", "GET"),
    }
    # the gallery's scripts and styles (Swagger UI's too), the interactive API documentation
    ours = {("/static/{name}", "GET"), ("/docs", "GET")}
    declared = {
        (path, method)
        for path, methods in app_module.app.routes.items()
        for method in methods
        if method != "OPTIONS"  # CORS preflights: tests/test_cors.py
    }
    assert declared == contract | ours


@pytest.fixture
def dynamodb_calls(monkeypatch):
    """Record the DynamoDB operations app code makes."""
    from botocore.client import BaseClient

    calls: list[str] = []
    original = BaseClient._make_api_call

    def record(self, operation, params):
        if self.meta.service_model.service_name == "dynamodb":
            calls.append(operation)
        return original(self, operation, params)

    monkeypatch.setattr(BaseClient, "_make_api_call", record)
    return calls


def test_no_request_path_scans(client, images, dynamodb_calls):
    """Drive every route (and the sweeper and the event handler) and look at what ran."""
    a = body(raw_upload(client, images["image/jpeg"], tags="x"))["image_id"]
    b = body(multipart_upload(client, images["image/png"], "image/png", tags="x"))["image_id"]
    json_upload(client, images["image/gif"], headers=BOB)
    for query in (
        "",
        "?tag=x",
        "?user_id=alice",
        "?title=a&content_type=image/png",
        "?created_after=2020-01-01&limit=1",
        "?tag=x&user_id=bob",
    ):
        assert client.http.get(f"/images{query}", headers=ALICE).status_code == 200
    for path in ("", "/download", "/content", "/thumbnail?size=medium"):
        assert client.http.get(f"/images/{a}{path}", headers=BOB).status_code in (200, 302)
    client.http.patch(
        f"/images/{a}",
        headers={**ALICE, "Content-Type": "application/json"},
        body=json.dumps({"tags": ["y"]}),
    )
    client.http.delete(f"/images/{b}", headers=ALICE)
    started = body(
        client.http.post(
            "/images/uploads",
            headers={**ALICE, "Content-Type": "application/json"},
            body=json.dumps({"content_type": "image/png", "size": 10}),
        )
    )
    client.http.post(f"/images/{started['image']['image_id']}/complete", headers=ALICE)
    client.http.get("/health")
    app_module.get_service().sweep()
    assert dynamodb_calls, "the recorder saw nothing"
    assert "Scan" not in dynamodb_calls
    assert set(dynamodb_calls) <= {
        "GetItem",
        "PutItem",
        "DeleteItem",
        "Query",
        "TransactWriteItems",
        "BatchGetItem",  # the sweeper's key reads of the image ids it found in the bucket
    }


def test_the_scan_guard_works(client):
    with pytest.raises(AssertionError, match="Scan called"):
        SESSION.client("dynamodb").scan(TableName=TABLE)


def test_unexpected_errors_are_json_500_without_traceback(client, service, monkeypatch):
    def boom(*args, **kwargs):
        raise RuntimeError("secret internals")

    monkeypatch.setattr(service, "get", boom)
    response = client.http.get("/images/" + "0" * 32, headers=ALICE)
    assert response.status_code == 500
    assert body(response) == {
        "error": {"code": "internal_error", "message": "an internal error occurred"}
    }
    assert not re.search(r"Traceback|secret internals", response.body.decode())
