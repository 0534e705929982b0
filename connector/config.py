"""Configuration: a TOML file, overridden by ``SMTPAUTH_*`` environment variables.

Secrets never live in the file: a tenant names an environment variable (``client_secret_env``), a secrets file
(``client_secret_file``) or a certificate (``certificate_path`` + ``private_key_path``). Every key is documented in
``config.example.toml`` and a test checks the example covers every field.

Errors: :func:`load_settings` raises :class:`~connector.errors.ConfigError` naming the key and the fix; the CLI turns
it into one line and exit code 2.
"""

import os
import re
import stat
import tomllib
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any, Literal, Self

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from connector.clouds import CLOUDS, Cloud
from connector.errors import ConfigError

__all__ = [
    "DEFAULT_CONFIG_PATHS",
    "AppSettings",
    "DatabaseSettings",
    "HttpSettings",
    "InsightsSettings",
    "NotifySettings",
    "OutputSettings",
    "QueueSettings",
    "ReportSettings",
    "ScheduleSettings",
    "ServiceSettings",
    "Settings",
    "SyncSettings",
    "TenantCredential",
    "TenantSettings",
    "default_data_dir",
    "load_settings",
]

ENV_PREFIX = "SMTPAUTH_"
DEFAULT_CONFIG_PATHS = (Path("smtpauth.toml"), Path("config.toml"))

_PLACEHOLDER = re.compile(
    r"^(?:|<.*>|\{.*\}|\$\{.*\}|x+|changeme|change-me|change_me|todo|tbd|secret|your[-_ ].*|"
    r"placeholder|replace[-_ ]?me|example|0{8}-0{4}-0{4}-0{4}-0{12})$",
    re.IGNORECASE,
)
_GUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
_DOMAIN = re.compile(r"^(?=.{4,253}$)([a-zA-Z0-9-]{1,63}\.)+[a-zA-Z]{2,63}$")
_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")


def default_data_dir() -> Path:
    """``$SMTPAUTH_DATA_DIR``, else ``$XDG_DATA_HOME/smtpauth``, else ``~/.local/share/smtpauth``."""
    if env := os.environ.get("SMTPAUTH_DATA_DIR"):
        return Path(env).expanduser()
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "smtpauth"


def is_placeholder(value: str) -> bool:
    """True for values that were obviously copied from an example and never filled in."""
    return bool(_PLACEHOLDER.match(value.strip()))


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class DatabaseSettings(_Strict):
    #: SQLAlchemy URL. Empty means a SQLite file ``smtpauth.db`` in the data directory.
    url: str = ""
    #: seconds a writer waits for a SQLite lock held by another process (scheduler + service share the file)
    busy_timeout_seconds: float = Field(default=30.0, gt=0)


class OutputSettings(_Strict):
    #: where report artifacts are written. Empty means ``artifacts/`` in the data directory.
    dir: str = ""


class HttpSettings(_Strict):
    #: connect/read timeout of one request, seconds
    timeout_seconds: float = Field(default=60.0, gt=0)
    #: attempts per request including the first (429/503/504/transport errors only)
    max_attempts: int = Field(default=8, ge=1, le=50)
    #: total time one request may spend waiting between attempts, seconds
    max_total_wait_seconds: float = Field(default=900.0, gt=0)
    #: a Retry-After longer than this ends the source's run as "throttled" instead of blocking a worker
    retry_after_cap_seconds: float = Field(default=300.0, gt=0)
    #: first backoff delay when a response carries no Retry-After, seconds (doubles, full jitter)
    backoff_initial_seconds: float = Field(default=1.0, gt=0)
    #: ceiling of one backoff delay, seconds
    backoff_max_seconds: float = Field(default=120.0, gt=0)
    #: pace requests to Microsoft's documented limits per API family (turn off only behind your own pacing proxy)
    pace_requests: bool = True
    #: divide every pacing window by this factor: only for a simulator whose clock runs faster than real time
    rate_limit_time_scale: float = Field(default=1.0, gt=0)


