"""The image service: every business rule, over a store (S3) and a table (DynamoDB).

Life of an image: `pending` (row written, bytes not yet checked) -> `ready` (bytes stored,
renditions made, listed) or `rejected` (bytes refused and deleted). Deleting first marks the
row `deleting` (which hides it everywhere and drops its tag rows), then removes the objects,
then the row. Rows that are not ready carry a cleanup time, and a scheduled sweeper removes
what a crash or a failed backend left half-done; it also walks the bucket for objects whose
row is gone. So an upload or a delete that fails half-way, or loses a race, never leaves an
object without its row or a row without its object for long.

Concurrent changes of one image are ordered by the row's version: a write that lost the race
(StaleImage) reads the row again and either redoes its change on the new state or answers as
it would have had it arrived second (a second delete is a 404). The writers nobody awaits (an S3
event's finalisation, the variants step) lease the row just before they store objects, and a
DELETE that meets an active lease waits for the writer: nothing stored outlives its 204.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import random
import time
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import msgspec

from chalicelib.config import Settings
from chalicelib.dispatch import Dispatch, OnRequest
from chalicelib.errors import (
    ApiError,
    BadRequest,
    Conflict,
    Forbidden,
    InvalidField,
    NotFound,
    Rejected,
    Unavailable,
)
from chalicelib.formats import MODERN, VariantFormat
from chalicelib.metadata import (
    IdempotencyKeyTaken,
    IdempotencyRecord,
    ImageTable,
    ListFilter,
    StaleImage,
)
from chalicelib.models import (
    SIZES,
    Image,
    Rendition,
    SizeName,
    Status,
    extension,
    image_id_from_key,
    image_id_from_upload_key,
    iso_millis,
    new_image_id,
    object_keys,
    original_key,
    rendition_key,
    upload_key,
    utcnow,
)
from chalicelib.observability import metric
from chalicelib.pagination import decode_token, encode_token
from chalicelib.parsing import Upload
from chalicelib.schemas import DirectUploadRequest
from chalicelib.storage import ImageStore, PresignedPost
from chalicelib.validation import (
    check_content,
    check_image_id,
    check_size,
    clean_fields,
)

if TYPE_CHECKING:
    from chalicelib.imaging import Processed, RenditionImage

log = logging.getLogger(__name__)

# How often a change that lost a race to another change of the same image is redone.
_ATTEMPTS = 5
# The same for the writers of objects (leases, variant records): a herd of requests for one
# new variant (its first visitors) each make, lease and record it, so they retry longer, at
# jittered moments (`_pause_before_retry`).
_WRITER_ATTEMPTS = 10


class Blob(msgspec.Struct, frozen=True):
    """One stored representation of a ready image: its original or a rendition."""

    key: str
    content_type: str
    size: int
    etag: str


class Link(msgspec.Struct, frozen=True):
    url: str
    expires_in: int
    expires_at: str


class DirectUpload(msgspec.Struct, frozen=True):
    image: Image
    post: PresignedPost
    expires_at: str


class Links(msgspec.Struct, frozen=True):
    """Presigned GET URLs of a ready image for clients that cannot send an identity (a
    browser's <img>): `urls` of the original and each size's base rendition, `sources` of
    every format each size exists in."""

    urls: dict[str, str]
    sources: dict[str, dict[str, str]]


class SweepReport(msgspec.Struct, frozen=True):
    stale_images: int
    orphan_objects: int
    finalised: int = 0  # uploads whose bytes arrived but whose event never finalised them


class ImageService:
    def __init__(
        self,
        settings: Settings,
        store: ImageStore,
        table: ImageTable,
        clock: Callable[[], datetime] = utcnow,
        dispatch: Dispatch | None = None,
    ):
        self.settings = settings
        self.store = store
        self.table = table
        self._clock = clock
        self.dispatch: Dispatch = dispatch or OnRequest()

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

    def list_images(
        self, query: ListFilter, limit: int, next_token: str | None
    ) -> tuple[list[Image], str | None]:
        key, digest = self.settings.token_key, query.digest()
        upper = decode_token(key, next_token, digest) if next_token else None
        page = self.table.list_page(query, upper, limit)
        token = encode_token(key, page.cursor, digest) if page.cursor else None
        return page.items, token

    def links(self, image: Image) -> Links:
        """Cacheable presigned URLs: the same within a GALLERY_URL_WINDOW_SECONDS window."""
        if image.status != "ready":
            return Links({}, {})
        image_id = image.image_id

        def url(key: str) -> str:
            return self.store.cacheable_get(
                key, self.settings.gallery_url_seconds, self.settings.gallery_url_window_seconds
            )

        urls: dict[str, str] = {"original": url(original_key(image_id))}
        sources: dict[str, dict[str, str]] = {}
        for size in image.renditions:
            base = image.base_format(size)  # type: ignore[arg-type]
            urls[size] = url(rendition_key(image_id, size))
            sources[size] = {
                fmt: url(rendition_key(image_id, size, fmt))
                for fmt in MODERN
                if fmt in image.variants.get(size, {})
            }
            sources[size][base] = urls[size]
        return Links(urls, sources)

    def _ready(self, user: str, image_id: str) -> Image:
        image = self._load(user, image_id)
        if image.status != "ready":
            raise Conflict(f"the image is {image.status}, not ready", code="not_ready")
        return image

    def download(self, user: str, image_id: str, expires_in: int, attachment: bool) -> Link:
        image = self._ready(user, image_id)
        name = image.filename or f"{image.image_id}.{extension(image.content_type)}"
        url = self.store.presigned_get(
            original_key(image.image_id),
            expires_in,
            attachment_name=name if attachment else None,
        )
        expires_at = iso_millis(self._clock() + timedelta(seconds=expires_in))
        return Link(url, expires_in, expires_at)

    def blob(
        self,
        user: str,
        image_id: str,
        size: SizeName | None = None,
        fmt: VariantFormat | None = None,
    ) -> Blob:
        """Where the original, or a rendition in a format, of a ready image is. A WebP or
        AVIF variant that does not exist yet is made now, and kept."""
        image = self._ready(user, image_id)
        if size is None:
            return Blob(original_key(image_id), image.content_type, image.size, image.etag)
        if size not in image.renditions:
            raise NotFound(f"the image has no {size} rendition")
        fmt = fmt or image.base_format(size)
        if fmt not in MODERN and fmt != image.base_format(size):
            formats = ", ".join(("auto", image.base_format(size), *MODERN))
            raise InvalidField("format", f"this image's renditions are in {formats}")
        if not image.has(size, fmt):
            image = self._make_variants(image, [(size, fmt)])
        info = image.rendition(size, fmt)
        suffix = f"-{fmt}" if fmt in MODERN else ""
        etag = f'"{image.sha256}-{size}{suffix}"'
        return Blob(rendition_key(image_id, size, fmt), info.content_type, info.size, etag)

    def read(self, blob: Blob) -> bytes:
        data = self.store.get(blob.key)
        if data is None:
            raise NotFound("the image's bytes are missing")
        return data

    def short_link(self, blob: Blob) -> str:
        return self.store.presigned_get(blob.key, self.settings.content_url_seconds)

    # ----- uploading ----------------------------------------------------------------------

    def upload(self, user: str, upload: Upload, idempotency_key: str | None = None) -> Image:
        """`POST /images`: validate, store, and return the ready image."""
        max_bytes = self.settings.max_image_bytes
        content_type = check_content(upload.data, upload.declared_type, max_bytes)
        fields = clean_fields(upload.fields)
        request_hash = ""
        if idempotency_key is not None:
            # Hashing a 10 MiB body costs ~20 ms: only when the client asked for idempotency.
            request_hash = _digest(upload.data, upload.declared_type, repr(sorted(fields.items())))
            earlier = self._replay(user, idempotency_key, request_hash)
            if earlier is not None and earlier.status != "ready":
                raise Conflict(
                    "a request with this Idempotency-Key is still in progress",
                    code="idempotency_conflict",
                )
            if earlier is not None:
                return earlier
        processed = self._process(upload.data, content_type, undecodable=BadRequest)
        pending = self._new_pending(user, fields, content_type, len(processed.original))
        claim = self._claim(user, idempotency_key, request_hash, pending)
        pending = self._create(pending, claim)
        try:
            self._store(pending.image_id, processed)
            ready = self._mark_ready(pending, processed, upload.data)
        except Exception:
            self._discard(pending, claim)
            raise
        metric("Uploads", 1, Encoding=upload.encoding, ContentType=ready.content_type)
        metric("BytesStored", _bytes_stored(processed), "Bytes")
        self.dispatch.submit(ready.image_id)
        return ready

    def _process(self, data: bytes, content_type: str, undecodable: type[ApiError]) -> Processed:
        # Imported here: routes that never touch pixels do not load it (nor Pillow).
        from chalicelib import imaging

        started = time.perf_counter()
        try:
            processed = imaging.process(data, content_type, self.settings.max_image_pixels)
        except imaging.TooManyPixels as exc:
            raise Rejected(
                f"the image is too large to decode: {exc}", code="too_many_pixels"
            ) from None
        except imaging.Undecodable as exc:
            raise undecodable(str(exc), code="undecodable_image") from None
        elapsed_ms = (time.perf_counter() - started) * 1000
        metric("RenditionTime", elapsed_ms, "Milliseconds", ContentType=content_type)
        return processed

    def _new_pending(
        self, user: str, fields: dict[str, Any], content_type: str, size: int
    ) -> Image:
        now = self._clock()
        image_id = new_image_id()
        created = iso_millis(now)
        return Image(
            **{"filename": f"{image_id}.{extension(content_type)}", **fields},
            image_id=image_id,
            user_id=user,
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

    def _store(self, image_id: str, processed: Processed) -> None:
        self.store.put(original_key(image_id), processed.original, processed.content_type)
        for size, rendition in processed.renditions.items():
            self.store.put(rendition_key(image_id, size), rendition.data, rendition.content_type)

    def _mark_ready(self, pending: Image, processed: Processed, uploaded: bytes) -> Image:
        """Make a pending image ready. If its row changed meanwhile (a PATCH of the pending
        image), redo it on the new row; if it is gone, or is being deleted, a 404."""
        image = pending
        digest = hashlib.sha256(processed.original).hexdigest()
        # Stored as uploaded unless metadata was removed: then the file's own digest too.
        source = None if uploaded == processed.original else hashlib.sha256(uploaded).hexdigest()
        for _ in range(_ATTEMPTS):
            ready = image.changed(
                status="ready",
                content_type=processed.content_type,
                size=len(processed.original),
                width=processed.width,
                height=processed.height,
                sha256=digest,
                source_sha256=source,
                renditions={
                    name: Rendition(
                        content_type=r.content_type,
                        width=r.width,
                        height=r.height,
                        size=len(r.data),
                    )
                    for name, r in processed.renditions.items()
                },
                cleanup_at=None,
                lease_until=None,
            )
            try:
                stored = self.table.save(image, ready)
            except StaleImage:
                current = self.table.get(pending.image_id)
                if current is None or current.status in ("deleting", "rejected"):
                    raise NotFound("no such image") from None
                if current.status == "ready":
                    return current  # finalised concurrently, from the same bytes
                image = current
                continue
            assert stored is not None
            return stored
        raise Conflict("the image kept changing while it was being stored; retry")

    def _discard(self, image: Image, claim: IdempotencyRecord | None) -> None:
        """Best-effort undo of a failed upload; what fails here the sweeper removes later."""
        try:
            self.store.delete(object_keys(image.image_id))
            self.table.save(image, None)
            if claim is not None:
                self.table.release(claim)
        except Exception:  # noqa: BLE001 - the original failure is what the client must see
            log.warning(
                "could not undo failed upload %s; the sweeper will", image.image_id, exc_info=True
            )

    # ----- direct-to-S3 uploads ---------------------------------------------------------

    def start_direct_upload(
        self, user: str, request: DirectUploadRequest, idempotency_key: str | None = None
    ) -> DirectUpload:
        """`POST /images/uploads`: a pending image and a presigned POST for its bytes."""
        check_size(request.size, self.settings.max_direct_upload_bytes)
        fields = clean_fields(request.given())
        request_hash = _digest(msgspec.json.encode(request))
        if idempotency_key is not None:
            earlier = self._replay(user, idempotency_key, request_hash)
            if earlier is not None:
                return self._presign_upload(earlier)
        pending = self._new_pending(user, fields, request.content_type, request.size)
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
        return self._finalise(image)

    def finalise_uploaded_object(self, key: str) -> str:
        """The S3 event path: the same finalisation, for whatever landed under uploads/.
        Returns the outcome (ready, rejected, gone, ...); a backend failure propagates, so the
        event is retried."""
        image_id = image_id_from_upload_key(key)
        if image_id is None:
            return "ignored"
        try:
            image = self.table.get(check_image_id(image_id))
        except NotFound:
            image = None
        if image is None:
            log.warning("no image for uploaded object %s; deleting it", key)
            self.store.delete([key])
            return "gone"
        try:
            self._finalise(image)
        except (Rejected, Conflict, NotFound) as exc:
            log.info("upload %s not finalised: %s", image_id, exc.message)
            return exc.code
        return "ready"

    def _finalise(self, image: Image) -> Image:
        try:
            ready = self._finalise_once(image)
        except ApiError as exc:
            if not isinstance(exc, Unavailable):
                metric("Finalisations", 1, Outcome=exc.code)
            raise
        metric("Finalisations", 1, Outcome="ready")
        return ready

    def _finalise_once(self, image: Image) -> Image:
        if image.status == "ready":
            return image
        if image.status == "rejected":
            raise Rejected("the uploaded content was rejected", code="image_rejected")
        if image.status == "deleting":
            raise NotFound("no such image")
        data = self.store.get(upload_key(image.image_id))
        if data is None:
            return self._without_upload(image)
        try:
            content_type = check_content(
                data, image.content_type, self.settings.max_direct_upload_bytes
            )
            processed = self._process(data, content_type, undecodable=Rejected)
        except ApiError as exc:
            self._reject(image)
            raise Rejected(f"the upload was rejected: {exc.message}") from None
        leased = self._lease(image.image_id, "pending")
        if leased is None:
            # Deleted (or finalised) while the bytes were processed: store nothing, so that
            # what a racing DELETE removed does not come back even for a moment (an S3
            # event's finalisation is not awaited by anyone).
            return self._settled_elsewhere(self.table.get(image.image_id))
        try:
            with self._released_on_failure(leased):
                self._store(image.image_id, processed)
                ready = self._mark_ready(leased, processed, data)
        except (NotFound, Conflict):
            # Deleted (or refused) while we stored: what we stored belongs to no row.
            self._delete_quietly(object_keys(image.image_id))
            raise
        self._delete_quietly([upload_key(image.image_id)])
        metric("Uploads", 1, Encoding="direct", ContentType=ready.content_type)
        metric("BytesStored", _bytes_stored(processed), "Bytes")
        self.dispatch.submit(ready.image_id)
        return ready

    def _without_upload(self, image: Image) -> Image:
        """No bytes under uploads/: none were posted, or a racing delete or finalisation
        removed them after we read the row. The row as it is now decides which."""
        current = self.table.get(image.image_id)
        if current is not None and current.status == "pending":
            raise Conflict("nothing has been uploaded for this image yet", code="not_uploaded")
        return self._settled_elsewhere(current)

    def _settled_elsewhere(self, current: Image | None) -> Image:
        """The answer for an upload that another request finalised, refused or deleted."""
        if current is None:
            raise NotFound("no such image")
        return self._finalise_once(current)  # ready: theirs; deleting: 404; rejected: 422

    def _lease(
        self, image_id: str, status: Status, unless: Callable[[Image], bool] = lambda _: False
    ) -> Image | None:
        """The row, marked as being written to for WRITER_LEASE_SECONDS: a writer nobody
        awaits takes it just before storing objects, so that a DELETE meeting it waits and
        then removes them too (`_await_writer`). None if the image is no longer `status`;
        the row as it is, not leased, if `unless(row)` (its work is done already).
        A versioned change like any other, so the tag rows stay in step with the row."""
        for attempt in range(_WRITER_ATTEMPTS):
            current = self.table.get(image_id)
            if current is None or current.status != status:
                return None
            if unless(current):
                return current
            lapses = self._clock() + timedelta(seconds=self.settings.writer_lease_seconds)
            try:
                return self.table.save(current, current.changed(lease_until=iso_millis(lapses)))
            except StaleImage:
                _pause_before_retry(attempt)
        raise Conflict("the image kept changing while its objects were stored; retry")

    @contextlib.contextmanager
    def _released_on_failure(self, leased: Image) -> Iterator[None]:
        """A writer that fails gives its lease back, so a DELETE does not wait for it; one
        that succeeds clears it with its own row update."""
        try:
            yield
        except Exception:
            with contextlib.suppress(ApiError, StaleImage):  # changed meanwhile: not ours
                self.table.save(leased, leased.changed(lease_until=None))
            raise

    def _delete_quietly(self, keys: list[str]) -> None:
        """Objects nobody needs any more; if S3 refuses now, the orphan sweep (and, for
        uploads/, the bucket's lifecycle rule) removes them later."""
        try:
            self.store.delete(keys)
        except ApiError:
            log.warning("could not delete %s; the sweeper will", keys)

    def _reject(self, image: Image) -> None:
        cleanup = self._clock() + timedelta(seconds=self.settings.pending_ttl_seconds)
        # If the row changed meanwhile (deleted, or finalised from the same bytes), theirs wins.
        with contextlib.suppress(StaleImage):
            self.table.save(image, image.changed(status="rejected", cleanup_at=iso_millis(cleanup)))
        self.store.delete([upload_key(image.image_id)])

    # ----- variants ---------------------------------------------------------------------

    def make_variants(self, image_id: str) -> None:
        """Every WebP and AVIF variant a ready image does not have yet (the step after an
        upload; see chalicelib/dispatch.py). An image gone or not ready is left alone."""
        image = self.table.get(image_id)
        if image is None or image.status != "ready":
            return
        wanted = [
            (size, fmt)
            for size in SIZES
            for fmt in MODERN
            if size in image.renditions and not image.has(size, fmt)
        ]
        if not wanted:
            return
        try:
            self._make_variants(image, wanted)
        except NotFound:
            # Deleted while they were made (what was stored is removed): nothing left to do.
            # A normal race, not a failure for the queue to retry.
            log.info("image %s was deleted before its variants were made", image_id)

    def _make_variants(self, image: Image, wanted: list[tuple[SizeName, VariantFormat]]) -> Image:
        """Make, store and record variants of a ready image; returns the image with them."""
        from chalicelib import imaging

        data = self.store.get(original_key(image.image_id))
        if data is None:
            raise NotFound("the image's bytes are missing")
        started = time.perf_counter()
        made = imaging.variants(
            data,
            image.content_type,
            wanted,
            self.settings.max_image_pixels,
            self.settings.variant_quality_search,
        )
        metric("VariantTime", (time.perf_counter() - started) * 1000, "Milliseconds")
        metric("VariantsMade", len(made))

        def recorded(row: Image) -> bool:
            return all(row.has(size, fmt) for size, fmt in made)

        leased = self._lease(image.image_id, "ready", unless=recorded)
        if leased is None:
            # Deleted while they were made (seconds): store nothing (as _finalise_once).
            raise NotFound("no such image")
        if recorded(leased):
            return leased  # made and recorded meanwhile by another request (a herd)
        return self._store_variants(leased, made)

    def _store_variants(
        self, leased: Image, made: dict[tuple[SizeName, VariantFormat], RenditionImage]
    ) -> Image:
        """Store and record variants under the writer's lease; returns the image with them."""
        try:
            with self._released_on_failure(leased):
                for (size, fmt), variant in made.items():
                    key = rendition_key(leased.image_id, size, fmt)
                    self.store.put(key, variant.data, variant.content_type)
                return self._record_variants(leased, made)
        except NotFound:
            # Deleted while we stored them: what we stored belongs to no row.
            self._delete_quietly([rendition_key(leased.image_id, s, f) for s, f in made])
            raise

    def _record_variants(
        self, image: Image, made: dict[tuple[SizeName, VariantFormat], RenditionImage]
    ) -> Image:
        """Add `made` to the row (as last read: the writer's lease), clearing the lease; if the
        row changed meanwhile, to the row as it is now. NotFound if the image is gone."""
        for attempt in range(_WRITER_ATTEMPTS):
            variants = {size: dict(formats) for size, formats in image.variants.items()}
            for (size, fmt), variant in made.items():
                variants.setdefault(size, {})[fmt] = _rendition(variant)
            recorded = image.changed(variants=variants, lease_until=None)
            if recorded == image:
                return image  # recorded (and the lease cleared) by a writer of the same ones
            try:
                saved = self.table.save(image, recorded)
            except StaleImage:
                _pause_before_retry(attempt)
                current = self.table.get(image.image_id)
                if current is None or current.status != "ready":
                    raise NotFound("no such image") from None
                image = current
                continue
            assert saved is not None
            return saved
        raise Conflict("the image kept changing while its variants were recorded; retry")

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

    def update(self, user: str, image_id: str, given: dict[str, Any]) -> Image:
        """PATCH/PUT: optimistic concurrency on the row's version, redone if it lost a race."""
        changes = clean_fields(given)
        for _ in range(_ATTEMPTS):
            image = self._load(user, image_id, write=True)
            if image.status == "deleting":
                raise NotFound("no such image")
            if not changes:
                return image
            updated = image.changed(**changes, updated_at=iso_millis(self._clock()))
            try:
                saved = self.table.save(image, updated)
            except StaleImage:
                continue
            assert saved is not None
            return saved
        raise Conflict("the image kept changing during the update; retry", code="conflict")

    def delete(self, user: str, image_id: str) -> None:
        """DELETE: 204 once. A delete that finds the image gone (or finished by a concurrent
        delete) is a 404, as a second delete would be; one that lost to a PATCH redoes."""
        for _ in range(_ATTEMPTS):
            image = self._load(user, image_id, write=True)
            try:
                self._remove(image)
                return
            except StaleImage:
                continue
        raise Conflict("the image kept changing during the delete; retry", code="conflict")

    def _remove(self, image: Image) -> None:
        if image.status != "deleting":
            image = self._await_writer(image)
        if image.status != "deleting":
            marked = image.changed(status="deleting", cleanup_at=iso_millis(self._clock()))
            saved = self.table.save(image, marked)
            assert saved is not None
            image = saved
        self.store.delete(object_keys(image.image_id))
        self.table.save(image, None)

    def _await_writer(self, image: Image) -> Image:
        """The row once no writer's lease on it is active (none is storing objects), so that
        none of their objects outlives this delete; StaleImage if the row is gone meanwhile.
        A lapsed lease, left by a writer that died, holds nothing. Changes while it waits
        (a herd of variant writers) are followed, not counted as lost races."""
        deadline = time.monotonic() + self.settings.writer_lease_seconds
        pause = 0.02
        while (
            image.lease_until is not None
            and iso_millis(self._clock()) < image.lease_until
            and time.monotonic() < deadline
        ):
            time.sleep(pause)
            pause = min(2 * pause, 0.2)
            current = self.table.get(image.image_id)
            if current is None:
                raise StaleImage()
            image = current
        return image

    # ----- the sweeper ------------------------------------------------------------------

    def sweep(self, limit: int = 100, objects: int = 1000) -> SweepReport:
        """Remove images whose cleanup time has passed, and objects whose row is gone; an
        upload whose bytes arrived but whose event never finalised it is finalised now."""
        removed, finalised = self._sweep_stale(limit)
        orphans = self.sweep_orphans(objects)
        metric("SweeperRemovals", removed, Kind="stale_images")
        metric("SweeperRemovals", orphans, Kind="orphan_objects")
        return SweepReport(removed, orphans, finalised)

    def _sweep_stale(self, limit: int) -> tuple[int, int]:
        removed = finalised = 0
        for image in self.table.due_for_cleanup(iso_millis(self._clock()), limit):
            if image.status == "pending" and self._finalised_late(image):
                finalised += 1
                continue
            try:
                self._remove(image)
                removed += 1
            except StaleImage:
                continue  # it changed (completed, updated) since the query: not stale
        return removed, finalised

    def _finalised_late(self, image: Image) -> bool:
        """A pending image whose bytes are in the bucket was never finalised: its event was
        lost, or failed past its retries. Finalise it now and say so, rather than delete a
        photo its owner uploaded."""
        try:
            self._finalise(image)
        except Conflict:
            return False  # nothing was ever uploaded: the sweeper removes it
        except Rejected:
            return True  # refused now; the next sweep removes the rejected image
        except ApiError:
            # Still failing: keep it (the failed event can be replayed) and raise the alarm.
            log.error("the stuck upload %s cannot be finalised yet", image.image_id)
            metric("StuckUploads", 1)
            return True
        log.error("finalised the stuck upload %s, whose event never did", image.image_id)
        metric("StuckUploads", 1)
        return True

    def sweep_orphans(self, budget: int) -> int:
        """Walk the next `budget` objects of the bucket (resuming where the last run stopped;
        one key read per image id, no Scan) and remove those no row owns: objects of an
        image whose row is gone, and upload objects of images already ready. Objects younger
        than ORPHAN_GRACE_SECONDS are left alone: their request may still be running."""
        position = self.table.sweep_position() or ""
        listed = self.store.list_objects(position, budget)
        cutoff = self._clock() - timedelta(seconds=self.settings.orphan_grace_seconds)
        owners: dict[str, list[str]] = {}
        for obj in listed:
            image_id = image_id_from_key(obj.key)
            if image_id is not None and obj.last_modified < cutoff:
                owners.setdefault(image_id, []).append(obj.key)
        rows = self.table.statuses(list(owners))
        orphans = [
            key
            for image_id, keys in owners.items()
            for key in keys
            if image_id not in rows or (rows[image_id] == "ready" and key == upload_key(image_id))
        ]
        for start in range(0, len(orphans), 1000):
            self.store.delete(orphans[start : start + 1000])
        if orphans:
            log.warning("sweeper removed %d objects without a row: %s", len(orphans), orphans[:20])
        self.table.save_sweep_position(listed[-1].key if len(listed) == budget else None)
        return len(orphans)

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


def _pause_before_retry(attempt: int) -> None:
    """Writers that collided retry at different moments, not in step: a random pause of up
    to 10 ms, doubling with each attempt to at most 0.64 s."""
    time.sleep(random.uniform(0, 0.01 * 2 ** min(attempt, 6)))


def _bytes_stored(processed: Processed) -> int:
    return len(processed.original) + sum(len(r.data) for r in processed.renditions.values())


def _rendition(made: RenditionImage) -> Rendition:
    return Rendition(
        content_type=made.content_type, width=made.width, height=made.height, size=len(made.data)
    )


def _digest(*parts: bytes | str) -> str:
    h = hashlib.sha256()
    for part in parts:
        h.update(part.encode() if isinstance(part, str) else part)
        h.update(b"\x1f")
    return h.hexdigest()
