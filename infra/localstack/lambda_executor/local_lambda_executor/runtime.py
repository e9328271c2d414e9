"""One Lambda function in a local process, behind the AWS Lambda Runtime API.

The process is ``python -m awslambdaric <handler>``: AWS's own runtime interface client, the
one that the python3.x Lambda images run. It polls the Runtime API served here on a free
loopback port, so a handler sees the same event, context and error handling as on AWS.
This module is plain stdlib and knows nothing of LocalStack (see ``plugin.py``).
"""

from __future__ import annotations

import contextlib
import json
import os
import queue
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

API_PREFIX = "/2018-06-01/runtime"


@dataclass
class Invocation:
    """One event handed to the runtime, and what the runtime answered."""

    request_id: str
    payload: bytes
    headers: dict[str, str]
    done: threading.Event = field(default_factory=threading.Event)
    result: bytes = b""
    is_error: bool = False


@dataclass
class Outcome:
    """The result of an invoke: the response (or error) body and the invocation's log lines."""

    payload: bytes
    is_error: bool
    logs: str


class InitError(Exception):
    """The function failed before polling for its first event (import error, crash, timeout)."""

    def __init__(self, payload: bytes) -> None:
        super().__init__(payload.decode(errors="replace"))
        self.payload = payload


class RuntimeApi(ThreadingHTTPServer):
    """The Runtime API for one runtime process, which handles one invocation at a time."""

    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _RuntimeApiHandler)
        self.pending: queue.Queue[Invocation | None] = queue.Queue()
        self.current: Invocation | None = None
        self.polled = threading.Event()  # set once the runtime asked for its first event
        self.init_error: bytes | None = None

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.server_address[1]}"

    def handle_error(
        self, request: socket.socket | tuple[bytes, socket.socket], address: Any
    ) -> None:
        """A killed runtime resets its connection: expected, so not worth a traceback."""
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, address)

    def finish(self, request_id: str, body: bytes, is_error: bool) -> bool:
        invocation = self.current
        if invocation is None or invocation.request_id != request_id:
            return False
        invocation.result, invocation.is_error = body, is_error
        invocation.done.set()
        return True


class _RuntimeApiHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # the runtime client keeps its connection alive
    disable_nagle_algorithm = True  # else headers and body in two sends stall a delayed ACK
    server: RuntimeApi

    def do_GET(self) -> None:
        if self.path != f"{API_PREFIX}/invocation/next":
            return self._reply(404, b'{"errorType":"NotFound"}')
        self.server.polled.set()
        invocation = self.server.pending.get()  # long poll, as on AWS
        if invocation is None:  # shutting down
            return self._reply(410, b"")
        self.server.current = invocation
        self._reply(200, invocation.payload, invocation.headers)

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        parts = self.path.removeprefix(API_PREFIX + "/").split("/")
        ok = False
        if parts == ["init", "error"]:
            self.server.init_error, ok = body, True
        elif len(parts) == 3 and parts[0] == "invocation" and parts[2] in ("response", "error"):
            ok = self.server.finish(parts[1], body, is_error=parts[2] == "error")
        self._reply(202 if ok else 400, b'{"status":"OK"}' if ok else b'{"errorType":"Invalid"}')

    def _reply(self, status: int, body: bytes, headers: Mapping[str, str] | None = None) -> None:
        self.send_response(status)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        """Keep the Runtime API's access log out of LocalStack's log."""


def _error(error_type: str, message: str) -> bytes:
    return json.dumps({"errorType": error_type, "errorMessage": message}).encode()


