"""Runtime settings of the service, read once from the environment (prefix CREDIT_RISK_)."""

from __future__ import annotations

import math
import os
from pathlib import Path

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from model_store.versions import BEST, DEFAULT_TAG
from serving.http import routes
from serving.keys import ApiKey, distinct, with_names

CGROUP_CPU_MAX = Path("/sys/fs/cgroup/cpu.max")


def usable_cpus(cpu_max: Path = CGROUP_CPU_MAX) -> int:
    """The CPUs this process may use: its affinity, capped by a cgroup v2 CPU limit.

    A container limited to 2 CPUs on a 64-CPU node still sees 64 in its affinity; its
    `cpu.max` ("200000 100000": quota and period in µs, or "max ...") tells the limit.
    """
    cpus = len(os.sched_getaffinity(0))
    try:
        quota, period = cpu_max.read_text().split()[:2]
    except (OSError, ValueError):
        return cpus
    if quota == "max":
        return cpus
    return max(1, min(cpus, math.ceil(int(quota) / int(period))))


class Settings(BaseSettings):
    """Environment variables: CREDIT_RISK_SERVED_MODEL, CREDIT_RISK_CORS_ORIGINS, ...

    The model store itself is located by BentoML's own BENTOML_HOME.
    """

    # An error names the setting and the rule, never the value: keys and database URLs
    # are secrets, and a refused setting is printed to the log.
    model_config = SettingsConfigDict(env_prefix="CREDIT_RISK_", hide_input_in_errors=True)

    served_model: str = Field(
        default=DEFAULT_TAG,
        description=f'Tag of the model in the BentoML store; version "{BEST}": the stored '
        "version with the lowest cross-validated mean Brier score (ties: lower mean cost, "
        "then the newest)",
    )
    challenger_model: str | None = Field(
        default=None,
        description="Tag of a second stored version scored beside the served one (the "
        "champion) for every applicant: in shadow, or answering the "
        "CREDIT_RISK_CHALLENGER_SHARE; none by default",
    )
    challenger_share: int = Field(
        default=0,
        ge=0,
        le=100,
        description="Percent of applicants (by a stable hash of X-Application-ID, else of "
        "the request id) the challenger answers; 0: pure shadow",
    )
    cors_origins: list[str] = Field(
        default=["*"],
        description='Allowed CORS origins, a JSON list, e.g. ["https://bank.example"]',
    )
    api_workers: int = Field(
        default_factory=usable_cpus,
        gt=0,
        description="Processes of the public service (the model runner is one more); "
        "default: the CPUs this process may use (affinity and cgroup limit)",
    )
    max_batch_size: int = Field(default=256, gt=0, description="Largest adaptive batch")
    max_latency_ms: int = Field(
        default=1000, gt=0, description="Latency budget of the adaptive batcher"
    )
    request_timeout_s: float = Field(default=10.0, gt=0, description="Per-request timeout")
    max_concurrency: int = Field(
        default=512,
        gt=0,
        description="Requests in progress per worker process (counted once their body has "
        "arrived) beyond this are refused with 429",
    )
    max_batch_records: int = Field(
        default=1000,
        gt=0,
        description="Most applicants in one batch request",
    )
    max_body_bytes: int = Field(
        default=1_048_576, gt=0, description="Larger request bodies are refused with 413"
    )
    body_timeout_s: float = Field(
        default=5.0,
        gt=0,
        description="A request body not received whole within this is refused with 408",
    )
    api_keys: list[ApiKey] = Field(
        default=[],
        description='API keys, a JSON list of {"name", "key", "roles"} (roles: score, review, '
        "audit, outcomes); when set, every request but the open paths needs one in the "
        "X-API-Key header, else 401, and a route its role, else 403. A bare string is a key "
        "named by its place in the list (key-1, key-2...) with every role",
    )

    _bare_keys_named = field_validator("api_keys", mode="before")(with_names)
    _keys_distinct = field_validator("api_keys")(distinct)
    open_paths: list[str] = Field(
        default=[*routes.PROBES, routes.HEALTH, routes.UI],
        description="Paths that need no API key (probes, metrics, and the loan officer's "
        "form: a browser cannot send a key when it opens a page; the form sends the "
        "officer's key with each prediction). /drift is left out: its per-field figures "
        "are statistics of applicants' personal data",
    )
    drift_window: int = Field(
        default=1000,
        gt=0,
        description="Most recent applicants decided (of every worker and replica: from the "
        "decision records) over which drift (PSI) is measured",
    )
    drift_min_rows: int = Field(
        default=100,
        gt=0,
        description="Applicants the drift window must hold before any PSI is published (at "
        "most the window): fewer would tell what each of them sent",
    )
    figures_refresh_s: float = Field(
        default=60.0,
        ge=0,
        description="Period of the figures computed from the decision records (drift, "
        "realised metrics, challenger comparison): as of its last multiple since the epoch, "
        "the same from every worker and replica; recomputed in the background once per "
        "period (a scrape never waits for them); 0: as of each computation",
    )
    metrics_max_age_s: float = Field(
        default=1.0,
        ge=0,
        description="Most seconds a worker answers /metrics scrapes with its last rendering "
        "(0: each scrape is rendered): keyless scrape loops cannot take the CPU from scoring",
    )
    records: bool = Field(
        default=True,
        description="Keep a decision record of every scored applicant (GET /decisions/{id}, "
        "POST /outcomes); off is for benchmarks only, never for production",
    )
    records_url: str = Field(
        default_factory=lambda: f"sqlite:///{_bentoml_home() / 'records' / 'decisions.db'}",
        description="SQLAlchemy URL of the records database; default SQLite (WAL) next to "
        "the model store, e.g. postgresql+psycopg://user:password@host/db in production",
    )
    records_retention_days: int = Field(
        default=1825,
        gt=0,
        description="Records decided longer ago are deleted by `make records-purge`",
    )
    review_band: float = Field(
        default=0.05,
        ge=0,
        lt=0.5,
        description="A P(good) within this of the version's threshold is referred to a "
        "person (`refer`): there the two calls' expected costs (cost matrix 5:1) move apart "
        "by at most 6 x the band per applicant, 0.3 by default, and the model's call is "
        "least reliable",
    )
    decline_needs_review: bool = Field(
        default=True,
        description="A model decline outside the review band is referred to a person too "
        "(no automatic decline); false: it is final (`decline`)",
    )
    contest_due_days: int = Field(
        default=30,
        gt=0,
        le=365,
        description="Days within which a contested decision must be reviewed (its due date)",
    )
    trace_requests: bool = Field(
        default=False,
        description="Record BentoML's OpenTelemetry spans per request; on only with a tracing "
        "exporter configured: the spans cost about a third of the throughput",
    )


def _bentoml_home() -> Path:
    """BentoML's own data directory (BENTOML_HOME, default ~/bentoml)."""
    return Path(os.environ.get("BENTOML_HOME", Path.home() / "bentoml"))


settings = Settings()
