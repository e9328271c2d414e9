"""The HTTP edge: turning the service's results into responses (status, headers, bodies,
content negotiation and conditional requests). The service knows nothing of HTTP."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Mapping
from typing import Any

import msgspec
from chalice.app import Request, Response

from chalicelib.formats import MODERN, VariantFormat
from chalicelib.models import Image
from chalicelib.schemas import DirectUploadStarted, ImageResource, UploadForm
from chalicelib.service import Blob, DirectUpload, Links
from chalicelib.validation import media_type

_ENCODER = msgspec.json.Encoder()
NO_STORE = {"Cache-Control": "no-store"}


def json(body: Any, status: int = 200, headers: Mapping[str, str] | None = None) -> Response:
    """A JSON response from structs, dicts and lists (encoded once, by msgspec)."""
    return Response(
        body=_ENCODER.encode(body).decode(),
        status_code=status,
        headers={"Content-Type": "application/json", **(headers or {})},
    )


def revalidated_json(body: Any, if_none_match: str | None) -> Response:
    """A JSON body a client may revalidate: its ETag is a hash of its bytes, and a matching
    If-None-Match gets a 304. Listings and images carry presigned URLs that stay the same all
    through a window of minutes, so a reload within it costs a few hundred bytes. The body
    depends on who asks (pending images are their owner's): private, varying by identity."""
    data = _ENCODER.encode(body)
    headers: dict[str, str | list[str]] = {
        "Cache-Control": "private, no-cache",
        "Vary": "Authorization, X-User-Id",
    }
    etag = f'"{hashlib.sha256(data).hexdigest()[:32]}"'
    headers["ETag"] = etag
    if if_none_match is not None and etag_matches(if_none_match, etag):
        return Response(body="", status_code=304, headers=headers)
    return Response(
        body=data.decode(), status_code=200, headers={"Content-Type": "application/json", **headers}
    )


def resource(image: Image, links: Links | None = None) -> msgspec.Struct:
    """The API body of an image: its public fields; ready images add renditions and URLs."""
    fields = {
        name: getattr(image, name)
        for name in ImageResource.__struct_fields__
        if hasattr(image, name)
    }
    if image.status != "ready":
        del fields["renditions"]
    if links is not None and links.urls:
        fields.update(urls=links.urls, sources=links.sources)
    return ImageResource(**fields)


def direct_upload(started: DirectUpload) -> msgspec.Struct:
    form = UploadForm(
        method="POST",
        url=started.post.url,
        fields=started.post.fields,
        expires_at=started.expires_at,
    )
    return DirectUploadStarted(image=resource(started.image), upload=form)


def redirect(url: str) -> Response:
    return Response(body="", status_code=302, headers={"Location": url, **NO_STORE})


def no_content() -> Response:
    return Response(body="", status_code=204)


def negotiate(requested: str, accept: str | None) -> VariantFormat | None:
    """The format `auto` means for this Accept header: AVIF if it lists image/avif, else
    WebP if it lists image/webp (a q=0 refuses a type), else None: the image's base format.
    Any other `requested` format is taken as asked."""
    if requested != "auto":
        return requested  # type: ignore[return-value]
    acceptable = set()
    for item in (accept or "").split(","):
        kind, *params = (part.strip() for part in item.split(";"))
        refused = any(p.replace(" ", "") in ("q=0", "q=0.0", "q=0.00", "q=0.000") for p in params)
        if not refused:
            acceptable.add(kind.lower())
    return next((fmt for fmt in MODERN if f"image/{fmt}" in acceptable), None)


def content(
    blob: Blob,
    request: Request,
    stream_max_bytes: int,
    read: Callable[[Blob], bytes],
    link: Callable[[Blob], str],
    vary: bool = False,
) -> Response:
    """The bytes when the client's first Accept type is exactly the blob's and it is small
    enough to pass through API Gateway (with an ETag, and 304 on a match); otherwise a 302 to
    a short-lived presigned URL, so that every client receives bytes, whatever it accepts."""
    accept = request.headers.get("accept") or ""
    first = media_type(accept.split(",", 1)[0])
    if first != blob.content_type or blob.size > stream_max_bytes:
        response = redirect(link(blob))
        if vary:
            response.headers["Vary"] = "Accept"
        return response
    headers: dict[str, str | list[str]] = {
        "ETag": blob.etag,
        "Cache-Control": "private, max-age=3600",
        "Vary": "Accept",
    }
    if_none_match = request.headers.get("if-none-match")
    if if_none_match is not None and etag_matches(if_none_match, blob.etag):
        return Response(body="", status_code=304, headers=headers)
    headers["Content-Type"] = blob.content_type
    return Response(body=read(blob), status_code=200, headers=headers)


# ----- CORS --------------------------------------------------------------------------------

_EXPOSED = "ETag, Location, Content-Length, Vary"
_ALLOWED_HEADERS = "Content-Type, X-User-Id, Authorization, Idempotency-Key, If-None-Match"


def _allowed_origin(origin: str | None, configured: str) -> str | None:
    """What Access-Control-Allow-Origin says: `*`, the request's origin when it is one of
    the configured ones, or nothing."""
    origins = [o.strip() for o in configured.split(",") if o.strip()]
    if "*" in origins:
        return "*"
    return origin if origin in origins else None


def with_cors(response: Response, origin: str | None, configured: str) -> Response:
    """Every response, errors included, carries CORS headers for the configured origins."""
    allowed = _allowed_origin(origin, configured)
    if allowed is not None:
        response.headers["Access-Control-Allow-Origin"] = allowed
        response.headers["Access-Control-Expose-Headers"] = _EXPOSED
    if allowed != "*" and configured.strip():
        vary = response.headers.get("Vary")
        response.headers["Vary"] = f"{vary}, Origin" if vary else "Origin"
    return response


def preflight(request: Request, methods: list[str], configured: str) -> Response:
    """The answer to a CORS preflight (OPTIONS) of a path: its methods, the headers the API
    reads, cached by the browser for ten minutes."""
    headers: dict[str, str | list[str]] = {
        "Access-Control-Allow-Methods": ", ".join(methods),
        "Access-Control-Allow-Headers": _ALLOWED_HEADERS,
        "Access-Control-Max-Age": "600",
        "Allow": ", ".join(methods),
    }
    return Response(body="", status_code=204, headers=headers)


def etag_matches(header: str, etag: str) -> bool:
    candidates = [c.strip() for c in header.split(",")]
    return "*" in candidates or any(c.removeprefix("W/") == etag for c in candidates)


def absolute_url(request: Request, path: str) -> str:
    """`path` (relative to the API root) as an absolute URL on the host and under the prefix
    the request came through: `/api` behind an API Gateway stage, LocalStack's
    `/restapis/{id}/{stage}/_user_request_`, nothing locally."""
    headers = request.headers
    scheme = (headers.get("x-forwarded-proto") or "http").split(",")[0].strip()
    host = headers.get("host") or "localhost"
    return f"{scheme}://{host}{api_root(request)}{path}"


def api_root(request: Request) -> str:
    """The path prefix in front of the API's own paths in the URL the client used."""
    context = request.context or {}
    api_id, stage = context.get("apiId"), context.get("stage")
    host = (request.headers.get("host") or "").lower()
    # LocalStack passes the stage path (`/api/images`) whichever URL the client used; its own
    # `/restapis/{id}/{stage}/_user_request_/` form shows only in the Host, which is then
    # LocalStack's gateway rather than the API's `{id}.execute-api...` name.
    inside_localstack = bool(os.environ.get("LOCALSTACK_HOSTNAME") and api_id and stage)
    if inside_localstack and not host.startswith(f"{str(api_id).lower()}."):
        return f"/restapis/{api_id}/{stage}/_user_request_"
    full = str(context.get("path") or "")
    resource_path = str(context.get("resourcePath") or "")
    if resource_path == "/":  # the gallery: `/api` and `/api/` alike
        return full.rstrip("/")
    for name, value in (request.uri_params or {}).items():
        resource_path = resource_path.replace("{" + name + "}", value)
    if resource_path and full.endswith(resource_path):
        return full[: len(full) - len(resource_path)].rstrip("/")
    return ""
