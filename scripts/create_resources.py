"""Create the bucket and the table, idempotently, against any endpoint.

    python scripts/create_resources.py --bucket B --table T [--endpoint-url URL]

Without --endpoint-url, botocore's usual resolution applies (AWS_ENDPOINT_URL, or AWS).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from typing import Any

import boto3
from botocore.exceptions import ClientError

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from chalicelib.metadata import TTL_ATTRIBUTE, table_definition
from chalicelib.models import UPLOAD_PREFIX


def bucket_cors(origins: str = "*") -> dict[str, Any]:
    """Browsers POST direct uploads to the bucket and GET presigned URLs from the gallery's
    origin (CORS_ORIGINS: `*` or a comma-separated list)."""
    return {
        "CORSRules": [
            {
                "AllowedMethods": ["GET", "HEAD", "POST"],
                "AllowedOrigins": [o.strip() for o in origins.split(",") if o.strip()],
                "AllowedHeaders": ["*"],
                "ExposeHeaders": ["ETag"],
                "MaxAgeSeconds": 3600,
            }
        ]
    }


# Direct uploads are moved under images/ when finalised; anything left under uploads/ is a
# stale or refused upload (the sweeper normally removes it first).
BUCKET_LIFECYCLE = {
    "Rules": [
        {
            "ID": "expire-stale-direct-uploads",
            "Filter": {"Prefix": UPLOAD_PREFIX},
            "Status": "Enabled",
            "Expiration": {"Days": 2},
            "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 1},
        }
    ]
}


def create_bucket(s3: Any, bucket: str, region: str, cors_origins: str = "*") -> None:
    params: dict[str, Any] = {"Bucket": bucket}
    if region != "us-east-1":
        params["CreateBucketConfiguration"] = {"LocationConstraint": region}
    try:
        s3.create_bucket(**params)
    except ClientError as exc:
        if exc.response["Error"]["Code"] not in ("BucketAlreadyOwnedByYou", "BucketAlreadyExists"):
            raise
    s3.put_public_access_block(
        Bucket=bucket,
        PublicAccessBlockConfiguration={
            "BlockPublicAcls": True,
            "IgnorePublicAcls": True,
            "BlockPublicPolicy": True,
            "RestrictPublicBuckets": True,
        },
    )
    s3.put_bucket_cors(Bucket=bucket, CORSConfiguration=bucket_cors(cors_origins))
    s3.put_bucket_lifecycle_configuration(Bucket=bucket, LifecycleConfiguration=BUCKET_LIFECYCLE)


def create_table(dynamodb: Any, table: str) -> None:
    try:
        dynamodb.create_table(**table_definition(table))
    except ClientError as exc:
        if exc.response["Error"]["Code"] != "ResourceInUseException":
            raise
        add_missing_indexes(dynamodb, table)
    dynamodb.get_waiter("table_exists").wait(
        TableName=table, WaiterConfig={"Delay": 1, "MaxAttempts": 60}
    )
    ttl = dynamodb.describe_time_to_live(TableName=table)["TimeToLiveDescription"]
    if ttl.get("TimeToLiveStatus") not in ("ENABLED", "ENABLING"):
        dynamodb.update_time_to_live(
            TableName=table,
            TimeToLiveSpecification={"Enabled": True, "AttributeName": TTL_ATTRIBUTE},
        )


def add_missing_indexes(dynamodb: Any, table: str) -> None:
    """A table made by an earlier version gets the indexes added since (one per update, each
    built before the next, as DynamoDB allows), so that a long-lived LocalStack keeps working
    after an upgrade."""
    wanted = table_definition(table)
    have = {index["IndexName"] for index in _indexes(dynamodb, table)}
    for index in wanted["GlobalSecondaryIndexes"]:
        if index["IndexName"] in have:
            continue
        dynamodb.update_table(
            TableName=table,
            AttributeDefinitions=wanted["AttributeDefinitions"],
            GlobalSecondaryIndexUpdates=[{"Create": index}],
        )
        for _ in range(300):
            if all(i.get("IndexStatus", "ACTIVE") == "ACTIVE" for i in _indexes(dynamodb, table)):
                break
            time.sleep(1)


def _indexes(dynamodb: Any, table: str) -> list[dict[str, Any]]:
    described: list[dict[str, Any]] = dynamodb.describe_table(TableName=table)["Table"].get(
        "GlobalSecondaryIndexes", []
    )
    return described


def create_resources(
    bucket: str,
    table: str,
    region: str,
    endpoint_url: str | None = None,
    session: boto3.session.Session | None = None,
    queue: str | None = None,
    cors_origins: str = "*",
) -> None:
    """The bucket and the table, and the variants queue when the stage uses one."""
    session = session or boto3.session.Session(region_name=region)
    s3 = session.client("s3", region, endpoint_url=endpoint_url)
    create_bucket(s3, bucket, region, cors_origins)
    create_table(session.client("dynamodb", region, endpoint_url=endpoint_url), table)
    if queue:
        sqs = session.client("sqs", region, endpoint_url=endpoint_url)
        # Longer than the consumer's timeout (lambda_timeout), so a message is not delivered
        # twice while it is being worked on.
        sqs.create_queue(QueueName=queue, Attributes={"VisibilityTimeout": "120"})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bucket", required=True)
    parser.add_argument("--table", required=True)
    parser.add_argument("--region", default=os.environ.get("AWS_DEFAULT_REGION", "us-east-1"))
    parser.add_argument("--endpoint-url", default=None)
    args = parser.parse_args()
    create_resources(args.bucket, args.table, args.region, args.endpoint_url)
    print(f"bucket {args.bucket} and table {args.table} are ready")


if __name__ == "__main__":
    main()
