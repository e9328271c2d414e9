"""The HTTP side: one method per API call, errors turned into `ApiError` (the API's own
`error.message`) or `Unreachable` (no answer at all), never a traceback.

A client is used from several upload threads at once: each thread has its own
`requests.Session` (sessions are not thread-safe), so each keeps its own connection."""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import IO, Any
from urllib.parse import quote, urlsplit

import requests
from requests_toolbelt import MultipartEncoder, MultipartEncoderMonitor

from imgsvc import __version__
from imgsvc.config import Config
from imgsvc.errors import ApiError, CliError, Unreachable

Json = dict[str, Any]
Progress = Callable[[int], None]  # bytes of the file sent so far
TIMEOUT = (10, 60)  # connect, read
UPLOAD_TIMEOUT = (10, 300)  # processing a large image takes a while
BASE_ACCEPT = "image/jpeg,image/png"
_XML_MESSAGE = re.compile(r"<Message>(.*?)</Message>", re.DOTALL)


class Client:
    def __init__(self, config: Config):
        self.config = config
        self._local = threading.local()

    # ----- plumbing ---------------------------------------------------------------------

    @property
    def session(self) -> requests.Session:
        session: requests.Session | None = getattr(self._local, "session", None)
        if session is None:
            session = requests.Session()
            session.headers["User-Agent"] = f"imgsvc/{__version__}"
            self._local.session = session
        return session

    def call(
        self,
        method: str,
        path: str,
        *,
        ok: tuple[int, ...] = (200,),
        headers: Mapping[str, str] | None = None,
        **kwargs: Any,
    ) -> requests.Response:
        """A request to the API (`path` under the base URL, identity headers added)."""
        merged = {**self.config.headers(), **(headers or {})}
        return self.send(method, self.config.base + path, ok=ok, headers=merged, **kwargs)

    def send(
        self, method: str, url: str, *, ok: tuple[int, ...] = (200,), **kwargs: Any
    ) -> requests.Response:
        """Any request; an answer outside `ok` raises ApiError with the server's message."""
        kwargs.setdefault("timeout", TIMEOUT)
        try:
            response = self.session.request(method, url, **kwargs)
        except requests.ConnectionError as exc:
            raise Unreachable(f"cannot reach {_origin(url)}: {_reason(exc)}") from None
        except requests.Timeout:
            raise Unreachable(f"{_origin(url)} did not answer in time") from None
        except (requests.exceptions.InvalidURL, ValueError) as exc:  # MissingSchema and co.
            raise CliError(f"not a URL we can use: {url!r} ({exc.__class__.__name__})") from None
        except requests.RequestException as exc:
            raise Unreachable(f"{_origin(url)}: {exc.__class__.__name__}") from None
        if response.status_code not in ok:
            raise error_from(response)
        return response

    # ----- reading ----------------------------------------------------------------------

    def server_time(self, user: str | None) -> datetime:
        """Check that the service answers and knows us (a 401 otherwise), and return its clock
        (the `Date` header, to the second; ours if it sends none)."""
        params: dict[str, str | int] = {"limit": 1}
        if user:
            params["user_id"] = user
        response = self.call("GET", "/images", params=params)
        try:
            return parsedate_to_datetime(response.headers["Date"]).astimezone(UTC)
        except (KeyError, TypeError, ValueError):
            return datetime.now(UTC).replace(microsecond=0)

    def list_images(self, params: Mapping[str, str | int]) -> Json:
        json: Json = self.call("GET", "/images", params=dict(params)).json()
        return json

    def iter_images(self, params: Mapping[str, str | int]) -> Iterator[Json]:
        """Every image matching `params`, following `next_token` to the end."""
        query = dict(params)
        while True:
            page = self.list_images(query)
            yield from page["items"]
            if not page.get("next_token"):
                return
            query["next_token"] = page["next_token"]

    def find_copies(self, user: str, sha256: str) -> list[Json]:
        """The user's ready images stored with this digest, or uploaded from a file with it
        (a photo whose metadata the service removed is stored with another digest)."""
        page = self.list_images({"user_id": user, "sha256": sha256, "limit": 5})
        items: list[Json] = page["items"]
        if items:
            return items
        try:
            page = self.list_images({"user_id": user, "source_sha256": sha256, "limit": 5})
        except ApiError as exc:
            if exc.status == 400:  # a service from before `source_sha256`
                return []
            raise
        uploaded: list[Json] = page["items"]
        return uploaded

    def get_image(self, image_id: str) -> Json:
        json: Json = self.call("GET", f"/images/{_segment(image_id)}").json()
        return json

    def download_url(self, image_id: str) -> str:
        link = self.call("GET", f"/images/{_segment(image_id)}/download").json()
        url: str = link["url"]
        return url

    def open_rendition(self, image_id: str, size: str, fmt: str) -> requests.Response:
        """A rendition's bytes as a streamed response (`fmt`: base, avif, webp, jpeg or png).
        A 302 to S3 is followed here, without our identity headers (the presigned URL is the
        credential there)."""
        # `base` is `auto` for a client that takes neither AVIF nor WebP: the base format
        # (JPEG, or PNG for PNG and GIF originals and images with transparency).
        accept = BASE_ACCEPT if fmt == "base" else f"image/{fmt}"
        response = self.call(
            "GET",
            f"/images/{_segment(image_id)}/thumbnail",
            params={"size": size, "format": "auto" if fmt == "base" else fmt},
            headers={"Accept": accept},
            ok=(200, 302),
            allow_redirects=False,
            stream=True,
        )
        if response.status_code == 302:
            response.close()
            return self.open_url(response.headers["Location"])
        return response

    def open_url(self, url: str) -> requests.Response:
        """A presigned URL, streamed."""
        return self.send("GET", url, stream=True, timeout=UPLOAD_TIMEOUT)

    # ----- changing ---------------------------------------------------------------------

    def update(self, image_id: str, fields: Json) -> Json:
        json: Json = self.call("PATCH", f"/images/{_segment(image_id)}", json=fields).json()
        return json

    def delete(self, image_id: str) -> None:
        self.call("DELETE", f"/images/{_segment(image_id)}", ok=(204,))

    # ----- uploading --------------------------------------------------------------------

    def upload(
        self,
        file: IO[bytes],
        filename: str,
        fields: Mapping[str, str],
        key: str,
        progress: Progress,
    ) -> Json:
        """`POST /images`, multipart, streamed from the file. The part is declared
        application/octet-stream: the service tells the type from the bytes."""
        parts: list[tuple[str, Any]] = list(fields.items())
        parts.append(("file", (filename, file, "application/octet-stream")))
        body = _monitored(parts, progress)
        response = self.call(
            "POST",
            "/images",
            ok=(201,),
            data=body,
            headers={"Content-Type": body.content_type, "Idempotency-Key": key},
            timeout=UPLOAD_TIMEOUT,
        )
        json: Json = response.json()
        return json

    def start_direct(self, request: Json, key: str) -> Json:
        """`POST /images/uploads`: a pending image and the presigned POST form for its bytes."""
        response = self.call(
            "POST", "/images/uploads", ok=(201,), json=request, headers={"Idempotency-Key": key}
        )
        json: Json = response.json()
        return json

    def post_form(
        self,
        form: Json,
        file: IO[bytes],
        filename: str,
        content_type: str,
        progress: Progress,
    ) -> None:
        """The presigned POST to S3: the form's fields, then the file (S3 wants it last)."""
        parts: list[tuple[str, Any]] = list(form["fields"].items())
        parts.append(("file", (filename, file, content_type)))
        body = _monitored(parts, progress)
        self.send(
            "POST",
            form["url"],
            ok=(200, 201, 204),
            data=body,
            headers={"Content-Type": body.content_type},
            timeout=UPLOAD_TIMEOUT,
        )

    def complete(self, image_id: str) -> Json:
        response = self.call(
            "POST", f"/images/{_segment(image_id)}/complete", timeout=UPLOAD_TIMEOUT
        )
        json: Json = response.json()
        return json


