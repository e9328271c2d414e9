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
    expected = table_definition("named-by-the-stack")
    for key in (
        "BillingMode",
        "AttributeDefinitions",
        "KeySchema",
        "GlobalSecondaryIndexes",
    ):
        assert table[key] == expected[key], key
    assert table["TimeToLiveSpecification"] == {"AttributeName": TTL_ATTRIBUTE, "Enabled": True}


def test_the_template_names_its_resources_and_wires_uploads_to_the_finaliser():
    bucket = RESOURCES["ImagesBucket"]["Properties"]
    assert "BucketName" not in bucket and "TableName" not in RESOURCES["ImagesTable"]["Properties"]
    assert bucket["NotificationConfiguration"] == {
        "EventBridgeConfiguration": {"EventBridgeEnabled": True}
    }
    rule = RESOURCES["UploadsEventRule"]["Properties"]
    assert rule["EventPattern"]["detail"]["object"]["key"] == [{"prefix": "uploads/"}]
    assert rule["Targets"][0]["Arn"] == {"Fn::GetAtt": ["FinaliseUpload", "Arn"]}
    assert all(bucket["PublicAccessBlockConfiguration"].values())
    assert PROD_ENV["WIRED_BY_TEMPLATE"] == "1"
    for function in ("APIHandler", "FinaliseUpload", "SweepStaleImages", "MakeVariants"):
        variables = RESOURCES[function]["Properties"]["Environment"]["Variables"]
        assert variables["BUCKET_NAME"] == {"Ref": "ImagesBucket"}, function
        assert variables["TABLE_NAME"] == {"Ref": "ImagesTable"}, function


def test_the_stack_stage_is_prod_with_header_identity():
    stack = load(".chalice/config.json")["stages"]["stack"]
    expected = {**PROD_ENV, "AUTH_MODE": "header"}
    # LocalStack's community edition has neither Cognito nor X-Ray.
    del expected["COGNITO_USER_POOL_ARN"], expected["TRACING"]
    assert stack["environment_variables"] == expected
    assert PROD["xray"] is True and "xray" not in stack
    assert stack["iam_policy_file"] == PROD["iam_policy_file"]


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
    """The functions may touch this stack's bucket, table and queues (named by the template,
    referred to through it), and write logs and traces: nothing else, no wildcard actions."""
    assert PROD["autogen_policy"] is False
    policy = load(f".chalice/{PROD['iam_policy_file']}")
    allowed = [
        {"Fn::Sub": "${ImagesBucket.Arn}/*"},
        {"Fn::GetAtt": ["ImagesBucket", "Arn"]},
        {"Fn::GetAtt": ["ImagesTable", "Arn"]},
        {"Fn::Sub": "${ImagesTable.Arn}/index/*"},
        {"Fn::GetAtt": ["VariantsQueue", "Arn"]},
        {"Fn::GetAtt": ["FailedEventsQueue", "Arn"]},
        {"Fn::Sub": "arn:${AWS::Partition}:logs:${AWS::Region}:${AWS::AccountId}:*"},
    ]
    for statement in policy["Statement"]:
        resources = statement["Resource"]
        resources = resources if isinstance(resources, list) else [resources]
        if resources == ["*"]:  # X-Ray's two write actions take no resource
            assert statement["Action"] == ["xray:PutTraceSegments", "xray:PutTelemetryRecords"]
            continue
        assert all(resource in allowed for resource in resources), statement
        assert not any(action.endswith("*") for action in statement["Action"]), statement
        assert not any(
            action in ("dynamodb:Scan", "s3:DeleteBucket") for action in statement["Action"]
        ), statement


