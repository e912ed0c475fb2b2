"""Runtime settings of the service, read once from the environment (prefix CREDIT_RISK_)."""

from __future__ import annotations

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from model_store.versions import BEST, DEFAULT_TAG


class Settings(BaseSettings):
    """Environment variables: CREDIT_RISK_SERVED_MODEL, CREDIT_RISK_CORS_ORIGINS, ...

    The model store itself is located by BentoML's own BENTOML_HOME.
    """

    model_config = SettingsConfigDict(env_prefix="CREDIT_RISK_")

    served_model: str = Field(
        default=DEFAULT_TAG,
        description=f'Tag of the model in the BentoML store; version "{BEST}": the stored '
        "version with the best cross-validated mean AUC",
    )
    cors_origins: list[str] = Field(
        default=["*"],
        description='Allowed CORS origins, a JSON list, e.g. ["https://bank.example"]',
    )
    max_batch_size: int = Field(default=256, gt=0, description="Largest adaptive batch")
    max_latency_ms: int = Field(
        default=1000, gt=0, description="Latency budget of the adaptive batcher"
    )
    request_timeout_s: float = Field(default=10.0, gt=0, description="Per-request timeout")
    max_concurrency: int = Field(
        default=512, gt=0, description="Requests in progress beyond this are refused with 429"
    )
    max_batch_records: int = Field(
        default=1000, gt=0, description="Most applicants in one batch request"
    )
    max_body_bytes: int = Field(
        default=1_048_576, gt=0, description="Larger request bodies are refused with 413"
    )
    api_keys: list[SecretStr] = Field(
        default=[],
        description="API keys (a JSON list); when set, every request but the open paths needs "
        "one in the X-API-Key header, else 401",
    )
    open_paths: list[str] = Field(
        default=["/livez", "/readyz", "/healthz", "/health", "/metrics", "/ui"],
        description="Paths that need no API key (probes, metrics, and the loan officer's "
        "form: a browser cannot send a key when it opens a page; the form sends the "
        "officer's key with each prediction). /drift is left out: its per-field figures "
        "are statistics of applicants' personal data",
    )
    drift_window: int = Field(
        default=1000,
        gt=0,
        description="Most recent applicants per worker over which drift (PSI) is measured",
    )
    drift_min_rows: int = Field(
        default=100,
        gt=0,
        description="Applicants the drift window must hold before any PSI is published (at "
        "most the window): fewer would tell what each of them sent",
    )
    trace_requests: bool = Field(
        default=False,
        description="Record BentoML's OpenTelemetry spans per request; on only with a tracing "
        "exporter configured: the spans cost about a third of the throughput",
    )


settings = Settings()
