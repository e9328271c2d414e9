"""The local environment: moto in server mode as the embedded AWS emulator, and
`chalice local` in front of it. Used by `make run` (scripts/run_local.py) and by the
integration tests, so both run exactly the same way."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import IO, Any

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LOCAL_STAGE_NAME = "image-service-local"  # the bucket and table of the `local` stage
FAKE_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "local",
    "AWS_SECRET_ACCESS_KEY": "local",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_REGION": "us-east-1",
}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def port_in_use(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


@dataclass
class Emulator:
    """moto's server, in a thread of this process."""

    server: Any
    url: str

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()  # the listening socket too


def start_emulator(port: int | None = None) -> Emulator:
    """moto in server mode on loopback. Connections are served concurrently, but requests are
    handled one at a time: moto's backends are not thread-safe (a TransactWriteItems copies the
    table while another request writes to it), and AWS itself never shows such races."""
    import logging

    from moto.moto_server.werkzeug_app import (
        DomainDispatcherApplication,
        MotoRequestHandler,
        create_backend_app,
    )
    from werkzeug.serving import make_server

    from scripts import fast_moto

    fast_moto.install()  # five of moto's costs, the same answers (see there)
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # no line per emulator request
    backend = DomainDispatcherApplication(create_backend_app)
    lock = threading.Lock()

    def one_at_a_time(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        with lock:
            return list(backend(environ, start_response))

    port = port or free_port()
    server = make_server(
        "127.0.0.1", port, one_at_a_time, threaded=True, request_handler=MotoRequestHandler
    )

    def serve() -> None:
        # Process-directed signals (Ctrl-C, SIGTERM) should reach the main thread, which may
        # be blocked in a system call that only a signal delivered to it interrupts; the
        # request threads started from here inherit the mask.
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT, signal.SIGTERM, signal.SIGHUP})
        server.serve_forever()

    threading.Thread(target=serve, name="moto-server", daemon=True).start()
    url = f"http://127.0.0.1:{port}"
    wait_for(f"{url}/moto-api/", timeout=15)
    return Emulator(server, url)


def app_environment(endpoint_url: str) -> dict[str, str]:
    """What `chalice local` needs to talk to the emulator (on top of the stage config)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(FAKE_CREDENTIALS)
    env["AWS_ENDPOINT_URL"] = endpoint_url
    return env


def start_chalice_local(
    port: int,
    endpoint_url: str,
    *,
    autoreload: bool = False,
    log: IO[bytes] | None = None,
    stage: str = "local",
    settings: Mapping[str, str] | None = None,
) -> subprocess.Popen[bytes]:
    """`chalice local --stage <stage>` on 127.0.0.1:port; output to `log` (default: ours);
    `settings`: environment variables over ours (those the stage does not set).

    It runs in a session of its own (no controlling terminal: a closing terminal or Ctrl-C
    reaches only us, and we stop it; `stop_process` stops its whole group, the autoreload worker
    included). It also dies with this process, however this process ends, SIGKILL included: it
    holds the read end of a pipe whose only write end is ours, and stops its group when the
    pipe reads EOF, which the kernel makes happen when we exit. (A child made by a bare
    `os.fork()` of this process would inherit the write end and keep it alive; `subprocess`
    children do not: the end is close-on-exec.)"""
    chalice = os.path.join(os.path.dirname(sys.executable), "chalice")
    command = [chalice, "local", "--stage", stage, "--host", "127.0.0.1", "--port", str(port)]
    if not autoreload:
        command.append("--no-autoreload")
    lifeline, ours = os.pipe()  # both close-on-exec; pass_fds hands the child `lifeline` only
    try:
        process = subprocess.Popen(
            [sys.executable, "-m", "scripts.local_env", str(lifeline), *command],
            cwd=ROOT,
            env={**app_environment(endpoint_url), **(settings or {})},
            stdout=log,
            stderr=log,
            pass_fds=(lifeline,),
            start_new_session=True,
        )
    except BaseException:
        os.close(ours)
        raise
    finally:
        os.close(lifeline)
    _LIFELINES[process.pid] = ours
    return process


_LIFELINES: dict[int, int] = {}  # child pid -> our end of its lifeline


def stop_process(process: subprocess.Popen[bytes], timeout: float = 10) -> None:
    """Stop a process started in its own session, children included."""
    try:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            process.wait(timeout=timeout)
    except ProcessLookupError:
        pass
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
    finally:
        lifeline = _LIFELINES.pop(process.pid, None)
        if lifeline is not None:
            os.close(lifeline)


def wait_for(url: str, timeout: float = 30, process: subprocess.Popen[bytes] | None = None) -> None:
    """Wait until `url` answers at all (any HTTP status)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except urllib.error.HTTPError:
            return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            if process is not None and process.poll() is not None:
                raise RuntimeError(f"the server exited with status {process.returncode}") from None
            if time.monotonic() > deadline:
                raise TimeoutError(f"{url} did not answer within {timeout:.0f} s") from None
            time.sleep(0.1)


