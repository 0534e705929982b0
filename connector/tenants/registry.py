"""The tenant registry: tenants kept in the database for estates too large for ``[[tenants]]`` tables.

A row names its tenant id, cloud, schedule and credential. The credential is a *reference*, never a secret:

- ``app:NAME``: the ``[[apps]]`` table ``NAME`` of the configuration, a multi-tenant app (its client id and
  certificate serve every customer tenant that consented to it);
- ``env:VARIABLE``: a client secret in that environment variable of the worker (``client_id`` required);
- ``file:/absolute/path``: a client secret in that file, mode 600 (``client_id`` required).

Anything that looks like a secret value (an Entra client secret, a PEM block, a JWT, a long random string) is
refused wherever it appears, and the refusal never repeats the value. Registry tenants are merged with the
configuration's (:func:`with_registry`); the same name in both is refused.

Errors: :class:`~connector.errors.ConfigError` naming the field (or the CSV line) and the fix.
"""

import csv
import io
import math
import re
from collections import Counter
from collections.abc import Iterable, Mapping
from datetime import datetime
from pathlib import Path
from typing import Any, Self

import sqlalchemy as sa
from pydantic import BaseModel, ConfigDict, ValidationError, field_validator, model_validator

from connector.clouds import Cloud
from connector.config import ScheduleSettings, Settings, TenantSettings
from connector.errors import ConfigError
from connector.store.store import Store
from models import TenantRecord

__all__ = [
    "CSV_COLUMNS",
    "TenantEntry",
    "add_tenant",
    "import_csv",
    "list_registry",
    "looks_like_secret",
    "remove_tenant",
    "with_registry",
]

_reg: sa.Table = TenantRecord.__table__  # type: ignore[attr-defined]

#: columns of ``smtpauth tenants import FILE.csv`` (name, tenant_id and credential are required)
CSV_COLUMNS = (
    "name",
    "tenant_id",
    "cloud",
    "credential",
    "client_id",
    "schedule",
    "timezone",
    "primary_domain",
    "exchange_admin",
)
_REQUIRED = ("name", "tenant_id", "credential")
_MAX_ERRORS = 20

_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,127}$")
_ENTRA_SECRET = re.compile(r"[A-Za-z0-9_.\-]{3}\dQ~[A-Za-z0-9_.\-~]{20,}")
_JWT = re.compile(r"eyJ[A-Za-z0-9_\-]{8,}\.[A-Za-z0-9_\-]{8,}")
_SECRET_WORDS = re.compile(r"(client_secret|password|passwd|secret|api[_-]?key|private key)\s*[=:]", re.IGNORECASE)
_GUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")


def _entropy(text: str) -> float:
    counts = Counter(text)
    return -sum(c / len(text) * math.log2(c / len(text)) for c in counts.values())


def looks_like_secret(value: str) -> bool:
    """True for a value that looks like a credential rather than a reference to one.

    An Entra client secret (``abc8Q~…``), a PEM block, a JWT, ``secret=…`` text, or a long run of random-looking
    characters (at least 24 without a path separator, a dot or a dash, with high entropy and mixed classes).
    """
    text = value.strip()
    if not text:
        return False
    if "-----BEGIN" in text or _ENTRA_SECRET.search(text) or _JWT.search(text) or _SECRET_WORDS.search(text):
        return True
    if _GUID.match(text):
        return False
    for token in re.split(r"[\s/:=,;]+", text):
        if len(token) < 24 or "." in token or token.isupper() or token.islower():
            continue
        classes = sum(bool(re.search(p, token)) for p in (r"[a-z]", r"[A-Z]", r"[0-9]", r"[^A-Za-z0-9]"))
        if classes >= 3 and _entropy(token) >= 4.0:
            return True
    return False


def _refuse_secrets(fields: Mapping[str, object]) -> None:
    for key, value in fields.items():
        if isinstance(value, str) and looks_like_secret(value):
            raise ConfigError(
                "looks like a secret value, and the registry never stores secrets: put the secret in an environment "
                "variable or a mode-600 file and reference it (credential = env:VARIABLE or file:/path), or use a "
                "multi-tenant app's certificate (credential = app:NAME)",
                key=key,
            )


