"""`imgsvc`, the command-line client, run as its users run it (a subprocess: the installed
console script, else `python -m imgsvc`) against what `make run` starts: moto's server and
`chalice local` (conftest's `stack`)."""

from __future__ import annotations

import base64
import fcntl
import json
import os
import pty
import select
import signal
import struct
import subprocess
import sys
import termios
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

import pytest
import requests
from PIL import Image

from scripts.local_env import free_port
from tests.cli_images import MIB, jpeg_with_exif, large_png, mixed_images, sha256
from tests.integration.conftest import Stack, as_foreground_job
from tests.integration.invariants import check_store, image_rows

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = Path(sys.executable).with_name("imgsvc")
CLI = [str(SCRIPT)] if SCRIPT.exists() else [sys.executable, "-m", "imgsvc"]


@pytest.fixture
def service(stack: Stack) -> str:
    """The API root of the integration stack (moto's server and `chalice local`, as
    `make run` starts them), emptied for this module by conftest's `fresh_store`."""
    return stack.base


def environment(base: str, user: str | None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("IMGSVC_")}
    env.update(IMGSVC_URL=base, COLUMNS="120", PYTHONUNBUFFERED="1")
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    if user is not None:
        env["IMGSVC_USER"] = user
    return env


def imgsvc(
    base: str, user: str | None, *args: str, timeout: float = 120, cwd: Path = ROOT
) -> subprocess.CompletedProcess[str]:
    """The command, its output captured (so not a terminal: plain lines)."""
    return subprocess.run(
        [*CLI, *args],
        env=environment(base, user),
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def start(base: str, user: str, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        as_foreground_job([*CLI, *args]),  # so that SIGINT interrupts it as Ctrl-C would
        env=environment(base, user),
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def listed(base: str, user: str) -> list[dict[str, Any]]:
    """Every ready image of `user`, through the API, following next_token."""
    items: list[dict[str, Any]] = []
    params: dict[str, str | int] = {"user_id": user, "limit": 100}
    while True:
        page = requests.get(
            f"{base}/images", params=params, headers={"X-User-Id": user}, timeout=30
        ).json()
        items += page["items"]
        if not page["next_token"]:
            return items
        params["next_token"] = page["next_token"]


def lines_of(output: str, status: str) -> list[str]:
    """The per-file lines of `status` (not the summary table's rows)."""
    return [
        line for line in output.splitlines() if line.startswith(status + " ") and "│" not in line
    ]


def assert_clean(result: subprocess.CompletedProcess[str]) -> None:
    assert "Traceback" not in result.stderr + result.stdout, result.stderr


# ----- bulk import -----------------------------------------------------------------------


def stored_rows(stack: Stack, user: str) -> list[dict[str, Any]]:
    """The user's image rows in the table itself (any status)."""
    return [row for row in image_rows(stack).values() if row["user_id"]["S"] == user]


def test_importing_a_directory_twice_gives_each_image_once(stack, service, tmp_path):
    """30 images of every type, one with camera EXIF (stored stripped, so its stored sha256
    is not the file's: the file's digest finds it, `source_sha256`, before anything is sent,
    and no idempotency key, which expires, is needed) and one over the API's limit (straight
    to S3)."""
    folder = tmp_path / "photos"
    files = mixed_images(folder / "trip", 28)
    files.append(jpeg_with_exif(folder / "camera.jpg", seed=99))
    files.append(large_png(folder / "panorama.png"))
    user = "importer"

    first = imgsvc(service, user, "upload", "-j", "4", str(folder))
    assert first.returncode == 0, first.stdout + first.stderr
    assert len(lines_of(first.stdout, "uploaded")) == 30, first.stdout
    (big,) = [line for line in first.stdout.splitlines() if "panorama.png" in line]
    assert "straight to S3" in big
    assert "30 uploaded, 0 skipped, 0 failed" in first.stdout
    assert "\x1b[" not in first.stdout  # piped: no progress bars, no colours
    images = listed(service, user)
    assert len(images) == 30
    stored = {image["filename"]: image for image in images}
    assert set(stored) == {path.name for path in files}
    for path in files:
        if path.name != "camera.jpg":  # the EXIF one is stored stripped
            assert stored[path.name]["sha256"] == sha256(path), path.name
    assert stored["img_000.jpg"]["title"] == "img_000"

    second = imgsvc(service, user, "upload", "-j", "4", str(folder))
    assert second.returncode == 0, second.stdout + second.stderr
    assert not lines_of(second.stdout, "uploaded")
    assert len(lines_of(second.stdout, "skipped")) == 30
    (camera,) = [line for line in second.stdout.splitlines() if "camera.jpg" in line]
    assert "already there" in camera and "replayed" not in camera
    assert "Nothing to upload: all 30 files are already there." in second.stdout
    assert len(listed(service, user)) == 30
    assert_clean(second)
    rows = stored_rows(stack, user)
    assert len(rows) == 30 and {row["status"]["S"] for row in rows} == {"ready"}
    check_store(stack, settled=True)  # every object has its row and every row its objects


def wait_for_lines(process: subprocess.Popen[str], status: str, count: int) -> list[str]:
    """Read the running command's output until `count` lines of `status`."""
    assert process.stdout is not None
    seen: list[str] = []
    deadline = time.monotonic() + 60
    while len([line for line in seen if line.startswith(status)]) < count:
        assert time.monotonic() < deadline, seen
        line = process.stdout.readline()
        assert line, f"the command ended early: {seen}"
        seen.append(line)
    return seen


def test_an_interrupted_or_killed_import_resumes_without_duplicates(stack, service, tmp_path):
    files = mixed_images(tmp_path / "batch", 18, seed=2)
    user = "resumer"

    interrupted = start(service, user, "upload", "-j", "2", str(tmp_path / "batch"))
    wait_for_lines(interrupted, "uploaded", 4)
    interrupted.send_signal(signal.SIGINT)
    out, err = interrupted.communicate(timeout=30)
    assert interrupted.returncode == 130, out + err
    assert "Interrupted after" in out
    assert "Traceback" not in out + err
    after_sigint = len(listed(service, user))
    assert 4 <= after_sigint < 18

    killed = start(service, user, "upload", "-j", "2", str(tmp_path / "batch"))
    wait_for_lines(killed, "uploaded", 3)
    killed.kill()  # SIGKILL: requests in flight are cut wherever they are
    killed.communicate(timeout=30)
    after_sigkill = len(listed(service, user))
    assert after_sigint + 3 <= after_sigkill <= 18

    final = imgsvc(service, user, "upload", "-j", "2", str(tmp_path / "batch"))
    assert final.returncode == 0, final.stdout + final.stderr
    images = listed(service, user)
    assert len(images) == 18  # nothing missing, nothing twice
    assert sorted(image["sha256"] for image in images) == sorted(sha256(p) for p in files)
    rows = stored_rows(stack, user)  # nothing half-made left behind either
    assert sorted(row.get("sha256", {}).get("S", "") for row in rows) == sorted(
        sha256(p) for p in files
    )
    check_store(stack, settled=True)


# ----- output ----------------------------------------------------------------------------


def run_in_terminal(command: list[str], env: dict[str, str]) -> tuple[int, str]:
    """The command with a pseudo-terminal (120x40) as its stdout and stderr."""
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0, 0))
    process = subprocess.Popen(
        command, env=env, cwd=ROOT, stdin=subprocess.DEVNULL, stdout=slave, stderr=slave
    )
    os.close(slave)
    chunks = []
    try:
        while True:
            ready, _, _ = select.select([master], [], [], 60)
            assert ready, "no output for 60 s"
            try:
                chunk = os.read(master, 65536)
            except OSError:  # EIO: the terminal's other side closed
                break
            if not chunk:
                break
            chunks.append(chunk)
    finally:
        os.close(master)
    return process.wait(timeout=30), b"".join(chunks).decode(errors="replace")