class SyncSettings(_Strict):
    #: usage reports as "csv" (v1.0, default) or "json" (beta, paged)
    usage_format: Literal["csv", "json"] = "csv"
    #: per-date usage detail is requested for this many days back from the report's refresh date (Graph keeps
    #: about 28); each missing day costs one request of the 14-per-10-minutes CSV budget
    usage_detail_days: int = Field(default=28, ge=0, le=30)
    #: sign-ins are re-read this far before the stored watermark: they can arrive up to ~2 h late
    signin_overlap_minutes: int = Field(default=180, ge=0)
    #: first sync of sign-ins reaches back this far (Entra keeps 30 days with P1/P2)
    signin_backfill_days: int = Field(default=30, ge=1, le=30)
    #: sign-ins are fetched in time slices of this size; a slice halves on throttling or 504
    signin_slice_hours: float = Field(default=24.0, gt=0)
    #: smallest slice before a throttled or timing-out slice is given up for this run
    signin_min_slice_minutes: float = Field(default=15.0, gt=0)
    #: sign-ins per page ($top, Graph allows 1-1000)
    signin_page_size: int = Field(default=1000, ge=1, le=1000)
    #: first sync of message trace reaches back this far (Graph allows 90)
    message_trace_backfill_days: int = Field(default=90, ge=1, le=90)
    #: message trace window per request (Graph allows at most 10 days)
    message_trace_window_days: float = Field(default=10.0, gt=0, le=10)
    #: message-trace rows per page ($top, Graph allows 1-5000)
    message_trace_page_size: int = Field(default=5000, ge=1, le=5000)
    #: message trace is re-read this far before each sender's watermark (late messages)
    message_trace_overlap_hours: float = Field(default=6.0, ge=0)
    #: a trace row is marked as SMTP-AUTH-submitted when its fromIP is one of the sender's successful SMTP
    #: sign-in IPs within this many hours
    signin_ip_match_hours: float = Field(default=24.0, gt=0)
    #: stop requesting message trace after this many requests in one run (the rest continues next run)
    message_trace_max_requests: int = Field(default=5000, ge=1)
    #: SmtpCSReport (exchange_admin tenants): the first searches reach back this far (Exchange allows 90)
    smtp_cs_backfill_days: int = Field(default=90, ge=1, le=90)
    #: data reaches the historical search service 1-4 h late: searches end this many hours before now
    smtp_cs_latency_hours: float = Field(default=4.0, ge=1, le=48)
    #: days per search until the rows per day of loaded files are known
    smtp_cs_search_days: float = Field(default=7.0, gt=0, le=90)
    #: rows one report file may hold (Exchange caps historical search reports at 100,000)
    smtp_cs_max_rows: int = Field(default=100_000, ge=1000)
    #: historical searches allowed per 24 h (Exchange's quota is 250, shared with admins' own searches)
    smtp_cs_quota_per_day: int = Field(default=250, ge=1)
    #: at most this many searches submitted in one run (the rest waits for the next run)
    smtp_cs_max_searches_per_run: int = Field(default=30, ge=1)
    #: a search not finished after this many hours is given up and searched again
    smtp_cs_job_timeout_hours: float = Field(default=24.0, gt=0)
    #: a range whose search failed is searched again this many times, then shown as failed in coverage
    smtp_cs_max_retries: int = Field(default=2, ge=0)
    #: a report file can be downloaded about 20 times: stop before Exchange refuses it
    smtp_cs_download_limit: int = Field(default=20, ge=1)


ArtifactFormat = Literal["html", "csv", "xlsx", "parquet"]
ARTIFACT_FORMATS: tuple[ArtifactFormat, ...] = ("html", "csv", "xlsx", "parquet")
Granularity = Literal["auto", "day", "week", "month"]
#: periods of the sending_volume_by_sender table (auto: per day up to 92 days, per calendar month beyond)
GRANULARITIES: tuple[Granularity, ...] = ("auto", "day", "week", "month")


def _all_formats() -> list[ArtifactFormat]:
    return list(ARTIFACT_FORMATS)


class ReportSettings(_Strict):
    #: formats `smtpauth report` and request-report jobs write when none is given
    formats: list[ArtifactFormat] = Field(default_factory=_all_formats)
    #: count only message-trace rows whose fromIP was a successful Authenticated SMTP sign-in IP of the sender
    #: (drops the sender's Outlook mail, but also every OAuth submission: OAuth leaves no such sign-in)
    trace_signin_ip_only: bool = False
    #: period of a sending_volume_by_sender row: day, week (ISO, Monday to Sunday), month (calendar, UTC), or auto:
    #: per day for a range of up to 92 days, per month for a longer one
    granularity: Granularity = "auto"
    #: longest date range one report may cover, days
    max_range_days: int = Field(default=366, ge=1, le=3660)
    #: rows of one table shown in the HTML file (the CSV, XLSX and Parquet files always hold every row)
    html_max_rows: int = Field(default=5000, ge=100, le=200_000)
    #: artifacts of request-report jobs are deleted this many days after the job finished (0 keeps them)
    retention_days: int = Field(default=30, ge=0)
    #: a job another host marked running this long ago is recovered as failed (same host: when its worker is gone)
    job_stale_minutes: int = Field(default=240, ge=1)


