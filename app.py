"""The image service's HTTP routes and event handlers. Each parses, delegates to the service,
and hands the result to the HTTP edge (`chalicelib/responses.py`)."""

from __future__ import annotations

import hashlib
import json
import logging
import time
import uuid
from collections.abc import Callable
from typing import Any, TypeVar

import msgspec
from chalice.app import (
    Chalice,
    CognitoUserPoolAuthorizer,
    Rate,
    Request,
    Response,
    S3Event,
    SQSEvent,
)

from chalicelib import observability, responses, web
from chalicelib.aws import dynamodb_client, s3_client, sqs_client
from chalicelib.config import get_settings
from chalicelib.dispatch import Background, Queue
from chalicelib.errors import ApiError, BadRequest, NotFound, error
from chalicelib.formats import ACCEPTED_TYPES, VARIANT_TYPES
from chalicelib.identity import caller_id
from chalicelib.metadata import ImageTable
from chalicelib.models import UPLOAD_PREFIX
from chalicelib.parsing import (
    ENVELOPE_BYTES,
    check_body_size,
    decode_json,
    decode_params,
    list_filter,
    parse_idempotency_key,
    parse_upload,
)
from chalicelib.routing import OPERATIONS, Operation
from chalicelib.schemas import (
    AssetQuery,
    DirectUploadRequest,
    DirectUploadStarted,
    DownloadLink,
    DownloadQuery,
    GalleryQuery,
    Health,
    ImageList,
    ImageResource,
    ImageUpdate,
    JsonUpload,
    ListQuery,
    MultipartFields,
    NoQuery,
    RawUploadQuery,
    ThumbnailQuery,
)
from chalicelib.service import ImageService
from chalicelib.storage import ImageStore

app = Chalice(app_name="image-service")
SETTINGS = get_settings()
observability.configure(SETTINGS.log_level, SETTINGS.metrics_in_log)
if SETTINGS.tracing:
    observability.trace_aws_calls()
# Chalice's own lines (an unhandled exception's) in the same JSON form: the class, no values.
app.log.handlers[:] = logging.getLogger("image_service").handlers
app.log.propagate = False
# Bodies API Gateway must pass through as bytes (Chalice's defaults cover png, jpeg, gif).
app.api.binary_types.extend(
    ["image/webp", "image/heic", "image/heif", "image/avif", "multipart/form-data"]
)

_service: ImageService | None = None
S = TypeVar("S", bound=msgspec.Struct)


def get_service() -> ImageService:
    """The service, built on first use so that importing the app makes no AWS clients."""
    global _service
    if _service is None:
        service = ImageService(
            SETTINGS,
            ImageStore(s3_client(SETTINGS.region), SETTINGS.bucket_name),
            ImageTable(dynamodb_client(SETTINGS.region), SETTINGS.table_name, SETTINGS.feed_shards),
        )
        if SETTINGS.variants_after_upload == "background":
            service.dispatch = Background(service.make_variants)
        elif SETTINGS.variants_after_upload == "queue":
            service.dispatch = Queue(sqs_client(SETTINGS.region), SETTINGS.variants_queue)
        _service = service
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


def route(path: str, method: str, operation: Operation, **kwargs: Any) -> Callable[..., Any]:
    """`app.route` for one method, with what the route takes and answers recorded for the
    OpenAPI document. Routes that need an identity sit behind the authorizer (cognito).
    Every path also answers CORS preflight requests (OPTIONS, no identity: browsers send
    none with them)."""
    OPERATIONS[(path, method)] = operation
    if operation.identity:
        kwargs["authorizer"] = AUTHORIZER
    if path not in app.routes or "OPTIONS" not in app.routes[path]:
        app.route(path, methods=["OPTIONS"])(_preflight)
    return app.route(path, methods=[method], **kwargs)


def _preflight(**_: str) -> Response:
    request = current()
    methods = sorted(app.routes[request.context["resourcePath"]])
    return responses.preflight(request, methods, SETTINGS.cors_origins)


def current() -> Request:
    request = app.current_request
    assert request is not None
    return request