def _monitored(parts: list[tuple[str, Any]], progress: Progress) -> MultipartEncoderMonitor:
    """A streamed multipart body that reports how much of the file part has gone. The file
    is the last part: what precedes it is the envelope, and bytes past the file's own end
    are the closing boundary."""
    encoder = MultipartEncoder(fields=parts)
    file_part = encoder.parts[-1]
    size = file_part.len - len(file_part.headers)
    # The body ends with the file, CRLF, then `--boundary--` CRLF.
    start = encoder.len - len(encoder.boundary) - 6 - size

    def report(monitor: MultipartEncoderMonitor) -> None:
        progress(max(0, min(size, monitor.bytes_read - start)))

    return MultipartEncoderMonitor(encoder, report)


def error_from(response: requests.Response) -> ApiError:
    """The message of an error answer: the API's `{"error": {"message"}}`, API Gateway's
    `{"message"}`, S3's XML `<Message>`, or the status line."""
    status, code, message = response.status_code, "", ""
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict):
        error = body.get("error")
        if isinstance(error, dict):
            code, message = str(error.get("code", "")), str(error.get("message", ""))
        elif isinstance(body.get("message"), str):
            message = body["message"]
    elif (found := _XML_MESSAGE.search(response.text or "")) is not None:
        message = found.group(1).strip()
    return ApiError(status, message or response.reason or "error", code)


def _segment(image_id: str) -> str:
    """An id as one path segment (a stray `/` or `?` must not change the route)."""
    return quote(image_id, safe="")


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def _reason(exc: requests.ConnectionError) -> str:
    text = str(exc)
    for known in ("Connection refused", "Name or service not known", "Connection reset"):
        if known in text:
            return known.lower()
    if "Failed to resolve" in text or "NameResolutionError" in text:
        return "unknown host"
    return "connection failed"
