"""The OpenAPI 3 document the app serves at /openapi.json (kept in step with the routes by a
test that compares both ways)."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from chalicelib.identity import USER_ID
from chalicelib.validation import (
    ACCEPTED_TYPES,
    DESCRIPTION_MAX,
    FILENAME_MAX,
    TAG_MAX,
    TAGS_MAX,
    TITLE_MAX,
)

_ERRORS = {
    "400": "Malformed input (the message names the field)",
    "401": "No identity, or an invalid one",
    "403": "Not the owner",
    "404": "Unknown image (malformed ids too)",
    "409": "Conflict with the image's state",
    "413": "Too large",
    "415": "Not an accepted image type, or declared and real type differ",
    "422": "Content rejected after upload",
    "503": "A backing service is unavailable",
}


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _errors(*codes: str) -> dict[str, Any]:
    return {code: _json(_ref("Error"), _ERRORS[code]) for code in codes}


def _redirect(description: str) -> dict[str, Any]:
    return {
        "description": description,
        "headers": {"Location": {"schema": {"type": "string"}, "required": True}},
    }


_IMAGE_ID = {
    "name": "image_id",
    "in": "path",
    "required": True,
    "schema": {"type": "string"},
    "description": "The server-generated id",
}
_SECURED: list[dict[str, list[str]]] = [{"userHeader": []}, {"cognito": []}]

_TAGS_FIELD = {
    "oneOf": [
        {
            "type": "array",
            "maxItems": TAGS_MAX,
            "items": {"type": "string", "minLength": 1, "maxLength": TAG_MAX},
        },
        {"type": "string", "description": "comma-separated"},
    ]
}

_SCHEMAS: dict[str, Any] = {
    "Error": {
        "type": "object",
        "required": ["error"],
        "properties": {
            "error": {
                "type": "object",
                "required": ["code", "message"],
                "properties": {
                    "code": {"type": "string"},
                    "message": {"type": "string"},
                    "field": {"type": "string"},
                },
            }
        },
    },
    "Rendition": {
        "type": "object",
        "required": ["content_type", "width", "height", "size"],
        "properties": {
            "content_type": {"type": "string"},
            "width": {"type": "integer"},
            "height": {"type": "integer"},
            "size": {"type": "integer"},
        },
    },
    "Image": {
        "type": "object",
        "required": [
            "image_id",
            "user_id",
            "title",
            "description",
            "tags",
            "filename",
            "content_type",
            "size",
            "width",
            "height",
            "sha256",
            "status",
            "created_at",
            "updated_at",
        ],
        "properties": {
            "image_id": {"type": "string"},
            "user_id": {"type": "string"},
            "title": {"type": "string", "maxLength": TITLE_MAX},
            "description": {"type": "string", "maxLength": DESCRIPTION_MAX},
            "tags": {"type": "array", "items": {"type": "string"}, "maxItems": TAGS_MAX},
            "filename": {"type": "string", "maxLength": FILENAME_MAX},
            "content_type": {"type": "string", "enum": list(ACCEPTED_TYPES)},
            "size": {"type": "integer", "description": "bytes (declared while pending)"},
            "width": {
                "type": "integer",
                "nullable": True,
                "description": "as displayed, EXIF orientation applied",
            },
            "height": {"type": "integer", "nullable": True},
            "sha256": {"type": "string", "nullable": True},
            "status": {"type": "string", "enum": ["pending", "ready", "rejected"]},
            "created_at": {"type": "string", "format": "date-time"},
            "updated_at": {"type": "string", "format": "date-time"},
            "renditions": {
                "type": "object",
                "properties": {"small": _ref("Rendition"), "medium": _ref("Rendition")},
            },
            "urls": {
                "type": "object",
                "description": "presigned GET URLs, valid 15 minutes (ready images)",
                "properties": {
                    "original": {"type": "string"},
                    "small": {"type": "string"},
                    "medium": {"type": "string"},
                },
            },
        },
    },
    "ImageList": {
        "type": "object",
        "required": ["items", "count", "next_token"],
        "properties": {
            "items": {"type": "array", "items": _ref("Image")},
            "count": {"type": "integer"},
            "next_token": {"type": "string", "nullable": True},
        },
    },
    "JsonUpload": {
        "type": "object",
        "required": ["image_base64"],
        "additionalProperties": False,
        "properties": {
            "image_base64": {"type": "string"},
            "content_type": {"type": "string"},
            "filename": {"type": "string"},
            "title": {"type": "string", "maxLength": TITLE_MAX},
            "description": {"type": "string", "maxLength": DESCRIPTION_MAX},
            "tags": _TAGS_FIELD,
        },
    },
    "MultipartUpload": {
        "type": "object",
        "required": ["file"],
        "properties": {
            "file": {"type": "string", "format": "binary", "minLength": 1},
            "title": {"type": "string"},
            "description": {"type": "string"},
            "tags": {"type": "string", "description": "comma-separated"},
        },
    },
    "Update": {
        "type": "object",
        "additionalProperties": False,
        "properties": {
            "title": {"type": "string", "maxLength": TITLE_MAX},
            "description": {"type": "string", "maxLength": DESCRIPTION_MAX},
            "tags": _TAGS_FIELD,
        },
    },
    "DirectUploadRequest": {
        "type": "object",
        "required": ["content_type", "size"],
        "additionalProperties": False,
        "properties": {
            "content_type": {"type": "string", "enum": list(ACCEPTED_TYPES)},
            "size": {"type": "integer", "minimum": 1},
            "filename": {"type": "string"},
            "title": {"type": "string", "maxLength": TITLE_MAX},
            "description": {"type": "string", "maxLength": DESCRIPTION_MAX},
            "tags": _TAGS_FIELD,
        },
    },
    "DirectUpload": {
        "type": "object",
        "required": ["image", "upload"],
        "properties": {
            "image": _ref("Image"),
            "upload": {
                "type": "object",
                "required": ["method", "url", "fields", "expires_at"],
                "properties": {
                    "method": {"type": "string", "enum": ["POST"]},
                    "url": {"type": "string"},
                    "fields": {"type": "object", "additionalProperties": {"type": "string"}},
                    "expires_at": {"type": "string", "format": "date-time"},
                },
            },
        },
    },
    "Download": {
        "type": "object",
        "required": ["url", "expires_in", "expires_at"],
        "properties": {
            "url": {"type": "string"},
            "expires_in": {"type": "integer"},
            "expires_at": {"type": "string", "format": "date-time"},
        },
    },
    "Health": {
        "type": "object",
        "required": ["status", "checks"],
        "properties": {
            "status": {"type": "string", "enum": ["ok", "unavailable"]},
            "checks": {"type": "object", "additionalProperties": {"type": "string"}},
        },
    },
}


def _query(name: str, schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {
        "name": name,
        "in": "query",
        "required": False,
        "schema": schema,
        "description": description,
    }


def _binary_responses(what: str) -> dict[str, Any]:
    return {
        "200": {
            "description": f"The {what} bytes (first Accept type is the image's type)",
            "headers": {"ETag": {"schema": {"type": "string"}}},
            "content": {
                t: {"schema": {"type": "string", "format": "binary"}} for t in ACCEPTED_TYPES
            },
        },
        "302": _redirect(f"Redirect to a short-lived presigned URL of the {what}"),
        "304": {"description": "Not modified (If-None-Match matched the ETag)"},
        **_errors("400", "401", "404", "409", "503"),
    }


_ACCEPT = {"name": "Accept", "in": "header", "required": False, "schema": {"type": "string"}}
_IF_NONE_MATCH = {
    "name": "If-None-Match",
    "in": "header",
    "required": False,
    "schema": {"type": "string"},
}

_PATHS: dict[str, Any] = {
    "/health": {
        "get": {
            "summary": "Whether the bucket and the table answer",
            "operationId": "health",
            "responses": {
                "200": _json(_ref("Health"), "Healthy"),
                "503": _json(_ref("Health"), "A backing service is unavailable"),
            },
        }
    },
    "/openapi.json": {
        "get": {
            "summary": "This document",
            "operationId": "openapi",
            "responses": {"200": _json({"type": "object"}, "The OpenAPI document")},
        }
    },
    "/images": {
        "post": {
            "summary": "Upload an image through the API (multipart, raw body or base64 JSON)",
            "operationId": "uploadImage",
            "security": _SECURED,
            "parameters": [
                _query("title", {"type": "string"}, "raw-body uploads only"),
                _query("description", {"type": "string"}, "raw-body uploads only"),
                _query("tags", {"type": "string"}, "comma-separated; raw-body uploads only"),
                _query("filename", {"type": "string"}, "raw-body uploads only"),
                {
                    "name": "Idempotency-Key",
                    "in": "header",
                    "required": False,
                    "schema": {"type": "string", "maxLength": 255},
                },
            ],
            "requestBody": {
                "required": True,
                "content": {
                    "multipart/form-data": {"schema": _ref("MultipartUpload")},
                    "application/json": {"schema": _ref("JsonUpload")},
                    **{
                        t: {"schema": {"type": "string", "format": "binary"}}
                        for t in ACCEPTED_TYPES
                    },
                },
            },
            "responses": {
                "201": {
                    **_json(_ref("Image"), "Stored and ready"),
                    "headers": {"Location": {"schema": {"type": "string"}}},
                },
                **_errors("400", "401", "409", "413", "415", "422", "503"),
            },
        },
        "get": {
            "summary": "List ready images, newest first",
            "operationId": "listImages",
            "security": _SECURED,
            "parameters": [
                _query(
                    "user_id",
                    {"type": "string", "pattern": f"^{USER_ID.pattern}$"},
                    "only this user's images",
                ),
                _query("tag", {"type": "string"}, "only images with this tag"),
                _query("title", {"type": "string"}, "case-insensitive substring of the title"),
                _query("content_type", {"type": "string", "enum": list(ACCEPTED_TYPES)}, ""),
                _query("created_after", {"type": "string"}, "ISO 8601 date or date-time"),
                _query("created_before", {"type": "string"}, "ISO 8601 date or date-time"),
                _query(
                    "limit",
                    {"type": "integer", "minimum": 1, "maximum": 100, "default": 20},
                    "page size",
                ),
                _query("next_token", {"type": "string"}, "from the previous page"),
            ],
            "responses": {
                "200": _json(_ref("ImageList"), "A page of images"),
                **_errors("400", "401", "503"),
            },
        },
    },
    "/images/uploads": {
        "post": {
            "summary": "Start a direct-to-S3 upload (large images)",
            "operationId": "startDirectUpload",
            "security": _SECURED,
            "parameters": [
                {
                    "name": "Idempotency-Key",
                    "in": "header",
                    "required": False,
                    "schema": {"type": "string", "maxLength": 255},
                }
            ],
            "requestBody": {
                "required": True,
                "content": {"application/json": {"schema": _ref("DirectUploadRequest")}},
            },
            "responses": {
                "201": _json(_ref("DirectUpload"), "A pending image and its upload form"),
                **_errors("400", "401", "409", "413", "415", "503"),
            },
        }
    },
    "/images/{image_id}": {
        "parameters": [_IMAGE_ID],
        "get": {
            "summary": "One image's metadata",
            "operationId": "getImage",
            "security": _SECURED,
            "responses": {"200": _json(_ref("Image"), "The image"), **_errors("401", "404", "503")},
        },
        **{
            method: {
                "summary": "Change title, description or tags (owner only)",
                "operationId": f"{method}Image",
                "security": _SECURED,
                "requestBody": {
                    "required": True,
                    "content": {"application/json": {"schema": _ref("Update")}},
                },
                "responses": {
                    "200": _json(_ref("Image"), "The updated image"),
                    **_errors("400", "401", "403", "404", "409", "415", "503"),
                },
            }
            for method in ("patch", "put")
        },
        "delete": {
            "summary": "Delete the image, its objects and its index entries (owner only)",
            "operationId": "deleteImage",
            "security": _SECURED,
            "responses": {"204": {"description": "Deleted"}, **_errors("401", "403", "404", "503")},
        },
    },
    "/images/{image_id}/complete": {
        "post": {
            "summary": "Finalise a direct upload (idempotent)",
            "operationId": "completeUpload",
            "parameters": [_IMAGE_ID],
            "security": _SECURED,
            "responses": {
                "200": _json(_ref("Image"), "The ready image"),
                **_errors("401", "403", "404", "409", "422", "503"),
            },
        }
    },
    "/images/{image_id}/download": {
        "get": {
            "summary": "A presigned S3 URL for the original",
            "operationId": "downloadImage",
            "security": _SECURED,
            "parameters": [
                _IMAGE_ID,
                _query(
                    "expires_in",
                    {"type": "integer", "minimum": 60, "maximum": 3600, "default": 900},
                    "seconds",
                ),
                _query("attachment", {"type": "boolean"}, "serve as an attachment"),
                _query("redirect", {"type": "boolean"}, "answer 302 to the URL"),
            ],
            "responses": {
                "200": _json(_ref("Download"), "The URL"),
                "302": _redirect("Redirect to the presigned URL"),
                **_errors("400", "401", "404", "409", "503"),
            },
        }
    },
    "/images/{image_id}/content": {
        "get": {
            "summary": "The image bytes, streamed or by redirect",
            "operationId": "imageContent",
            "security": _SECURED,
            "parameters": [_IMAGE_ID, _ACCEPT, _IF_NONE_MATCH],
            "responses": _binary_responses("image"),
        }
    },
    "/images/{image_id}/thumbnail": {
        "get": {
            "summary": "A rendition (small: 320 px, medium: 1080 px), streamed or by redirect",
            "operationId": "imageThumbnail",
            "security": _SECURED,
            "parameters": [
                _IMAGE_ID,
                _query(
                    "size",
                    {"type": "string", "enum": ["small", "medium"], "default": "small"},
                    "which rendition",
                ),
                _ACCEPT,
                _IF_NONE_MATCH,
            ],
            "responses": _binary_responses("rendition"),
        }
    },
}


@lru_cache(maxsize=1)
def document() -> dict[str, Any]:
    return {
        "openapi": "3.0.3",
        "info": {
            "title": "Image service",
            "version": "1.0.0",
            "description": "Upload, list, view, download, update and delete images.",
        },
        "paths": _PATHS,
        "components": {
            "schemas": _SCHEMAS,
            "securitySchemes": {
                "userHeader": {
                    "type": "apiKey",
                    "in": "header",
                    "name": "X-User-Id",
                    "description": "AUTH_MODE=header (local development, tests)",
                },
                "cognito": {
                    "type": "apiKey",
                    "in": "header",
                    "name": "Authorization",
                    "description": "AUTH_MODE=cognito: a Cognito user pool ID token",
                },
            },
        },
    }
