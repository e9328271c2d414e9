"""LocalStack glue: a Lambda runtime executor that needs no Docker.

LocalStack loads it by name from the entry-point group ``localstack.lambda.runtime_executor``
(``LAMBDA_RUNTIME_EXECUTOR=local-process``). Each execution environment LocalStack starts is one
``LocalRuntime`` process; LocalStack still does the rest (concurrency, keep-alive, retries, logs).

Setting, read from LocalStack's own environment: LOCAL_LAMBDA_PYTHON, the interpreter that runs
handlers (a venv holding only awslambdaric and boto3). It defaults to LocalStack's interpreter,
which also sees all of LocalStack's packages.
"""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path

from localstack import config
from localstack.services.lambda_.invocation.executor_endpoint import StatusErrorException
from localstack.services.lambda_.invocation.lambda_models import FunctionVersion, InvocationResult
from localstack.services.lambda_.invocation.plugins import RuntimeExecutorPlugin
from localstack.services.lambda_.invocation.runtime_executor import (
    LambdaRuntimeException,
    RuntimeExecutor,
)

from local_lambda_executor.runtime import InitError, LocalRuntime

LOG = logging.getLogger(__name__)
HOST = "127.0.0.1"
# Kept from the host, dropped from everything else LocalStack's process has: a handler must not
# see LocalStack's own settings, PYTHONPATH or the developer's AWS profile.
PASSTHROUGH = ("PATH", "LANG", "LC_ALL", "TMPDIR", "SSL_CERT_FILE", "REQUESTS_CA_BUNDLE")


def handler_python() -> str:
    return os.environ.get("LOCAL_LAMBDA_PYTHON") or sys.executable


class LocalProcessRuntimeExecutor(RuntimeExecutor):
    """Runs a zip-packaged Python function as ``python -m awslambdaric`` on this host."""

    def __init__(self, id: str, function_version: FunctionVersion) -> None:
        super().__init__(id=id, function_version=function_version)
        self.runtime: LocalRuntime | None = None

    def start(self, env_vars: dict[str, str]) -> None:
        fn = self.function_version.config
        if not (fn.runtime or "").startswith("python") or fn.code is None:
            raise LambdaRuntimeException(
                f"local-process runs zip-packaged python functions only, not {fn.runtime}"
            )
        code_dir = Path(fn.code.get_unzipped_code_location())
        env = {name: os.environ[name] for name in PASSTHROUGH if name in os.environ}
        env.update({name: str(value) for name, value in env_vars.items()})  # some are ints
        env.update(
            # Wins over the function's own configuration too: LocalStack's names for itself
            # (localhost.localstack.cloud, the container's) do not resolve on this host.
            AWS_ENDPOINT_URL=f"http://{HOST}:{config.GATEWAY_LISTEN[0].port}",
            LAMBDA_TASK_ROOT=str(code_dir),
            # As on AWS, no ~/.aws: the developer's profiles must not leak into the function.
            AWS_CONFIG_FILE=os.devnull,
            AWS_SHARED_CREDENTIALS_FILE=os.devnull,
        )
        self.runtime = LocalRuntime(
            python=handler_python(),
            handler=fn.handler or "",
            code_dir=code_dir,
            env=env,
            timeout_s=fn.timeout,
            memory_mb=fn.memory_size,
        )
        try:
            self.runtime.start(timeout_s=config.LAMBDA_RUNTIME_ENVIRONMENT_TIMEOUT)
        except InitError as e:
            # Same exception as Docker's init reporting /status/error: LocalStack then answers
            # the invoke with this payload as a function error, as AWS does for an init failure.
            raise StatusErrorException("Environment startup failed", payload=e.payload) from e

    def stop(self) -> None:
        if self.runtime is not None:
            self.runtime.stop()

    def get_address(self) -> str:
        return HOST

    def get_endpoint_from_executor(self) -> str:
        return HOST

    def get_runtime_endpoint(self) -> str:
        # Where Docker's init would report readiness; unused here, the Runtime API is ours.
        return f"http://{HOST}:{config.GATEWAY_LISTEN[0].port}/_localstack_lambda/{self.id}"

    def invoke(self, payload: dict[str, str]) -> InvocationResult:
        if self.runtime is None:
            raise LambdaRuntimeException(f"executor {self.id} was not started")
        request_id = payload["invoke-id"]
        outcome = self.runtime.invoke(
            payload=payload["payload"].encode(),
            request_id=request_id,
            function_arn=payload["invoked-function-arn"],
            trace_id=payload.get("trace-id", ""),
        )
        return InvocationResult(request_id, outcome.payload, outcome.is_error, outcome.logs)

    def get_logs(self) -> str:
        return self.runtime.logs() if self.runtime is not None else ""

    @classmethod
    def prepare_version(cls, function_version: FunctionVersion) -> None:
        if function_version.config.code:
            function_version.config.code.prepare_for_execution()  # unzips the code

    @classmethod
    def cleanup_version(cls, function_version: FunctionVersion) -> None:
        """Nothing to clean: LocalStack removes the unzipped code itself."""

    @classmethod
    def validate_environment(cls) -> bool:
        python = handler_python()
        if not Path(python).is_file():
            LOG.warning("LOCAL_LAMBDA_PYTHON=%s is not a file: Lambda functions cannot run", python)
            return False
        return True


class LocalProcessExecutorPlugin(RuntimeExecutorPlugin):
    name = "local-process"

    def load(self, *args: object, **kwargs: object) -> type[RuntimeExecutor]:
        return LocalProcessRuntimeExecutor