class InsightsSettings(_Strict):
    """Thresholds of the unusual-activity rules and of the readiness views (docs/insights.md)."""

    #: look for unusual activity after every sync
    enabled: bool = True
    #: days (ending today) judged by each run; older findings stay stored
    lookback_days: int = Field(default=7, ge=1, le=30)
    #: days before a judged day that make an account's own baseline
    baseline_days: int = Field(default=28, ge=7, le=90)
    #: days of stored history a tenant needs before a day is judged (fewer: no baseline, no finding)
    min_history_days: int = Field(default=14, ge=1, le=90)
    #: volume spike: messages above median + this many robust standard deviations (1.4826 x MAD)
    spike_mad_factor: float = Field(default=6.0, gt=0)
    #: volume spike: and at least this many messages above the median
    spike_min_excess: int = Field(default=30, ge=1)
    #: volume spike: and at least this many times the median
    spike_min_ratio: float = Field(default=3.0, ge=1)
    #: a sender without any message in its baseline sending this many messages in a day
    first_time_min_messages: int = Field(default=100, ge=1)
    #: new origin: an account needs this many successful sign-ins in its baseline to have an origin history
    origin_min_baseline_signins: int = Field(default=10, ge=1)
    #: a new origin this many hours before (or during) a volume spike raises both to high severity
    correlation_hours: int = Field(default=48, ge=1, le=168)
    #: Entra error codes counted as failed sign-in attempts (spray, brute force); see docs/insights.md
    failure_codes: list[int] = Field(default_factory=lambda: [50126, 50034, 50053, 50055, 50057, 53003])
    #: password spray: failed sign-ins from one IP against at least this many accounts in one UTC day
    spray_min_accounts: int = Field(default=10, ge=2)
    #: brute force: at least this many failed sign-ins of one account in one UTC day
    brute_force_min_failures: int = Field(default=20, ge=2)
    #: off-hours: the account's baseline needs this many messages
    off_hours_min_baseline_messages: int = Field(default=40, ge=1)
    #: off-hours: and a block of at least this many consecutive hours of the day (UTC) without any message
    off_hours_quiet_hours: int = Field(default=8, ge=1, le=23)
    #: off-hours: messages in the account's quiet hours (or weekend) in one day that make a finding
    off_hours_min_messages: int = Field(default=5, ge=1)
    #: external domains: a device account mails at most this many external domains in its whole baseline
    device_max_baseline_domains: int = Field(default=2, ge=0)
    #: external domains: distinct external recipient domains in one day that make a finding
    external_domains_min: int = Field(default=10, ge=1)
    #: TLS downgrade: the baseline share of TLS 1.0/1.1 messages is at most this (0-1)
    tls_baseline_legacy_max_share: float = Field(default=0.1, ge=0, le=1)
    #: TLS downgrade: a day with at least this share of TLS 1.0/1.1 messages (0-1) ...
    tls_legacy_share: float = Field(default=0.5, gt=0, le=1)
    #: ... and at least this many messages
    tls_min_messages: int = Field(default=5, ge=1)
    #: readiness: the days (ending today) an account's status is computed over
    readiness_days: int = Field(default=30, ge=1, le=366)
    #: burndown: the days (ending today) charted
    burndown_days: int = Field(default=90, ge=7, le=366)


SmtpSecurity = Literal["starttls", "tls", "none"]


class NotifySettings(_Strict):
    """Optional notifications of new high-severity findings. Credentials come from environment variables."""

    #: SMTP relay host for e-mail notifications (empty: no e-mail)
    smtp_host: str = ""
    smtp_port: int = Field(default=587, ge=1, le=65535)
    #: "starttls" (default), "tls" (implicit TLS, usually port 465) or "none" (only without credentials)
    smtp_security: SmtpSecurity = "starttls"
    #: names of the environment variables holding the relay user name and password (empty: no login)
    smtp_username_env: str = ""
    smtp_password_env: str = ""
    #: sender and recipients of the notification e-mail
    mail_from: str = ""
    mail_to: list[str] = Field(default_factory=list)
    #: name of the environment variable holding the webhook URL (Teams/Slack incoming webhook; the URL is a
    #: credential, so it never goes in this file). Empty: no webhook
    webhook_url_env: str = ""
    #: CA bundle (PEM) trusted for the relay's and the webhook's TLS certificate; empty: the system store
    ca_bundle: Path | None = None
    #: seconds one delivery may take
    timeout_seconds: float = Field(default=15.0, gt=0, le=300)
    #: a notification that failed this many times is given up (recorded as gave_up)
    max_attempts: int = Field(default=10, ge=1)

    @model_validator(mode="after")
    def _coherent(self) -> Self:
        if self.smtp_host:
            if not self.mail_from or not self.mail_to:
                raise ValueError("smtp_host is set: set mail_from and mail_to as well")
            if self.smtp_security == "none" and (self.smtp_username_env or self.smtp_password_env):
                raise ValueError(
                    'smtp_security = "none" would send the relay password in clear: use "starttls" or "tls"'
                )
        return self


_CRON_FIELDS = 5


def _check_cron(expr: str, timezone: str) -> None:
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    from apscheduler.triggers.cron import CronTrigger

    try:
        tz = ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone {timezone!r}: use an IANA name such as Europe/Berlin or UTC") from None
    if len(expr.split()) != _CRON_FIELDS:
        raise ValueError(f"{expr!r} is not a cron expression: use 5 fields (minute hour day month weekday)")
    try:
        CronTrigger.from_crontab(expr, timezone=tz)
    except ValueError as exc:
        raise ValueError(f"{expr!r} is not a valid cron expression ({exc})") from None


class ScheduleSettings(_Strict):
    """When the nightly sync of a tenant runs."""

    #: IANA time zone the cron expression is read in
    timezone: str = "UTC"
    #: cron expression (minute hour day-of-month month day-of-week) of the nightly sync
    cron: str = "30 2 * * *"

    @field_validator("timezone")
    @classmethod
    def _timezone(cls, v: str) -> str:
        _check_cron("0 0 * * *", v)
        return v

    @field_validator("cron")
    @classmethod
    def _cron(cls, v: str, info: ValidationInfo) -> str:
        _check_cron(v, info.data.get("timezone", "UTC"))
        return v


