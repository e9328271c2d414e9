"""Where the WebP and AVIF variants of a new image are made, off the upload's path.

Chosen by VARIANTS_AFTER_UPLOAD:
- `none`: only on request (the first `/thumbnail?format=webp|avif` of a size makes and keeps it);
- `background`: a worker thread of the same process (`chalice local`, which keeps running
  after it answers; not for Lambda, which freezes once it has answered);
- `queue`: a message on an SQS queue (VARIANTS_QUEUE), whose consumer is a second Lambda
  function (`make_variants` in app.py); SQS retries it and, deployed, dead-letters it.
Whatever is not made after the upload is still made on request, so a lost message or a
crashed worker costs one slower request, never a missing variant.
"""

from __future__ import annotations

import json
import logging
import queue
import threading
from collections.abc import Callable
from typing import Any, Protocol

log = logging.getLogger(__name__)


class Dispatch(Protocol):
    def submit(self, image_id: str) -> None: ...


class OnRequest:
    """Variants are made when first asked for."""

    def submit(self, image_id: str) -> None:
        return None


class Background:
    """One worker thread, fed by a queue: uploads never wait for it."""

    def __init__(self, make: Callable[[str], Any]):
        self._make = make
        self._queue: queue.Queue[str] = queue.Queue()
        self._worker: threading.Thread | None = None
        self._lock = threading.Lock()

    def submit(self, image_id: str) -> None:
        with self._lock:
            if self._worker is None or not self._worker.is_alive():
                self._worker = threading.Thread(target=self._run, name="variants", daemon=True)
                self._worker.start()
        self._queue.put(image_id)

    def _run(self) -> None:
        while True:
            image_id = self._queue.get()
            try:
                self._make(image_id)
            except Exception:  # noqa: BLE001 - logged; the variant is made on request instead
                log.warning("could not make the variants of %s", image_id, exc_info=True)
            finally:
                self._queue.task_done()

    def join(self) -> None:
        """Wait until every submitted image is done (tests, and a clean stop)."""
        self._queue.join()


class Queue:
    """A message on SQS per image; the queue's consumer makes the variants."""

    def __init__(self, client: Any, queue_name: str):
        self._client = client
        self._name = queue_name
        self._url: str | None = None

    def submit(self, image_id: str) -> None:
        try:
            if self._url is None:
                self._url = self._client.get_queue_url(QueueName=self._name)["QueueUrl"]
            self._client.send_message(
                QueueUrl=self._url, MessageBody=json.dumps({"image_id": image_id})
            )
        except Exception:  # noqa: BLE001 - the upload succeeded; variants come on request
            log.warning("could not queue the variants of %s", image_id, exc_info=True)
