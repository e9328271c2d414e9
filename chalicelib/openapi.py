"""The OpenAPI 3.1 document served at /openapi.json, generated: paths, methods, summaries and
descriptions from the app's routes and view docstrings; parameters, bodies and responses from
each route's `Operation` (see `app.py`); every schema from the structs of
`chalicelib/schemas.py` (msgspec writes JSON Schema 2020-12, which OpenAPI 3.1 uses)."""

from __future__ import annotations

import inspect
from functools import lru_cache
from typing import Any

import msgspec
from chalice.app import Chalice

from chalicelib.config import get_settings
from chalicelib.routing import OPERATIONS, Operation
from chalicelib.schemas import ErrorBody, MultipartFields

_REF = "#/components/schemas/{name}"
_STATUS_TEXT = {
    200: "OK",
    201: "Created",
    204: "No content",
    302: "Redirect to a presigned S3 URL",
    304: "Not modified (If-None-Match matched the ETag)",
    400: "Malformed input (the message names the field)",
    401: "No identity, or an invalid one",
    403: "Not the owner",
    404: "Unknown image (malformed ids too)",
    409: "Conflict with the image's state",
    413: "Too large",
    415: "Not an accepted image type, or declared and real type differ",
    422: "Content rejected after upload",
    503: "A backing service is unavailable",
}
_BINARY = {"type": "string", "format": "binary"}
_HEADER_DOCS = {
    "Idempotency-Key": "retries with the same key return the first result for 24 h",
    "Accept": "the bytes are streamed when its first type is the image's",
    "If-None-Match": "an ETag from an earlier response: 304 when it still matches",
}


def _structs(operation: Operation) -> list[type[msgspec.Struct]]:
    bodies = operation.body.values() if isinstance(operation.body, dict) else [operation.body]
    found = [kind for kind in bodies if kind is not None]
    return found + [kind for kind in operation.responses.values() if isinstance(kind, type)]


def _ref(kind: type[msgspec.Struct]) -> dict[str, str]:
    return {"$ref": _REF.format(name=kind.__name__)}


def _parameters(operation: Operation, path: str) -> list[dict[str, Any]]:
    params: list[dict[str, Any]] = [
        {
            "name": name,
            "in": "path",
            "required": True,
            "schema": {"type": "string"},
            "description": "the server-generated id (a malformed one is a 404)",
        }
        for name in _path_names(path)
    ]
    if operation.query is not None:
        _, components = msgspec.json.schema_components([operation.query], ref_template=_REF)
        schema = components[operation.query.__name__]
        params += [
            {"name": name, "in": "query", "required": name in schema["required"], "schema": prop}
            for name, prop in schema.get("properties", {}).items()
        ]
    params += [
        {
            "name": header,
            "in": "header",
            "required": False,
            "schema": {"type": "string"},
            "description": _HEADER_DOCS[header],
        }
        for header in operation.headers
    ]
    return params


def _path_names(path: str) -> list[str]:
    return [part[1:-1] for part in path.split("/") if part.startswith("{")]


def _request_body(operation: Operation) -> dict[str, Any] | None:
    body = operation.body
    if body is None:
        return None
    if not isinstance(body, dict):
        return {"required": True, "content": {"application/json": {"schema": _ref(body)}}}
    content: dict[str, Any] = {}
    for media_type, kind in body.items():
        if media_type == "multipart/form-data":
            content[media_type] = {"schema": _ref_name("MultipartUpload")}
        elif kind is None:
            content[media_type] = {"schema": _BINARY}
        else:
            content[media_type] = {"schema": _ref(kind)}
    return {"required": True, "content": content}


def _ref_name(name: str) -> dict[str, str]:
    return {"$ref": _REF.format(name=name)}


def _responses(operation: Operation, binary_types: list[str]) -> dict[str, Any]:
    answers: dict[str, Any] = {}
    for status, kind in operation.responses.items():
        answer: dict[str, Any] = {"description": _STATUS_TEXT[status]}
        if isinstance(kind, dict):
            answer["content"] = {"application/json": {"schema": kind}}
        elif kind is not None:
            answer["content"] = {"application/json": {"schema": _ref(kind)}}
        elif status == 200 and binary_types:
            answer["content"] = {t: {"schema": _BINARY} for t in binary_types}
            answer["headers"] = {"ETag": {"schema": {"type": "string"}}}
        elif status == 200 and "text_types" in operation.extra:
            text = {"type": "string"}
            answer["content"] = {t: {"schema": text} for t in operation.extra["text_types"]}
        if status in (201, 302):
            answer["headers"] = {"Location": {"schema": {"type": "string"}, "required": True}}
        answers[str(status)] = answer
    for status in operation.errors:
        answers[str(status)] = {
            "description": _STATUS_TEXT[status],
            "content": {"application/json": {"schema": _ref(ErrorBody)}},
        }
    return answers


def _operation(app: Chalice, path: str, method: str, view: Any) -> dict[str, Any]:
    operation = OPERATIONS[(path, method)]
    doc = inspect.getdoc(view) or view.__name__
    summary, _, description = doc.partition("\n\n")
    built: dict[str, Any] = {
        "operationId": view.__name__,
        "summary": summary.replace("\n", " "),
        "parameters": _parameters(operation, path),
        "responses": _responses(operation, operation.extra.get("binary_types", [])),
    }
    if description:
        built["description"] = description.replace("\n", " ")
    if (body := _request_body(operation)) is not None:
        built["requestBody"] = body
    if operation.identity:
        built["security"] = [{"identity": []}]
    return built


def _security_scheme() -> dict[str, Any]:
    if get_settings().auth_mode == "cognito":
        return {
            "type": "http",
            "scheme": "bearer",
            "description": "a Cognito user pool ID token (AUTH_MODE=cognito)",
        }
    return {
        "type": "apiKey",
        "in": "header",
        "name": "X-User-Id",
        "description": "the caller's user id (AUTH_MODE=header: local development and tests)",
    }


def _components() -> dict[str, Any]:
    kinds = {kind for operation in OPERATIONS.values() for kind in _structs(operation)}
    kinds |= {ErrorBody, MultipartFields}
    _, schemas = msgspec.json.schema_components(
        sorted(kinds, key=lambda kind: kind.__name__), ref_template=_REF
    )
    fields = schemas.pop("MultipartFields")
    schemas["MultipartUpload"] = {
        **fields,
        "title": "MultipartUpload",
        "properties": {"file": {**_BINARY, "description": "the image"}, **fields["properties"]},
        "required": ["file"],
    }
    return schemas


@lru_cache(maxsize=1)
def _document(app: Chalice) -> dict[str, Any]:
    paths: dict[str, Any] = {}
    for path, methods in sorted(app.routes.items()):
        for method, entry in methods.items():
            if method == "OPTIONS":  # CORS preflights, answered for every path
                continue
            paths.setdefault(path, {})[method.lower()] = _operation(
                app, path, method, entry.view_function
            )
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Image service",
            "version": "1.0.0",
            "description": "Upload, list, view, download, update and delete images.",
        },
        "paths": paths,
        "components": {
            "schemas": _components(),
            "securitySchemes": {"identity": _security_scheme()},
        },
    }


def document(app: Chalice) -> dict[str, Any]:
    return _document(app)