Executor = Literal["local", "procrastinate"]


class QueueSettings(_Strict):
    """The distributed executor (``service.executor = "procrastinate"``): workers, schedule tick, recovery.

    docs/deployment.md describes the topology; every job lives in PostgreSQL (Procrastinate's tables).
    """

    #: jobs one `smtpauth worker` runs at the same time (threads; `--concurrency` overrides)
    worker_concurrency: int = Field(default=4, ge=1, le=64)
    #: the nightly syncs of all tenants start spread over this many seconds after their cron time, each tenant at
    #: its own fixed offset (a hash of its name), so 1,000 tenants do not start in the same second
    spread_seconds: int = Field(default=14_400, ge=0, le=86_400)
    #: seconds between scheduler ticks (one tick per period runs on one worker, whichever takes it first)
    tick_seconds: int = Field(default=60, ge=1, le=3600)
    #: seconds between a worker's heartbeats in the database
    heartbeat_seconds: float = Field(default=10.0, gt=0, le=300)
    #: a worker silent for this many seconds is considered dead: its running jobs are queued again
    stalled_seconds: float = Field(default=60.0, gt=0, le=3600)
    #: seconds between looks for new jobs when no notification arrives (LISTEN/NOTIFY wakes workers at once)
    poll_seconds: float = Field(default=5.0, gt=0, le=300)
    #: a sync that finds its tenant locked by another process (a CLI sync) is retried this many times ...
    busy_retries: int = Field(default=20, ge=0, le=1000)
    #: ... this many seconds apart
    busy_retry_seconds: int = Field(default=60, ge=1, le=3600)
    #: finished jobs are deleted from the queue's tables after this many hours (sync_run keeps the history)
    job_retention_hours: int = Field(default=168, ge=1)


class ServiceSettings(_Strict):
    """``smtpauth serve``: the HTTP API, the dashboard and the scheduler (docs/service.md)."""

    #: who runs the jobs: "local" (the scheduler and executor inside `smtpauth serve`, SQLite or PostgreSQL) or
    #: "procrastinate" (a PostgreSQL job queue drained by `smtpauth worker` processes; docs/deployment.md)
    executor: Executor = "local"
    #: settings of the "procrastinate" executor
    queue: QueueSettings = QueueSettings()

    #: address to listen on; keep 127.0.0.1 and put a TLS reverse proxy in front for remote access
    host: str = "127.0.0.1"
    port: int = Field(default=8465, ge=1, le=65535)
    #: names of environment variables each holding one API token (at least 32 characters)
    token_envs: list[str] = Field(default_factory=list)
    #: file (not readable by others) with one SHA-256 hex digest of an API token per line
    token_hashes_file: Path | None = None
    #: nightly sync of every tenant without an entry in tenant_schedules
    schedule: ScheduleSettings = ScheduleSettings()
    #: per-tenant nightly sync: {tenant name = {cron = "...", timezone = "..."}}
    tenant_schedules: dict[str, ScheduleSettings] = Field(default_factory=dict)
    #: each nightly sync starts up to this many seconds after its cron time, so tenants do not all start at once
    jitter_seconds: int = Field(default=600, ge=0, le=3600)
    #: a nightly sync missed (service down) is still run if the service is back within this many hours
    misfire_grace_hours: float = Field(default=6.0, gt=0, le=23)
    #: run the scheduler in this process (false: API and dashboard only)
    scheduler: bool = True
    #: seconds between attempts of an API-only instance to take over the scheduler lock of a stopped one
    lock_poll_seconds: float = Field(default=15.0, gt=0)
    #: seconds between looks for report jobs queued by other processes
    report_poll_seconds: float = Field(default=5.0, gt=0)
    #: seconds SIGTERM waits for running jobs before they are marked interrupted
    shutdown_grace_seconds: float = Field(default=60.0, ge=0)
    #: largest request body accepted, bytes
    max_body_bytes: int = Field(default=65536, ge=1024)
    #: largest Request report file the dashboard upload accepts, bytes (streamed to disk, refused past this)
    max_upload_bytes: int = Field(default=256 * 1024 * 1024, ge=1024)
    #: largest page of a data endpoint, rows
    max_page_rows: int = Field(default=5000, ge=10, le=100_000)
    #: memory for answers of the data and summary endpoints kept until the database changes, MB (0: off)
    read_cache_mb: int = Field(default=64, ge=0, le=4096)
    #: answers of the data and summary endpoints computed at once (0: one per CPU); more wait their turn
    read_concurrency: int = Field(default=0, ge=0, le=64)


class TenantCredential(_Strict):
    """Resolved credential. Never serialized; ``repr`` hides the secret."""

    kind: Literal["secret", "certificate"]
    secret: SecretStr | None = None
    private_key_pem: SecretStr | None = None
    certificate_pem: str | None = None
    passphrase: SecretStr | None = None


