"""boto3 clients, with the one retry and timeout policy of the whole service.

botocore's `standard` retry mode retries throttling and transient 5xx errors with
exponential backoff and jitter; what is still failing after that becomes a 503.
Endpoints come from the environment (`AWS_ENDPOINT_URL`, honoured by botocore itself),
so the same code talks to AWS, LocalStack or the embedded moto server.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import boto3
from botocore.config import Config

RETRIES = Config(
    retries={"mode": "standard", "max_attempts": 3},
    connect_timeout=3,
    read_timeout=15,
    max_pool_connections=32,
)


@lru_cache(maxsize=1)
def _session() -> boto3.session.Session:
    # One session per process: it caches the service models every client is built from.
    return boto3.session.Session()


def s3_client(region: str) -> Any:
    # SigV4 for every presigned URL and POST policy (boto3 still defaults to SigV2 style).
    return _session().client(
        "s3", region_name=region, config=RETRIES.merge(Config(signature_version="s3v4"))
    )


def dynamodb_client(region: str) -> Any:
    return _session().client("dynamodb", region_name=region, config=RETRIES)


def sqs_client(region: str) -> Any:
    return _session().client("sqs", region_name=region, config=RETRIES)