def caller() -> str:
    request = current()
    user = caller_id(request.headers, request.context, SETTINGS.auth_mode)
    observability.request_context().user = user
    return user


def query(kind: type[S]) -> S:
    return decode_params(current().query_params or {}, kind)


def raw_body() -> bytes:
    request = current()
    body = request.raw_body
    data = body.encode() if isinstance(body, str) else (body or b"")
    if not data and "chunked" in (request.headers.get("transfer-encoding") or "").lower():
        # chalice local reads bodies by Content-Length only; API Gateway has no such limit.
        raise BadRequest(
            "chunked request bodies are not supported here: send a Content-Length "
            "(curl --data-binary @file, not -T -)",
            code="length_required",
        )
    return data


def json_body(kind: type[S]) -> S:
    body = raw_body()
    check_body_size(body, ENVELOPE_BYTES)
    return decode_json(body, kind)


def idempotency_key() -> str | None:
    return parse_idempotency_key(current().headers.get("idempotency-key"))


def image_body(image: Any) -> msgspec.Struct:
    return responses.resource(image, get_service().links(image))


def created(image_body: msgspec.Struct, image_id: str) -> Response:
    observability.request_context().image_id = image_id
    location = responses.absolute_url(current(), f"/images/{image_id}")
    return responses.json(image_body, 201, {"Location": location})


_CHALICE_ERRORS = {405: "method_not_allowed", 415: "unsupported_media_type"}


@app.middleware("http")
def edge(event: Request, get_response: Callable[[Any], Response]) -> Response:
    """What every request gets: CORS headers for the configured origins on its response, and
    its one log line (with its metrics)."""
    started = time.perf_counter()
    context = observability.begin()
    context.image_id = (event.uri_params or {}).get("image_id")
    response = _json_errors(event, get_response)
    response = responses.with_cors(response, event.headers.get("origin"), SETTINGS.cors_origins)
    body = response.body
    observability.end_request(
        request_id=_request_id(event),
        route=str((event.context or {}).get("resourcePath", "?")),
        method=event.method,
        status=response.status_code,
        started=started,
        error_code=body["error"]["code"] if isinstance(body, dict) and "error" in body else None,
    )
    return response


def _request_id(event: Request) -> str:
    lambda_context = getattr(event, "lambda_context", None)
    found = getattr(lambda_context, "aws_request_id", None) or (event.context or {}).get(
        "requestId"
    )
    return str(found or uuid.uuid4())


def _json_errors(event: Any, get_response: Callable[[Any], Response]) -> Response:
    """Every error leaves in one JSON shape, Chalice's own ones included; no tracebacks."""
    try:
        response = get_response(event)
    except ApiError as exc:
        return exc.to_response()
    body = response.body
    if response.status_code >= 400 and isinstance(body, dict) and "Code" in body:
        status = response.status_code
        if status >= 500:
            return error(500, "internal_error", "an internal error occurred")
        message = str(body.get("Message", "bad request"))
        if status == 415:
            message = f"{message}; send the body as application/json"
        return error(status, _CHALICE_ERRORS.get(status, "bad_request"), message)
    return response


# ----- service-level routes -----------------------------------------------------------------


@route(
    "/health",
    "GET",
    Operation(query=NoQuery, responses={200: Health, 503: Health}, identity=False),
)
def health() -> Response:
    """Whether the bucket and the table answer."""
    query(NoQuery)
    checks = get_service().health()
    ok = all(value == "ok" for value in checks.values())
    body = Health(status="ok" if ok else "unavailable", checks=checks)  # type: ignore[arg-type]
    return responses.json(body, 200 if ok else 503, responses.NO_STORE)


@route(
    "/openapi.json",
    "GET",
    Operation(query=NoQuery, responses={200: {"type": "object"}}, identity=False),
)
def openapi_document() -> Response:
    """This document."""
    query(NoQuery)
    from chalicelib import openapi  # only this route needs it: kept out of cold starts

    return responses.json(openapi.document(app))


# ----- the gallery ----------------------------------------------------------------------------