class TenantSettings(_Strict):
    #: short name used on the command line and in the database (lower-case letters, digits, - and _)
    name: str
    #: directory (tenant) id: a GUID or a verified domain such as contoso.onmicrosoft.com
    tenant_id: str
    #: application (client) id of the Entra app registration
    client_id: str
    cloud: Cloud = Cloud.GLOBAL
    #: name of the environment variable that holds the client secret
    client_secret_env: str | None = None
    #: path of a file (mode 600) whose content is the client secret
    client_secret_file: Path | None = None
    #: PEM certificate uploaded to the app registration (preferred over secrets)
    certificate_path: Path | None = None
    #: PEM private key of that certificate (mode 600)
    private_key_path: Path | None = None
    #: environment variable holding the private key passphrase, if the key is encrypted
    private_key_passphrase_env: str | None = None
    #: overrides of the cloud's hosts (a proxy or the simulator); https only
    authority_host: str | None = None
    graph_endpoint: str | None = None
    exchange_endpoint: str | None = None
    #: a CA bundle (PEM) to trust in addition to nothing else: for TLS-inspecting proxies and the simulator
    ca_bundle: Path | None = None
    #: a verified domain of the tenant, used for the Exchange admin API anchor mailbox
    primary_domain: str | None = None
    #: opt in to the Exchange admin REST endpoint (InvokeCommand) for SmtpCSReport and config posture
    exchange_admin: bool = False
    #: addresses Exchange e-mails when a SmtpCSReport search is done (Start-HistoricalSearch -NotifyAddress)
    notify_address: list[str] = Field(default_factory=list, max_length=100)

    @field_validator("notify_address")
    @classmethod
    def _addresses(cls, v: list[str]) -> list[str]:
        for address in v:
            if not re.match(r"^[^@\s]+@[^@\s]+\.[^@\s]+$", address) or is_placeholder(address.split("@")[0]):
                raise ValueError(f"{address!r} is not an e-mail address")
        return v

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        if not _NAME.match(v):
            raise ValueError("use 1-63 lower-case letters, digits, '-' or '_', starting with a letter or digit")
        return v

    @field_validator("tenant_id")
    @classmethod
    def _tenant_id(cls, v: str) -> str:
        if is_placeholder(v):
            raise ValueError("placeholder value: put your directory (tenant) id from Entra > Overview")
        if not (_GUID.match(v) or _DOMAIN.match(v)):
            raise ValueError("expected a GUID or a domain such as contoso.onmicrosoft.com")
        return v.lower()

    @field_validator("client_id")
    @classmethod
    def _client_id(cls, v: str) -> str:
        if is_placeholder(v):
            raise ValueError("placeholder value: put the application (client) id of your app registration")
        if not _GUID.match(v):
            raise ValueError("expected the application (client) id, a GUID")
        return v.lower()

    @field_validator("authority_host", "graph_endpoint", "exchange_endpoint")
    @classmethod
    def _https(cls, v: str | None) -> str | None:
        if v is None:
            return v
        if not re.match(r"^https://[^/\s]+$", v.rstrip("/")):
            raise ValueError("must be an https:// URL with a host and no path, e.g. https://graph.microsoft.com")
        return v.rstrip("/")

    @model_validator(mode="after")
    def _one_credential(self) -> Self:
        chosen = [
            k
            for k, on in (
                ("client_secret_env", self.client_secret_env is not None),
                ("client_secret_file", self.client_secret_file is not None),
                ("certificate_path", self.certificate_path is not None or self.private_key_path is not None),
            )
            if on
        ]
        if not chosen:
            raise ValueError(
                "no credential: set one of client_secret_env, client_secret_file, "
                "or certificate_path + private_key_path"
            )
        if len(chosen) > 1:
            raise ValueError(f"more than one credential ({', '.join(chosen)}): keep exactly one")
        if chosen == ["certificate_path"] and (self.certificate_path is None or self.private_key_path is None):
            raise ValueError("a certificate credential needs both certificate_path and private_key_path")
        return self

    @property
    def effective_authority_host(self) -> str:
        return self.authority_host or CLOUDS[self.cloud].authority_host

    @property
    def effective_graph_endpoint(self) -> str:
        return self.graph_endpoint or CLOUDS[self.cloud].graph_endpoint

    @property
    def effective_exchange_endpoint(self) -> str:
        return self.exchange_endpoint or CLOUDS[self.cloud].exchange_endpoint

    def load_credential(self, environ: Mapping[str, str] | None = None) -> TenantCredential:
        """Read the secret or certificate this tenant names.

        Raises ConfigError naming the key when the variable is unset, the file unreadable or world-readable, or
        the value a placeholder.
        """
        env = os.environ if environ is None else environ
        key = f"tenants[{self.name}]"
        if self.client_secret_env is not None:
            value = env.get(self.client_secret_env)
            if value is None or not value.strip():
                raise ConfigError(
                    f"environment variable {self.client_secret_env} is not set: export it with the client "
                    "secret of the app registration (Certificates & secrets)",
                    key=f"{key}.client_secret_env",
                )
            if is_placeholder(value):
                raise ConfigError(
                    f"environment variable {self.client_secret_env} holds a placeholder, not a client secret",
                    key=f"{key}.client_secret_env",
                )
            return TenantCredential(kind="secret", secret=SecretStr(value.strip()))
        if self.client_secret_file is not None:
            text = _read_private(self.client_secret_file, f"{key}.client_secret_file").strip()
            if is_placeholder(text):
                raise ConfigError(
                    f"{self.client_secret_file} holds a placeholder, not a client secret",
                    key=f"{key}.client_secret_file",
                )
            return TenantCredential(kind="secret", secret=SecretStr(text))
        if self.certificate_path is None or self.private_key_path is None:  # excluded by _one_credential
            raise ConfigError("a certificate credential needs both certificate_path and private_key_path", key=key)
        cert = _read(self.certificate_path, f"{key}.certificate_path")
        if "BEGIN CERTIFICATE" not in cert:
            raise ConfigError(
                f"{self.certificate_path} is not a PEM certificate (expected -----BEGIN CERTIFICATE-----); "
                "convert a .cer with: openssl x509 -inform der -in cert.cer -out cert.pem",
                key=f"{key}.certificate_path",
            )
        pem = _read_private(self.private_key_path, f"{key}.private_key_path")
        if "PRIVATE KEY" not in pem:
            raise ConfigError(
                f"{self.private_key_path} is not a PEM private key; convert a .pfx with: "
                "openssl pkcs12 -in cert.pfx -nocerts -out key.pem",
                key=f"{key}.private_key_path",
            )
        passphrase = None
        if self.private_key_passphrase_env:
            pw = env.get(self.private_key_passphrase_env)
            if not pw:
                raise ConfigError(
                    f"environment variable {self.private_key_passphrase_env} is not set: export the passphrase "
                    "of the private key",
                    key=f"{key}.private_key_passphrase_env",
                )
            passphrase = SecretStr(pw)
        _check_key_matches(cert, pem, passphrase, key)
        return TenantCredential(
            kind="certificate", private_key_pem=SecretStr(pem), certificate_pem=cert, passphrase=passphrase
        )


