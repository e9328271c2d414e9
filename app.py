"""The image service's HTTP routes and event handlers. Each parses and delegates."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from chalice.app import Chalice, CognitoUserPoolAuthorizer, Rate, Request, Response, S3Event

from chalicelib.aws import dynamodb_client, s3_client
from chalicelib.config import get_settings
from chalicelib.errors import ApiError, InvalidField, error
from chalicelib.identity import caller_id
from chalicelib.metadata import ImageTable
from chalicelib.models import UPLOAD_PREFIX, RenditionName
from chalicelib.parsing import (
    parse_bool,
    parse_idempotency_key,
    parse_int,
    parse_json_object,
    parse_list_params,
    parse_upload,
)
from chalicelib.service import ImageService
from chalicelib.storage import ImageStore
from chalicelib.validation import clean_update

app = Chalice(app_name="image-service")
app.log.setLevel(logging.INFO)
# Bodies API Gateway must pass through as bytes (Chalice's defaults cover png, jpeg, gif).
app.api.binary_types.extend(["image/webp", "multipart/form-data"])

SETTINGS = get_settings()
_service: ImageService | None = None


def get_service() -> ImageService:
    """The service, built on first use so that importing the app makes no AWS clients."""
    global _service
    if _service is None:
        _service = ImageService(
            SETTINGS,
            ImageStore(s3_client(SETTINGS.region), SETTINGS.bucket_name),
            ImageTable(dynamodb_client(SETTINGS.region), SETTINGS.table_name, SETTINGS.feed_shards),
        )
    return _service


def _authorizer() -> CognitoUserPoolAuthorizer | None:
    """In cognito mode API Gateway checks the token; the app reads the `sub` it passes."""
    if SETTINGS.auth_mode != "cognito":
        return None
    return CognitoUserPoolAuthorizer(
        "images-user-pool", provider_arns=[SETTINGS.cognito_user_pool_arn]
    )


AUTHORIZER = _authorizer()
ANY_BODY = ["*/*"]  # the upload route sorts out encodings itself and answers 415 in our shape


def images_route(path: str, **kwargs: Any) -> Callable[..., Any]:
    return app.route(path, authorizer=AUTHORIZER, **kwargs)


def current() -> Request:
    request = app.current_request
    assert request is not None
    return request


def caller() -> str:
    request = current()
    return caller_id(request.headers, request.context, SETTINGS.auth_mode)


def query() -> dict[str, str]:
    return dict(current().query_params or {})


def raw_body() -> bytes:
    body = current().raw_body
    return body.encode() if isinstance(body, str) else (body or b"")


@app.middleware("http")
def json_errors(event: Any, get_response: Callable[[Any], Response]) -> Response:
    """Every error leaves in one JSON shape, Chalice's own ones included; no tracebacks."""
    try:
        response = get_response(event)
    except ApiError as exc:
        return exc.to_response()
    body = response.body
    if response.status_code >= 400 and isinstance(body, dict) and "Code" in body:
        status = response.status_code
        if status >= 500:
            app.log.error("unhandled error on %s", getattr(event, "path", "?"))
            return error(500, "internal_error", "an internal error occurred")
        code = {405: "method_not_allowed", 415: "unsupported_media_type"}.get(status, "bad_request")
        return error(status, code, str(body.get("Message", "bad request")))
    return response


# ----- service-level routes -----------------------------------------------------------------


@app.route("/health", methods=["GET"])
def health() -> Response:
    checks = get_service().health()
    ok = all(value == "ok" for value in checks.values())
    return Response(
        body={"status": "ok" if ok else "unavailable", "checks": checks},
        status_code=200 if ok else 503,
        headers={"Cache-Control": "no-store"},
    )


@app.route("/openapi.json", methods=["GET"])
def openapi_document() -> dict[str, Any]:
    from chalicelib import openapi  # only this route needs it: kept out of cold starts

    return openapi.document()


# ----- images ---------------------------------------------------------------------------------


@images_route("/images", methods=["POST"], content_types=ANY_BODY)
def upload_image() -> Response:
    request = current()
    user = caller()
    upload = parse_upload(
        request.headers.get("content-type"),
        raw_body(),
        query(),
        SETTINGS.max_image_bytes,
    )
    key = parse_idempotency_key(request.headers.get("idempotency-key"))
    image = get_service().upload(user, upload, key)
    return Response(
        body=get_service().resource(image),
        status_code=201,
        headers={"Location": f"/images/{image.image_id}"},
    )


@images_route("/images", methods=["GET"])
def list_images() -> dict[str, Any]:
    caller()
    service = get_service()
    items, next_token = service.list_images(parse_list_params(query()))
    return {
        "items": [service.resource(image) for image in items],
        "count": len(items),
        "next_token": next_token,
    }


