"""Deploy the packaged CloudFormation stack, to AWS or to LocalStack, or remove it.

    python scripts/deploy_stack.py deploy  --stack NAME --artifacts-bucket BUCKET
                                           [--stage prod|stack] [--endpoint-url URL]
                                           [--user-pool-arn ARN] [--cors-origins ORIGINS]
                                           [--alarm-email ADDRESS]
    python scripts/deploy_stack.py destroy --stack NAME [--endpoint-url URL] [--keep-data]
    python scripts/deploy_stack.py url     --stack NAME [--endpoint-url URL]

`deploy` runs `chalice package` for the stage with infra/aws/resources.json merged in (what
`make package` builds), uploads the function code and the template to the artifacts bucket
(created when missing), and creates or updates the stack through a change set, as `aws
cloudformation package` and `deploy` would; then it prints the API's URL. The stack names its
own bucket, table and queue, and creates a Cognito user pool unless one is given.
`--endpoint-url` points every call at LocalStack (`make deploy-stack-local`), where the
`stack` stage is deployed: the same template with header identity, since LocalStack's
community edition has no Cognito.

`destroy` deletes the stack, then the bucket and the table it made (the template keeps them
when a stack is deleted, so that a real deployment never loses photos by accident) unless
`--keep-data`.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import boto3
from botocore.exceptions import ClientError, WaiterError

ROOT = Path(__file__).resolve().parent.parent
MERGE_TEMPLATE = ROOT / "infra" / "aws" / "resources.json"
LOCALSTACK_NO_POOL = "arn:aws:cognito-idp:us-east-1:000000000000:userpool/us-east-1_none"


def package(stage: str, out: Path, region: str) -> Path:
    """`chalice package` of the stage, merged with the resources template; cfn-lint checks it."""
    chalice = Path(sys.executable).parent / "chalice"
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_ENDPOINT_URL")}
    env["AWS_DEFAULT_REGION"] = region
    subprocess.run(
        [
            str(chalice),
            "package",
            "--stage",
            stage,
            "--merge-template",
            str(MERGE_TEMPLATE),
            str(out),
        ],
        cwd=ROOT,
        env=env,
        check=True,
    )
    lint = Path(sys.executable).parent / "cfn-lint"
    subprocess.run([str(lint), str(out / "sam.json")], cwd=ROOT, check=True)
    return out


def upload_artifacts(s3: Any, bucket: str, stack: str, out: Path, region: str) -> str:
    """The code in the artifacts bucket, the template pointing at it; the template's URL."""
    try:
        s3.head_bucket(Bucket=bucket)
    except ClientError:
        params: dict[str, Any] = {"Bucket": bucket}
        if region != "us-east-1":
            params["CreateBucketConfiguration"] = {"LocationConstraint": region}
        s3.create_bucket(**params)
    code = (out / "deployment.zip").read_bytes()
    code_key = f"{stack}/{hashlib.sha256(code).hexdigest()}.zip"
    s3.put_object(Bucket=bucket, Key=code_key, Body=code)
    template = json.loads((out / "sam.json").read_text())
    for resource in template["Resources"].values():
        properties = resource.get("Properties", {})
        if properties.get("CodeUri") == "./deployment.zip":
            properties["CodeUri"] = {"Bucket": bucket, "Key": code_key}
    body = json.dumps(template, indent=1).encode()
    template_key = f"{stack}/{hashlib.sha256(body).hexdigest()}.json"
    s3.put_object(Bucket=bucket, Key=template_key, Body=body)
    endpoint = s3.meta.endpoint_url.rstrip("/")
    if "amazonaws.com" in endpoint:
        return f"https://{bucket}.s3.{region}.amazonaws.com/{template_key}"
    return f"{endpoint}/{bucket}/{template_key}"


def stack_status(cloudformation: Any, stack: str) -> str | None:
    try:
        [found] = cloudformation.describe_stacks(StackName=stack)["Stacks"]
    except ClientError as exc:
        if "does not exist" in str(exc):
            return None
        raise
    status: str = found["StackStatus"]
    return status


def deploy_change_set(
    cloudformation: Any, stack: str, template_url: str, parameters: dict[str, str]
) -> None:
    """Create or update the stack through a change set, and wait for it."""
    status = stack_status(cloudformation, stack)
    if status == "ROLLBACK_COMPLETE":  # a failed first creation can only be deleted
        cloudformation.delete_stack(StackName=stack)
        cloudformation.get_waiter("stack_delete_complete").wait(StackName=stack)
        status = None
    kind = "CREATE" if status is None else "UPDATE"
    name = f"deploy-{int(time.time())}"
    cloudformation.create_change_set(
        StackName=stack,
        ChangeSetName=name,
        ChangeSetType=kind,
        TemplateURL=template_url,
        Parameters=[{"ParameterKey": k, "ParameterValue": v} for k, v in parameters.items()],
        Capabilities=["CAPABILITY_IAM", "CAPABILITY_AUTO_EXPAND"],
    )
    try:
        cloudformation.get_waiter("change_set_create_complete").wait(
            StackName=stack, ChangeSetName=name, WaiterConfig={"Delay": 2, "MaxAttempts": 150}
        )
    except WaiterError:
        described = cloudformation.describe_change_set(StackName=stack, ChangeSetName=name)
        reason = described.get("StatusReason", "")
        if "didn't contain changes" in reason or "No updates" in reason:
            print("the stack is up to date")
            return
        raise RuntimeError(f"the change set failed: {reason}") from None
    cloudformation.execute_change_set(StackName=stack, ChangeSetName=name)
    waiter = "stack_create_complete" if kind == "CREATE" else "stack_update_complete"
    try:
        cloudformation.get_waiter(waiter).wait(
            StackName=stack, WaiterConfig={"Delay": 3, "MaxAttempts": 400}
        )
    except WaiterError:
        reasons = failures(cloudformation, stack)
        raise RuntimeError(f"the stack did not deploy:\n{reasons}") from None