def _web(data: bytes, content_type: str, etag: str, cache_control: str) -> Response:
    if responses.etag_matches(current().headers.get("if-none-match") or "", etag):
        return Response(body="", status_code=304, headers={"ETag": etag})
    return Response(
        body=data.decode(),
        status_code=200,
        headers={"Content-Type": content_type, "ETag": etag, "Cache-Control": cache_control},
    )


@route(
    "/",
    "GET",
    Operation(
        query=GalleryQuery,
        responses={200: None, 304: None},
        errors=(400,),
        identity=False,
        extra={"text_types": ["text/html"]},
    ),
)
def gallery() -> Response:
    """The web gallery: sign in, upload, browse, edit and delete photos.

    In header mode `/?user=NAME` signs in as NAME."""
    query(GalleryQuery)
    settings = get_service().settings
    values = {
        "root": responses.api_root(current()),
        "auth_mode": settings.auth_mode,
        "max_image_bytes": str(settings.max_image_bytes),
        "max_direct_upload_bytes": str(settings.max_direct_upload_bytes),
    }
    data = web.page("index.html", values)
    etag = f'"{hashlib.sha256(data).hexdigest()[:16]}"'
    return _web(data, "text/html; charset=utf-8", etag, "no-cache")


@route(
    "/static/{name}",
    "GET",
    Operation(
        query=AssetQuery,
        responses={200: None, 304: None},
        errors=(400, 404),
        identity=False,
        extra={"text_types": ["text/javascript", "text/css"]},
    ),
)
def static_asset(name: str) -> Response:
    """A file of the gallery or of the API documentation (scripts, styles), cached for a year
    when asked by version."""
    params = query(AssetQuery)
    found = web.asset(name)
    if found is None or name.endswith(".html"):
        raise NotFound("no such file")
    immutable = params.v == found.version
    cache = "public, max-age=31536000, immutable" if immutable else "no-cache"
    return _web(found.data, found.content_type, found.etag, cache)


@route(
    "/docs",
    "GET",
    Operation(
        query=NoQuery,
        responses={200: None, 304: None},
        errors=(400,),
        identity=False,
        extra={"text_types": ["text/html"]},
    ),
)
def api_docs() -> Response:
    """This API, interactive: Swagger UI over `/openapi.json`, with "try it out".

    Its files are the app's own (`make swagger-ui` vendors Swagger UI); requests go to the API
    root the page came through."""
    query(NoQuery)
    data = web.page("docs.html", {"root": responses.api_root(current())})
    etag = f'"{hashlib.sha256(data).hexdigest()[:16]}"'
    return _web(data, "text/html; charset=utf-8", etag, "no-cache")


# ----- images ---------------------------------------------------------------------------------

_UPLOAD = Operation(
    query=RawUploadQuery,
    body={
        "multipart/form-data": MultipartFields,
        "application/json": JsonUpload,
        **dict.fromkeys(ACCEPTED_TYPES),
    },
    responses={201: ImageResource},
    errors=(400, 401, 409, 413, 415, 422, 503),
    headers=("Idempotency-Key",),
)


@route("/images", "POST", _UPLOAD, content_types=ANY_BODY)
def upload_image() -> Response:
    """Upload an image through the API.

    Multipart (a `file` part), a raw image body (metadata in the query string), or JSON with
    the image base64-encoded. Answers the ready image and its absolute `Location`."""
    request = current()
    user = caller()
    upload = parse_upload(
        request.headers.get("content-type"),
        raw_body(),
        request.query_params or {},
        get_service().settings.max_image_bytes,
    )
    image = get_service().upload(user, upload, idempotency_key())
    return created(image_body(image), image.image_id)


@route(
    "/images",
    "GET",
    Operation(
        query=ListQuery,
        responses={200: ImageList, 304: None},
        errors=(400, 401, 503),
        headers=("If-None-Match",),
    ),
)
def list_images() -> Response:
    """List ready images, newest first.

    Filters combine; follow `next_token` until it is null to see every match exactly once.
    The ETag lets a client revalidate a page (304) while its URLs have not changed."""
    caller()
    params = query(ListQuery)
    items, next_token = get_service().list_images(
        list_filter(params), params.limit, params.next_token or None
    )
    bodies = [image_body(image) for image in items]
    listed = ImageList(items=bodies, count=len(bodies), next_token=next_token)
    return responses.revalidated_json(listed, current().headers.get("if-none-match"))