def test_a_terminal_gets_progress_bars_and_a_pipe_plain_lines(service, tmp_path):
    folder = tmp_path / "shown"
    mixed_images(folder, 5, seed=3)
    code, shown = run_in_terminal(
        [*CLI, "upload", "-j", "2", str(folder)], environment(service, "watcher")
    )
    assert code == 0, shown
    assert "\x1b[" in shown  # drawn, coloured
    assert "━" in shown and "5/5 files" in shown  # the run's bar, at its end
    assert "img_000.jpg" in shown and "KiB" in shown  # a file's bar or line

    piped = imgsvc(service, "watcher", "upload", str(folder))
    assert piped.stdout.startswith("uploading 5 files (")
    assert len(lines_of(piped.stdout, "skipped")) == 5
    assert "\x1b[" not in piped.stdout and "/5 files" not in piped.stdout  # no bars


# ----- bad input -------------------------------------------------------------------------


def test_bad_files_are_reported_and_the_others_imported(service, tmp_path):
    folder = tmp_path / "mixed"
    good = mixed_images(folder, 2, seed=4)
    (folder / "notes.txt").write_text("not a picture\n")
    (folder / "huge.bin").write_bytes(b"\0" * (10 * MIB + 10))  # over the limit, not an image
    missing = str(tmp_path / "nowhere.jpg")
    not_a_dir = str(good[0]) + "/inside.jpg"  # a file used as a directory: unreadable
    user = "careless"

    result = imgsvc(service, user, "upload", str(folder), missing, not_a_dir, "--tags", "x")
    assert result.returncode == 1, result.stdout + result.stderr
    assert_clean(result)
    failed = {line.split()[1]: line for line in lines_of(result.stdout, "failed")}
    assert (
        "is not a JPEG, PNG, GIF, WebP, HEIC/HEIF or AVIF image (415)"
        in failed[str(folder / "notes.txt")]
    )
    assert "not a JPEG" in failed[str(folder / "huge.bin")]
    assert "No such file or directory" in failed[missing]
    assert "Not a directory" in failed[not_a_dir]
    assert len(lines_of(result.stdout, "uploaded")) == 2
    assert "2 uploaded, 0 skipped, 4 failed" in result.stdout
    assert sorted(i["filename"] for i in listed(service, user)) == sorted(p.name for p in good)


