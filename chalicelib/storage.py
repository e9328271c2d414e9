"""Image bytes in S3: originals, renditions and direct uploads, plus presigned URLs."""

from __future__ import annotations

import time
from collections.abc import Iterable
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

import botocore.auth
import msgspec
from botocore.exceptions import ClientError, NoCredentialsError

from chalicelib.errors import backend_call

# Gallery URLs are signed as of the start of the current window (a Unix time set here while
# one is signed), so that one object listed twice within a window gets byte-equal URLs:
# browsers and CDNs cache them.
_WINDOW_START: ContextVar[float | None] = ContextVar("window_start", default=None)
_WINDOWED = "s3v4-windowed-query"


class _WindowedQueryAuth(botocore.auth.S3SigV4QueryAuth):  # type: ignore[misc]
    """botocore's SigV4 query signing, as of the start of the signing window."""

    def add_auth(self, request: Any) -> None:
        if self.credentials is None:
            raise NoCredentialsError()
        signed_at = _WINDOW_START.get()
        start = datetime.fromtimestamp(time.time() if signed_at is None else signed_at, UTC)
        request.context["timestamp"] = start.strftime(botocore.auth.SIGV4_TIMESTAMP)
        self._modify_request_before_signing(request)
        canonical_request = self.canonical_request(request)
        string_to_sign = self.string_to_sign(request, canonical_request)
        self._inject_signature_to_request(request, self.signature(string_to_sign, request))


botocore.auth.AUTH_TYPE_MAPS[_WINDOWED] = _WindowedQueryAuth


def _choose_windowed_signer(signature_version: str, **_: Any) -> str | None:
    if signature_version == "s3v4-query" and _WINDOW_START.get() is not None:
        return _WINDOWED
    return None


class StoredObject(msgspec.Struct, frozen=True):
    key: str
    last_modified: datetime


class PresignedPost(msgspec.Struct, frozen=True):
    url: str
    fields: dict[str, str]


def content_disposition(filename: str) -> str:
    """`attachment` with an ASCII fallback name and the exact UTF-8 name (RFC 6266)."""
    ascii_name = filename.encode("ascii", "replace").decode().replace('"', "'") or "image"
    ascii_name = ascii_name.replace("?", "_")
    return f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(filename)}"


# Gallery URLs kept per store: ~12 MB. Those of an earlier window are never asked for again,
# so the memo simply starts afresh when full.
MAX_SIGNED_URLS = 20_000


class ImageStore:
    def __init__(self, client: Any, bucket: str):
        self._client = client
        self._bucket = bucket
        self._signed: dict[tuple[str, int, int, float], str] = {}
        # Once per client, however many stores share it (botocore keeps one per unique_id).
        client.meta.events.register(
            "choose-signer.s3.GetObject", _choose_windowed_signer, unique_id=_WINDOWED
        )

    @backend_call("S3")
    def put(self, key: str, data: bytes, content_type: str) -> None:
        self._client.put_object(Bucket=self._bucket, Key=key, Body=data, ContentType=content_type)

    @backend_call("S3")
    def get(self, key: str) -> bytes | None:
        """The object's bytes, or None when there is no such object."""
        try:
            got = self._client.get_object(Bucket=self._bucket, Key=key)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("NoSuchKey", "404"):
                return None
            raise
        body = got["Body"]
        try:
            data: bytes = body.read()
        finally:
            body.close()
        return data

    @backend_call("S3")
    def delete(self, keys: Iterable[str]) -> None:
        objects = [{"Key": key} for key in keys]
        if not objects:
            return
        got = self._client.delete_objects(
            Bucket=self._bucket, Delete={"Objects": objects, "Quiet": True}
        )
        if got.get("Errors"):
            error = got["Errors"][0]
            raise ClientError(
                {"Error": {"Code": error.get("Code"), "Message": error.get("Message")}},
                "DeleteObjects",
            )

    @backend_call("S3")
    def list_objects(self, start_after: str, limit: int) -> list[StoredObject]:
        """Up to `limit` objects after the key `start_after`, in key order."""
        got = self._client.list_objects_v2(
            Bucket=self._bucket, StartAfter=start_after, MaxKeys=limit
        )
        return [StoredObject(obj["Key"], obj["LastModified"]) for obj in got.get("Contents", [])]

    def presigned_get(
        self,
        key: str,
        expires_in: int,
        *,
        attachment_name: str | None = None,
        content_type: str | None = None,
    ) -> str:
        """A GET URL for one object (signing is local: no request is made)."""
        params: dict[str, Any] = {"Bucket": self._bucket, "Key": key}
        if attachment_name is not None:
            params["ResponseContentDisposition"] = content_disposition(attachment_name)
        if content_type is not None:
            params["ResponseContentType"] = content_type
        url: str = self._client.generate_presigned_url(
            "get_object", Params=params, ExpiresIn=expires_in
        )
        return url

    def cacheable_get(self, key: str, valid_for: int, window: int) -> str:
        """A GET URL signed as of the start of the current `window` (seconds), valid at least
        `valid_for` seconds from now: the same URL all through the window, so it is signed
        once per window and kept (a page of 100 images holds about 1,000 URLs, ~0.5 ms each)."""
        now = time.time()
        start = now - now % window
        memo_key = (key, valid_for, window, start)
        url = self._signed.get(memo_key)
        if url is None:
            token = _WINDOW_START.set(start)
            try:
                url = self.presigned_get(key, valid_for + window)
            finally:
                _WINDOW_START.reset(token)
            if len(self._signed) >= MAX_SIGNED_URLS:
                self._signed.clear()
            self._signed[memo_key] = url
        return url

    def presigned_post(
        self, key: str, content_type: str, max_bytes: int, expires_in: int
    ) -> PresignedPost:
        """A browser-style POST policy pinning the key, the type and the size range."""
        post = self._client.generate_presigned_post(
            Bucket=self._bucket,
            Key=key,
            Fields={"Content-Type": content_type},
            Conditions=[{"Content-Type": content_type}, ["content-length-range", 1, max_bytes]],
            ExpiresIn=expires_in,
        )
        return PresignedPost(url=post["url"], fields=dict(post["fields"]))

    @backend_call("S3")
    def ping(self) -> None:
        self._client.head_bucket(Bucket=self._bucket)
