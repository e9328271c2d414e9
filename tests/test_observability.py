"""What the service tells whoever runs it: every route and every event handler writes one JSON
log line per run, and its metrics as CloudWatch EMF documents; no line carries a user id, a
token, a presigned URL or image bytes."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest

import app as app_module
from chalicelib.observability import NAMESPACE, user_hash
from tests.conftest import ALICE, BUCKET
from tests.helpers import begin, body, raw_upload, start

TOKEN = "eyJhbGciOiJIUzI1NiJ9.c2VjcmV0.c2lnbmF0dXJl"  # what a bearer token looks like
SECRETS = ("alice", "X-Amz-Signature", "Signature=", "x-amz-credential", TOKEN)


def lines(capsys: pytest.CaptureFixture[str]) -> list[dict[str, Any]]:
    """Everything written to stdout since the last call: each line one JSON object."""
    out = capsys.readouterr().out
    for secret in SECRETS:
        assert secret.lower() not in out.lower(), secret
    return [json.loads(line) for line in out.splitlines() if line.strip()]


def requests_logged(found: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [line for line in found if line.get("message") == "request"]


def emf(found: list[dict[str, Any]]) -> dict[str, Any]:
    """The metrics of the EMF documents among `found`, by name, each checked for shape."""
    values: dict[str, Any] = {}
    for document in (line for line in found if "_aws" in line):
        assert isinstance(document["_aws"]["Timestamp"], int)
        (directive,) = document["_aws"]["CloudWatchMetrics"]
        assert directive["Namespace"] == NAMESPACE
        for dimension in directive["Dimensions"][0]:
            assert isinstance(document[dimension], str), dimension
        for declared in directive["Metrics"]:
            assert declared["Unit"] in {"Count", "Bytes", "Milliseconds"}
            assert isinstance(document[declared["Name"]], int | float | list)
            values.setdefault(declared["Name"], []).append(document)
    return values


def test_every_route_writes_one_line_per_request(client, images, capsys):
    jpeg = images["image/jpeg"]
    image_id = body(raw_upload(client, jpeg, "image/jpeg"))["image_id"]
    lines(capsys)
    seen: set[tuple[str, str]] = set()

    def call(method: str, path: str, route: str, status: int, **kwargs: Any) -> dict[str, Any]:
        response = client.http.request(method, path, **kwargs)
        assert response.status_code == status, (path, response.body)
        (line,) = requests_logged(lines(capsys))
        assert line["route"] == route and line["method"] == method and line["status"] == status
        assert line["level"] == ("ERROR" if status >= 500 else "INFO")
        assert isinstance(line["latency_ms"], float) and line["request_id"]
        assert line["time"].endswith("Z")
        seen.add((route, method))
        return line

    one = f"/images/{image_id}"
    call("GET", "/health", "/health", 200)
    call("GET", "/openapi.json", "/openapi.json", 200)
    call("GET", "/", "/", 200)
    call("GET", "/static/gallery.js", "/static/{name}", 200)
    call("GET", "/docs", "/docs", 200)
    call("OPTIONS", "/images", "/images", 204, headers={"Origin": "https://x.example"})
    listed = call("GET", "/images?user_id=alice", "/images", 200, headers=ALICE)
    assert listed["user"] == user_hash("alice") and listed["error_code"] is None
    jpeg_headers = ALICE | {"Content-Type": "image/jpeg"}
    made = call("POST", "/images", "/images", 201, headers=jpeg_headers, body=jpeg)
    assert made["image_id"] and made["image_id"] != image_id
    json_headers = ALICE | {"Content-Type": "application/json"}
    direct = json.dumps({"content_type": "image/png", "size": 10})
    call("POST", "/images/uploads", "/images/uploads", 201, headers=json_headers, body=direct)
    for method, path, route, status in [
        ("GET", one, "/images/{image_id}", 200),
        ("GET", f"{one}/download", "/images/{image_id}/download", 200),
        ("GET", f"{one}/content", "/images/{image_id}/content", 302),
        ("GET", f"{one}/thumbnail", "/images/{image_id}/thumbnail", 302),
        ("POST", f"{one}/complete", "/images/{image_id}/complete", 200),
    ]:
        line = call(method, path, route, status, headers=ALICE)
        assert line["image_id"] == image_id
    call("PATCH", one, "/images/{image_id}", 200, headers=json_headers, body=b'{"title": "x"}')
    call("PUT", one, "/images/{image_id}", 200, headers=json_headers, body=b'{"title": "y"}')
    call("DELETE", one, "/images/{image_id}", 204, headers=ALICE)
    gone = call("GET", one, "/images/{image_id}", 404, headers=ALICE)
    assert gone["error_code"] == "not_found"
    bad = call("GET", "/images?user_id=alice", "/images", 401, headers={"Authorization": TOKEN})
    assert bad["user"] is None and bad["error_code"]

    routes = {(path, m) for path, methods in app_module.app.routes.items() for m in methods}
    assert {r for r in routes if r[1] != "OPTIONS"} <= seen


def test_an_upload_reports_its_metrics(client, images, capsys):
    lines(capsys)
    jpeg = images["image/jpeg"]
    response = raw_upload(client, jpeg, "image/jpeg")
    found = lines(capsys)
    metrics = emf(found)
    (uploads,) = metrics["Uploads"]
    assert uploads["Encoding"] == "raw" and uploads["ContentType"] == "image/jpeg"
    assert metrics["BytesStored"][0]["BytesStored"] >= len(jpeg) // 2
    assert metrics["RenditionTime"][0]["RenditionTime"] > 0
    stored = base64.b64encode(jpeg[100:160]).decode()
    assert stored not in json.dumps(found) and body(response)["urls"]["small"] not in str(found)


def test_errors_are_counted_by_code(client, capsys):
    lines(capsys)
    client.http.post("/images?titel=x", headers=ALICE | {"Content-Type": "image/jpeg"}, body=b"x")
    found = lines(capsys)
    (line,) = requests_logged(found)
    assert line["error_code"] == "invalid_field" and line["status"] == 400
    (errors,) = emf(found)["Errors"]
    assert errors["Code"] == "invalid_field" and errors["Errors"] == 1


def test_event_handlers_write_one_line_each_with_their_outcome(client, images, capsys):
    image_id, _ = begin(client, images["image/png"], "image/png")
    lines(capsys)
    key = f"uploads/{image_id}"
    event = client.events.generate_s3_event(bucket=BUCKET, key=key, event_name="ObjectCreated:Post")
    client.lambda_.invoke("finalise_upload", event)
    found = lines(capsys)
    (line,) = [item for item in found if item.get("message") == "event"]
    assert line["handler"] == "finalise_upload" and line["outcome"] == "ok"
    assert line["result"] == "ready" and line["key"] == key
    metrics = emf(found)
    assert metrics["Finalisations"][0]["Outcome"] == "ready"
    assert metrics["Uploads"][0]["Encoding"] == "direct"

    sweep = client.events.generate_cw_event(
        source="aws.events", detail_type="Scheduled Event", detail={}, resources=[]
    )
    client.lambda_.invoke("sweep_stale_images", sweep)
    found = lines(capsys)
    (line,) = [item for item in found if item.get("message") == "event"]
    assert line["handler"] == "sweep" and line["outcome"] == "ok"
    assert {"stale_images", "orphan_objects", "finalised"} <= set(line)
    kinds = {document["Kind"] for document in emf(found)["SweeperRemovals"]}
    assert kinds == {"stale_images", "orphan_objects"}


def test_a_failing_event_is_logged_with_its_class_and_raised(client, service, images, capsys):
    started = body(start(client, content_type="image/png", size=10))["image"]["image_id"]
    lines(capsys)

    def unavailable(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("secret detail that must not be logged")

    service.table.get = unavailable
    event = client.events.generate_s3_event(
        bucket=BUCKET, key=f"uploads/{started}", event_name="ObjectCreated:Post"
    )
    with pytest.raises(RuntimeError):
        client.lambda_.invoke("finalise_upload", event)
    found = lines(capsys)
    (line,) = [item for item in found if item.get("message") == "event"]
    assert line["level"] == "ERROR" and line["outcome"] == "failed"
    assert line["error"] == "RuntimeError" and line["error_code"] == "internal_error"
    assert "secret detail" not in json.dumps(found)
    assert emf(found)["EventFailures"][0]["Handler"] == "finalise_upload"