def test_a_wrong_url_or_no_user_is_one_clear_message(service, tmp_path):
    photo = mixed_images(tmp_path, 1, seed=5)[0]
    nowhere = f"http://127.0.0.1:{free_port()}"
    wrong = imgsvc(nowhere, "someone", "upload", str(photo))
    assert wrong.returncode == 1
    assert wrong.stderr.strip() == f"imgsvc: error: cannot reach {nowhere}: connection refused"
    assert wrong.stdout == ""

    anonymous = imgsvc(service, None, "upload", str(photo))
    assert anonymous.returncode == 1
    assert "imgsvc: error: the X-User-Id header is required (401)" in anonymous.stderr
    assert "--user or IMGSVC_USER" in anonymous.stderr
    for result in (wrong, anonymous):
        assert_clean(result)

    listing = imgsvc(nowhere, "someone", "ls")
    assert listing.returncode == 1 and "cannot reach" in listing.stderr
    assert_clean(listing)


# ----- everyday commands ------------------------------------------------------------------


SUNSET = ("--title", "Sunset", "--tags", "sea,dusk", "--description", "from the pier")


def test_list_get_download_edit_remove(service, tmp_path):
    user = "everyday"
    photos = mixed_images(tmp_path / "in", 3, seed=6)
    uploaded = imgsvc(
        service,
        user,
        "upload",
        *map(str, photos),
        *SUNSET,
    )
    assert uploaded.returncode == 0, uploaded.stdout + uploaded.stderr
    by_name = {image["filename"]: image for image in listed(service, user)}
    jpeg = by_name["img_000.jpg"]
    assert (jpeg["title"], jpeg["tags"], jpeg["description"]) == (
        "Sunset",
        ["sea", "dusk"],
        "from the pier",
    )

    mine = imgsvc(service, user, "ls", "--mine", "--all", "--limit", "2", "--json")
    assert mine.returncode == 0
    assert sorted(i["image_id"] for i in json.loads(mine.stdout)["items"]) == sorted(
        i["image_id"] for i in by_name.values()
    )
    table = imgsvc(service, user, "ls", "--tag", "dusk", "--type", "jpg")
    assert table.returncode == 0
    assert jpeg["image_id"] in table.stdout and "Sunset" in table.stdout
    assert by_name["img_001.png"]["image_id"] not in table.stdout

    shown = imgsvc(service, user, "get", jpeg["image_id"])
    assert shown.returncode == 0 and "from the pier" in shown.stdout and "small" in shown.stdout

    out = tmp_path / "out"
    got = imgsvc(
        service,
        user,
        "download",
        jpeg["image_id"],
        by_name["img_001.png"]["image_id"],
        "-o",
        str(out),
    )
    assert got.returncode == 0, got.stdout + got.stderr
    assert (out / "img_000.jpg").read_bytes() == photos[0].read_bytes()  # byte-exact
    assert (out / "img_001.png").read_bytes() == photos[1].read_bytes()
    small = imgsvc(service, user, "download", jpeg["image_id"], "--size", "small", "-o", str(out))
    assert small.returncode == 0, small.stdout + small.stderr
    with Image.open(out / "img_000.small.jpg") as image:  # the base format by default
        assert image.format == "JPEG" and max(image.size) <= 320
    png = by_name["img_001.png"]["image_id"]
    square = imgsvc(service, user, "download", png, "--size", "square", "--format", "webp", cwd=out)
    assert square.returncode == 0, square.stdout + square.stderr
    with Image.open(out / "img_001.square.webp") as image:  # into the working directory
        assert image.format == "WEBP" and image.width == image.height

    edited = imgsvc(
        service,
        user,
        "edit",
        jpeg["image_id"],
        "--title",
        "Golden hour",
        "--tags",
        "Sea, gold",
        "--json",
    )
    assert edited.returncode == 0
    assert json.loads(edited.stdout)["title"] == "Golden hour"
    assert json.loads(edited.stdout)["tags"] == ["sea", "gold"]
    refused = imgsvc(service, "someone-else", "edit", jpeg["image_id"], "--title", "Mine")
    assert refused.returncode == 1 and "(403)" in refused.stderr

    # The same file again under another title: its key's request differs; it is there.
    again = imgsvc(
        service, user, "upload", str(photos[0]), "--title", "Other", "--no-skip-existing"
    )
    assert again.returncode == 0, again.stdout + again.stderr
    assert "already there, with another title" in again.stdout
    assert len(listed(service, user)) == 3

    removed = imgsvc(service, user, "rm", jpeg["image_id"])
    assert removed.returncode == 0 and f"deleted  {jpeg['image_id']}" in removed.stdout
    gone = imgsvc(service, user, "get", jpeg["image_id"])
    assert gone.returncode == 1 and "no such image (404)" in gone.stderr
    twice = imgsvc(service, user, "rm", jpeg["image_id"])
    assert twice.returncode == 1 and "no such image (404)" in twice.stdout
    # Deleted, then imported again: a new image (the old key's image is gone: the next key).
    back = imgsvc(
        service,
        user,
        "upload",
        str(photos[0]),
        *SUNSET,
    )
    assert len(lines_of(back.stdout, "uploaded")) == 1, back.stdout
    assert len(listed(service, user)) == 3
    for result in (uploaded, mine, table, shown, got, edited, refused, again, removed, gone):
        assert_clean(result)


