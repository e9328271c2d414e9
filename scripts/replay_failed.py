"""Replay what failed past its retries, once its cause is fixed.

The packaged stack keeps two dead-letter queues:
- FailedEventsQueue: the on-failure destination of the upload finaliser (S3 events) and the
  sweeper. Each message is Lambda's destination record: the function that failed and the event
  it was given. Replaying invokes that function again with that event, synchronously, and
  removes the message only when the function succeeds.
- VariantsDeadLetterQueue: variants requests that failed five times. Replaying sends them back
  to the variants queue.

    python scripts/replay_failed.py --stack image-service [--dry-run]
    make replay-failed STACK=image-service            (LocalStack: make replay-failed-local)

Exit status 1 when anything could not be replayed (it stays in its queue).
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass, field
from typing import Any

import boto3

BATCH = 10


@dataclass
class Report:
    replayed: int = 0
    failed: list[str] = field(default_factory=list)

    def line(self, queue: str) -> str:
        return f"{queue}: {self.replayed} replayed, {len(self.failed)} still failing"


def stack_outputs(cloudformation: Any, stack: str) -> dict[str, str]:
    [described] = cloudformation.describe_stacks(StackName=stack)["Stacks"]
    return {o["OutputKey"]: o["OutputValue"] for o in described.get("Outputs", [])}


def messages(sqs: Any, queue_url: str) -> list[dict[str, Any]]:
    """Every message now in the queue (each hidden for five minutes while it is replayed)."""
    found: list[dict[str, Any]] = []
    while True:
        batch = sqs.receive_message(
            QueueUrl=queue_url, MaxNumberOfMessages=BATCH, VisibilityTimeout=300, WaitTimeSeconds=1
        ).get("Messages", [])
        if not batch:
            return found
        found.extend(batch)


def replay_failed_events(sqs: Any, lambda_: Any, queue_url: str, dry_run: bool) -> Report:
    report = Report()
    for message in messages(sqs, queue_url):
        record = json.loads(message["Body"])
        function = record["requestContext"]["functionArn"]
        payload = json.dumps(record["requestPayload"]).encode()
        if dry_run:
            print(f"would invoke {function} with {len(payload)} bytes of event")
            continue
        answer = lambda_.invoke(
            FunctionName=function, InvocationType="RequestResponse", Payload=payload
        )
        if "FunctionError" in answer:
            detail = answer["Payload"].read().decode(errors="replace")[:300]
            report.failed.append(f"{function}: {detail}")
            print(f"still failing: {function}: {detail}", file=sys.stderr)
            continue
        sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])
        report.replayed += 1
    return report


def replay_variants(sqs: Any, dead_letters: str, queue_url: str, dry_run: bool) -> Report:
    report = Report()
    for message in messages(sqs, dead_letters):
        if dry_run:
            print(f"would queue the variants request {message['Body']}")
            continue
        sqs.send_message(QueueUrl=queue_url, MessageBody=message["Body"])
        sqs.delete_message(QueueUrl=dead_letters, ReceiptHandle=message["ReceiptHandle"])
        report.replayed += 1
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--stack", required=True, help="the CloudFormation stack's name")
    parser.add_argument("--endpoint-url", help="LocalStack's URL (default: AWS)")
    parser.add_argument("--region", default=None)
    parser.add_argument("--dry-run", action="store_true", help="say what would be replayed")
    args = parser.parse_args(argv)
    session = boto3.session.Session(region_name=args.region)

    def client(name: str) -> Any:
        return session.client(name, endpoint_url=args.endpoint_url)

    outputs = stack_outputs(client("cloudformation"), args.stack)
    sqs = client("sqs")
    events = replay_failed_events(
        sqs, client("lambda"), outputs["FailedEventsQueueUrl"], args.dry_run
    )
    variants = replay_variants(
        sqs, outputs["VariantsDeadLetterQueueUrl"], outputs["VariantsQueueUrl"], args.dry_run
    )
    print(events.line("failed events"))
    print(variants.line("failed variants"))
    return 1 if events.failed or variants.failed else 0


if __name__ == "__main__":
    sys.exit(main())
