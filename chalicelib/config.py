"""Configuration: every setting declared once, with its default, bounds and meaning.

Each field of `Settings` is read from the environment variable of the same name in upper
case (`max_image_bytes` <- `MAX_IMAGE_BYTES`); `.chalice/config.json` sets them per stage.
The README's configuration table is checked against `SETTINGS_DOC` by a test.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from functools import lru_cache
from typing import Any, Literal, get_args

MIB = 1024 * 1024

AuthMode = Literal["header", "cognito"]
VariantsAfterUpload = Literal["none", "background", "queue"]
LogLevel = Literal["DEBUG", "INFO", "WARNING", "ERROR"]


class ConfigError(ValueError):
    """The environment holds a value the service cannot run with."""


def setting(default: Any, doc: str, low: int | None = None, high: int | None = None) -> Any:
    """A field of Settings: its default, one line of documentation, integer bounds."""
    return field(default=default, metadata={"doc": doc, "low": low, "high": high})


@dataclass(frozen=True)
class Settings:
    bucket_name: str = setting("image-service-local", "the S3 bucket of images")
    table_name: str = setting("image-service-local", "the DynamoDB table of metadata")
    auth_mode: AuthMode = setting(
        "header", "`header` (X-User-Id) or `cognito` (the Cognito `sub` claim)"
    )
    cognito_user_pool_arn: str = setting("", "the user pool of `cognito` mode")
    max_image_bytes: int = setting(
        10 * MIB, "largest image uploaded through the API", 1, 1024 * MIB
    )
    max_direct_upload_bytes: int = setting(
        50 * MIB, "largest direct-to-S3 upload", 1, 5 * 1024 * MIB
    )
    stream_max_bytes: int = setting(
        4 * MIB, "largest image `/content` streams instead of redirecting", 0, 1024 * MIB
    )
    max_image_pixels: int = setting(
        64_000_000, "decoding limit (larger images and decompression bombs are a 422)", 1, 10**9
    )
    pending_ttl_seconds: int = setting(
        24 * 3600, "when unfinished uploads and refused images are swept", 1, 30 * 24 * 3600
    )
    orphan_grace_seconds: int = setting(
        3600, "age after which an object without its row is removed by the sweeper", 60, 7 * 86400
    )
    writer_lease_seconds: int = setting(
        10,
        "longest a DELETE waits for a finalisation or variants step storing the image's "
        "objects (so that none outlives the 204); a writer that died holds it no longer",
        1,
        20,
    )
    upload_url_seconds: int = setting(900, "lifetime of a direct upload's presigned POST", 60, 3600)
    content_url_seconds: int = setting(300, "lifetime of `/content` redirects", 10, 3600)
    gallery_url_seconds: int = setting(
        900, "lifetime of the `urls` and `sources` of a listed image (at least)", 60, 3600
    )
    gallery_url_window_seconds: int = setting(
        300, "gallery URLs are the same all through a window this long (browser caching)", 1, 3600
    )
    variants_after_upload: VariantsAfterUpload = setting(
        "none",
        "where WebP/AVIF variants are made after an upload: `none` (on request), "
        "`background` (a thread: chalice local), `queue` (SQS, VARIANTS_QUEUE)",
    )
    variants_queue: str = setting("", "the SQS queue of `queue` mode (its name)")
    variant_quality_search: int = setting(
        5,
        "AVIF encodes tried per variant to find the lowest quality at its JPEG's SSIM "
        "(0: one fixed quality)",
        0,
        8,
    )
    idempotency_ttl_seconds: int = setting(
        24 * 3600, "how long an Idempotency-Key is remembered", 60, 7 * 24 * 3600
    )
    feed_shards: int = setting(4, "partitions of the global feed (fixed for a table's life)", 1, 64)
    token_secret: str = setting("", "key that signs pagination tokens (default: derived)")
    log_level: LogLevel = setting(
        "INFO", "the least severe log lines written: DEBUG, INFO, WARNING, ERROR"
    )
    metrics_in_log: bool = setting(
        True,
        "write the CloudWatch EMF metric lines (`make run` leaves them out: one line a request)",
    )
    cors_origins: str = setting(
        "*", "origins browsers may call the API and the bucket from: `*`, or a comma-separated list"
    )
    tracing: bool = setting(
        False, "`1` to trace AWS calls with X-Ray (prod: the function's tracing is active too)"
    )
    wired_by_template: bool = setting(
        False,
        "`1` when the packaged template, not Chalice, wires S3 events and the queue (prod, stack)",
    )
    region: str = "us-east-1"  # botocore's AWS_REGION / AWS_DEFAULT_REGION, not ours

    @property
    def token_key(self) -> bytes:
        """Pagination tokens are signed so that a tampered one is refused. The secret only
        protects integrity; without TOKEN_SECRET it is derived from the resource names so that
        every instance of one deployment agrees."""
        secret = self.token_secret or f"{self.bucket_name}/{self.table_name}"
        return hashlib.sha256(secret.encode()).digest()

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env
        values: dict[str, Any] = {
            f.name: _parse(f, env[f.name.upper()])
            for f in _declared()
            if env.get(f.name.upper(), "") != ""
        }
        values["region"] = env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION") or cls.region
        settings = cls(**values)
        if settings.auth_mode == "cognito" and not settings.cognito_user_pool_arn.startswith(
            "arn:aws:cognito-idp:"
        ):
            raise ConfigError("AUTH_MODE=cognito needs COGNITO_USER_POOL_ARN (a user pool ARN)")
        if settings.variants_after_upload == "queue" and not settings.variants_queue:
            raise ConfigError("VARIANTS_AFTER_UPLOAD=queue needs VARIANTS_QUEUE (a queue name)")
        return settings


def _declared() -> list[Any]:
    return [f for f in fields(Settings) if "doc" in f.metadata]


def _parse(f: Any, raw: str) -> Any:
    name, kind = f.name.upper(), f.type
    if kind == "bool":
        if raw not in ("0", "1"):
            raise ConfigError(f"{name} must be 0 or 1, got {raw!r}")
        return raw == "1"
    if kind == "int":
        try:
            value = int(raw)
        except ValueError:
            raise ConfigError(f"{name} must be an integer, got {raw!r}") from None
        low, high = f.metadata["low"], f.metadata["high"]
        if not low <= value <= high:
            raise ConfigError(f"{name} must be between {low} and {high}, got {value}")
        return value
    choices = {
        "AuthMode": get_args(AuthMode),
        "LogLevel": get_args(LogLevel),
        "VariantsAfterUpload": get_args(VariantsAfterUpload),
    }.get(kind)
    if choices is not None and raw not in choices:
        raise ConfigError(f"{name} must be one of {', '.join(choices)}, got {raw!r}")
    return raw


def settings_doc() -> list[tuple[str, Any, str]]:
    """(environment variable, default, meaning) of every setting, for the README's table."""
    return [(f.name.upper(), f.default, f.metadata["doc"]) for f in _declared()]


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings; tests call `get_settings.cache_clear()` after changing env."""
    return Settings.from_env()
