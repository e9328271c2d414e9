"""Uploading files: how one file gets to the service (through the API, or straight to S3 when
it is over the API's limit), and a batch of files on a few threads.

Re-running is always safe: each file's `Idempotency-Key` comes from the user and the file's
digest, so the service answers a repeat with the image the first request made; and with
`skip_existing`, a file already there is not sent at all."""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal, Protocol

from imgsvc.client import Client, Json
from imgsvc.errors import ApiError, CliError, Unreachable
from imgsvc.planning import (
    FileJob,
    PlanError,
    default_title,
    file_digest,
    idempotency_key,
    read_head,
    sniff,
)

Status = Literal["uploaded", "skipped", "failed"]
TYPE_NAMES = "JPEG, PNG, GIF, WebP, HEIC/HEIF or AVIF"
GENERATIONS = 5  # keys tried for one file when the images earlier keys made were deleted
TRANSIENT = (500, 502, 503, 504)
RETRY_DELAYS = (0.5, 1.0, 2.0, 4.0, 8.0, 15.0)  # ~30 s in all, for "still in progress" too
UNREACHABLE_RETRIES = 3  # no answer at all: a few quick retries, then the run gives up


@dataclass(frozen=True)
class Options:
    user: str  # who we are: the key's owner and the `user_id=` of the existence check
    title: str | None = None  # default: each file's name
    description: str | None = None
    tags: str | None = None
    max_api_bytes: int = 10 * 1024 * 1024
    skip_existing: bool = True
    jobs: int = 4


@dataclass(frozen=True)
class Outcome:
    shown: str
    size: int
    status: Status
    detail: str = ""
    image_id: str | None = None
    via: str = ""  # "api" or "direct" for what was sent


class FileBar(Protocol):
    """Where one file's upload reports itself (a progress bar, or nothing)."""

    def sent(self, count: int) -> None: ...

    def restart(self) -> None: ...


class Reporter(Protocol):
    def begin(self, files: int, total_bytes: int) -> None: ...

    def start_file(self, job: FileJob) -> FileBar: ...

    def finish_file(self, job: FileJob, outcome: Outcome, bar: FileBar) -> None: ...

    def end(self) -> None: ...


class Aborted(BaseException):
    """The run was interrupted: stop sending (a BaseException: nothing may swallow it)."""


@dataclass
class Batch:
    outcomes: list[Outcome] = field(default_factory=list)
    interrupted: bool = False
    seconds: float = 0.0


