"""`make package`: the CloudFormation template for AWS, and its agreement with the code."""

from __future__ import annotations

import json
import os
import subprocess
import zipfile
from pathlib import Path
from typing import Any

import pytest

from chalicelib.metadata import TTL_ATTRIBUTE, table_definition

ROOT = Path(__file__).resolve().parents[1]


def load(path: str) -> Any:
    return json.loads((ROOT / path).read_text())


PROD = load(".chalice/config.json")["stages"]["prod"]
PROD_ENV = PROD["environment_variables"]
RESOURCES = load("infra/aws/resources.json")["Resources"]


def test_the_template_table_is_the_table_the_code_creates():
    table = RESOURCES["ImagesTable"]["Properties"]
    expected = table_definition(PROD_ENV["TABLE_NAME"])
    for key in (
        "TableName",
        "BillingMode",
        "AttributeDefinitions",
        "KeySchema",
        "GlobalSecondaryIndexes",
    ):
        assert table[key] == expected[key], key
    assert table["TimeToLiveSpecification"] == {"AttributeName": TTL_ATTRIBUTE, "Enabled": True}


def test_the_template_bucket_is_the_stage_bucket_and_is_wired_to_the_finaliser():
    bucket = RESOURCES["ImagesBucket"]["Properties"]
    assert bucket["BucketName"] == PROD_ENV["BUCKET_NAME"]
    [wiring] = bucket["NotificationConfiguration"]["LambdaConfigurations"]
    assert wiring["Function"] == {"Fn::GetAtt": ["FinaliseUpload", "Arn"]}
    assert wiring["Filter"]["S3Key"]["Rules"] == [{"Name": "prefix", "Value": "uploads/"}]
    assert all(bucket["PublicAccessBlockConfiguration"].values())
    assert PROD_ENV["S3_EVENTS_WIRED_BY_TEMPLATE"] == "1"


def test_api_gateway_s_own_errors_keep_the_error_shape_and_cors():
    responses = RESOURCES["RestAPI"]["Properties"]["DefinitionBody"][
        "x-amazon-apigateway-gateway-responses"
    ]
    assert {"MISSING_AUTHENTICATION_TOKEN", "UNAUTHORIZED", "REQUEST_TOO_LARGE"} <= set(responses)
    for name, response in responses.items():
        assert '"error": {"code"' in response["responseTemplates"]["application/json"], name
        headers = response["responseParameters"]
        assert headers["gatewayresponse.header.Access-Control-Allow-Origin"] == "'*'", name


def test_the_prod_policy_is_least_privilege():
    assert PROD["autogen_policy"] is False
    policy = load(f".chalice/{PROD['iam_policy_file']}")
    bucket, table = PROD_ENV["BUCKET_NAME"], PROD_ENV["TABLE_NAME"]
    allowed = {
        f"arn:aws:s3:::{bucket}/*",
        f"arn:aws:s3:::{bucket}",
        f"arn:aws:dynamodb:*:*:table/{table}",
        f"arn:aws:dynamodb:*:*:table/{table}/index/*",
        "arn:aws:logs:*:*:*",
    }
    for statement in policy["Statement"]:
        resources = statement["Resource"]
        resources = [resources] if isinstance(resources, str) else resources
        assert set(resources) <= allowed, statement
        assert not any(action.endswith("*") for action in statement["Action"]), statement
        assert not any(
            action in ("dynamodb:Scan", "s3:DeleteBucket") for action in statement["Action"]
        ), statement


@pytest.mark.integration
def test_make_package_builds_a_template_cfn_lint_accepts(tmp_path):
    """`make package` exactly as the README gives it (it runs cfn-lint and fails on findings)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_ENDPOINT_URL")}
    done = subprocess.run(
        ["make", "package", f"PACKAGE_DIR={tmp_path}"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    template = json.loads((tmp_path / "sam.json").read_text())
    resources = template["Resources"]
    assert resources["FinaliseUpload"]["Properties"]["Handler"] == "app.finalise_upload_packaged"
    assert "SweepStaleImages" in resources and "ImagesTable" in resources
    authorizers = resources["RestAPI"]["Properties"]["DefinitionBody"]["securityDefinitions"]
    assert "images-user-pool" in authorizers  # prod routes are behind Cognito
    size_mb = (tmp_path / "deployment.zip").stat().st_size / 1e6
    assert size_mb < 15, size_mb
    # Every runtime requirement made it in, with a binary the Lambda runtime can load
    # (chalice leaves out, with a warning, a package whose wheels need a newer glibc).
    with zipfile.ZipFile(tmp_path / "deployment.zip") as package:
        names = package.namelist()
    for module in ("PIL/", "pillow_heif/", "msgspec/", "python_multipart/", "chalicelib/"):
        assert any(name.startswith(module) for name in names), module
    assert any(n.startswith("_pillow_heif.") and n.endswith(".so") for n in names)
