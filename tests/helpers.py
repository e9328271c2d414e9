"""Small helpers shared by the unit tests (Chalice test client on moto's mock)."""

from __future__ import annotations

import base64
import dataclasses
import functools
import hashlib
import json
import threading
import time
import uuid
from typing import Any
from urllib.parse import urlencode

import requests
from chalice.test import Client

import app as app_module
from tests.conftest import ALICE, SCAN_ALLOWED, SEEDS, SESSION, TABLE, store_state


def body(response: Any) -> Any:
    return json.loads(response.body)


def raw_upload(
    client: Client,
    data: bytes,
    content_type: str = "image/jpeg",
    headers: dict[str, str] | None = None,
    **params: str,
) -> Any:
    path = "/images" + (f"?{urlencode(params)}" if params else "")
    return client.http.post(
        path,
        headers={**(ALICE if headers is None else headers), "Content-Type": content_type},
        body=data,
    )


def seeded_upload(
    client: Client, data: bytes, content_type: str = "image/jpeg", **params: str
) -> Any:
    """`raw_upload`'s resource as alice, uploaded once per worker for the same arguments and
    settings; later calls start from a copy of the store that upload left (conftest's `Seeds`)."""
    settings = app_module.get_service().settings
    seed = repr((hashlib.sha256(data).hexdigest(), content_type, sorted(params.items()), settings))
    return SEEDS.get(seed, lambda: body(raw_upload(client, data, content_type, None, **params)))


def multipart(
    fields: dict[str, str], file: tuple[str, bytes, str] | None, name: str = "file"
) -> tuple[str, bytes]:
    """A multipart/form-data body, built by hand so tests control every byte."""
    boundary = uuid.uuid4().hex
    parts = []
    for key, value in fields.items():
        parts.append(
            f'--{boundary}\r\nContent-Disposition: form-data; name="{key}"\r\n\r\n'.encode()
            + value.encode()
            + b"\r\n"
        )
    if file is not None:
        filename, data, ctype = file
        parts.append(
            f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"; '
            f'filename="{filename}"\r\nContent-Type: {ctype}\r\n\r\n'.encode()
            + data
            + b"\r\n"
        )
    return f"multipart/form-data; boundary={boundary}", b"".join(parts) + (
        f"--{boundary}--\r\n".encode()
    )


def multipart_upload(
    client: Client,
    data: bytes,
    content_type: str = "image/jpeg",
    filename: str = "photo.jpg",
    headers: dict[str, str] | None = None,
    **fields: str,
) -> Any:
    ctype, payload = multipart(fields, (filename, data, content_type))
    return client.http.post(
        "/images",
        headers={**(ALICE if headers is None else headers), "Content-Type": ctype},
        body=payload,
    )


def json_upload(
    client: Client, data: bytes, headers: dict[str, str] | None = None, **fields: Any
) -> Any:
    doc = {"image_base64": base64.b64encode(data).decode(), **fields}
    return client.http.post(
        "/images",
        headers={**(ALICE if headers is None else headers), "Content-Type": "application/json"},
        body=json.dumps(doc),
    )


def stored_keys() -> list[str]:
    """Every object key in the bucket (from moto's own state: no request)."""
    return sorted(store_state()[0])


@functools.cache
def _dynamodb() -> Any:
    return SESSION.client("dynamodb")


def table_items() -> list[dict[str, Any]]:
    """Every row (tests only: the app never scans)."""
    dynamodb = _dynamodb()
    items: list[dict[str, Any]] = []
    kwargs: dict[str, Any] = {"TableName": TABLE}
    SCAN_ALLOWED.append(True)
    try:
        while True:
            page = dynamodb.scan(**kwargs)
            items += page["Items"]
            if "LastEvaluatedKey" not in page:
                return items
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]
    finally:
        SCAN_ALLOWED.pop()


def row_keys() -> list[str]:
    """Every row key, `pk|sk` (from moto's own state: no request, no Scan)."""
    return sorted(store_state()[1])


def assert_error(response, status: int, code: str | None = None, field: str | None = None):
    assert response.status_code == status, response.body
    assert response.headers["Content-Type"] == "application/json"
    error = body(response)["error"]
    assert set(error) >= {"code", "message"} and error["message"]
    if code is not None:
        assert error["code"] == code
    if field is not None:
        assert error["field"] == field
    assert "Traceback" not in response.body.decode()


# ----- API Gateway events ---------------------------------------------------------------


