"""The one settings class. Every field is an environment variable (upper-case name, no prefix)."""

from typing import Annotated, Literal

from pydantic import Field, IPvAnyNetwork, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

# Long enough that guessing, even unthrottled, is hopeless; `make run` generates 43 characters.
MIN_OPERATOR_TOKEN_LENGTH = 32


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="ignore")

    database_url: str | None = Field(
        default=None,
        description="SQLAlchemy URL of PostgreSQL (postgresql+asyncpg://...). Unset: `make run` starts an "
        "embedded PostgreSQL under .data/ and sets it.",
    )
    db_pool_size: int = Field(
        default=10,
        ge=1,
        description="Pooled PostgreSQL connections per process, plus as many again of overflow.",
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
        description="Comma-separated operator bearer tokens, each at least 32 characters; several at once so a token "
        "can be rotated without downtime. Unset: `make run` generates one into .data/operator-token.",
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
    stripe_api_key: SecretStr | None = Field(
        default=None,
        description="The provider's secret key (Stripe: `sk_test_...` for test mode). Unset: `make run` uses a "
        "placeholder key that its embedded localstripe accepts.",
    )
    stripe_api_base: str | None = Field(
        default=None,
        description="Base URL of a Stripe-compatible server (e.g. http://127.0.0.1:8420 for localstripe). Unset: "
        "Stripe itself; `make run` sets it to its embedded localstripe.",
    )
    stripe_webhook_secret: SecretStr | None = Field(
        default=None,
        description="The secret the provider signs webhooks with (`whsec_...`). Unset: `make run` generates one into "
        ".data/stripe-webhook-secret and registers it with its localstripe.",
    )
    stripe_publishable_key: str | None = Field(
        default=None,
        description="The provider's publishable key (`pk_test_...`), for Stripe.js on the shop's pay page. Unset: "
        "a placeholder that localstripe accepts.",
    )
    localstripe_port: int = Field(default=8420, description="Port of the localstripe `make run` starts.")
    authorization_valid_days: int = Field(
        default=7,
        gt=0,
        description="How long the provider holds an authorization: an order paid but not shipped by then is met "
        "by the workflow's timer (docs/lifecycle.md).",
    )
    reconcile_interval_seconds: int = Field(
        default=60,
        gt=0,
        description="How often a Temporal Schedule re-reads the open PaymentIntents, so an order converges when "
        "no webhook arrives.",
    )
    max_units_per_line: int = Field(
        default=10,
        ge=0,
        description="Most units of one item in a line of an anonymous caller's order or cart; more is refused 400 "
        "`too_many_units`. 0: no cap.",
    )
    max_open_orders_per_email: int = Field(
        default=3,
        ge=0,
        description="Most orders awaiting payment per email (trimmed, lower-cased) an anonymous caller may place; "
        "one more is refused 400 `too_many_open_orders`. 0: no cap.",
    )
    anon_writes_per_minute: int = Field(
        default=60,
        ge=0,
        description="Writes (POST, PUT, PATCH, DELETE on the API and the shop's forms) per minute per client "
        "address without an operator token; more are answered 429 `too_many_requests`. 0: no limit.",
    )
    trusted_proxies: Annotated[list[IPvAnyNetwork], NoDecode] = Field(
        default=[],
        description="Comma-separated addresses or CIDRs of reverse proxies whose `X-Forwarded-For` names the "
        "client; unset: the client is the direct peer.",
    )
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

    @field_validator("cors_origins", "operator_tokens", "temporal_web_origins", "trusted_proxies", mode="before")
    @classmethod
    def _split_commas(cls, value: object) -> object:
        if isinstance(value, str):
            return [item.strip() for item in value.split(",") if item.strip()]
        return value

    @field_validator("operator_tokens")
    @classmethod
    def _long_enough(cls, tokens: list[str]) -> list[str]:
        """Refuse a guessable token; the message names its position, never the token."""
        for position, token in enumerate(tokens, start=1):
            if len(token) < MIN_OPERATOR_TOKEN_LENGTH:
                raise ValueError(
                    f"OPERATOR_TOKENS entry {position} of {len(tokens)} has {len(token)} characters: every operator "
                    f"token needs at least {MIN_OPERATOR_TOKEN_LENGTH} characters (make one with "
                    "`python -c 'import secrets; print(secrets.token_urlsafe(32))'`)"
                )
        return tokens

    def require_app_secret(self) -> bytes:
        if self.app_secret is None or not self.app_secret.get_secret_value():
            raise RuntimeError("APP_SECRET is not set; `make run` generates one into .data/app-secret")
        return self.app_secret.get_secret_value().encode()

    def require_database_url(self) -> str:
        if not self.database_url:
            raise RuntimeError("DATABASE_URL is not set; `make run` sets it to the embedded PostgreSQL")
        return self.database_url


def settings_problems(error: ValidationError) -> list[str]:
    """What is wrong with the settings, one line per problem, without the values (a token is a secret)."""
    return [str(problem["msg"]).removeprefix("Value error, ") for problem in error.errors(include_input=False)]