class LocalRuntime:
    """Starts, invokes and stops one runtime process for one function.

    Output of the process (stdout and stderr) goes to a log file rather than a pipe: awslambdaric
    writes a handler's output before it posts the response, so the bytes the file gained during
    an invoke are exactly that invoke's logs, with no reader thread to race against.
    """

    def __init__(
        self,
        python: str,
        handler: str,
        code_dir: Path,
        env: Mapping[str, str],
        timeout_s: float,
        memory_mb: int = 128,
    ) -> None:
        self.command = [python, "-m", "awslambdaric", handler]
        self.code_dir, self.env = code_dir, dict(env)
        self.timeout_s, self.memory_mb = timeout_s, memory_mb
        fd, log_path = tempfile.mkstemp(prefix="lambda-", suffix=".log")
        os.close(fd)
        self.log_path = Path(log_path)
        self.api: RuntimeApi | None = None
        self.process: subprocess.Popen[bytes] | None = None
        self.init_ms: float | None = None
        self._log_read = 0  # how much of the log file earlier invokes already returned
        self._stopped = threading.Event()
        self._kill_lock = threading.Lock()  # stop() may come from LocalStack's startup timer

    def start(self, timeout_s: float = 20.0) -> None:
        """Start the process; return once it polls for an event, or raise InitError."""
        self._stopped.clear()
        self.api = api = RuntimeApi()
        serve = threading.Thread(target=api.serve_forever, args=(0.05,), name="lambda-runtime-api")
        serve.daemon = True  # shutdown() waits up to one poll interval (0.05 s) for the loop
        serve.start()
        env = {**self.env, "AWS_LAMBDA_RUNTIME_API": api.address, "PYTHONUNBUFFERED": "1"}
        began = time.perf_counter()
        with self.log_path.open("ab") as log:
            # Own process group: stop() kills the handler and whatever it spawned.
            self.process = subprocess.Popen(
                self.command,
                cwd=self.code_dir,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                process_group=0,
            )
        deadline = time.monotonic() + timeout_s
        while not api.polled.wait(0.01):
            if api.init_error is not None or self.process.poll() is not None:
                self._kill()
                raise InitError(api.init_error or self._exit_error())
            if self._stopped.is_set() or time.monotonic() > deadline:
                self._kill()
                raise InitError(_error("Sandbox.Timedout", "Init did not finish in time"))
        self.init_ms = (time.perf_counter() - began) * 1000

    def invoke(self, payload: bytes, request_id: str, function_arn: str, trace_id: str) -> Outcome:
        """Hand one event to the runtime and wait for its answer, a crash or the timeout."""
        if self.process is None or self.process.poll() is not None:
            self._kill()
            self.start()  # after a timeout or a crash the next invoke is a cold start, as on AWS
        init_ms, self.init_ms = self.init_ms, None
        assert self.api is not None and self.process is not None
        log_start = self.log_path.stat().st_size
        began = time.perf_counter()
        deadline_ms = int(time.time() * 1000 + self.timeout_s * 1000)
        headers = {
            "Lambda-Runtime-Aws-Request-Id": request_id,
            "Lambda-Runtime-Deadline-Ms": str(deadline_ms),
            "Lambda-Runtime-Invoked-Function-Arn": function_arn,
            "Lambda-Runtime-Trace-Id": trace_id,
            "Content-Type": "application/json",
        }
        invocation = Invocation(request_id, payload, headers)
        self.api.pending.put(invocation)
        status = self._await(invocation, began)
        if self.api is not None:
            self.api.current = None
        duration_ms = (time.perf_counter() - began) * 1000
        with self.log_path.open("rb") as log:  # init output comes before START, as on AWS
            log.seek(self._log_read)
            init_output = log.read(log_start - self._log_read).decode(errors="replace")
            output = log.read().decode(errors="replace")
            self._log_read = log.tell()
        init = f"\tInit Duration: {init_ms:.2f} ms" if init_ms is not None else ""
        logs = (
            f"{init_output}START RequestId: {request_id} Version: $LATEST\n{output}"
            f"END RequestId: {request_id}\n"
            f"REPORT RequestId: {request_id}\tDuration: {duration_ms:.2f} ms\t"
            f"Billed Duration: {int(duration_ms) + 1} ms\tMemory Size: {self.memory_mb} MB"
            f"{init}{status}\n"
        )
        return Outcome(invocation.result, invocation.is_error, logs)

    def _await(self, invocation: Invocation, began: float) -> str:
        """Wait for the runtime's answer; on a crash or the timeout, fill in the error."""
        assert self.process is not None
        while not invocation.done.wait(0.05):
            if self.process.poll() is not None:
                invocation.result = self._exit_error(invocation.request_id)
                invocation.is_error = True
                return "\tStatus: error"
            if time.perf_counter() - began > self.timeout_s:
                self._kill()
                message = f"Task timed out after {self.timeout_s:.2f} seconds"
                invocation.result = _error(
                    "Sandbox.Timedout", f"RequestId: {invocation.request_id} Error: {message}"
                )
                invocation.is_error = True
                return "\tStatus: timeout"
        return ""

    def logs(self) -> str:
        """Everything the process wrote so far, for diagnostics."""
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def stop(self) -> None:
        """Kill the process tree and close the Runtime API; the log file goes too."""
        self._stopped.set()
        self._kill()
        self.log_path.unlink(missing_ok=True)

    def _kill(self) -> None:
        with self._kill_lock:
            if self.process is not None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
            if self.api is not None:
                self.api.pending.put(None)  # release a handler thread blocked in the long poll
                self.api.shutdown()
                self.api.server_close()
                self.api = None

    def _exit_error(self, request_id: str = "") -> bytes:
        code = self.process.poll() if self.process else None
        prefix = f"RequestId: {request_id} " if request_id else ""
        message = f"{prefix}Error: Runtime exited with error: exit status {code}"
        tail = self.logs().strip().splitlines()[-20:]
        return _error("Runtime.ExitError", "\n".join([message, *tail]))
