"""The image service: every business rule, over a store (S3) and a table (DynamoDB).

Life of an image: `pending` (row written, bytes not yet checked) -> `ready` (bytes stored,
renditions made, listed) or `rejected` (bytes refused and deleted). Deleting first marks the
row `deleting` (which hides it everywhere and drops its tag rows), then removes the objects,
then the row. Rows that are not ready carry a cleanup time, and a scheduled sweeper removes
what a crash or a failed backend left half-done; so an upload or a delete that fails
half-way never leaves an object without its row or a row without its object for long.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from chalicelib.config import Settings
from chalicelib.errors import (
    ApiError,
    BadRequest,
    Conflict,
    Forbidden,
    InvalidField,
    NotFound,
    Rejected,
    TooLarge,
)
from chalicelib.metadata import (
    IdempotencyKeyTaken,
    IdempotencyRecord,
    ImageTable,
    StaleImage,
)
from chalicelib.models import (
    RENDITION_SIDES,
    Image,
    Rendition,
    RenditionName,
    image_id_from_upload_key,
    iso_millis,
    new_image_id,
    original_key,
    rendition_key,
    upload_key,
    utcnow,
)
from chalicelib.pagination import decode_token, encode_token
from chalicelib.parsing import ListParams, Upload
from chalicelib.storage import ImageStore, PresignedPost
from chalicelib.validation import (
    ACCEPTED_TYPES,
    EXTENSIONS,
    Fields,
    check_content,
    check_image_id,
    clean_fields,
    media_type,
)

if TYPE_CHECKING:
    from chalicelib.imaging import Processed

log = logging.getLogger(__name__)

_UPDATE_ATTEMPTS = 3


@dataclass(frozen=True)
class Content:
    """What /content and /thumbnail answer: bytes, not-modified, or a redirect."""

    status: int
    body: bytes = b""
    content_type: str | None = None
    etag: str | None = None
    location: str | None = None


@dataclass(frozen=True)
class DirectUpload:
    image: Image
    post: PresignedPost
    expires_at: str


class ImageService:
    def __init__(
        self,
        settings: Settings,
        store: ImageStore,
        table: ImageTable,
        clock: Callable[[], datetime] = utcnow,
    ):
        self.settings = settings
        self.store = store
        self.table = table
        self._clock = clock

    # ----- reading ----------------------------------------------------------------------

    def _load(self, user: str, image_id: str, *, write: bool = False) -> Image:
        """The image as `user` may see it; 404 when they may not, 403 for others' writes."""
        image = self.table.get(check_image_id(image_id))
        if image is None or (image.status == "deleting" and not write):
            raise NotFound("no such image")
        if image.user_id != user:
            if image.status != "ready":
                raise NotFound("no such image")
            if write:
                raise Forbidden("only the owner may change or delete this image")
        return image

    def get(self, user: str, image_id: str) -> Image:
        return self._load(user, image_id)

    def list_images(self, params: ListParams) -> tuple[list[Image], str | None]:
        secret, digest = self.settings.token_secret, params.query.digest()
        upper = decode_token(secret, params.next_token, digest) if params.next_token else None
        page = self.table.list_page(params.query, upper, params.limit)
        token = encode_token(secret, page.cursor, digest) if page.cursor else None
        return page.items, token

    def resource(self, image: Image) -> dict[str, Any]:
        """The API body of an image; ready ones carry presigned URLs for a gallery."""
        body = image.resource()
        if image.status == "ready":
            seconds = self.settings.gallery_url_seconds
            body["urls"] = {
                "original": self.store.presigned_get(original_key(image.image_id), seconds),
                **{
                    name: self.store.presigned_get(rendition_key(image.image_id, name), seconds)
                    for name in RENDITION_SIDES
                    if name in image.renditions
                },
            }
        return body

    def _ready(self, user: str, image_id: str) -> Image:
        image = self._load(user, image_id)
        if image.status != "ready":
            raise Conflict(f"the image is {image.status}, not ready", code="not_ready")
        return image

    def download(
        self, user: str, image_id: str, expires_in: int, attachment: bool
    ) -> dict[str, Any]:
        image = self._ready(user, image_id)
        name = image.filename or f"{image.image_id}.{EXTENSIONS[image.content_type]}"
        url = self.store.presigned_get(
            original_key(image.image_id),
            expires_in,
            attachment_name=name if attachment else None,
        )
        expires_at = iso_millis(self._clock() + timedelta(seconds=expires_in))
        return {"url": url, "expires_in": expires_in, "expires_at": expires_at}

    def content(
        self,
        user: str,
        image_id: str,
        accept: str | None,
        if_none_match: str | None,
        rendition: RenditionName | None = None,
    ) -> Content:
        """Stream small images to clients that ask for exactly their type; redirect others."""
        image = self._ready(user, image_id)
        if rendition is None:
            key, content_type, size = original_key(image_id), image.content_type, image.size
            etag = image.etag
        else:
            info: Rendition | None = image.renditions.get(rendition)
            if info is None:
                raise NotFound(f"the image has no {rendition} rendition")
            key, content_type, size = (
                rendition_key(image_id, rendition),
                info.content_type,
                info.size,
            )
            etag = f'"{image.sha256}-{rendition}"'
        first = media_type((accept or "").split(",", 1)[0])
        if first != content_type or size > self.settings.stream_max_bytes:
            url = self.store.presigned_get(key, self.settings.content_url_seconds)
            return Content(status=302, location=url)
        if if_none_match is not None and _etag_matches(if_none_match, etag):
            return Content(status=304, etag=etag)
        data = self.store.get(key)
        if data is None:
            raise NotFound("the image's bytes are missing")
        return Content(status=200, body=data, content_type=content_type, etag=etag)

    # ----- uploading ----------------------------------------------------------------------

    def upload(self, user: str, upload: Upload, idempotency_key: str | None = None) -> Image:
        """`POST /images`: validate, store, and return the ready image."""
        max_bytes = self.settings.max_image_bytes
        content_type = check_content(upload.data, upload.declared_type, max_bytes)
        request_hash = ""
        if idempotency_key is not None:
            # Hashing a 10 MiB body costs ~20 ms: only when the client asked for idempotency.
            request_hash = _digest(upload.data, upload.declared_type, repr(upload.fields))
            earlier = self._replay(user, idempotency_key, request_hash)
            if earlier is not None and earlier.status != "ready":
                raise Conflict(
                    "a request with this Idempotency-Key is still in progress",
                    code="idempotency_conflict",
                )
            if earlier is not None:
                return earlier
        processed = self._process(upload.data, content_type, undecodable=BadRequest)
        pending = self._new_pending(user, upload.fields, content_type, len(processed.original))
        claim = self._claim(user, idempotency_key, request_hash, pending)
        pending = self._create(pending, claim)
        try:
            return self._store_and_mark_ready(pending, processed)
        except Exception:
            self._discard(pending, claim)
            raise

    def _process(self, data: bytes, content_type: str, undecodable: type[ApiError]) -> Processed:
        # Imported here: routes that never touch pixels do not load it (nor Pillow).
        from chalicelib import imaging

        try:
            return imaging.process(data, content_type, self.settings.max_image_pixels)
        except imaging.TooManyPixels as exc:
            raise Rejected(
                f"the image is too large to decode: {exc}", code="too_many_pixels"
            ) from None
        except imaging.Undecodable as exc:
            raise undecodable(str(exc), code="undecodable_image") from None

    def _new_pending(self, user: str, fields: Fields, content_type: str, size: int) -> Image:
        now = self._clock()
        image_id = new_image_id()
        created = iso_millis(now)
        return Image(
            image_id=image_id,
            user_id=user,
            title=fields.title,
            description=fields.description,
            tags=fields.tags,
            filename=fields.filename or f"{image_id}.{EXTENSIONS[content_type]}",
            content_type=content_type,
            size=size,
            created_at=created,
            updated_at=created,
            status="pending",
            cleanup_at=iso_millis(now + timedelta(seconds=self.settings.pending_ttl_seconds)),
        )

    def _create(self, pending: Image, claim: IdempotencyRecord | None) -> Image:
        try:
            saved = self.table.save(None, pending, claim=claim)
        except IdempotencyKeyTaken:
            raise Conflict(
                "a request with this Idempotency-Key is already in progress",
                code="idempotency_conflict",
            ) from None
        assert saved is not None
        return saved

    def _store_and_mark_ready(self, pending: Image, processed: Processed) -> Image:
        image_id = pending.image_id
        self.store.put(original_key(image_id), processed.original, pending.content_type)
        for name, rendition in processed.renditions.items():
            self.store.put(rendition_key(image_id, name), rendition.data, rendition.content_type)
        ready = pending.changed(
            status="ready",
            size=len(processed.original),
            width=processed.width,
            height=processed.height,
            sha256=hashlib.sha256(processed.original).hexdigest(),
            renditions={
                name: Rendition(r.content_type, r.width, r.height, len(r.data))
                for name, r in processed.renditions.items()
            },
            cleanup_at=None,
        )
        stored = self.table.save(pending, ready)
        assert stored is not None
        return stored

    def _discard(self, image: Image, claim: IdempotencyRecord | None) -> None:
        """Best-effort undo of a failed upload; what fails here the sweeper removes later."""
        try:
            self.store.delete(_object_keys(image.image_id))
            self.table.save(image, None)
            if claim is not None:
                self.table.release(claim)
        except Exception:  # noqa: BLE001 - the original failure is what the client must see
            log.warning(
                "could not undo failed upload %s; the sweeper will", image.image_id, exc_info=True
            )

    # ----- direct-to-S3 uploads ---------------------------------------------------------

    def start_direct_upload(
        self, user: str, body: dict[str, Any], idempotency_key: str | None = None
    ) -> DirectUpload:
        """`POST /images/uploads`: a pending image and a presigned POST for its bytes."""
        unknown = sorted(
            set(body) - {"content_type", "size", "filename", "title", "description", "tags"}
        )
        if unknown:
            raise InvalidField(unknown[0], "unknown field")
        content_type = media_type(
            body.get("content_type") if isinstance(body.get("content_type"), str) else None
        )
        if content_type not in ACCEPTED_TYPES:
            raise InvalidField(
                "content_type", "must be image/jpeg, image/png, image/gif or image/webp"
            )
        size = body.get("size")
        if not isinstance(size, int) or isinstance(size, bool) or size < 1:
            raise InvalidField("size", "must be the image's size in bytes, a positive integer")
        limit = self.settings.max_direct_upload_bytes
        if size > limit:
            raise TooLarge(f"image is {size / 1048576:.1f} MiB; the limit is {limit >> 20} MiB")
        fields = clean_fields(
            {k: body.get(k) for k in ("filename", "title", "description", "tags")}
        )
        request_hash = _digest(repr(sorted(body.items())).encode())
        if idempotency_key is not None:
            earlier = self._replay(user, idempotency_key, request_hash)
            if earlier is not None:
                return self._presign_upload(earlier)
        pending = self._new_pending(user, fields, content_type, size)
        claim = self._claim(user, idempotency_key, request_hash, pending)
        return self._presign_upload(self._create(pending, claim))

    def _presign_upload(self, image: Image) -> DirectUpload:
        if image.status != "pending":
            raise Conflict(
                f"the upload was already finalised: the image is {image.status}",
                code="already_finalised",
            )
        seconds = self.settings.upload_url_seconds
        post = self.store.presigned_post(
            upload_key(image.image_id), image.content_type, image.size, seconds
        )
        expires_at = iso_millis(self._clock() + timedelta(seconds=seconds))
        return DirectUpload(image=image, post=post, expires_at=expires_at)

    def complete(self, user: str, image_id: str) -> Image:
        """`POST /images/{id}/complete`: finalise a direct upload now (idempotent)."""
        image = self._load(user, image_id, write=True)
        if image.status == "deleting":
            raise NotFound("no such image")
        return self._finalise(image)

    def finalise_uploaded_object(self, key: str) -> None:
        """The S3 event path: the same finalisation, for whatever landed under uploads/."""
        image_id = image_id_from_upload_key(key)
        if image_id is None:
            return
        image = self.table.get(check_image_id(image_id))
        if image is None:
            log.warning("no image for uploaded object %s; deleting it", key)
            self.store.delete([key])
            return
        try:
            self._finalise(image)
        except (Rejected, Conflict, NotFound) as exc:
            log.info("upload %s not finalised: %s", image_id, exc.message)

    def _finalise(self, image: Image) -> Image:
        if image.status == "ready":
            return image
        if image.status == "rejected":
            raise Rejected("the uploaded content was rejected", code="image_rejected")
        if image.status == "deleting":
            raise NotFound("no such image")
        data = self.store.get(upload_key(image.image_id))
        if data is None:
            raise Conflict("nothing has been uploaded for this image yet", code="not_uploaded")
        try:
            content_type = check_content(
                data, image.content_type, self.settings.max_direct_upload_bytes
            )
            processed = self._process(data, content_type, undecodable=Rejected)
        except ApiError as exc:
            self._reject(image)
            raise Rejected(f"the upload was rejected: {exc.message}") from None
        pending = image.changed(content_type=content_type)
        try:
            ready = self._store_and_mark_ready(pending, processed)
        except StaleImage:
            # Finalised (or deleted) concurrently by the event handler or another call.
            current = self.table.get(image.image_id)
            if current is None or current.status != "ready":
                raise Conflict("the image changed while it was being finalised") from None
            ready = current
        self._forget_upload(image.image_id)
        return ready

    def _forget_upload(self, image_id: str) -> None:
        """The upload object is no longer needed; if S3 refuses now, the bucket's lifecycle
        rule on uploads/ removes it later, so the client need not see an error."""
        try:
            self.store.delete([upload_key(image_id)])
        except ApiError:
            log.warning("could not delete the upload object of %s", image_id)

    def _reject(self, image: Image) -> None:
        cleanup = self._clock() + timedelta(seconds=self.settings.pending_ttl_seconds)
        with contextlib.suppress(StaleImage):  # someone else decided first
            self.table.save(image, image.changed(status="rejected", cleanup_at=iso_millis(cleanup)))
        self.store.delete([upload_key(image.image_id)])

    # ----- idempotency ------------------------------------------------------------------

    def _replay(self, user: str, key: str, request_hash: str) -> Image | None:
        """The image an earlier request with this key made, None if there was none."""
        record = self.table.get_idempotency(user, key)
        if record is None or record.expires_at < self._clock().timestamp():
            return None
        if record.request_hash != request_hash:
            raise Conflict(
                "this Idempotency-Key was used with a different request",
                code="idempotency_conflict",
            )
        image = self.table.get(record.image_id)
        if image is None or image.status == "deleting":
            raise Conflict(
                "the image made with this Idempotency-Key no longer exists; use a new key",
                code="idempotency_conflict",
            )
        return image

    def _claim(
        self, user: str, key: str | None, request_hash: str, pending: Image
    ) -> IdempotencyRecord | None:
        """The idempotency record to write with `pending`, claimed when it was created."""
        if key is None:
            return None
        claimed = int(datetime.fromisoformat(pending.created_at).timestamp())
        expires = claimed + self.settings.idempotency_ttl_seconds
        return IdempotencyRecord(user, key, request_hash, pending.image_id, claimed, expires)

    # ----- changing and deleting --------------------------------------------------------

    def update(self, user: str, image_id: str, changes: dict[str, Any]) -> Image:
        """PATCH/PUT: optimistic concurrency on the row's version, retried a few times."""
        for _ in range(_UPDATE_ATTEMPTS):
            image = self._load(user, image_id, write=True)
            if image.status == "deleting":
                raise NotFound("no such image")
            if not changes:
                return image
            if "tags" in changes:
                changes = {**changes, "tags": tuple(changes["tags"])}
            updated = image.changed(**changes, updated_at=iso_millis(self._clock()))
            try:
                saved = self.table.save(image, updated)
            except StaleImage:
                continue
            assert saved is not None
            return saved
        raise Conflict("the image kept changing during the update; retry", code="conflict")

    def delete(self, user: str, image_id: str) -> None:
        image = self._load(user, image_id, write=True)
        self._remove(image)

    def _remove(self, image: Image) -> None:
        if image.status != "deleting":
            marked = image.changed(status="deleting", cleanup_at=iso_millis(self._clock()))
            saved = self.table.save(image, marked)
            assert saved is not None
            image = saved
        self.store.delete(_object_keys(image.image_id))
        self.table.save(image, None)

    def sweep(self, limit: int = 100) -> int:
        """Remove images whose cleanup time has passed; returns how many."""
        removed = 0
        for image in self.table.due_for_cleanup(iso_millis(self._clock()), limit):
            try:
                self._remove(image)
                removed += 1
            except StaleImage:
                continue  # it changed (completed, updated) since the query: not stale
        return removed

    # ----- health -----------------------------------------------------------------------

    def health(self) -> dict[str, str]:
        checks = {}
        for name, ping in (("s3", self.store.ping), ("dynamodb", self.table.ping)):
            try:
                ping()
                checks[name] = "ok"
            except ApiError:
                checks[name] = "unavailable"
        return checks


def _object_keys(image_id: str) -> list[str]:
    return [
        original_key(image_id),
        rendition_key(image_id, "small"),
        rendition_key(image_id, "medium"),
        upload_key(image_id),
    ]


def _digest(*parts: bytes | str) -> str:
    h = hashlib.sha256()
    for part in parts:
        h.update(part.encode() if isinstance(part, str) else part)
        h.update(b"\x1f")
    return h.hexdigest()


def _etag_matches(header: str, etag: str) -> bool:
    candidates = [c.strip() for c in header.split(",")]
    return "*" in candidates or any(c.removeprefix("W/") == etag for c in candidates)