class AppSettings(_Strict):
    """A multi-tenant app registration (one per MSP): tenant registry rows name it as ``credential = "app:NAME"``.

    It holds the client id and one credential (a certificate is the usual choice), and optionally host overrides
    for a proxy; every tenant that granted admin consent to the app can be synced with it.
    """

    #: short name the registry refers to (``app:NAME``)
    name: str
    #: application (client) id of the multi-tenant app registration
    client_id: str
    #: one credential, exactly as in [[tenants]]
    client_secret_env: str | None = None
    client_secret_file: Path | None = None
    certificate_path: Path | None = None
    private_key_path: Path | None = None
    private_key_passphrase_env: str | None = None
    #: host overrides for every tenant synced with this app (a proxy or the simulator); https only
    authority_host: str | None = None
    graph_endpoint: str | None = None
    exchange_endpoint: str | None = None
    ca_bundle: Path | None = None

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        return TenantSettings._name(v)

    @field_validator("client_id")
    @classmethod
    def _client_id(cls, v: str) -> str:
        return TenantSettings._client_id(v)

    @field_validator("authority_host", "graph_endpoint", "exchange_endpoint")
    @classmethod
    def _https(cls, v: str | None) -> str | None:
        return TenantSettings._https(v)

    @model_validator(mode="after")
    def _one_credential(self) -> Self:
        self.tenant_settings("app-check", "contoso.onmicrosoft.com", Cloud.GLOBAL)
        return self

    def tenant_settings(
        self,
        name: str,
        tenant_id: str,
        cloud: Cloud,
        *,
        primary_domain: str | None = None,
        exchange_admin: bool = False,
    ) -> TenantSettings:
        """The [[tenants]] equivalent of one tenant synced with this app. Raises ValidationError."""
        return TenantSettings(
            name=name,
            tenant_id=tenant_id,
            client_id=self.client_id,
            cloud=cloud,
            client_secret_env=self.client_secret_env,
            client_secret_file=self.client_secret_file,
            certificate_path=self.certificate_path,
            private_key_path=self.private_key_path,
            private_key_passphrase_env=self.private_key_passphrase_env,
            authority_host=self.authority_host,
            graph_endpoint=self.graph_endpoint,
            exchange_endpoint=self.exchange_endpoint,
            ca_bundle=self.ca_bundle,
            primary_domain=primary_domain,
            exchange_admin=exchange_admin,
        )


def _read(path: Path, key: str) -> str:
    try:
        return path.expanduser().read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"file {path} does not exist", key=key) from None
    except (PermissionError, IsADirectoryError, UnicodeDecodeError) as exc:
        raise ConfigError(
            f"cannot read {path} ({type(exc).__name__}): check the path and permissions", key=key
        ) from None


