"""The local Lambda runtime without LocalStack: real awslambdaric processes on the handler venv.

The handler venv is installed (once, then cached in .cache/localstack/) by host.py, so these
tests never skip; the first run needs PyPI and takes a few seconds more.
"""

from __future__ import annotations

import base64
import importlib.util
import json
import os
import sys
import textwrap
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from local_lambda_executor.runtime import InitError, LocalRuntime, Outcome

HOST_PY = Path(__file__).resolve().parents[2] / "host.py"
ARN = "arn:aws:lambda:us-east-1:000000000000:function:test"
MakeRuntime = Callable[..., LocalRuntime]


@pytest.fixture(scope="session")
def handler_python() -> str:
    spec = importlib.util.spec_from_file_location("localstack_host", HOST_PY)
    assert spec is not None and spec.loader is not None
    host = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(host)
    return str(host.install_handler())


@pytest.fixture
def make_runtime(handler_python: str, tmp_path: Path) -> Iterator[MakeRuntime]:
    runtimes: list[LocalRuntime] = []

    def make(source: str, timeout_s: float = 3) -> LocalRuntime:
        (tmp_path / "app.py").write_text(textwrap.dedent(source))
        env = {"PATH": os.environ["PATH"], "AWS_REGION": "us-east-1"}
        runtime = LocalRuntime(handler_python, "app.handler", tmp_path, env, timeout_s)
        runtimes.append(runtime)
        return runtime

    yield make
    for runtime in runtimes:
        runtime.stop()


def gone(pid: int, within_s: float = 3) -> bool:
    """True once pid has exited and was reaped (a killed orphan takes a moment to disappear)."""
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        time.sleep(0.05)
    return False


def invoke(runtime: LocalRuntime, event: object = None) -> Outcome:
    payload = json.dumps(event or {}).encode()
    return runtime.invoke(payload, str(uuid.uuid4()), ARN, "Root=1-0-0;Sampled=0")


ECHO = """
    import os
    COUNT = 0
    print("importing app")

    def handler(event, context):
        global COUNT
        COUNT += 1
        print("handling", event)
        return {
            "event": event,
            "count": COUNT,
            "pid": os.getpid(),
            "cwd": os.getcwd(),
            "arn": context.invoked_function_arn,
            "request_id": context.aws_request_id,
            "remaining_ms": context.get_remaining_time_in_millis(),
        }
"""


def test_invokes_handler_warm_and_returns_logs(make_runtime: MakeRuntime, tmp_path: Path) -> None:
    runtime = make_runtime(ECHO)
    runtime.start()
    first = invoke(runtime, {"n": 1})
    second = invoke(runtime, {"n": 2})

    body = json.loads(first.payload)
    assert not first.is_error
    assert body["event"] == {"n": 1}
    assert body["arn"] == ARN
    assert body["cwd"] == str(tmp_path)
    assert 0 < body["remaining_ms"] <= 3000
    assert f"START RequestId: {body['request_id']}" in first.logs
    assert first.logs.index("importing app") < first.logs.index("START")
    assert "handling {'n': 1}" in first.logs
    assert "Init Duration" in first.logs
    assert first.logs.rstrip().splitlines()[-1].startswith("REPORT RequestId")

    warm = json.loads(second.payload)
    assert (warm["count"], warm["pid"]) == (2, body["pid"])
    assert "importing app" not in second.logs and "Init Duration" not in second.logs


def test_exception_is_a_function_error_and_the_runtime_lives_on(make_runtime: MakeRuntime) -> None:
    runtime = make_runtime("""
        def handler(event, context):
            if event.get("fail"):
                raise ValueError("bad input")
            return "fine"
    """)
    runtime.start()
    failed = invoke(runtime, {"fail": True})
    error = json.loads(failed.payload)
    assert failed.is_error
    assert (error["errorType"], error["errorMessage"]) == ("ValueError", "bad input")
    assert "bad input" in failed.logs
    assert invoke(runtime).payload == b'"fine"'


@pytest.mark.slow
def test_timeout_kills_the_process_tree_and_next_invoke_is_cold(
    make_runtime: MakeRuntime, tmp_path: Path
) -> None:
    runtime = make_runtime(
        f"""
        import subprocess, time

        def handler(event, context):
            if event.get("hang"):
                child = subprocess.Popen(["sleep", "60"])
                open({str(tmp_path / "child.pid")!r}, "w").write(str(child.pid))
                time.sleep(60)
            return "awake"
        """,
        timeout_s=1,
    )
    runtime.start()
    began = time.monotonic()
    outcome = invoke(runtime, {"hang": True})
    assert 1 <= time.monotonic() - began < 3
    error = json.loads(outcome.payload)
    assert outcome.is_error and error["errorType"] == "Sandbox.Timedout"
    assert "Task timed out after 1.00 seconds" in error["errorMessage"]
    assert gone(int((tmp_path / "child.pid").read_text()))

    again = invoke(runtime)
    assert again.payload == b'"awake"' and "Init Duration" in again.logs


def test_crash_is_a_runtime_exit_error(make_runtime: MakeRuntime) -> None:
    runtime = make_runtime("""
        import os

        def handler(event, context):
            print("about to exit")
            os._exit(3)
    """)
    runtime.start()
    outcome = invoke(runtime)
    error = json.loads(outcome.payload)
    assert outcome.is_error and error["errorType"] == "Runtime.ExitError"
    assert "exit status 3" in error["errorMessage"] and "about to exit" in outcome.logs


def test_import_of_a_package_missing_from_the_zip_fails_at_init(make_runtime: MakeRuntime) -> None:
    # requests is in the project's venv and in LocalStack's, but not in the Lambda runtime.
    runtime = make_runtime("""
        import requests

        def handler(event, context):
            return "unreachable"
    """)
    with pytest.raises(InitError) as raised:
        runtime.start()
    error = json.loads(raised.value.payload)
    assert error["errorType"] == "Runtime.ImportModuleError"
    assert "No module named 'requests'" in error["errorMessage"]


def test_large_binary_body_round_trips(make_runtime: MakeRuntime) -> None:
    runtime = make_runtime("""
        import base64

        def handler(event, context):
            return {"body": base64.b64encode(base64.b64decode(event["body"])[::-1]).decode()}
    """)
    runtime.start()
    data = os.urandom(4 * 1024 * 1024)
    outcome = invoke(runtime, {"body": base64.b64encode(data).decode()})
    assert base64.b64decode(json.loads(outcome.payload)["body"]) == data[::-1]


def test_stop_ends_the_process_and_removes_its_log(make_runtime: MakeRuntime) -> None:
    runtime = make_runtime(ECHO)
    runtime.start()
    pid = json.loads(invoke(runtime).payload)["pid"]
    runtime.stop()
    assert gone(pid)
    assert not runtime.log_path.exists()