def test_a_413_from_the_api_sends_the_file_straight_to_s3(service, tmp_path):
    """The client thinks the API takes 64 MiB; the service says 413: the file goes direct."""
    big = large_png(tmp_path / "wide.png")
    result = imgsvc(service, "optimist", "upload", "--max-api-bytes", "64MiB", str(big))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "straight to S3" in lines_of(result.stdout, "uploaded")[0]
    (image,) = listed(service, "optimist")
    assert image["sha256"] == sha256(big)


# ----- identity --------------------------------------------------------------------------


class _Recorder(BaseHTTPRequestHandler):
    """Answers every GET with an empty listing and keeps what it was sent."""

    seen: ClassVar[list[tuple[str, dict[str, str]]]] = []

    def do_GET(self) -> None:
        self.seen.append((self.path, dict(self.headers)))
        body = b'{"items": [], "count": 0, "next_token": null}'
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *_: object) -> None:
        return None


def test_a_token_is_sent_raw_as_authorization_and_names_the_user():
    """Cognito mode: API Gateway's user-pool authorizer reads the raw ID token from
    `Authorization`; the token's `sub` is who we are (`ls --mine`)."""
    claims = base64.urlsafe_b64encode(json.dumps({"sub": "4f1c-sub"}).encode()).rstrip(b"=")
    token = f"eyJhbGciOiJSUzI1NiJ9.{claims.decode()}.c2lnbmF0dXJl"
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Recorder)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        base = f"http://127.0.0.1:{server.server_address[1]}"
        env = {**environment(base, "ignored"), "IMGSVC_TOKEN": f"Bearer {token}"}
        result = subprocess.run(
            [*CLI, "ls", "--mine"],
            env=env,
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    finally:
        server.shutdown()
        server.server_close()
    assert result.returncode == 0, result.stderr
    ((path, headers),) = _Recorder.seen
    assert headers["Authorization"] == token
    assert "X-User-Id" not in headers
    assert "user_id=4f1c-sub" in path


def test_python_dash_m_is_the_same_command():
    """`python -m imgsvc` runs the same command as the console script `make install` puts in
    the environment (the script itself is what every other test here runs, when installed)."""
    env = environment("http://127.0.0.1:9", None)
    result = subprocess.run(
        [sys.executable, "-m", "imgsvc", "--help"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    for command in ("upload", "ls", "get", "download", "edit", "rm"):
        assert f"  {command} " in result.stdout
