"""Configuration, read once from the environment into one object."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Literal

MIB = 1024 * 1024

AuthMode = Literal["header", "cognito"]


class ConfigError(ValueError):
    """The environment holds a value the service cannot run with."""


def _int(env: Mapping[str, str], name: str, default: int, low: int, high: int) -> int:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{name} must be an integer, got {raw!r}") from None
    if not low <= value <= high:
        raise ConfigError(f"{name} must be between {low} and {high}, got {value}")
    return value


@dataclass(frozen=True)
class Settings:
    bucket_name: str
    table_name: str
    region: str = "us-east-1"
    auth_mode: AuthMode = "header"
    cognito_user_pool_arn: str = ""
    max_image_bytes: int = 10 * MIB
    max_direct_upload_bytes: int = 50 * MIB
    stream_max_bytes: int = 4 * MIB
    max_image_pixels: int = 64_000_000
    pending_ttl_seconds: int = 24 * 3600
    upload_url_seconds: int = 900
    content_url_seconds: int = 300
    gallery_url_seconds: int = 900
    idempotency_ttl_seconds: int = 24 * 3600
    feed_shards: int = 4
    token_secret: bytes = b""
    # The packaged template (infra/aws/resources.json) wires S3 events, not Chalice.
    s3_events_wired_by_template: bool = False

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env
        bucket = env.get("BUCKET_NAME", "image-service-local")
        table = env.get("TABLE_NAME", "image-service-local")
        auth_mode = env.get("AUTH_MODE", "header")
        if auth_mode not in ("header", "cognito"):
            raise ConfigError(f"AUTH_MODE must be 'header' or 'cognito', got {auth_mode!r}")
        pool_arn = env.get("COGNITO_USER_POOL_ARN", "")
        if auth_mode == "cognito" and not pool_arn.startswith("arn:aws:cognito-idp:"):
            raise ConfigError("AUTH_MODE=cognito needs COGNITO_USER_POOL_ARN (a user pool ARN)")
        # Pagination tokens are signed so that a tampered token is refused. The secret only
        # protects integrity; without TOKEN_SECRET it is derived from the resource names so
        # that every instance of one deployment agrees.
        secret = env.get("TOKEN_SECRET") or f"{bucket}/{table}"
        return cls(
            bucket_name=bucket,
            table_name=table,
            region=env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION") or "us-east-1",
            auth_mode=auth_mode,  # type: ignore[arg-type]
            cognito_user_pool_arn=pool_arn,
            max_image_bytes=_int(env, "MAX_IMAGE_BYTES", 10 * MIB, 1, 1024 * MIB),
            max_direct_upload_bytes=_int(
                env, "MAX_DIRECT_UPLOAD_BYTES", 50 * MIB, 1, 5 * 1024 * MIB
            ),
            stream_max_bytes=_int(env, "STREAM_MAX_BYTES", 4 * MIB, 0, 1024 * MIB),
            max_image_pixels=_int(env, "MAX_IMAGE_PIXELS", 64_000_000, 1, 1_000_000_000),
            pending_ttl_seconds=_int(env, "PENDING_TTL", 24 * 3600, 1, 30 * 24 * 3600),
            upload_url_seconds=_int(env, "UPLOAD_URL_SECONDS", 900, 60, 3600),
            content_url_seconds=_int(env, "CONTENT_URL_SECONDS", 300, 10, 3600),
            gallery_url_seconds=_int(env, "GALLERY_URL_SECONDS", 900, 60, 3600),
            idempotency_ttl_seconds=_int(env, "IDEMPOTENCY_TTL", 24 * 3600, 60, 7 * 24 * 3600),
            feed_shards=_int(env, "FEED_SHARDS", 4, 1, 64),
            token_secret=hashlib.sha256(secret.encode()).digest(),
            s3_events_wired_by_template=env.get("S3_EVENTS_WIRED_BY_TEMPLATE") == "1",
        )


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings; tests call `get_settings.cache_clear()` after changing env."""
    return Settings.from_env()