def _read_private(path: Path, key: str) -> str:
    text = _read(path, key)
    mode = path.expanduser().stat().st_mode
    if os.name == "posix" and mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise ConfigError(
            f"{path} is readable by other users: run chmod 600 {path}",
            key=key,
        )
    return text


def _check_key_matches(cert_pem: str, key_pem: str, passphrase: SecretStr | None, key: str) -> None:
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization

    try:
        cert = x509.load_pem_x509_certificate(cert_pem.encode())
    except ValueError:
        raise ConfigError("the certificate file cannot be parsed as PEM", key=f"{key}.certificate_path") from None
    try:
        private = serialization.load_pem_private_key(
            key_pem.encode(), password=passphrase.get_secret_value().encode() if passphrase else None
        )
    except TypeError:
        raise ConfigError(
            "the private key is encrypted: set private_key_passphrase_env to the variable holding its passphrase",
            key=f"{key}.private_key_passphrase_env",
        ) from None
    except ValueError:
        raise ConfigError(
            "the private key cannot be decrypted or parsed: check the file and the passphrase",
            key=f"{key}.private_key_path",
        ) from None
    pub = private.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    cert_pub = cert.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    if pub != cert_pub:
        raise ConfigError(
            "the private key does not belong to the certificate: point both keys at the same key pair",
            key=f"{key}.private_key_path",
        )