def failures(cloudformation: Any, stack: str) -> str:
    events = cloudformation.describe_stack_events(StackName=stack)["StackEvents"]
    return "\n".join(
        f"  {e['LogicalResourceId']}: {e['ResourceStatus']} {e.get('ResourceStatusReason', '')}"
        for e in events
        if e["ResourceStatus"].endswith("FAILED")
    )


def outputs(cloudformation: Any, stack: str) -> dict[str, str]:
    [found] = cloudformation.describe_stacks(StackName=stack)["Stacks"]
    return {o["OutputKey"]: o["OutputValue"] for o in found.get("Outputs", [])}


def api_url(found: dict[str, str], endpoint_url: str | None) -> str:
    """The API's URL: the stage URL on AWS, LocalStack's `_user_request_` form there."""
    if endpoint_url:
        return f"{endpoint_url.rstrip('/')}/restapis/{found['RestAPIId']}/api/_user_request_/"
    return found["EndpointURL"]


def destroy(session: boto3.session.Session, stack: str, endpoint: str | None, keep: bool) -> None:
    cloudformation = session.client("cloudformation", endpoint_url=endpoint)
    if stack_status(cloudformation, stack) is None:
        print(f"there is no stack {stack}")
        return
    found = outputs(cloudformation, stack)
    cloudformation.delete_stack(StackName=stack)
    cloudformation.get_waiter("stack_delete_complete").wait(
        StackName=stack, WaiterConfig={"Delay": 3, "MaxAttempts": 200}
    )
    if keep:
        return
    # The template keeps both when its stack goes (DeletionPolicy Retain); LocalStack may not.
    s3 = session.client("s3", endpoint_url=endpoint)
    bucket = found.get("BucketName")
    with contextlib.suppress(s3.exceptions.NoSuchBucket):
        if bucket:
            for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket):
                keys = [{"Key": obj["Key"]} for obj in page.get("Contents", [])]
                if keys:
                    s3.delete_objects(Bucket=bucket, Delete={"Objects": keys})
            s3.delete_bucket(Bucket=bucket)
    dynamodb = session.client("dynamodb", endpoint_url=endpoint)
    with contextlib.suppress(dynamodb.exceptions.ResourceNotFoundException):
        if found.get("TableName"):
            dynamodb.delete_table(TableName=found["TableName"])
    print(f"removed the stack {stack}, its bucket and its table")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("action", choices=["deploy", "destroy", "url"])
    parser.add_argument("--stack", required=True)
    parser.add_argument("--stage", default="prod", choices=["prod", "stack"])
    parser.add_argument("--artifacts-bucket")
    parser.add_argument("--endpoint-url", help="LocalStack (default: AWS)")
    parser.add_argument("--region", default=os.environ.get("AWS_DEFAULT_REGION", "us-east-1"))
    parser.add_argument("--user-pool-arn", default="", help="an existing Cognito user pool")
    parser.add_argument("--cors-origins", default="*")
    parser.add_argument("--alarm-email", default="", help="where the alarms are mailed")
    parser.add_argument("--keep-data", action="store_true", help="destroy: keep bucket, table")
    parser.add_argument("--out", default=str(ROOT / "build" / "stack"))
    args = parser.parse_args()
    session = boto3.session.Session(region_name=args.region)
    cloudformation = session.client("cloudformation", endpoint_url=args.endpoint_url)
    if args.action == "destroy":
        destroy(session, args.stack, args.endpoint_url, args.keep_data)
        return 0
    if args.action == "deploy":
        if not args.artifacts_bucket:
            parser.error("deploy needs --artifacts-bucket")
        out = package(args.stage, Path(args.out), args.region)
        s3 = session.client("s3", endpoint_url=args.endpoint_url)
        template_url = upload_artifacts(s3, args.artifacts_bucket, args.stack, out, args.region)
        pool = args.user_pool_arn or (LOCALSTACK_NO_POOL if args.endpoint_url else "")
        parameters = {
            "ExistingUserPoolArn": pool,
            "CorsOrigins": args.cors_origins,
            "AlarmEmail": args.alarm_email,
        }
        deploy_change_set(cloudformation, args.stack, template_url, parameters)
    print(api_url(outputs(cloudformation, args.stack), args.endpoint_url))
    return 0


if __name__ == "__main__":
    sys.exit(main())
