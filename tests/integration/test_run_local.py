"""`make run` stops whole, however it is stopped: Ctrl-C, SIGTERM, a closed terminal (SIGHUP),
SIGKILL of the runner or of `make`. After each, nothing listens on the API port or the emulator
port, no process the run started is left, and the next run on the same ports starts."""

from __future__ import annotations

import errno
import os
import signal
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import IO, NamedTuple

import pytest

from scripts.local_env import ROOT, free_port
from tests.integration.conftest import as_foreground_job

pytestmark = pytest.mark.integration

PYTHON = os.path.join(ROOT, ".venv", "bin", "python")  # what the Makefile runs
STAMP = ".venv/.installed-stamp"  # `make -o` it: the test never reinstalls the venv
STOP_WITHIN = 5.0  # seconds from the signal until nothing is left


class Stat(NamedTuple):
    state: str
    ppid: int
    start: int  # clock ticks after boot: tells a reused pid from the one recorded


def stat(pid: int) -> Stat | None:
    try:
        with open(f"/proc/{pid}/stat") as file:
            text = file.read()
    except (FileNotFoundError, ProcessLookupError):
        return None
    fields = text[text.rindex(")") + 2 :].split()  # the name, in parentheses, may hold spaces
    return Stat(fields[0], int(fields[1]), int(fields[19]))


def process_tree(root: int) -> dict[int, int]:
    """`root` and all its descendants (pid -> start time), from /proc."""
    stats = {int(name): stat(int(name)) for name in os.listdir("/proc") if name.isdigit()}
    top = stats.get(root)
    tree = {root: top.start} if top else {}
    grew = True
    while grew:
        grew = False
        for pid, info in stats.items():
            if info and pid not in tree and info.ppid in tree:
                tree[pid] = info.start
                grew = True
    return tree


def alive(pid: int, start: int) -> bool:
    info = stat(pid)  # a zombie is dead: PID 1 here may be slow to reap orphans
    return info is not None and info.start == start and info.state not in ("Z", "X")


def command_line(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/cmdline") as file:
            return file.read().replace("\0", " ")
    except OSError:
        return "?"


def refused(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(1)
        return sock.connect_ex(("127.0.0.1", port)) == errno.ECONNREFUSED


@dataclass
class Run:
    process: subprocess.Popen[bytes]
    ports: tuple[int, int]  # the API's, the emulator's
    log: IO[bytes]
    tree: dict[int, int] = field(default_factory=dict)

    def output(self) -> str:
        self.log.seek(0)
        return self.log.read().decode(errors="replace")[-4000:]


class Runs:
    """Starts runs; at teardown kills whatever a failed test left behind."""

    def __init__(self) -> None:
        self.started: list[Run] = []

    def start(self, ports: tuple[int, int], *, make: bool) -> Run:
        api, emulator = ports
        if make:
            command = ["make", "--no-print-directory", "-o", STAMP, "run", f"PORT={api}"]
        else:
            command = [PYTHON, "scripts/run_local.py", "--port", str(api)]
        env = {k: v for k, v in os.environ.items() if k not in ("MAKELEVEL", "MAKEFLAGS", "MFLAGS")}
        env["MOTO_PORT"] = str(emulator)
        log = tempfile.TemporaryFile()  # noqa: SIM115 (closed by cleanup)
        process = subprocess.Popen(
            as_foreground_job(command),
            cwd=ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own session and group, as a terminal's job
        )
        run = Run(process, ports, log)
        self.started.append(run)
        url = f"http://127.0.0.1:{api}/health"
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(url, timeout=2) as response:
                    if response.status == 200:
                        break
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            assert process.poll() is None, f"the run exited early:\n{run.output()}"
            assert time.monotonic() < deadline, f"{url} not 200 within 60 s:\n{run.output()}"
            time.sleep(0.1)
        run.tree = process_tree(process.pid)
        return run

    def cleanup(self) -> None:
        for run in self.started:
            for pid, start in run.tree.items():
                if alive(pid, start):
                    os.kill(pid, signal.SIGKILL)
            if run.process.poll() is None:
                run.process.kill()
            run.process.wait()
            run.log.close()


@pytest.fixture
def runs() -> Iterator[Runs]:
    runs = Runs()
    try:
        yield runs
    finally:
        runs.cleanup()


def stop(run: Run, send: str) -> float:
    """Stop `run` as `send` says; assert that it stops whole within STOP_WITHIN s; how long."""
    pid = run.process.pid  # its group too (start_new_session)
    began = time.monotonic()
    if send == "SIGINT to the group":  # Ctrl-C
        os.killpg(pid, signal.SIGINT)
    elif send == "SIGHUP to the group":  # the terminal closed
        os.killpg(pid, signal.SIGHUP)
    elif send == "SIGTERM":
        os.kill(pid, signal.SIGTERM)
    elif send == "SIGKILL":
        os.kill(pid, signal.SIGKILL)
    else:
        raise AssertionError(send)
    deadline = began + STOP_WITHIN
    while True:
        run.process.poll()  # reap ours; the others are reparented
        left = [pid for pid, start in run.tree.items() if alive(pid, start)]
        listening = [port for port in run.ports if not refused(port)]
        if not left and not listening:
            return time.monotonic() - began
        if time.monotonic() > deadline:
            names = {pid: command_line(pid) for pid in left}
            raise AssertionError(
                f"{STOP_WITHIN} s after {send}: still running {names}, still listening on "
                f"{listening}\n{run.output()}"
            )
        time.sleep(0.05)


@pytest.mark.parametrize(
    ("make", "send"),
    [
        (False, "SIGINT to the group"),
        (False, "SIGTERM"),
        (False, "SIGHUP to the group"),
        (False, "SIGKILL"),
        (True, "SIGHUP to the group"),
        (True, "SIGKILL"),  # of make: the runner notices its parent is gone
    ],
    ids=[
        "runner-SIGINT-group",
        "runner-SIGTERM",
        "runner-SIGHUP-group",
        "runner-SIGKILL",
        "make-SIGHUP-group",
        "make-SIGKILL",
    ],
)
def test_stops_whole(runs: Runs, make: bool, send: str) -> None:
    ports = (free_port(), free_port())
    first = runs.start(ports, make=make)
    assert len(first.tree) >= (3 if make else 2), first.tree  # (make,) runner, chalice local
    took = stop(first, send)
    print(f"{'make' if make else 'runner'}, {send}: stopped in {took:.2f} s")
    second = runs.start(ports, make=make)  # the same ports are free again
    stop(second, "SIGTERM")
