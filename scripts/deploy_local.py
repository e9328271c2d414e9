"""Deploy the `dev` stage to LocalStack, or remove it (`make deploy-local` / `destroy-local`).

    python scripts/deploy_local.py deploy|destroy|url [--port 4566]

`deploy` creates the bucket and the table in LocalStack, runs `chalice-local deploy --stage dev`
(Lambda + API Gateway + the S3 event and schedule wiring) and prints the invoke URL in the form
that resolves on this machine. LocalStack must be running (`make localstack`).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from typing import Any

import boto3
from botocore.exceptions import ClientError

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from scripts.create_resources import create_resources  # noqa: E402

STAGE = "dev"
REGION = "us-east-1"


def stage_config() -> dict[str, str]:
    with open(os.path.join(ROOT, ".chalice", "config.json")) as handle:
        config = json.load(handle)
    variables: dict[str, str] = config["stages"][STAGE]["environment_variables"]
    return variables


def environment(port: int) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(
        AWS_ACCESS_KEY_ID="test",
        AWS_SECRET_ACCESS_KEY="test",
        AWS_DEFAULT_REGION=REGION,
        AWS_REGION=REGION,
        AWS_ENDPOINT_URL=f"http://127.0.0.1:{port}",
    )
    return env


def chalice_local(port: int, *args: str) -> None:
    command = [
        os.path.join(os.path.dirname(sys.executable), "chalice-local"),
        *args,
        "--stage",
        STAGE,
    ]
    subprocess.run(command, cwd=ROOT, env=environment(port), check=True)


def invoke_url(port: int) -> str:
    with open(os.path.join(ROOT, ".chalice", "deployed", f"{STAGE}.json")) as handle:
        deployed = json.load(handle)
    [api] = [r for r in deployed["resources"] if r.get("resource_type") == "rest_api"]
    return f"http://127.0.0.1:{port}/restapis/{api['rest_api_id']}/api/_user_request_/"


def deploy(port: int) -> str:
    names = stage_config()
    session = boto3.session.Session(
        aws_access_key_id="test", aws_secret_access_key="test", region_name=REGION
    )
    create_resources(
        names["BUCKET_NAME"],
        names["TABLE_NAME"],
        REGION,
        f"http://127.0.0.1:{port}",
        session=session,
        queue=names.get("VARIANTS_QUEUE"),
        cors_origins=names.get("CORS_ORIGINS", "*"),
    )
    chalice_local(port, "deploy")
    return invoke_url(port)


def destroy(port: int) -> None:
    if os.path.exists(os.path.join(ROOT, ".chalice", "deployed", f"{STAGE}.json")):
        chalice_local(port, "delete")
    names = stage_config()
    session = boto3.session.Session(
        aws_access_key_id="test", aws_secret_access_key="test", region_name=REGION
    )
    endpoint = f"http://127.0.0.1:{port}"
    s3: Any = session.client("s3", endpoint_url=endpoint)
    try:
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=names["BUCKET_NAME"]):
            keys = [{"Key": obj["Key"]} for obj in page.get("Contents", [])]
            if keys:
                s3.delete_objects(Bucket=names["BUCKET_NAME"], Delete={"Objects": keys})
        s3.delete_bucket(Bucket=names["BUCKET_NAME"])
    except ClientError as exc:
        if exc.response["Error"]["Code"] != "NoSuchBucket":
            raise
    dynamodb: Any = session.client("dynamodb", endpoint_url=endpoint)
    try:
        dynamodb.delete_table(TableName=names["TABLE_NAME"])
    except ClientError as exc:
        if exc.response["Error"]["Code"] != "ResourceNotFoundException":
            raise
    if names.get("VARIANTS_QUEUE"):
        sqs: Any = session.client("sqs", endpoint_url=endpoint)
        try:
            url = sqs.get_queue_url(QueueName=names["VARIANTS_QUEUE"])["QueueUrl"]
            sqs.delete_queue(QueueUrl=url)
        except ClientError as exc:
            if "NonExistentQueue" not in exc.response["Error"]["Code"]:
                raise


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("action", choices=["deploy", "destroy", "url"])
    parser.add_argument("--port", type=int, default=int(os.environ.get("LOCALSTACK_PORT", "4566")))
    args = parser.parse_args()
    if args.action == "deploy":
        url = deploy(args.port)
        print(f"\nDeployed. Invoke URL:\n  {url}\nTry:\n  .venv/bin/python scripts/smoke.py {url}")
    elif args.action == "url":
        print(invoke_url(args.port))
    else:
        destroy(args.port)
        print("removed the dev stage, its bucket, table and queue from LocalStack")
    return 0


if __name__ == "__main__":
    sys.exit(main())
