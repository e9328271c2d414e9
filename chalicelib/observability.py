"""What the service tells whoever runs it: one JSON log line per request and per event
handler run, and CloudWatch metrics in the embedded metric format (EMF: JSON log lines that
CloudWatch turns into metrics, so nothing else runs or is called).

Lines go to stdout as they are (no prefix), which is what Lambda sends to CloudWatch Logs and
what `make run` prints. They never carry image bytes, tokens or presigned URLs, and the user
is a hash of the user id, not the id itself.

The standard library does this here rather than AWS Lambda Powertools, measured: its Logger
and Metrics add about 6 % to a cold import of the app and 1.5 MB to a deployment zip kept
under 15 MB; the two formats below are what Powertools writes.
"""

from __future__ import annotations

import hashlib
import json
import logging
import sys
import time
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

import msgspec

from chalicelib.errors import ApiError

NAMESPACE = "ImageService"
_LOGGER = logging.getLogger("image_service")


def user_hash(user_id: str) -> str:
    """A stable pseudonym of a user for logs: enough to follow one user, not to name them."""
    return hashlib.sha256(f"image-service/{user_id}".encode()).hexdigest()[:16]


class JsonLines(logging.Formatter):
    """One JSON object per line: time, level, message, and the record's `fields`."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname,
            "message": record.getMessage(),
            **getattr(record, "fields", {}),
        }
        if record.exc_info and record.exc_info[0] is not None:
            line["exception"] = record.exc_info[0].__name__  # the class only: no values
        return json.dumps(line, separators=(",", ":"), default=str)


class Stdout(logging.Handler):
    """Writes to whatever `sys.stdout` is when the line is written (not when configured)."""

    def emit(self, record: logging.LogRecord) -> None:
        sys.stdout.write(self.format(record) + "\n")
        sys.stdout.flush()


_WRITE_METRICS = True


def configure(level: str, metrics: bool = True) -> None:
    """Send the service's lines to stdout, one JSON object each, at `level` and above, with
    the metric lines unless `metrics` is off."""
    global _WRITE_METRICS
    _WRITE_METRICS = metrics
    handler = Stdout()
    handler.setFormatter(JsonLines())
    for logger in (_LOGGER, logging.getLogger("chalicelib")):  # ours, and the modules'
        logger.handlers[:] = [handler]
        logger.setLevel(level)
        logger.propagate = False  # not again through Lambda's or chalice's root handler


def log(level: int, message: str, **fields: Any) -> None:
    _LOGGER.log(level, message, extra={"fields": fields})


# ----- metrics -----------------------------------------------------------------------------


class Metrics(msgspec.Struct):
    """Metrics gathered during one request or event, written as EMF lines when it ends: one
    line per set of dimensions, each with the values gathered for them."""

    values: dict[tuple[tuple[str, str], ...], dict[str, list[float]]] = msgspec.field(
        default_factory=lambda: defaultdict(lambda: defaultdict(list))
    )
    units: dict[str, str] = msgspec.field(default_factory=dict)

    def add(self, name: str, value: float, unit: str = "Count", **dimensions: str) -> None:
        key = tuple(sorted(dimensions.items()))
        self.values[key][name].append(value)
        self.units[name] = unit

    def documents(self, now_ms: int | None = None) -> list[dict[str, Any]]:
        """The EMF documents of what was gathered (and empties the collector)."""
        stamp = int(time.time() * 1000) if now_ms is None else now_ms
        documents = []
        for key, metrics in self.values.items():
            dimensions = dict(key)
            documents.append(
                {
                    "_aws": {
                        "Timestamp": stamp,
                        "CloudWatchMetrics": [
                            {
                                "Namespace": NAMESPACE,
                                "Dimensions": [sorted(dimensions)] if dimensions else [[]],
                                "Metrics": [
                                    {"Name": name, "Unit": self.units[name]} for name in metrics
                                ],
                            }
                        ],
                    },
                    **dimensions,
                    **{name: v[0] if len(v) == 1 else v for name, v in metrics.items()},
                }
            )
        self.values.clear()
        return documents

    def flush(self) -> None:
        documents = self.documents()
        if not _WRITE_METRICS:
            return
        for document in documents:
            sys.stdout.write(json.dumps(document, separators=(",", ":")) + "\n")
        sys.stdout.flush()


_CURRENT: ContextVar[Metrics | None] = ContextVar("metrics", default=None)


def metrics() -> Metrics:
    """The collector of the request or event under way (one is made when none is)."""
    collector = _CURRENT.get()
    if collector is None:
        collector = Metrics()
        _CURRENT.set(collector)
    return collector


def metric(name: str, value: float, unit: str = "Count", **dimensions: str) -> None:
    metrics().add(name, value, unit, **dimensions)


# ----- what one request or event run says ----------------------------------------------------


class Context(msgspec.Struct):
    """What routes learn during a request that the request's log line reports."""

    user: str | None = None
    image_id: str | None = None


_REQUEST: ContextVar[Context | None] = ContextVar("request", default=None)


def request_context() -> Context:
    context = _REQUEST.get()
    if context is None:
        context = Context()
        _REQUEST.set(context)
    return context


def begin() -> Context:
    """A new request or event: fresh context and metrics."""
    context = Context()
    _REQUEST.set(context)
    _CURRENT.set(Metrics())
    return context


def end_request(
    *,
    request_id: str,
    route: str,
    method: str,
    status: int,
    started: float,
    error_code: str | None,
) -> None:
    """The request's one log line and its metrics."""
    context = request_context()
    latency_ms = round((time.perf_counter() - started) * 1000, 1)
    if error_code is not None:
        metric("Errors", 1, Code=error_code)
    level = logging.ERROR if status >= 500 else logging.INFO
    log(
        level,
        "request",
        request_id=request_id,
        route=route,
        method=method,
        status=status,
        latency_ms=latency_ms,
        image_id=context.image_id,
        user=user_hash(context.user) if context.user else None,
        error_code=error_code,
    )
    metrics().flush()


def end_event(handler: str, started: float, outcome: str, **fields: Any) -> None:
    """An event handler run's one log line and its metrics."""
    log(
        logging.INFO if outcome == "ok" else logging.ERROR,
        "event",
        handler=handler,
        outcome=outcome,
        latency_ms=round((time.perf_counter() - started) * 1000, 1),
        **fields,
    )
    metrics().flush()


@contextmanager
def event_run(handler: str, **fields: Any) -> Iterator[dict[str, Any]]:
    """One log line (with its metrics) per event handler run, with what the handler puts in
    the dict it is given; a failure is logged with its class and re-raised, so that the event
    is retried (and, deployed, dead-lettered)."""
    started = time.perf_counter()
    begin()
    outcome: dict[str, Any] = {}
    try:
        yield outcome
    except Exception as exc:
        code = exc.code if isinstance(exc, ApiError) else "internal_error"
        metric("EventFailures", 1, Handler=handler)
        end_event(handler, started, "failed", error=type(exc).__name__, error_code=code, **fields)
        raise
    end_event(handler, started, "ok", **fields, **outcome)


def trace_aws_calls() -> None:
    """X-Ray subsegments for every AWS call (S3, DynamoDB, SQS), under the function's own
    segment (prod turns the function's active tracing on). Imported only when asked: it costs
    cold starts nothing otherwise."""
    from aws_xray_sdk.core import patch, xray_recorder

    xray_recorder.configure(context_missing="IGNORE_ERROR")  # calls made outside an invocation
    patch(["botocore"])