@images_route("/images/uploads", methods=["POST"])
def start_direct_upload() -> Response:
    request = current()
    user = caller()
    started = get_service().start_direct_upload(
        user,
        parse_json_object(raw_body()),
        parse_idempotency_key(request.headers.get("idempotency-key")),
    )
    return Response(
        body={
            "image": get_service().resource(started.image),
            "upload": {
                "method": "POST",
                "url": started.post.url,
                "fields": started.post.fields,
                "expires_at": started.expires_at,
            },
        },
        status_code=201,
        headers={"Location": f"/images/{started.image.image_id}"},
    )


@images_route("/images/{image_id}", methods=["GET"])
def get_image(image_id: str) -> dict[str, Any]:
    service = get_service()
    return service.resource(service.get(caller(), image_id))


@images_route("/images/{image_id}", methods=["PATCH", "PUT"])
def update_image(image_id: str) -> dict[str, Any]:
    user = caller()
    changes = clean_update(parse_json_object(raw_body()))
    service = get_service()
    return service.resource(service.update(user, image_id, changes))


@images_route("/images/{image_id}", methods=["DELETE"])
def delete_image(image_id: str) -> Response:
    get_service().delete(caller(), image_id)
    return Response(body="", status_code=204)


@images_route("/images/{image_id}/complete", methods=["POST"])
def complete_upload(image_id: str) -> dict[str, Any]:
    service = get_service()
    return service.resource(service.complete(caller(), image_id))


@images_route("/images/{image_id}/download", methods=["GET"])
def download_image(image_id: str) -> Response:
    user = caller()
    params = query()
    unknown = sorted(set(params) - {"expires_in", "attachment", "redirect"})
    if unknown:
        raise InvalidField(unknown[0], "unknown query parameter")
    link = get_service().download(
        user,
        image_id,
        parse_int("expires_in", params.get("expires_in"), 900, 60, 3600),
        parse_bool("attachment", params.get("attachment")),
    )
    if parse_bool("redirect", params.get("redirect")):
        return Response(
            body="", status_code=302, headers={"Location": link["url"], "Cache-Control": "no-store"}
        )
    return Response(body=link, status_code=200, headers={"Cache-Control": "no-store"})


def _content(image_id: str, rendition: RenditionName | None) -> Response:
    request = current()
    result = get_service().content(
        caller(),
        image_id,
        request.headers.get("accept"),
        request.headers.get("if-none-match"),
        rendition,
    )
    if result.status == 302:
        assert result.location is not None
        return Response(
            body="",
            status_code=302,
            headers={"Location": result.location, "Cache-Control": "no-store"},
        )
    headers: dict[str, str | list[str]] = {
        "ETag": result.etag or "",
        "Cache-Control": "private, max-age=3600",
        "Vary": "Accept",
    }
    if result.status == 304:
        return Response(body="", status_code=304, headers=headers)
    assert result.content_type is not None
    headers["Content-Type"] = result.content_type
    return Response(body=result.body, status_code=200, headers=headers)


@images_route("/images/{image_id}/content", methods=["GET"])
def image_content(image_id: str) -> Response:
    return _content(image_id, None)


@images_route("/images/{image_id}/thumbnail", methods=["GET"])
def image_thumbnail(image_id: str) -> Response:
    size = query().get("size", "small")
    if size not in ("small", "medium"):
        raise InvalidField("size", "must be small or medium")
    return _content(image_id, size)  # type: ignore[arg-type]


# ----- events ---------------------------------------------------------------------------------


def _finalise_upload(event: S3Event) -> None:
    """A direct upload landed: finalise it exactly as POST /images/{id}/complete would.

    A backend failure propagates, so Lambda retries the (asynchronous) event.
    """
    get_service().finalise_uploaded_object(event.key)


if SETTINGS.s3_events_wired_by_template:
    # `chalice package` cannot emit S3 notifications (CloudFormation cannot change an existing
    # bucket's), so the prod stage sets S3_EVENTS_WIRED_BY_TEMPLATE and the template it is
    # packaged with (infra/aws/resources.json) wires the bucket it creates to this function.
    @app.lambda_function(name="finalise_upload")
    def finalise_upload_packaged(event: dict[str, Any], context: Any) -> None:
        for record in event.get("Records", []):
            _finalise_upload(S3Event({"Records": [record]}, context))
else:

    @app.on_s3_event(
        bucket=SETTINGS.bucket_name, prefix=UPLOAD_PREFIX, events=["s3:ObjectCreated:*"]
    )
    def finalise_upload(event: S3Event) -> None:
        _finalise_upload(event)


@app.schedule(Rate(1, unit=Rate.HOURS))
def sweep_stale_images(event: Any) -> None:
    """Remove pending uploads that never completed, rejected images and half-done deletes."""
    removed = get_service().sweep()
    app.log.info("sweeper removed %d stale images", removed)