def _run_chalice(lifeline: int, command: list[str]) -> None:
    """The child side of `start_chalice_local`: the chalice CLI in this process, and a thread
    that stops this process group once `lifeline` reads EOF (the parent is gone)."""

    def watch() -> None:
        while True:
            try:
                if not os.read(lifeline, 512):
                    break
            except OSError:
                break
        if os.getpgrp() == os.getpid():  # our own group: the autoreload worker is in it
            os.killpg(0, signal.SIGTERM)
        os.kill(os.getpid(), signal.SIGTERM)

    threading.Thread(target=watch, name="lifeline", daemon=True).start()
    # The app writes one JSON line per request; http.server's access line would repeat it.
    from http.server import BaseHTTPRequestHandler

    BaseHTTPRequestHandler.log_request = lambda self, code="-", size="-": None  # type: ignore[method-assign]
    # The handler writes an answer's headers and its body in two sends. With Nagle's algorithm
    # on, the body waits for the client to acknowledge the headers, which a client holding
    # its ACK back (40 ms on Linux) does late: every answer on a kept-alive connection (a
    # browser's, a requests.Session's) came 40 ms late.
    from chalice.local import ChaliceRequestHandler

    ChaliceRequestHandler.disable_nagle_algorithm = True
    from chalice.cli import main

    sys.argv = command  # as the `chalice` script would see them (autoreload re-runs them)
    sys.exit(main())


@contextmanager
def local_stack() -> Iterator[tuple[str, int]]:
    """What `make run` starts, in this process: moto's server in a thread of it, `chalice local
    --stage local` on a free port (the benchmarks use it). Yields (API root, its pid); the
    server's output is printed only if something fails."""
    import boto3

    from scripts.create_resources import create_resources

    region = FAKE_CREDENTIALS["AWS_REGION"]
    session = boto3.session.Session(  # this process's environment is left alone
        aws_access_key_id=FAKE_CREDENTIALS["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=FAKE_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
        region_name=region,
    )
    emulator = start_emulator()
    port = free_port()
    with tempfile.TemporaryFile() as log:
        server = None
        try:
            create_resources(LOCAL_STAGE_NAME, LOCAL_STAGE_NAME, region, emulator.url, session)
            server = start_chalice_local(port, emulator.url, log=log)
            wait_for(f"http://127.0.0.1:{port}/health", timeout=90, process=server)
            yield f"http://127.0.0.1:{port}", server.pid
        except BaseException:
            log.seek(0)
            print(log.read()[-4000:].decode(errors="replace"), file=sys.stderr)
            raise
        finally:
            if server is not None:
                stop_process(server, timeout=60)  # its variants thread may be busy
            emulator.stop()


@contextmanager
def run_local(settings: Mapping[str, str] | None = None) -> Iterator[str]:
    """`scripts/run_local.py`, what `make run` starts, in a process of its own on free ports:
    yields its API root. `settings`: environment variables over ours."""
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "scripts/run_local.py", "--port", str(port)],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={**os.environ, **(settings or {}), "MOTO_PORT": str(free_port())},
        start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_for(f"{base}/health", timeout=60, process=process)
        yield base
    finally:
        process.terminate()
        process.wait(timeout=30)


if __name__ == "__main__":
    _run_chalice(int(sys.argv[1]), sys.argv[2:])
