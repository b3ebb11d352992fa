"""The one settings class. Every field is an environment variable (upper-case name, no prefix)."""

from typing import Annotated, Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="ignore")

    database_url: str | None = Field(
        default=None,
        description="SQLAlchemy URL of PostgreSQL (postgresql+asyncpg://...). Unset: `make run` starts an "
        "embedded PostgreSQL under .data/ and sets it.",
    )
    temporal_address: str = Field(default="localhost:7233", description="Temporal frontend host:port.")
    temporal_namespace: str = Field(default="default", description="Temporal namespace.")
    temporal_task_queue: str = Field(default="orders", description="Task queue of the order worker.")
    api_host: str = Field(default="127.0.0.1", description="Interface the API listens on.")
    api_port: int = Field(default=8000, description="Port the API listens on.")
    payment_timeout_seconds: int = Field(
        default=15 * 60, gt=0, description="How long an order waits for payment before it expires."
    )
    cors_origins: Annotated[list[str], NoDecode] = Field(
        default=["http://localhost:4200"], description="Comma-separated origins allowed by CORS."
    )
    worker_metrics_port: int | None = Field(
        default=9464, description="Port of the worker's Prometheus /metrics (Temporal SDK and order metrics); 0: off."
    )
    log_format: Literal["text", "json"] = Field(default="text", description="`text` for people, `json` for machines.")
    otel_exporter_otlp_endpoint: str | None = Field(
        default=None, description="OTLP/gRPC endpoint for traces (e.g. http://localhost:4317); unset: tracing off."
    )
    auth_mode: Literal["token", "open"] = Field(
        default="token",
        description="`token`: operator routes need `Authorization: Bearer <token>`; `open`: no credentials anywhere, "
        "as the seed (for its own clients and scripts).",
    )
    operator_tokens: Annotated[list[str], NoDecode] = Field(
        default=[],
        description="Comma-separated operator bearer tokens; several at once so a token can be rotated without "
        "downtime. Unset: `make run` generates one into .data/operator-token.",
    )
    app_secret: SecretStr | None = Field(
        default=None,
        description="Server-side secret shared by every API replica and worker; the keys for customer references, "
        "ids derived from idempotency keys and console sessions are derived from it. Unset: `make run` generates "
        "one into .data/app-secret.",
    )
    max_cached_workflows: int = Field(
        default=1000,
        ge=0,
        description="Order runs a worker keeps in memory between their workflow tasks; a run evicted from this "
        "cache is replayed from its history on its next message (README, Performance).",
    )
    seed_compat_ports: bool = Field(
        default=False,
        description="`make run` also serves the API on the seed's ports 5001-5006, for the seed's own front end "
        "and scripts (with AUTH_MODE=open).",
    )
    temporal_ui_url: str = Field(
        default="http://localhost:8233", description="Temporal Web, linked from each order in the operator console."
    )
    payload_keys: SecretStr | None = Field(
        default=None,
        description="Keys that encrypt every payload sent to Temporal (AES-256-GCM), `id:base64key,...` with "
        "32-byte keys: the first encrypts, all decrypt (rotation). Unset: `make run` generates one into "
        ".data/payload-key.",
    )
    temporal_web_origins: Annotated[list[str], NoDecode] = Field(
        default=["http://localhost:8233", "http://127.0.0.1:8233"],
        description="Comma-separated origins of Temporal Web allowed by CORS to call the codec server (/codec).",
    )
    max_request_bytes: int = Field(
        default=2**20,
        gt=0,
        description="Largest request body the API accepts, in bytes; a larger one is answered 413 "
        "`request_too_large` before it is parsed.",
    )
    seed_demo_data: bool = Field(default=True, description="Load the demo catalog and stock when the catalog is empty.")
    idempotency_key_ttl_hours: int = Field(
        default=24,
        gt=0,
        description="Hours an `Idempotency-Key` is remembered; longer than any client retries a request.",
    )
    cart_ttl_days: int = Field(default=30, gt=0, description="Days after its last change a cart is deleted.")
    maintenance_interval_seconds: int = Field(
        default=3600,
        ge=0,
        description="How often the maintenance Schedule prunes old idempotency keys and carts; `0` turns it off.",
    )

    @field_validator("cors_origins", "operator_tokens", "temporal_web_origins", mode="before")
    @classmethod
    def _split_commas(cls, value: object) -> object:
        if isinstance(value, str):
            return [item.strip() for item in value.split(",") if item.strip()]
        return value

    def require_app_secret(self) -> bytes:
        if self.app_secret is None or not self.app_secret.get_secret_value():
            raise RuntimeError("APP_SECRET is not set; `make run` generates one into .data/app-secret")
        return self.app_secret.get_secret_value().encode()

    def require_database_url(self) -> str:
        if not self.database_url:
            raise RuntimeError("DATABASE_URL is not set; `make run` sets it to the embedded PostgreSQL")
        return self.database_url
