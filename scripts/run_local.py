"""`make run`: the API on http://127.0.0.1:PORT against an embedded AWS emulator.

Starts moto in server mode on a free loopback port, creates the bucket and the table in it,
and runs `chalice local --stage local` in front of it. Ctrl-C stops everything.

However this process stops, nothing it started is left: SIGINT (Ctrl-C), SIGTERM and SIGHUP (the
terminal closed) stop `chalice local` and the emulator, then exit; if this process is killed
outright (SIGKILL), `chalice local` notices by itself (see `start_chalice_local`) and the
emulator, a thread here, is gone with it. Started by `make` (`make run`), it also stops when make
dies, which would otherwise leave it serving in the background: see `--exit-with-parent`.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import threading
import time
from types import FrameType

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from scripts.local_env import (
    FAKE_CREDENTIALS,
    LOCAL_STAGE_NAME,
    Emulator,
    port_in_use,
    start_chalice_local,
    start_emulator,
    stop_process,
    wait_for,
)

BUCKET = TABLE = LOCAL_STAGE_NAME  # the `local` stage in .chalice/config.json
PARENT = os.getppid()  # early (boto3 is imported later): `--exit-with-parent` watches it
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


class Stop(BaseException):
    """A signal asked us to stop. A BaseException, as KeyboardInterrupt is, so that no
    `except Exception` on the way (botocore retries, for one) can swallow it."""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", "8000")))
    parser.add_argument("--emulator-port", type=int, default=int(os.environ.get("MOTO_PORT", "0")))
    parser.add_argument(
        "--exit-with-parent",
        action=argparse.BooleanOptionalAction,
        default="MAKELEVEL" in os.environ,
        help="stop when the process that started this one exits (default: when make started it)",
    )
    args = parser.parse_args()
    stopping = catch_stop_signals()
    if args.exit_with_parent:
        threading.Thread(target=exit_with_parent, name="parent-watch", daemon=True).start()
    try:
        return run(args.port, args.emulator_port, stopping)
    except Stop:
        say("\nstopped")
        return 0


def run(port: int, emulator_port: int, stopping: threading.Event) -> int:
    if port_in_use(port):
        print(f"port {port} is already in use; try: make run PORT=8001", file=sys.stderr)
        return 1
    emulator: Emulator | None = None
    server: subprocess.Popen[bytes] | None = None
    try:
        from scripts.create_resources import create_resources  # boto3 and the app: slow

        emulator = start_emulator(emulator_port or None)
        os.environ.update(FAKE_CREDENTIALS)
        create_resources(BUCKET, TABLE, FAKE_CREDENTIALS["AWS_REGION"], emulator.url)
        server = start_chalice_local(port, emulator.url)
        return serve(port, server, emulator.url)
    finally:
        stopping.set()  # signals are ignored from here on: none may cut the cleanup short
        if server is not None:
            stop_process(server)
        if emulator is not None:
            emulator.stop()


def catch_stop_signals() -> threading.Event:
    """SIGINT, SIGTERM and SIGHUP raise `Stop` in the main thread until the event returned is
    set, when the cleanup begins: no later signal may cut it short. A signal this process
    inherited as ignored (SIGINT or SIGHUP under `nohup`, or in `&`) stays ignored."""
    stopping = threading.Event()

    def stop(signum: int, _: FrameType | None) -> None:
        if not stopping.is_set():
            raise Stop(signal.Signals(signum).name)

    for signum in STOP_SIGNALS:
        if signum == signal.SIGTERM or signal.getsignal(signum) is not signal.SIG_IGN:
            signal.signal(signum, stop)
    return stopping


def exit_with_parent() -> None:
    """SIGTERM ourselves once the parent is gone (we are then reparented). Polling keeps it
    portable; Linux's PR_SET_PDEATHSIG would be immediate but needs ctypes."""
    signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)  # they are for the main thread
    while os.getppid() == PARENT:
        time.sleep(0.2)
    os.kill(os.getpid(), signal.SIGTERM)


def say(text: str) -> None:
    """Print, unless the terminal is gone (SIGHUP): then nothing more goes to it."""
    try:
        print(text, flush=True)
    except OSError:
        quiet = open(os.devnull, "w")  # noqa: SIM115 (for the rest of this process's life)
        os.dup2(quiet.fileno(), sys.stdout.fileno())
        os.dup2(quiet.fileno(), sys.stderr.fileno())


def serve(port: int, server: subprocess.Popen[bytes], emulator_url: str) -> int:
    base = f"http://127.0.0.1:{port}"
    try:
        wait_for(f"{base}/health", timeout=60, process=server)
    except (RuntimeError, TimeoutError) as exc:
        print(f"chalice local did not start: {exc}", file=sys.stderr)
        return 1
    print(
        f"""
Image service: {base}   (AWS emulator: {emulator_url}; data lives until you stop)
  curl -s {base}/health
  curl -s -H 'X-User-Id: alice' -F file=@photo.jpg -F tags=beach,sunset {base}/images
  curl -s -H 'X-User-Id: alice' '{base}/images?tag=beach'
  curl -sL -H 'X-User-Id: alice' -o copy.jpg {base}/images/<image_id>/content
API docs (try it out): {base}/docs    description: {base}/openapi.json
Press Ctrl-C to stop.
""",
        flush=True,
    )
    # Not a bare wait(): should a signal reach another thread than this one, the handler runs
    # here only once this thread runs Python again, which it does not while blocked in wait().
    while server.poll() is None:
        time.sleep(0.5)
    return server.returncode


if __name__ == "__main__":
    sys.exit(main())
