"""cli_import_ips: images per second that `imgsvc upload -j 4` imports, 100 photos of ~200 KB
(1600x1200 JPEGs, distinct, made once), against a running service; and what bounds it.

    python scripts/cli_bench.py [--tiny] [--jobs 4] [--count 100] [--no-explain]

`cli_import_ips(base_url)` is the figure, for scripts/bench.py: the import of the photos into a
service already running at `base_url`, as a user who has none of them yet, timed over the whole
command (its start-up included). Given the pid of `chalice local`, it also says how much CPU
the service used meanwhile. Run as a script, this starts the stack as scripts/bench.py and
`make run` do (moto's server in this process, `chalice local --stage local` with its background
WebP/AVIF step), measures, then explains the figure: the CPU each process used during the import
and after it, the CLI alone against a server that answers at once, and one job at a time.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

PHOTOS = ROOT / ".cache" / "cli-bench-photos"
COUNT, TINY_COUNT, JOBS, SIZE = 100, 20, 4, (1600, 1200)
TICKS = os.sysconf("SC_CLK_TCK")


# ----- the photos ------------------------------------------------------------------------


def photos(count: int = COUNT) -> list[Path]:
    """`count` distinct photo-like JPEGs of about 200 KB, made once and kept."""
    PHOTOS.mkdir(exist_ok=True)
    paths = [PHOTOS / f"photo_{number:04d}.jpg" for number in range(count)]
    for number, path in enumerate(paths):
        if not path.exists():
            partial = path.with_suffix(".part")
            partial.write_bytes(_photo(number))
            partial.replace(path)
    return paths


def _photo(seed: int) -> bytes:
    from PIL import Image, ImageDraw, ImageFilter

    rng = random.Random(seed)
    width, height = SIZE
    image = Image.linear_gradient("L").rotate(rng.randrange(360)).resize(SIZE).convert("RGB")
    image = Image.blend(image, Image.new("RGB", SIZE, _colour(rng)), 0.4)
    draw = ImageDraw.Draw(image)
    for _ in range(12):
        x, y, r = rng.randrange(width), rng.randrange(height), rng.randrange(20, width // 4)
        draw.ellipse((x - r, y - r, x + r, y + r), fill=_colour(rng))
    image = image.filter(ImageFilter.GaussianBlur(2))
    noise = Image.frombytes("RGB", SIZE, rng.randbytes(width * height * 3))
    buffer = io.BytesIO()
    Image.blend(image, noise, 0.075).save(buffer, "JPEG", quality=82)
    return buffer.getvalue()


def _colour(rng: random.Random) -> tuple[int, int, int]:
    return (rng.randrange(256), rng.randrange(256), rng.randrange(256))


# ----- the figure ------------------------------------------------------------------------


@dataclass(frozen=True)
class Import:
    """One timed `imgsvc upload` of `count` new photos."""

    count: int
    jobs: int
    seconds: float  # wall time of the whole command
    cli_cpu: float  # CPU seconds of the imgsvc process
    server_cpu: float | None = None  # of `chalice local` meanwhile, when its pid was given
    own_cpu: float | None = None  # of the calling process meanwhile (an in-process emulator)

    @property
    def ips(self) -> float:
        return self.count / self.seconds

    @property
    def note(self) -> str:
        """What the figure was, and where the CPU went while it was measured."""
        text = f"{self.count} photos of ~200 KB, -j {self.jobs}, {self.seconds:.1f} s"
        cores = os.cpu_count() or 1
        used = [f"imgsvc {self.cli_cpu:.1f}"]
        if self.server_cpu is not None:
            used.append(f"chalice local {self.server_cpu:.1f}")
        if self.own_cpu is not None:
            used.append(f"this process (moto) {self.own_cpu:.1f}")
        return f"{text}; CPU seconds (of {cores * self.seconds:.0f} on {cores} cores): " + (
            ", ".join(used)
        )


def cli_import_ips(
    base_url: str,
    *,
    tiny: bool = False,
    jobs: int = JOBS,
    count: int | None = None,
    server_pid: int | None = None,
) -> Import:
    """cli_import_ips: `imgsvc upload -j jobs` of COUNT photos (TINY_COUNT with `tiny`) into
    the service at `base_url`, as a new user. `server_pid`, `chalice local`'s, adds the CPU it
    used meanwhile; the calling process's own CPU is counted too (scripts/bench.py and this
    script run moto's server in a thread of theirs). Raises RuntimeError unless every photo
    was uploaded."""
    count = count or (TINY_COUNT if tiny else COUNT)
    user = f"cli-bench-{uuid.uuid4().hex[:8]}"
    server_before = cpu_seconds(server_pid) if server_pid else 0.0
    own_before = _own_cpu()
    with photo_folder(count) as folder:
        wall, cli_cpu, output = run_import(base_url, user, folder, jobs)
    if f"{count} uploaded, 0 skipped, 0 failed" not in output:
        raise RuntimeError(f"not a clean import of {count} new photos:\n{output}")
    return Import(
        count,
        jobs,
        wall,
        cli_cpu,
        cpu_seconds(server_pid) - server_before if server_pid else None,
        _own_cpu() - own_before,
    )


def cli_command() -> list[str]:
    script = Path(sys.executable).with_name("imgsvc")
    return [str(script)] if script.exists() else [sys.executable, "-m", "imgsvc"]


def run_import(base_url: str, user: str, folder: Path, jobs: int) -> tuple[float, float, str]:
    """`imgsvc upload -j JOBS folder` as `user`: (wall seconds, CLI CPU seconds, output)."""
    env = {**os.environ, "IMGSVC_URL": base_url, "IMGSVC_USER": user}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    result = subprocess.run(
        [*cli_command(), "upload", "-j", str(jobs), str(folder)],
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=900,
    )
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
    if result.returncode != 0:
        raise RuntimeError(f"imgsvc failed:\n{result.stdout}\n{result.stderr}")
    return wall, cpu, result.stdout


@contextmanager
def photo_folder(count: int) -> Iterator[Path]:
    """A temporary directory of links to the first `count` photos."""
    with tempfile.TemporaryDirectory(prefix="imgsvc-bench-") as folder:
        for path in photos(count):
            os.symlink(path, Path(folder) / path.name)
        yield Path(folder)


def cpu_seconds(pid: int) -> float:
    """User plus system CPU of a process, all its threads, so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def _own_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