class Settings(BaseSettings):
    """The whole configuration. Build it with :func:`load_settings`, never at import time."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        env_nested_delimiter="__",
        extra="forbid",
        frozen=True,
    )

    #: folder for the SQLite database, token cache, inbox and artifacts (default: see default_data_dir)
    data_dir: Path = Field(default_factory=default_data_dir)
    database: DatabaseSettings = DatabaseSettings()
    output: OutputSettings = OutputSettings()
    http: HttpSettings = HttpSettings()
    sync: SyncSettings = SyncSettings()
    report: ReportSettings = ReportSettings()
    insights: InsightsSettings = InsightsSettings()
    notify: NotifySettings = NotifySettings()
    service: ServiceSettings = ServiceSettings()
    #: multi-tenant app registrations that tenant registry rows name as their credential (``app:NAME``)
    apps: Annotated[list[AppSettings], Field(default_factory=list)]
    #: how many tenants sync at the same time
    max_parallel_tenants: int = Field(default=4, ge=1, le=32)
    tenants: Annotated[list[TenantSettings], Field(default_factory=list)]

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # environment variables override the file; no .env or secrets-dir loading behind the admin's back
        return (env_settings, init_settings)

    @model_validator(mode="after")
    def _unique_names(self) -> Self:
        seen: set[str] = set()
        for t in self.tenants:
            if t.name in seen:
                raise ValueError(f"duplicate tenant name {t.name!r}: give each [[tenants]] table its own name")
            seen.add(t.name)
        return self

    @model_validator(mode="after")
    def _unique_apps(self) -> Self:
        seen: set[str] = set()
        for a in self.apps:
            if a.name in seen:
                raise ValueError(f"duplicate app name {a.name!r}: give each [[apps]] table its own name")
            seen.add(a.name)
        return self

    @model_validator(mode="after")
    def _queue_needs_postgresql(self) -> Self:
        if self.service.executor == "procrastinate" and not self.database_url.startswith(("postgresql", "postgres")):
            raise ValueError(
                'service.executor = "procrastinate" keeps its jobs in PostgreSQL: set database.url to a '
                "postgresql:// URL (or use the local executor)"
            )
        return self

    def app(self, name: str) -> "AppSettings":
        """The multi-tenant app ``name``. Raises ConfigError naming the configured ones."""
        for a in self.apps:
            if a.name == name:
                return a
        known = ", ".join(a.name for a in self.apps) or "none configured"
        raise ConfigError(f"no [[apps]] table named {name!r} (configured: {known})", key="apps")

    @model_validator(mode="after")
    def _scheduled_tenants_exist(self) -> Self:
        for name in self.service.tenant_schedules:
            if name not in {t.name for t in self.tenants}:
                raise ValueError(
                    f"service.tenant_schedules names {name!r}, which is not a configured tenant: fix the name"
                )
        return self

    @property
    def database_url(self) -> str:
        return self.database.url or f"sqlite:///{(self.data_dir / 'smtpauth.db').resolve()}"

    @property
    def output_dir(self) -> Path:
        return Path(self.output.dir).expanduser() if self.output.dir else self.data_dir / "artifacts"

    @property
    def report_jobs_dir(self) -> Path:
        """Where request-report jobs keep their artifacts (one folder per job)."""
        return self.output_dir / "report-jobs"

    @property
    def inbox_dir(self) -> Path:
        return self.data_dir / "inbox"

    def tenant(self, name: str) -> TenantSettings:
        for t in self.tenants:
            if t.name == name:
                return t
        known = ", ".join(t.name for t in self.tenants) or "none configured"
        raise ConfigError(f"unknown tenant {name!r} (configured: {known})", key="--tenant")

    def select_tenants(self, names: list[str] | tuple[str, ...] | None) -> list[TenantSettings]:
        if not names:
            return list(self.tenants)
        return [self.tenant(n) for n in names]


def _loc(loc: tuple[int | str, ...], data: dict[str, Any]) -> str:
    parts: list[str] = []
    node: Any = data
    for p in loc:
        if isinstance(p, int):
            name = None
            if isinstance(node, list) and p < len(node) and isinstance(node[p], dict):
                name = node[p].get("name")
            parts[-1] = f"{parts[-1]}[{name if isinstance(name, str) else p}]" if parts else f"[{p}]"
            node = node[p] if isinstance(node, list) and p < len(node) else None
        else:
            parts.append(str(p))
            node = node.get(p) if isinstance(node, dict) else None
    return ".".join(parts)


def _format_validation(exc: ValidationError, data: dict[str, Any]) -> ConfigError:
    err = exc.errors(include_url=False)[0]
    loc = tuple(p for p in err["loc"] if not (isinstance(p, str) and p.startswith("function-")))
    key = _loc(loc, data) or "config"
    typ = err["type"]
    if typ == "extra_forbidden":
        msg = "unknown key: remove it or check its spelling against config.example.toml"
    elif typ == "missing":
        msg = "required key is missing: see config.example.toml"
    elif typ == "enum":
        msg = f"invalid value: {err['msg'].lower()}"
    else:
        text = err["msg"]
        msg = text.removeprefix("Value error, ")
        if err.get("input") is not None and typ not in ("value_error", "assertion_error"):
            msg = f"invalid value: {msg}"
    extra = len(exc.errors()) - 1
    if extra:
        msg += f" (and {extra} more problem{'s' if extra > 1 else ''})"
    return ConfigError(msg, key=key)


def _find_config(path: Path | None, env: Mapping[str, str]) -> Path:
    if path is None and env.get("SMTPAUTH_CONFIG"):
        path = Path(env["SMTPAUTH_CONFIG"])
    if path is None:
        path = next((p for p in DEFAULT_CONFIG_PATHS if p.exists()), None)
    if path is None:
        raise ConfigError(
            "no configuration file: copy config.example.toml to smtpauth.toml and fill it in, "
            "or pass --config FILE (or set SMTPAUTH_CONFIG)",
            key="--config",
        )
    return path


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        raw = path.expanduser().read_bytes()
    except FileNotFoundError:
        raise ConfigError(f"configuration file {path} does not exist", key="--config") from None
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror}", key="--config") from None
    try:
        return tomllib.loads(raw.decode("utf-8-sig"))
    except UnicodeDecodeError:
        raise ConfigError(f"{path} is not UTF-8 text", key="--config") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path} is not valid TOML: {exc}", key="--config") from None


@contextmanager
def _environment(env: Mapping[str, str]) -> Iterator[None]:
    """Show pydantic-settings (which reads os.environ) exactly the SMTPAUTH_* variables of ``env``."""
    saved = {k: v for k, v in os.environ.items() if k.startswith(ENV_PREFIX)}
    for k in saved:
        del os.environ[k]
    os.environ.update(
        {k: v for k, v in env.items() if k.startswith(ENV_PREFIX) and k not in ("SMTPAUTH_CONFIG", "SMTPAUTH_DATA_DIR")}
    )
    try:
        yield
    finally:
        for k in [k for k in os.environ if k.startswith(ENV_PREFIX)]:
            del os.environ[k]
        os.environ.update(saved)


def load_settings(
    path: Path | None = None,
    *,
    environ: Mapping[str, str] | None = None,
    require_tenants: bool = True,
    check_credentials: bool = True,
) -> Settings:
    """Load and validate the configuration.

    ``path`` None looks for ``$SMTPAUTH_CONFIG``, then ``smtpauth.toml`` / ``config.toml`` in the working directory.
    Relative ``data_dir`` is relative to the file. With ``check_credentials`` every tenant's secret or certificate
    is read now, so a missing secret is a configuration error at start-up, not a failed sync at 3 a.m.

    Raises ConfigError.
    """
    env = dict(os.environ if environ is None else environ)
    path = _find_config(path, env)
    data = _read_toml(path)
    if "SMTPAUTH_DATA_DIR" in env and "data_dir" not in data:
        data["data_dir"] = env["SMTPAUTH_DATA_DIR"]
    elif "data_dir" in data and not Path(str(data["data_dir"])).expanduser().is_absolute():
        data["data_dir"] = str((path.parent / str(data["data_dir"])).resolve())
    try:
        with _environment(env):
            settings = Settings(**data)
    except ValidationError as exc:
        raise _format_validation(exc, data) from None

    if require_tenants and not settings.tenants:
        raise ConfigError("no [[tenants]] table: add one per Microsoft 365 tenant", key="tenants")
    if check_credentials:
        for app in settings.apps:
            app.tenant_settings(f"app-{app.name}"[:63], "contoso.onmicrosoft.com", Cloud.GLOBAL).load_credential(env)
        for tenant in settings.tenants:
            tenant.load_credential(env)
            if tenant.ca_bundle is not None:
                _read(tenant.ca_bundle, f"tenants[{tenant.name}].ca_bundle")
    return settings