@pytest.mark.integration
@pytest.mark.builds
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
    body = resources["RestAPI"]["Properties"]["DefinitionBody"]
    authorizer = body["securityDefinitions"]["images-user-pool"]["x-amazon-apigateway-authorizer"]
    # The pool is the template's own, or the one given as a parameter.
    assert authorizer["providerARNs"] == [
        {
            "Fn::If": [
                "CreateUserPool",
                {"Fn::GetAtt": ["UserPool", "Arn"]},
                {"Ref": "ExistingUserPoolArn"},
            ]
        }
    ]
    for path, methods in body["paths"].items():
        for method, operation in methods.items():
            if path.startswith("/images") and method != "options":
                assert operation["security"] == [{"images-user-pool": []}], (path, method)
    size_mb = (tmp_path / "deployment.zip").stat().st_size / 1e6
    assert size_mb < 15, size_mb
    # Every runtime requirement made it in, with a binary the Lambda runtime can load
    # (chalice leaves out, with a warning, a package whose wheels need a newer glibc).
    with zipfile.ZipFile(tmp_path / "deployment.zip") as package:
        names = package.namelist()
    for module in (
        "PIL/",
        "pillow_heif/",
        "msgspec/",
        "python_multipart/",
        "chalicelib/",
        "chalicelib/web/vendor/swagger-ui-bundle.js",  # /docs, vendored by make swagger-ui
    ):
        assert any(name.startswith(module) for name in names), module
    # X-Ray's SDK (vendored) but not a second botocore: the runtime has its own.
    for module in ("aws_xray_sdk/", "wrapt/"):
        assert any(name.startswith(module) for name in names), module
    assert not any(name.startswith(("botocore/", "boto3/")) for name in names)
    assert any(n.startswith("_pillow_heif.") and n.endswith(".so") for n in names)


def test_no_event_is_lost_and_someone_is_told():
    """The finaliser's and the sweeper's failed events land in a queue (after Lambda's two
    retries), so do variants requests that failed five times; alarms watch both queues, the
    API's 5xx, the functions' errors and throttles, the table's throttles and stuck uploads,
    and mail one topic; a dashboard shows them."""
    failed = {"Fn::GetAtt": ["FailedEventsQueue", "Arn"]}
    for function in ("FinaliseUpload", "SweepStaleImages"):
        config = RESOURCES[f"{function}OnFailure"]
        assert config["Type"] == "AWS::Lambda::EventInvokeConfig"
        properties = config["Properties"]
        assert properties["FunctionName"] == {"Ref": function}
        assert properties["DestinationConfig"]["OnFailure"]["Destination"] == failed
    redrive = RESOURCES["VariantsQueue"]["Properties"]["RedrivePolicy"]
    assert redrive["deadLetterTargetArn"] == {"Fn::GetAtt": ["VariantsDeadLetterQueue", "Arn"]}
    alarms = {
        name: resource["Properties"]
        for name, resource in RESOURCES.items()
        if resource.get("Type") == "AWS::CloudWatch::Alarm"
    }
    watched = json.dumps(alarms)
    for metric in (
        "5XXError",
        "Errors",
        "Throttles",
        "FailedEventsQueue",
        "VariantsDeadLetterQueue",
        "ReadThrottleEvents",
        "WriteThrottleEvents",
        "StuckUploads",
    ):
        assert metric in watched, metric
    for name, alarm in alarms.items():
        assert alarm["AlarmActions"] == [{"Ref": "AlarmTopic"}], name
    body = json.loads(RESOURCES["Dashboard"]["Properties"]["DashboardBody"]["Fn::Sub"])
    assert len(body["widgets"]) >= 6


def test_chalice_s_policy_analyzer_reads_app_py():
    """`chalice deploy` of an autogen-policy stage (dev, on LocalStack) parses app.py to build
    its policy; an annotation it cannot follow (`x: dict[str, Any] = {}` in a function) stops
    the deploy with a KeyError. The analyzer is run here so that only this test fails then."""
    from chalice.analyzer import get_client_calls_for_app

    assert get_client_calls_for_app((ROOT / "app.py").read_text()) == {}


def test_a_table_from_an_earlier_version_gets_the_indexes_added_since(aws):
    """scripts/create_resources.py on a table made before an index existed (a long-lived
    LocalStack after an upgrade) adds it, and the listing that needs it works."""
    from scripts.create_resources import create_table

    dynamodb = aws["dynamodb"]
    older = table_definition("made-by-an-older-version")
    older["GlobalSecondaryIndexes"] = older["GlobalSecondaryIndexes"][:-1]
    older["AttributeDefinitions"] = [
        a for a in older["AttributeDefinitions"] if a["AttributeName"] != "source_pk"
    ]
    dynamodb.create_table(**older)
    create_table(dynamodb, "made-by-an-older-version")
    indexes = dynamodb.describe_table(TableName="made-by-an-older-version")["Table"][
        "GlobalSecondaryIndexes"
    ]
    wanted = table_definition("x")["GlobalSecondaryIndexes"]
    assert {i["IndexName"] for i in indexes} == {i["IndexName"] for i in wanted}
    dynamodb.delete_table(TableName="made-by-an-older-version")
