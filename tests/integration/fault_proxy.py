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
    _rules: list[tuple[Rule, int]] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    url: str = ""

    def fail(self, rule: Rule, times: int = 1_000_000) -> None:
        """Answer calls matching `rule` with a 500 (all retries included) `times` times."""
        with self._lock:
            self._rules.append((rule, times))

    def heal(self) -> None:
        with self._lock:
            self._rules.clear()

    def operations(self, service: str) -> list[str]:
        return [c.operation for c in self.calls if c.service == service]

    def _should_fail(self, call: Call) -> bool:
        with self._lock:
            for index, (rule, times) in enumerate(self._rules):
                if times > 0 and rule(call):
                    self._rules[index] = (rule, times - 1)
                    return True
        return False

    def start(self) -> FaultProxy:
        proxy = self
        upstream = urlparse(self.upstream)

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                pass

            def _relay(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                call = _describe(self.command, self.path, self.headers.get("X-Amz-Target"))
                proxy.calls.append(call)
                if proxy._should_fail(call):
                    self._answer(
                        500,
                        json.dumps(
                            {
                                "__type": "com.amazonaws.dynamodb.v20120810#InternalServerError",
                                "message": "injected fault",
                            }
                        ).encode()
                        if call.service == "dynamodb"
                        else (
                            b"<Error><Code>InternalError</Code><Message>injected fault</Message>"
                            b"</Error>"
                        ),
                        {},
                    )
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
