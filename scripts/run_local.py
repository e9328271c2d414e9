"""`make run`: the API on http://127.0.0.1:PORT against an embedded AWS emulator.

Starts moto in server mode on a free loopback port, creates the bucket and the table in it,
and runs `chalice local --stage local` in front of it. Ctrl-C stops everything.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from scripts.create_resources import create_resources
from scripts.local_env import (
    FAKE_CREDENTIALS,
    port_in_use,
    start_chalice_local,
    start_emulator,
    stop_process,
    wait_for,
)

BUCKET = TABLE = "image-service-local"  # the `local` stage in .chalice/config.json


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", "8000")))
    parser.add_argument("--emulator-port", type=int, default=int(os.environ.get("MOTO_PORT", "0")))
    args = parser.parse_args()
    if port_in_use(args.port):
        print(f"port {args.port} is already in use; try: make run PORT=8001", file=sys.stderr)
        return 1

    emulator = start_emulator(args.emulator_port or None)
    os.environ.update(FAKE_CREDENTIALS)
    create_resources(BUCKET, TABLE, FAKE_CREDENTIALS["AWS_REGION"], emulator.url)
    server = start_chalice_local(args.port, emulator.url)

    def interrupt(*_: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, interrupt)
    try:
        return serve(args.port, server, emulator.url)
    except KeyboardInterrupt:
        print("\nstopping")
        return 0
    finally:
        stop_process(server)
        emulator.stop()


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
API description: {base}/openapi.json    Press Ctrl-C to stop.
""",
        flush=True,
    )
    return server.wait()


if __name__ == "__main__":
    sys.exit(main())