class Uploader:
    def __init__(self, client: Client, options: Options, run_started: datetime):
        self.client = client
        self.options = options
        self.run_started = run_started  # by the service's clock: older images are replays
        self.stop = threading.Event()
        self._limit = options.max_api_bytes
        self._gone = ""  # why the service stopped answering, once it did
        self._digests: dict[str, FileJob] = {}
        self._lock = threading.Lock()

    # ----- a batch ----------------------------------------------------------------------

    def run(self, jobs: Sequence[FileJob], reporter: Reporter) -> Batch:
        """Upload `jobs` on `options.jobs` threads; Ctrl-C abandons what is in flight."""
        batch, started = Batch(), time.monotonic()
        todo: queue.Queue[FileJob] = queue.Queue()
        for job in jobs:
            todo.put(job)
        done: queue.Queue[Outcome] = queue.Queue()
        reporter.begin(len(jobs), sum(job.size for job in jobs))
        for number in range(min(self.options.jobs, len(jobs))):
            worker = threading.Thread(
                target=self._work, args=(todo, done, reporter), name=f"upload-{number}"
            )
            worker.daemon = True  # an interrupted run exits without waiting for them
            worker.start()
        try:
            while len(batch.outcomes) < len(jobs):
                batch.outcomes.append(done.get())
        except KeyboardInterrupt:
            self.stop.set()
            batch.interrupted = True
        finally:
            batch.seconds = time.monotonic() - started
            reporter.end()
        return batch

    def _work(
        self, todo: queue.Queue[FileJob], done: queue.Queue[Outcome], reporter: Reporter
    ) -> None:
        try:
            while not self.stop.is_set():
                try:
                    job = todo.get_nowait()
                except queue.Empty:
                    return
                outcome: Outcome | None = None
                try:
                    bar = reporter.start_file(job)
                    outcome = self.upload_file(job, _Watched(bar, self.stop))
                    if not self.stop.is_set():
                        reporter.finish_file(job, outcome, bar)
                except Exception as exc:  # noqa: BLE001 - one file's surprise must not hang the run
                    outcome = outcome or _failed(job, f"unexpected {type(exc).__name__}: {exc}")
                if self.stop.is_set():
                    return
                done.put(outcome)  # the run waits for one outcome per file
        except Aborted:
            return

    # ----- one file ---------------------------------------------------------------------

    def upload_file(self, job: FileJob, bar: FileBar) -> Outcome:
        if self._gone:
            return _failed(job, f"not tried: {self._gone}")
        try:
            digest = file_digest(job.path)
        except OSError as exc:
            return _failed(job, f"cannot read the file: {exc.strerror or exc}")
        first = self._first_with(digest, job)
        if first is not job:
            return _skipped(job, f"same content as {first.shown}")
        try:
            if self.options.skip_existing:
                copies = self.client.find_copies(self.options.user, digest)
                if copies:
                    return _skipped(job, "already there", copies[0]["image_id"])
            return self._send(job, digest, bar)
        except CliError as exc:
            return _failed(job, str(exc))

    def _first_with(self, digest: str, job: FileJob) -> FileJob:
        """The first file of this run with these bytes: only it is sent."""
        with self._lock:
            return self._digests.setdefault(digest, job)

    def _send(self, job: FileJob, digest: str, bar: FileBar) -> Outcome:
        generation, delays, unreachable = 0, iter(RETRY_DELAYS), iter(range(UNREACHABLE_RETRIES))
        while True:
            key = idempotency_key(self.options.user, digest, generation)
            try:
                image, via = self._send_once(job, key, bar)
            except ApiError as exc:
                if _conflict(exc, "no longer exists") and generation + 1 < GENERATIONS:
                    generation += 1  # its image was deleted: the next key uploads it anew
                    continue
                if _conflict(exc, "different request"):
                    return self._sent_before(job, digest)
                if exc.code == "already_finalised":
                    return _skipped(job, "already there (uploaded earlier)")
                retry = _conflict(exc, "in progress") or exc.status in TRANSIENT
                if not retry or not _pause(delays, self.stop):
                    return _failed(job, str(exc))
                bar.restart()
                continue
            except Unreachable as exc:
                if next(unreachable, None) is None or not _pause(delays, self.stop):
                    self._gone = exc.message  # the files after this one fail at once
                    return _failed(job, exc.message)
                bar.restart()
                continue
            except OSError as exc:
                return _failed(job, f"cannot read the file: {exc.strerror or exc}")
            return self._outcome(job, image, via)

    def _send_once(self, job: FileJob, key: str, bar: FileBar) -> tuple[Json, str]:
        if job.size > self._limit:
            return self._direct(job, key, bar), "direct"
        try:
            return self._through_api(job, key, bar), "api"
        except ApiError as exc:
            if exc.status != 413:
                raise
        # The service's limit is lower than we thought: this file, and any as large, go direct.
        with self._lock:
            self._limit = min(self._limit, job.size - 1)
        bar.restart()
        return self._direct(job, key, bar), "direct"

    def _fields(self, job: FileJob) -> dict[str, str]:
        fields = {"title": self.options.title or default_title(job.path)}
        if self.options.description:
            fields["description"] = self.options.description
        if self.options.tags:
            fields["tags"] = self.options.tags
        return fields

    def _through_api(self, job: FileJob, key: str, bar: FileBar) -> Json:
        with job.path.open("rb") as handle:
            return self.client.upload(handle, job.path.name, self._fields(job), key, bar.sent)

    def _direct(self, job: FileJob, key: str, bar: FileBar) -> Json:
        """`POST /images/uploads`, the presigned POST to S3, `POST /images/{id}/complete`.
        The service needs the type declared up front, so it is read from the file here."""
        content_type = sniff(read_head(job.path))
        if content_type is None:
            raise CliError(
                f"the content is not a {TYPE_NAMES} image (checked here: over the API's "
                "limit, it would go straight to S3)"
            )
        request: Json = {**self._fields(job), "content_type": content_type, "size": job.size}
        request["filename"] = job.path.name
        started = self.client.start_direct(request, key)
        image_id = started["image"]["image_id"]
        with job.path.open("rb") as handle:
            self.client.post_form(started["upload"], handle, job.path.name, content_type, bar.sent)
        return self.client.complete(image_id)

    def _sent_before(self, job: FileJob, digest: str) -> Outcome:
        """This file was uploaded before with another title, description, tags or file name
        (the key is the same, the request is not): it is there; say where if we can."""
        note = "with another title, description, tags or file name; `imgsvc edit` changes them"
        copies = self.client.find_copies(self.options.user, digest)
        if copies:
            return _skipped(job, f"already there, {note}", copies[0]["image_id"])
        return _skipped(job, f"already uploaded earlier, {note}")

    def _outcome(self, job: FileJob, image: Json, via: str) -> Outcome:
        created = datetime.fromisoformat(image["created_at"].replace("Z", "+00:00"))
        if via == "api" and created < self.run_started:
            # The service replayed an upload an earlier run made with this key.
            return _skipped(
                job, "already there (the service replayed the earlier upload)", image["image_id"]
            )
        detail = "straight to S3" if via == "direct" else ""
        if via == "direct" and created < self.run_started:
            detail = "straight to S3, finishing an earlier run's upload"
        return Outcome(job.shown, job.size, "uploaded", detail, image["image_id"], via)


class _Watched:
    """A FileBar that stops the upload it reports on once the run is interrupted."""

    def __init__(self, bar: FileBar, stop: threading.Event):
        self._bar, self._stop = bar, stop

    def sent(self, count: int) -> None:
        if self._stop.is_set():
            raise Aborted()
        self._bar.sent(count)

    def restart(self) -> None:
        self._bar.restart()


def _conflict(exc: ApiError, words: str) -> bool:
    """The service tells its idempotency conflicts apart only by their messages."""
    return exc.status == 409 and exc.code == "idempotency_conflict" and words in exc.message


def _pause(delays: Iterator[float], stop: threading.Event) -> bool:
    """Wait the next retry delay; False when there is none left (or the run is stopping)."""
    delay = next(delays, None)
    if delay is None:
        return False
    return not stop.wait(delay)


def _skipped(job: FileJob, detail: str, image_id: str | None = None) -> Outcome:
    return Outcome(job.shown, job.size, "skipped", detail, image_id)


def _failed(job: FileJob, detail: str) -> Outcome:
    return Outcome(job.shown, job.size, "failed", detail)


def plan_failures(errors: Sequence[PlanError]) -> list[Outcome]:
    """The names that gave no file, as failed outcomes."""
    return [Outcome(error.shown, 0, "failed", error.message) for error in errors]
