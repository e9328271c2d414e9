"""A transparent HTTP proxy between the app and the AWS emulator, for fault injection.

`chalice local` is pointed at the proxy (AWS_ENDPOINT_URL), the proxy forwards to moto.
Tests can make chosen backend calls fail (as AWS would: a 5xx with an error body, or a
dropped connection) and read the log of every call the app made, so the app itself
carries no test hooks at all.
"""

from __future__ import annotations

import http.client
import json
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlparse


@dataclass(frozen=True)
class Call:
    """One backend request: `dynamodb:PutItem`, `s3:PUT /bucket/key`, ..."""

    service: str
    operation: str
    path: str


Rule = Callable[[Call], bool]


@dataclass
class FaultProxy:
    upstream: str
    calls: list[Call] = field(default_factory=list)
    _rules: list[tuple[Rule, int, bool]] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    url: str = ""

    def fail(self, rule: Rule, times: int = 1_000_000, *, throttle: bool = False) -> None:
        """Answer calls matching `rule` with an error `times` times (retries count): a 500,
        or with `throttle` the service's throttling error."""
        with self._lock:
            self._rules.append((rule, times, throttle))

    def fail_from(self, rule: Rule, nth: int) -> None:
        """Let the first `nth` calls matching `rule` through, then fail every later one."""
        seen = [0]

        def from_nth(call: Call) -> bool:
            if not rule(call):
                return False
            seen[0] += 1
            return seen[0] > nth

        self.fail(from_nth)

    def heal(self) -> None:
        with self._lock:
            self._rules.clear()

    def operations(self, service: str) -> list[str]:
        return [c.operation for c in self.calls if c.service == service]

    def _should_fail(self, call: Call) -> bool | None:
        """None to pass the call on, else whether to answer with throttling."""
        with self._lock:
            for index, (rule, times, throttle) in enumerate(self._rules):
                if times > 0 and rule(call):
                    self._rules[index] = (rule, times - 1, throttle)
                    return throttle
        return None

    def start(self) -> FaultProxy:
        proxy = self
        upstream = urlparse(self.upstream)

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            # Headers and body leave in two sends: with Nagle on, the body waited for the
            # app's delayed ACK of the headers, 40 ms on every call of a kept-alive client.
            disable_nagle_algorithm = True

            def log_message(self, *args: object) -> None:
                pass

            def _relay(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                call = _describe(self.command, self.path, self.headers.get("X-Amz-Target"))
                proxy.calls.append(call)
                throttle = proxy._should_fail(call)
                if throttle is not None:
                    self._answer(*_error(call.service, throttle))
                    return
                conn = http.client.HTTPConnection(upstream.netloc, timeout=60)
                headers = {k: v for k, v in self.headers.items() if k.lower() != "host"}
                headers["Host"] = upstream.netloc
                conn.request(self.command, self.path, body=body, headers=headers)
                response = conn.getresponse()
                data = response.read()
                conn.close()
                self._answer(response.status, data, dict(response.getheaders()))

            def _answer(self, status: int, data: bytes, headers: dict[str, str]) -> None:
                self.send_response(status)
                for name, value in headers.items():
                    if name.lower() not in (
                        "content-length",
                        "transfer-encoding",
                        "connection",
                        "date",
                        "server",
                    ):
                        self.send_header(name, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(data)

            do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = _relay

        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        server.daemon_threads = True
        threading.Thread(target=server.serve_forever, daemon=True).start()
        self._server = server
        self.url = f"http://127.0.0.1:{server.server_address[1]}"
        return self

    def stop(self) -> None:
        self._server.shutdown()


def _error(service: str, throttle: bool) -> tuple[int, bytes, dict[str, str]]:
    """What AWS answers when it fails (500) or throttles (DynamoDB 400, S3 503 SlowDown)."""
    if service == "dynamodb":
        kind = "ThrottlingException" if throttle else "InternalServerError"
        body = {"__type": f"com.amazonaws.dynamodb.v20120810#{kind}", "message": "injected fault"}
        return (
            (400 if throttle else 500),
            json.dumps(body).encode(),
            {"Content-Type": "application/x-amz-json-1.0"},
        )
    code = "SlowDown" if throttle else "InternalError"
    xml = f"<Error><Code>{code}</Code><Message>injected fault</Message></Error>".encode()
    return (503 if throttle else 500), xml, {"Content-Type": "application/xml"}


def _describe(method: str, path: str, target: str | None) -> Call:
    if target and target.startswith("DynamoDB_"):
        return Call("dynamodb", target.split(".", 1)[1], path)
    return Call("s3", f"{method} {urlparse(path).path}", path)


def dynamodb(operation: str) -> Rule:
    return lambda call: call.service == "dynamodb" and call.operation == operation


def s3(method: str, key_part: str = "") -> Rule:
    return lambda call: (
        call.service == "s3"
        and call.operation.startswith(method + " ")
        and key_part in call.operation
    )