class TenantEntry(BaseModel):
    """A validated registry row (what ``tenants add``, ``tenants import`` and ``POST /api/v1/tenants`` accept)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    tenant_id: str
    cloud: Cloud = Cloud.GLOBAL
    credential: str
    client_id: str | None = None
    schedule: str | None = None
    timezone: str | None = None
    primary_domain: str | None = None
    exchange_admin: bool = False

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        return TenantSettings._name(v)

    @field_validator("tenant_id")
    @classmethod
    def _tenant_id(cls, v: str) -> str:
        return TenantSettings._tenant_id(v)

    @field_validator("client_id")
    @classmethod
    def _client_id(cls, v: str | None) -> str | None:
        return None if v is None else TenantSettings._client_id(v)

    @field_validator("primary_domain")
    @classmethod
    def _domain(cls, v: str | None) -> str | None:
        if v is not None and not re.match(r"^(?=.{4,253}$)([a-zA-Z0-9-]{1,63}\.)+[a-zA-Z]{2,63}$", v):
            raise ValueError("expected a verified domain such as contoso.com")
        return v.lower() if v else v

    @field_validator("credential")
    @classmethod
    def _credential(cls, v: str) -> str:
        kind, sep, ref = v.strip().partition(":")
        if not sep or kind not in ("app", "env", "file"):
            raise ValueError("use app:NAME (a multi-tenant app of the configuration), env:VARIABLE or file:/path")
        if kind == "app" and not re.match(r"^[a-z0-9][a-z0-9_-]{0,62}$", ref):
            raise ValueError("app:NAME names an [[apps]] table: lower-case letters, digits, - and _")
        if kind == "env" and not _ENV_NAME.match(ref):
            raise ValueError("env:VARIABLE names an environment variable (letters, digits and _)")
        if kind == "file" and not Path(ref).is_absolute():
            raise ValueError("file:/path needs an absolute path")
        return f"{kind}:{ref}"

    @model_validator(mode="after")
    def _coherent(self) -> Self:
        kind = self.credential.split(":", 1)[0]
        if kind in ("env", "file") and self.client_id is None:
            raise ValueError(f"client_id: a {kind}: credential needs client_id (the app registration's application id)")
        if kind == "app" and self.client_id is not None:
            raise ValueError(
                "client_id: an app: credential takes the [[apps]] table's client id: leave client_id empty"
            )
        if self.timezone is not None and self.schedule is None:
            raise ValueError("schedule: timezone without schedule: give the cron expression too")
        if self.schedule is not None:
            try:
                ScheduleSettings(cron=self.schedule, timezone=self.timezone or "UTC")
            except ValidationError as exc:
                err = exc.errors(include_url=False)[0]
                field = "timezone" if "timezone" in err["loc"] else "schedule"
                raise ValueError(f"{field}: " + str(err["msg"]).removeprefix("Value error, ")) from None
        return self

    @property
    def schedule_settings(self) -> ScheduleSettings | None:
        return None if self.schedule is None else ScheduleSettings(cron=self.schedule, timezone=self.timezone or "UTC")

    def tenant_settings(self, settings: Settings) -> TenantSettings:
        """The [[tenants]] equivalent. Raises ConfigError for an unknown app."""
        kind, _, ref = self.credential.partition(":")
        if kind == "app":
            app = settings.app(ref)
            return app.tenant_settings(
                self.name,
                self.tenant_id,
                self.cloud,
                primary_domain=self.primary_domain,
                exchange_admin=self.exchange_admin,
            )
        extra: dict[str, Any] = {"client_secret_env": ref} if kind == "env" else {"client_secret_file": Path(ref)}
        return TenantSettings(
            name=self.name,
            tenant_id=self.tenant_id,
            client_id=self.client_id or "",
            cloud=self.cloud,
            primary_domain=self.primary_domain,
            exchange_admin=self.exchange_admin,
            **extra,
        )

    @classmethod
    def parse(cls, fields: Mapping[str, object], *, where: str = "") -> "TenantEntry":
        """Validate raw fields (empty strings are absent). Raises ConfigError naming the field."""
        prefix = f"{where} " if where else ""
        clean = {k: (v.strip() if isinstance(v, str) else v) for k, v in fields.items()}
        clean = {k: v for k, v in clean.items() if v not in ("", None)}
        _refuse_secrets({f"{prefix}{k}": v for k, v in clean.items()})
        if isinstance(clean.get("exchange_admin"), str):
            flag = str(clean["exchange_admin"]).lower()
            if flag not in ("true", "false", "yes", "no", "1", "0"):
                raise ConfigError("expected true or false", key=f"{prefix}exchange_admin")
            clean["exchange_admin"] = flag in ("true", "yes", "1")
        try:
            return cls(**clean)
        except ValidationError as exc:
            err = exc.errors(include_url=False)[0]
            loc = ".".join(str(p) for p in err["loc"])
            msg = str(err["msg"]).removeprefix("Value error, ")
            if not loc:
                loc, _, msg = msg.partition(": ")
            if err["type"] == "extra_forbidden":
                msg = f"unknown field: use {', '.join(CSV_COLUMNS)}"
            elif err["type"] == "missing":
                msg = "required"
            raise ConfigError(msg, key=f"{prefix}{loc}") from None

    def row(self, now: datetime) -> dict[str, Any]:
        return {
            "name": self.name,
            "tenant_id": self.tenant_id,
            "cloud": self.cloud.value,
            "credential": self.credential,
            "client_id": self.client_id,
            "schedule_cron": self.schedule,
            "schedule_timezone": self.timezone if self.schedule else None,
            "primary_domain": self.primary_domain,
            "exchange_admin": self.exchange_admin,
            "added_at": now,
            "updated_at": now,
        }

    @classmethod
    def from_row(cls, row: Any) -> "TenantEntry":
        return cls(
            name=row.name,
            tenant_id=row.tenant_id,
            cloud=Cloud(row.cloud),
            credential=row.credential,
            client_id=row.client_id,
            schedule=row.schedule_cron,
            timezone=row.schedule_timezone,
            primary_domain=row.primary_domain,
            exchange_admin=bool(row.exchange_admin),
        )


def _check_names(settings: Settings, entries: Iterable[TenantEntry], where: Mapping[str, str] | None = None) -> None:
    configured = {t.name for t in settings.tenants}
    for e in entries:
        if e.name in configured:
            raise ConfigError(
                f"tenant {e.name!r} is already a [[tenants]] table of the configuration: choose another name or "
                "remove the table",
                key=(where or {}).get(e.name, "name"),
            )
        if e.credential.startswith("app:"):
            settings.app(e.credential.removeprefix("app:"))


def _upsert(conn: sa.Connection, entries: list[TenantEntry], now: datetime) -> tuple[int, int]:
    existing = {r.name for r in conn.execute(sa.select(_reg.c.name).where(_reg.c.name.in_([e.name for e in entries])))}
    for e in entries:
        values = e.row(now)
        if e.name in existing:
            values.pop("added_at")
            conn.execute(_reg.update().where(_reg.c.name == e.name).values(**values))
        else:
            conn.execute(_reg.insert().values(**values))
    return len(entries) - len(existing), len(existing)


def add_tenant(store: Store, settings: Settings, entry: TenantEntry, *, now: datetime, replace: bool = False) -> bool:
    """Add ``entry`` (or replace a row of that name with ``replace``); True when it was new. Raises ConfigError."""
    _check_names(settings, [entry])
    with store.transaction() as tx:
        exists = tx.execute(sa.select(_reg.c.id).where(_reg.c.name == entry.name)).first() is not None
        if exists and not replace:
            raise ConfigError(f"tenant {entry.name!r} is already in the registry: remove it first", key="name")
        added, _ = _upsert(tx, [entry], now)
    return added == 1


def remove_tenant(store: Store, settings: Settings, name: str) -> None:
    """Remove a registry tenant (its synced data stays). Raises ConfigError for an unknown or a TOML tenant."""
    with store.transaction() as tx:
        removed = tx.execute(_reg.delete().where(_reg.c.name == name)).rowcount
    if removed:
        return
    if name in {t.name for t in settings.tenants}:
        raise ConfigError(f"tenant {name!r} is a [[tenants]] table of the configuration: remove it there", key="TENANT")
    raise ConfigError(f"tenant {name!r} is not in the registry (see `smtpauth tenants list`)", key="TENANT")


def _names(store: Store) -> list[str]:
    with store.read() as conn:
        return [str(n) for n in conn.execute(sa.select(_reg.c.name)).scalars()]


def list_registry(store: Store) -> list[TenantEntry]:
    """Every registry row, by name."""
    with store.read() as conn:
        return [TenantEntry.from_row(r) for r in conn.execute(sa.select(_reg).order_by(_reg.c.name))]


def parse_csv(text: str, source: str = "CSV") -> list[TenantEntry]:
    """Every row of a registry CSV, validated. Raises ConfigError listing the first problems by line."""
    reader = csv.DictReader(io.StringIO(text.lstrip("\ufeff")))
    header = [h.strip().lower() for h in (reader.fieldnames or [])]
    if not header:
        raise ConfigError("the file is empty: the first line names the columns", key=source)
    unknown = [h for h in header if h not in CSV_COLUMNS]
    if unknown:
        hint = " (secrets never go in the registry: reference them with credential = env:VARIABLE or file:/path)"
        secretish = any("secret" in h or "password" in h or "key" in h for h in unknown)
        raise ConfigError(
            f"unknown column(s) {', '.join(unknown)}: use {', '.join(CSV_COLUMNS)}{hint if secretish else ''}",
            key=source,
        )
    missing = [c for c in _REQUIRED if c not in header]
    if missing:
        raise ConfigError(f"missing column(s) {', '.join(missing)}", key=source)
    entries: list[TenantEntry] = []
    errors: list[str] = []
    seen: dict[str, int] = {}
    for i, raw in enumerate(reader, start=2):
        fields = {(k or "").strip().lower(): v for k, v in raw.items() if k is not None}
        if None in raw:
            errors.append(f"line {i}: more values than columns")
            continue
        if not any((v or "").strip() for v in fields.values()):
            continue
        try:
            entry = TenantEntry.parse(fields)
        except ConfigError as exc:
            errors.append(f"line {i}: {exc}")
            continue
        if entry.name in seen:
            errors.append(f"line {i}: name: {entry.name!r} is also on line {seen[entry.name]}")
            continue
        seen[entry.name] = i
        entries.append(entry)
    if errors:
        more = f" (and {len(errors) - _MAX_ERRORS} more)" if len(errors) > _MAX_ERRORS else ""
        raise ConfigError(
            "nothing imported: " + "; ".join(errors[:_MAX_ERRORS]) + more,
            key=source,
        )
    return entries


def import_csv(store: Store, settings: Settings, text: str, *, now: datetime, source: str = "CSV") -> tuple[int, int]:
    """Add or update every row of a registry CSV in one transaction; return (added, updated).

    All or nothing: one bad row (or a name of the configuration) refuses the whole file. Raises ConfigError.
    """
    entries = parse_csv(text, source)
    _check_names(settings, entries, {e.name: source for e in entries})
    with store.transaction() as tx:
        return _upsert(tx, entries, now)


def with_registry(settings: Settings, store: Store) -> Settings:
    """``settings`` with the registry's tenants appended (and their schedules in ``service.tenant_schedules``).

    Raises ConfigError when a registry tenant has the name of a [[tenants]] table or names an unknown app.
    """
    entries = list_registry(store)
    if not entries:
        return settings
    configured = {t.name for t in settings.tenants}
    tenants = list(settings.tenants)
    schedules = dict(settings.service.tenant_schedules)
    for e in entries:
        if e.name in configured:
            raise ConfigError(
                f"tenant {e.name!r} is both a [[tenants]] table and a registry row: remove one "
                f"(smtpauth tenants remove {e.name})",
                key="tenants",
            )
        tenants.append(e.tenant_settings(settings))
        if e.schedule_settings is not None:
            schedules[e.name] = e.schedule_settings
    service = settings.service.model_copy(update={"tenant_schedules": schedules})
    return settings.model_copy(update={"tenants": tenants, "service": service})
