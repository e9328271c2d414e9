"""The production template proven: `make deploy-stack-local` packages the prod template (its
`stack` stage: the same template with header identity, LocalStack having no Cognito) and
deploys it through LocalStack's CloudFormation; the smoke test passes against it, a direct
upload is finalised by the template's own S3 -> EventBridge wiring, the variants by its SQS
queue; the sweeper's schedule is there; `make destroy-stack-local` removes everything."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from uuid import uuid4

import boto3
import pytest
import requests

from tests.e2e.conftest import PORT, load_host

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
STACK = "image-service-e2e"  # make deploy-stack-local names the stack f"{STACK}-local"
STACK_NAME = f"{STACK}-local"
ENDPOINT = f"http://127.0.0.1:{PORT}"


def make(*targets: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            "make",
            "--no-print-directory",
            "-o",
            ".venv/.installed-stamp",
            *targets,
            f"STACK={STACK}",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
        env={k: v for k, v in os.environ.items() if not k.startswith("AWS_")},
    )


def client(service: str) -> Any:
    session = boto3.session.Session(
        aws_access_key_id="test", aws_secret_access_key="test", region_name="us-east-1"
    )
    return session.client(service, endpoint_url=ENDPOINT)


@pytest.fixture(scope="module")
def stack_url() -> Iterator[str]:
    host = load_host()
    started = not host.is_running()
    if started:
        host.start(port=PORT)
    try:
        deployed = make("deploy-stack-local")
        assert deployed.returncode == 0, deployed.stdout[-3000:] + deployed.stderr[-3000:]
        url = deployed.stdout.strip().splitlines()[-1]
        assert url.startswith(ENDPOINT), deployed.stdout[-2000:]
        yield url
        destroyed = make("destroy-stack-local")
        assert destroyed.returncode == 0, destroyed.stdout + destroyed.stderr
    finally:
        if started:
            host.stop()


def test_the_packaged_stack_serves_the_whole_contract(stack_url):
    result = subprocess.run(
        [
            sys.executable,
            str(ROOT / "scripts" / "smoke.py"),
            stack_url,
            "--wait-for-s3-event",
            "--wait-for-variants",
        ],
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    print(result.stdout, result.stderr)
    assert result.returncode == 0 and "FAIL" not in result.stdout, result.stdout + result.stderr


def test_the_stack_made_its_own_resources_and_the_sweeper_s_schedule(stack_url):
    [stack] = client("cloudformation").describe_stacks(StackName=STACK_NAME)["Stacks"]
    outputs = {o["OutputKey"]: o["OutputValue"] for o in stack["Outputs"]}
    assert outputs["BucketName"].startswith(STACK_NAME)  # named by the stack, not by hand
    assert client("dynamodb").describe_table(TableName=outputs["TableName"])["Table"]
    rules = client("events").list_rules(NamePrefix=STACK_NAME)["Rules"]
    assert any(rule.get("ScheduleExpression") == "rate(1 hour)" for rule in rules), rules
    assert any("uploads/" in rule.get("EventPattern", "") for rule in rules), rules


def test_errors_keep_the_error_shape_and_cors(stack_url):
    response = requests.get(
        stack_url + "images", headers={"Origin": "https://photos.example"}, timeout=30
    )
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "unauthorized"
    assert response.headers["Access-Control-Allow-Origin"] == "*"
    preflight = requests.options(
        stack_url + "images",
        headers={"Origin": "https://photos.example", "Access-Control-Request-Method": "POST"},
        timeout=30,
    )
    assert preflight.status_code == 204
    assert "POST" in preflight.headers["Access-Control-Allow-Methods"]


def set_table(function: str, table: str, fails: bool) -> None:
    """Point a deployed function at another table (a fault: a table that does not exist), and
    wait until an invocation runs with it: LocalStack may take a while, under load, to replace
    the function's running environment, and an event meanwhile would meet the old one."""
    lambda_ = client("lambda")
    environment = lambda_.get_function_configuration(FunctionName=function)["Environment"]
    lambda_.update_function_configuration(
        FunctionName=function,
        Environment={"Variables": {**environment["Variables"], "TABLE_NAME": table}},
    )
    lambda_.get_waiter("function_updated_v2").wait(FunctionName=function)
    probe = json.dumps(  # an upload no row knows: the table is read, then nothing happens
        {"detail-type": "Object Created", "detail": {"object": {"key": f"uploads/{uuid4().hex}"}}}
    )
    deadline = time.monotonic() + 180
    while True:
        answer = lambda_.invoke(FunctionName=function, Payload=probe.encode())
        if ("FunctionError" in answer) == fails:
            return
        assert time.monotonic() < deadline, f"{function} never ran with TABLE_NAME={table}"
        time.sleep(2)


def waiting(queue_url: str) -> int:
    attributes = client("sqs").get_queue_attributes(
        QueueUrl=queue_url,
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    )["Attributes"]
    return sum(int(value) for value in attributes.values())


def test_a_failed_upload_event_is_dead_lettered_and_replayed(stack_url):
    """The finaliser fails (its table is unavailable) on every try: after Lambda's retries the
    event lands in FailedEventsQueue and the image stays pending; once the fault is gone,
    `make replay-failed-local` finalises it."""
    [stack] = client("cloudformation").describe_stacks(StackName=STACK_NAME)["Stacks"]
    outputs = {o["OutputKey"]: o["OutputValue"] for o in stack["Outputs"]}
    finaliser = client("cloudformation").describe_stack_resource(
        StackName=STACK_NAME, LogicalResourceId="FinaliseUpload"
    )["StackResourceDetail"]["PhysicalResourceId"]
    queue = outputs["FailedEventsQueueUrl"]
    assert waiting(queue) == 0
    user = {"X-User-Id": "dead-letters"}
    data = small_png()
    set_table(finaliser, "no-such-table", fails=True)
    try:
        started = requests.post(
            stack_url + "images/uploads",
            headers=user,
            json={"content_type": "image/png", "size": len(data)},
            timeout=30,
        )
        assert started.status_code == 201, started.text
        upload = started.json()["upload"]
        image_id = started.json()["image"]["image_id"]
        sent = requests.post(
            upload["url"],
            data=upload["fields"],
            files={"file": ("x.png", data, "image/png")},
            timeout=30,
        )
        assert sent.status_code in (200, 201, 204), sent.text
        deadline = time.monotonic() + 180
        while waiting(queue) == 0:
            assert time.monotonic() < deadline, "the failed event never reached the queue"
            time.sleep(1)
    finally:
        set_table(finaliser, outputs["TableName"], fails=False)
    image = requests.get(stack_url + f"images/{image_id}", headers=user, timeout=30)
    assert image.json()["status"] == "pending"
    replayed = make("replay-failed-local")
    assert replayed.returncode == 0, replayed.stdout + replayed.stderr
    assert "failed events: 1 replayed, 0 still failing" in replayed.stdout, replayed.stdout
    image = requests.get(stack_url + f"images/{image_id}", headers=user, timeout=30)
    assert image.json()["status"] == "ready", image.text
    assert waiting(queue) == 0


def small_png() -> bytes:
    """A small real PNG."""
    from PIL import Image

    buffer = io.BytesIO()
    Image.linear_gradient("L").resize((320, 200)).save(buffer, "PNG")
    return buffer.getvalue()