@route(
    "/images/uploads",
    "POST",
    Operation(
        query=NoQuery,
        body=DirectUploadRequest,
        responses={201: DirectUploadStarted},
        errors=(400, 401, 409, 413, 415, 503),
        headers=("Idempotency-Key",),
    ),
)
def start_direct_upload() -> Response:
    """Start a direct-to-S3 upload (large images): a pending image and a presigned POST."""
    user = caller()
    query(NoQuery)
    started = get_service().start_direct_upload(
        user, json_body(DirectUploadRequest), idempotency_key()
    )
    body = responses.direct_upload(started)
    return created(body, started.image.image_id)


@route(
    "/images/{image_id}",
    "GET",
    Operation(
        query=NoQuery,
        responses={200: ImageResource, 304: None},
        errors=(401, 404, 503),
        headers=("If-None-Match",),
    ),
)
def get_image(image_id: str) -> Response:
    """One image's metadata (ready images carry presigned `urls`); revalidated by ETag."""
    user = caller()
    query(NoQuery)
    image = image_body(get_service().get(user, image_id))
    return responses.revalidated_json(image, current().headers.get("if-none-match"))


_UPDATE = Operation(
    query=NoQuery,
    body=ImageUpdate,
    responses={200: ImageResource},
    errors=(400, 401, 403, 404, 409, 413, 415, 503),
)


def _update(image_id: str) -> Response:
    user = caller()
    query(NoQuery)
    changes = json_body(ImageUpdate).given()
    return responses.json(image_body(get_service().update(user, image_id, changes)))


@route("/images/{image_id}", "PATCH", _UPDATE)
def patch_image(image_id: str) -> Response:
    """Change title, description or tags (owner only)."""
    return _update(image_id)


@route("/images/{image_id}", "PUT", _UPDATE)
def put_image(image_id: str) -> Response:
    """Change title, description or tags (owner only); the same as PATCH."""
    return _update(image_id)


@route(
    "/images/{image_id}",
    "DELETE",
    Operation(query=NoQuery, responses={204: None}, errors=(401, 403, 404, 409, 503)),
)
def delete_image(image_id: str) -> Response:
    """Delete the image, its objects and its index entries (owner only); a second delete is
    a 404."""
    user = caller()
    query(NoQuery)
    get_service().delete(user, image_id)
    return responses.no_content()


@route(
    "/images/{image_id}/complete",
    "POST",
    Operation(query=NoQuery, responses={200: ImageResource}, errors=(401, 403, 404, 409, 422, 503)),
)
def complete_upload(image_id: str) -> Response:
    """Finalise a direct upload (idempotent)."""
    user = caller()
    query(NoQuery)
    return responses.json(image_body(get_service().complete(user, image_id)))


@route(
    "/images/{image_id}/download",
    "GET",
    Operation(
        query=DownloadQuery,
        responses={200: DownloadLink, 302: None},
        errors=(400, 401, 404, 409, 503),
    ),
)
def download_image(image_id: str) -> Response:
    """A presigned S3 URL of the original (`redirect=true`: a 302 to it)."""
    user = caller()
    params = query(DownloadQuery)
    link = get_service().download(user, image_id, params.expires_in, params.attachment)
    if params.redirect:
        return responses.redirect(link.url)
    body = DownloadLink(url=link.url, expires_in=link.expires_in, expires_at=link.expires_at)
    return responses.json(body, headers=responses.NO_STORE)


_CONTENT = Operation(
    query=NoQuery,
    responses={200: None, 302: None, 304: None},
    errors=(400, 401, 404, 409, 503),
    headers=("Accept", "If-None-Match"),
    extra={"binary_types": list(ACCEPTED_TYPES)},
)
_RENDITION = msgspec.structs.replace(
    _CONTENT, query=ThumbnailQuery, extra={"binary_types": sorted(set(VARIANT_TYPES.values()))}
)