# ----- what bounds it --------------------------------------------------------------------


class _Instant(BaseHTTPRequestHandler):
    """The least a server can do: read the request and answer what imgsvc expects."""

    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # else the body of each answer waits for a delayed ACK

    def do_GET(self) -> None:
        self._answer(200, {"items": [], "count": 0, "next_token": None})

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        now = time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime(time.time() + 5))
        self._answer(201, {"image_id": uuid.uuid4().hex, "created_at": now})

    def _answer(self, status: int, body: object) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *_: object) -> None:
        return None


@contextmanager
def instant_server() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Instant)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def wait_idle(pid: int, timeout: float = 300) -> float:
    """Until the process has used under 5 % of a core for a second (its background work,
    the variants of the images just uploaded, is done): the CPU seconds it used meanwhile."""
    start = cpu_seconds(pid)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        before = cpu_seconds(pid)
        time.sleep(1.0)
        if cpu_seconds(pid) - before < 0.05:
            break
    return cpu_seconds(pid) - start


def explain(base_url: str, server_pid: int, first: Import) -> None:
    """Where the time went: the background work the import left, the CLI against a server
    that answers at once, and one job at a time."""
    after = wait_idle(server_pid)
    print(f"  chalice local after the import (WebP and AVIF variants): {after:.1f} CPU s")
    with photo_folder(first.count) as folder, instant_server() as instant:
        wall, cli_cpu, _ = run_import(instant, "instant", folder, first.jobs)
    print(
        f"imgsvc alone (a server that answers at once), -j {first.jobs}: "
        f"{first.count / wall:.1f} images/s, its CPU {cli_cpu:.1f} s"
    )
    serial = cli_import_ips(base_url, jobs=1, count=first.count, server_pid=server_pid)
    print(f"one at a time, -j 1: {serial.ips:.2f} images/s ({1000 / serial.ips:.0f} ms each)")
    print(f"  {serial.note}")
    wait_idle(server_pid)


# ----- the script ------------------------------------------------------------------------


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tiny", action="store_true", help=f"{TINY_COUNT} photos, quickly")
    parser.add_argument("--count", type=int, help=f"photos (default {COUNT})")
    parser.add_argument("--jobs", type=int, default=JOBS)
    parser.add_argument("--no-explain", action="store_true", help="the figure only")
    args = parser.parse_args()
    count = args.count or (TINY_COUNT if args.tiny else COUNT)
    sizes = [path.stat().st_size for path in photos(count)]
    print(
        f"{len(sizes)} photos, {SIZE[0]}x{SIZE[1]} JPEG, {sum(sizes) / len(sizes) / 1024:.0f} "
        f"KB on average, in {PHOTOS}"
    )
    from scripts.local_env import local_stack

    with local_stack() as (base, server_pid):
        measured = cli_import_ips(base, jobs=args.jobs, count=count, server_pid=server_pid)
        print(f"cli_import_ips = {measured.ips:.2f}  ({measured.note})")
        if not args.no_explain:
            explain(base, server_pid, measured)
    return 0


if __name__ == "__main__":
    sys.exit(main())