def proxy_event(
    method: str,
    path: str,
    resource: str,
    *,
    headers: dict[str, str],
    claims: dict[str, str] | None,
    body: bytes = b"",
    path_parameters: dict[str, str] | None = None,
    context_path: str | None = None,
) -> dict[str, Any]:
    """An API Gateway (REST, proxy) event as the Lambda receives it behind a Cognito
    authorizer: the verified token's claims are in requestContext.authorizer.claims."""
    context: dict[str, Any] = {
        "resourcePath": resource,
        "httpMethod": method,
        "path": path if context_path is None else context_path,
        "requestId": "test",
        "stage": "api",
    }
    if claims is not None:
        context["authorizer"] = {"claims": claims}
    return {
        "resource": resource,
        "path": path,
        "httpMethod": method,
        "headers": headers,
        "multiValueHeaders": {k: [v] for k, v in headers.items()},
        "queryStringParameters": None,
        "multiValueQueryStringParameters": None,
        "pathParameters": path_parameters,
        "stageVariables": None,
        "requestContext": context,
        "body": base64.b64encode(body).decode() if body else None,
        "isBase64Encoded": bool(body),
    }


def call(event: dict[str, Any]) -> dict[str, Any]:
    response: dict[str, Any] = app_module.app(event, None)
    return response


# ----- direct uploads ---------------------------------------------------------------------


def start(client, headers=ALICE, **doc):
    doc = {"content_type": "image/jpeg", "size": 1000, **doc}
    return client.http.post(
        "/images/uploads",
        headers={**headers, "Content-Type": "application/json"},
        body=json.dumps(doc),
    )


def post_to_s3(upload: dict[str, Any], data: bytes, content_type: str) -> requests.Response:
    """What a browser or phone does with the presigned POST."""
    response = requests.post(
        upload["url"],
        data=upload["fields"],
        files={"file": ("x", data, content_type)},
        timeout=60,
    )
    assert response.status_code in (200, 204), response.text
    return response


def begin(client, data: bytes, content_type: str = "image/jpeg", **doc):
    response = start(client, content_type=content_type, size=len(data), **doc)
    assert response.status_code == 201, response.body
    started = body(response)
    post_to_s3(started["upload"], data, content_type)
    return started["image"]["image_id"], started


def complete(client, image_id, headers=ALICE):
    return client.http.post(f"/images/{image_id}/complete", headers=headers)


def then_delete(monkeypatch: Any, service: Any, step: tuple[Any, str], delete: Any) -> list[str]:
    """`step` (an object and the name of its method) runs as it does, then `delete()`: a
    DELETE landing just after it. Returns the list of every key `service` then puts."""
    owner, name = step
    real_step, real_put, stored = getattr(owner, name), service.store.put, []

    def stepped(*args: Any, **kwargs: Any) -> Any:
        result = real_step(*args, **kwargs)
        delete()
        return result

    def put(key: str, *args: Any, **kwargs: Any) -> Any:
        stored.append(key)
        return real_put(key, *args, **kwargs)

    monkeypatch.setattr(owner, name, stepped)
    monkeypatch.setattr(service.store, "put", put)
    return stored


class BackgroundDelete:
    """`service.delete` in a thread: a DELETE arriving while the test holds a writer mid-step.
    `arrives()` starts it and tells whether it is still waiting a moment later; `result()`
    waits for its end (re-raising what it raised); `seconds` is how long it took."""

    def __init__(self, service: Any, user: str, image_id: str) -> None:
        self.started = False
        self.seconds = 0.0
        self.error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, args=(service, user, image_id))

    def _run(self, service: Any, user: str, image_id: str) -> None:
        began = time.monotonic()
        try:
            service.delete(user, image_id)
        except BaseException as exc:  # noqa: BLE001 - handed to the test by result()
            self.error = exc
        self.seconds = time.monotonic() - began

    def arrives(self, moment: float = 0.3) -> bool:
        self.started = True
        self._thread.start()
        self._thread.join(moment)
        return self._thread.is_alive()

    def result(self) -> None:
        self._thread.join(30)
        assert not self._thread.is_alive(), "the DELETE never ended"
        if self.error is not None:
            raise self.error


def stalled_writer(monkeypatch: Any, service: Any) -> None:
    """Writer leases of a fifth of a second: a DELETE that a test lands inside a writer's
    step, in the writer's own thread (so the writer stalls), waits the lease out quickly."""
    settings = dataclasses.replace(service.settings, writer_lease_seconds=0.2)
    monkeypatch.setattr(service, "settings", settings)