def _content(blob: Any, vary: bool = False) -> Response:
    service = get_service()
    return responses.content(
        blob, current(), service.settings.stream_max_bytes, service.read, service.short_link, vary
    )


@route(
    "/images/{image_id}/content",
    "GET",
    _CONTENT,
)
def image_content(image_id: str) -> Response:
    """The image bytes: streamed when the first Accept type is the image's and it is small,
    otherwise a 302 to a short-lived presigned URL."""
    user = caller()
    query(NoQuery)
    return _content(get_service().blob(user, image_id))


@route("/images/{image_id}/thumbnail", "GET", _RENDITION)
def image_thumbnail(image_id: str) -> Response:
    """A rendition, streamed or by redirect like `/content`.

    Sizes: small (longest side 320 px), medium (1080 px), square (640x640, cut on the most
    interesting region). `format=auto` picks AVIF or WebP when Accept lists them (the response
    varies by Accept); a variant that does not exist yet is made now and kept."""
    user = caller()
    params = query(ThumbnailQuery)
    fmt = responses.negotiate(params.format, current().headers.get("accept"))
    return _content(get_service().blob(user, image_id, params.size, fmt), vary=True)


# ----- events ---------------------------------------------------------------------------------


def _finalise_upload(key: str) -> None:
    """A direct upload landed: finalise it exactly as POST /images/{id}/complete would.

    A backend failure propagates, so Lambda retries the (asynchronous) event.
    """
    with observability.event_run("finalise_upload", key=key) as outcome:
        outcome["result"] = get_service().finalise_uploaded_object(key)


if SETTINGS.wired_by_template:
    # `chalice package` cannot emit S3 notifications (CloudFormation cannot change an existing
    # bucket's), so the packaged stages set WIRED_BY_TEMPLATE and the template they are
    # packaged with (infra/aws/resources.json) sends the bucket's "Object Created" events for
    # uploads/ to this function through EventBridge (S3 notifications straight to the function
    # would make the bucket, the function and its permissions depend on each other).
    @app.lambda_function(name="finalise_upload")
    def finalise_upload_packaged(event: dict[str, Any], context: Any) -> None:
        if event.get("detail-type") == "Object Created":
            _finalise_upload(event["detail"]["object"]["key"])
        for record in event.get("Records", []):  # an S3 notification, should one be wired
            _finalise_upload(S3Event({"Records": [record]}, context).key)
else:

    @app.on_s3_event(
        bucket=SETTINGS.bucket_name, prefix=UPLOAD_PREFIX, events=["s3:ObjectCreated:*"]
    )
    def finalise_upload(event: S3Event) -> None:
        _finalise_upload(event.key)


if SETTINGS.variants_after_upload == "queue":
    # The queue's consumer: the WebP and AVIF variants of each new image (see dispatch.py).
    # A failure propagates, so SQS redelivers the message (and dead-letters it, deployed).
    # Packaged, the template names the queue; the ARN here is a placeholder it replaces.
    queue_arn = (
        f"arn:aws:sqs:{SETTINGS.region}:000000000000:{SETTINGS.variants_queue}"
        if SETTINGS.wired_by_template
        else None
    )

    @app.on_sqs_message(queue=SETTINGS.variants_queue, queue_arn=queue_arn, batch_size=1)
    def make_variants(event: SQSEvent) -> None:
        for record in event:
            image_id = json.loads(record.body)["image_id"]
            with observability.event_run("make_variants", image_id=image_id):
                get_service().make_variants(image_id)


@app.schedule(Rate(1, unit=Rate.HOURS))
def sweep_stale_images(event: Any) -> None:
    """Remove pending uploads that never completed, rejected images, half-done deletes, and
    objects whose row is gone; finalise uploads whose event was lost."""
    with observability.event_run("sweep") as outcome:
        report = get_service().sweep()
        outcome.update(
            stale_images=report.stale_images,
            orphan_objects=report.orphan_objects,
            finalised=report.finalised,
        )
