"""Readiness for the Basic auth switch-off: per-account status with the next step, and a burndown.

Microsoft's dates (API notes section 8): Basic auth for SMTP AUTH client submission is disabled by default for
existing tenants at the end of December 2026 (admins can re-enable it); the final removal date is to be
announced in the second half of 2027. Clients then get ``550 5.7.30 Basic authentication is not supported for
Client Submission``.

Account statuses come from the report's ``accounts`` table (:mod:`connector.store.readside.accounts`), so the report
and the readiness view never disagree; this module adds the devices/IPs behind each Basic account and the
concrete next step.
"""

from dataclasses import replace
from datetime import date, timedelta
from typing import Any

import sqlalchemy as sa

from connector.store.readside.accounts import accounts
from connector.store.readside.params import ReportParams
from connector.store.readside.sql import Dialect, rsd, rso, rst, sender_filter
from connector.store.store import Store

__all__ = [
    "BASIC_OFF_BY_DEFAULT",
    "BURNDOWN_COLUMNS",
    "READINESS_COLUMNS",
    "READINESS_STATUSES",
    "burndown",
    "burndown_rows",
    "next_step",
    "readiness",
    "readiness_payload",
    "readiness_rows",
    "readiness_view",
]

#: Basic SMTP AUTH disabled by default for existing tenants (end of December 2026); removal: 2H 2027 (TBA)
BASIC_OFF_BY_DEFAULT = date(2026, 12, 31)

READINESS_COLUMNS = (
    "account",
    "status",
    "auth_protocol",
    "last_seen",
    "messages",
    "basic_signins",
    "failed_signins",
    "legacy_tls_messages",
    "client_ips",
    "smtp_auth_enabled",
    "next_step",
    "smtp_auth_snapshot_date",
    "last_active_date",
)
BURNDOWN_COLUMNS = (
    "date",
    "iso_week",
    "basic_accounts",
    "basic_signins",
    "basic_messages_smtp_cs",
    "days_to_default_off",
)

_DISABLE = "Set-CASMailbox -Identity {a} -SmtpClientAuthenticationDisabled $true"
_STEPS = {
    "blocked_but_attempting": "Its sign-ins are already refused (account disabled, blocked by policy or SMTP AUTH "
    "off), yet a device at {ips} keeps trying: find it and move it to OAuth (or a relay/connector that does not use "
    "Basic auth), or retire it; nothing to change on the mailbox.",
    "blocked_now": "Blocked now, in use until {last}: SMTP AUTH is off for this mailbox, so the client at {ips} has "
    "failed since; move it to OAuth (or a relay/connector that does not use Basic auth), or retire it.",
    "basic_in_use": "Before the end of December 2026: move the client at {ips} to OAuth (or a relay/connector that "
    "does not use Basic auth), then " + _DISABLE + ".",
    "legacy_tls_in_use": "Update the client at {ips} to TLS 1.2 or later (TLS 1.0/1.1 work only on "
    "smtp-legacy.office365.com).",
    "oauth_only": "Nothing to do for the switch-off.",
    "failed_signins_only": "Only failed sign-ins: likely a password spray; " + _DISABLE + " if unused.",
    "enabled_but_unused": "SMTP AUTH is on but unused: " + _DISABLE + ".",
    "in_use_protocol_unknown": "Request an SmtpCSReport (exchange_admin = true) or import the admin center export "
    "to learn whether it uses Basic auth.",
    "no_activity_in_range": "No SMTP AUTH activity: " + _DISABLE + " if the mailbox is enabled.",
}
#: added to the step of an account that also submits over TLS 1.0/1.1 (whatever its status)
_LEGACY_TLS = " It also sends over TLS 1.0/1.1 ({n} of {m} messages): update it to TLS 1.2 or later first."
#: readiness statuses, most urgent first
READINESS_STATUSES = tuple(_STEPS)


def next_step(
    status: str, account: str, ips: str, *, legacy_tls: int = 0, messages: int = 0, last: str | None = None
) -> str:
    """What to do next for one account, with its own address, client IPs and last day of use filled in."""
    step = _STEPS.get(status, "").format(a=account, ips=ips or "an unknown IP", last=last or "?")
    if legacy_tls and status != "legacy_tls_in_use":
        step += _LEGACY_TLS.format(n=f"{legacy_tls:,}", m=f"{max(messages, legacy_tls):,}")
    return step


def _ips(conn: sa.Connection, params: ReportParams) -> dict[str, str]:
    q = (
        sa.select(rso.c.user_principal_name, rso.c.ip_address)
        .where(
            rso.c.tenant == params.tenant,
            rso.c.utc_day.between(params.date_from, params.date_to),
            rso.c.ip_address != "",
        )
        .distinct()
    )
    out: dict[str, set[str]] = {}
    for upn, ip in conn.execute(q):
        out.setdefault(str(upn), set()).add(str(ip))
    return {k: " ".join(sorted(v)) for k, v in out.items()}


def _params(tenant: str, today: date, days: int, domains: tuple[str, ...], senders: tuple[str, ...]) -> ReportParams:
    return ReportParams(
        tenant=tenant, date_from=today - timedelta(days=days - 1), date_to=today, domains=domains, senders=senders
    )


def readiness(
    store: Store,
    tenant: str,
    *,
    today: date,
    days: int,
    domains: tuple[str, ...] = (),
    senders: tuple[str, ...] = (),
) -> list[tuple[Any, ...]]:
    """One row per account (``READINESS_COLUMNS``), the most urgent statuses first; ``domains``/``senders``
    (lower-case, as ``ReportParams`` holds them) keep only those accounts, as a report's filters do."""
    with store.read() as conn:
        return readiness_rows(conn, Dialect(store.dialect), _params(tenant, today, days, domains, senders))


def readiness_rows(conn: sa.Connection, d: Dialect, params: ReportParams) -> list[tuple[Any, ...]]:
    """:func:`readiness` over ``params``' tenant, range and filters, read on ``conn`` (a read transaction) with
    ``d`` (a report build's, whose shared per-sender figures the accounts then reuse). The accounts' messages
    count every message-trace row (``trace_signin_ip_only`` is not applied, as in ``smtpauth readiness``)."""
    params = replace(params, trace_signin_ip_only=False)
    ips = _ips(conn, params)
    rows = list(conn.execute(accounts(d, params)))
    order = {s: k for k, s in enumerate(_STEPS)}
    out = []
    for r in rows:
        addr = str(r.sender_address)
        last = r.last_active_date.isoformat() if hasattr(r.last_active_date, "isoformat") else r.last_active_date
        out.append(
            (
                addr,
                r.status,
                r.auth_protocol,
                r.last_signin_at.isoformat() if r.last_signin_at else None,
                int(r.messages),
                int(r.basic_signins),
                int(r.failed_signins),
                int(r.legacy_tls_messages),
                ips.get(addr, ""),
                r.smtp_auth_enabled,
                next_step(
                    r.status,
                    addr,
                    ips.get(addr, ""),
                    legacy_tls=int(r.legacy_tls_messages),
                    messages=int(r.messages),
                    last=last,
                ),
                r.posture_snapshot_date,
                last,
            )
        )
    out.sort(key=lambda row: (order.get(row[1], 99), row[0]))
    return out


def burndown(
    store: Store,
    tenant: str,
    *,
    today: date,
    days: int,
    domains: tuple[str, ...] = (),
    senders: tuple[str, ...] = (),
) -> list[tuple[Any, ...]]:
    """Per day (``BURNDOWN_COLUMNS``): accounts with Basic SMTP AUTH evidence (a successful Authenticated SMTP
    sign-in or an SmtpCSReport row with a Basic auth method), their successful sign-ins (one per Basic SMTP
    session), the Basic messages of SmtpCSReport (None for days without its rows), and the days left before
    the default switch-off. ``domains``/``senders`` count only those accounts, as in :func:`readiness`."""
    with store.read() as conn:
        return burndown_rows(conn, _params(tenant, today, days, domains, senders))


def burndown_rows(conn: sa.Connection, params: ReportParams) -> list[tuple[Any, ...]]:
    """:func:`burndown` per day of ``params``' range, for its tenant and filters, read on ``conn``."""
    tenant, first, today = params.tenant, params.date_from, params.date_to
    days = params.days
    # per day, in SQL: the accounts of either source (each once), the sign-ins, and the Basic SmtpCSReport
    # messages (NULL for a day without such rows)
    sig = sa.select(
        rsd.c.utc_day.label("day"),
        rsd.c.sender_address.label("account"),
        rsd.c.signins_ok.label("signins"),
        sa.null().label("messages"),
    ).where(
        rsd.c.tenant == tenant,
        rsd.c.utc_day.between(first, today),
        rsd.c.signins_ok > 0,
        rsd.c.sender_address != "",
        *sender_filter(params, rsd.c.sender_address, rsd.c.sender_domain),
    )
    csq = sa.select(rst.c.utc_day, rst.c.sender_address, sa.literal(0), sa.func.coalesce(rst.c.messages, 0)).where(
        rst.c.tenant == tenant,
        rst.c.utc_day.between(first, today),
        rst.c.auth_bucket == "Basic",
        *sender_filter(params, rst.c.sender_address, rst.c.sender_domain),
    )
    both = sa.union_all(sig, csq).subquery("basic")
    per_day = sa.select(
        both.c.day,
        sa.func.count(sa.distinct(both.c.account)),
        sa.func.sum(both.c.signins),
        sa.func.sum(both.c.messages),
    ).group_by(both.c.day)
    accounts_by_day: dict[date, int] = {}
    signins: dict[date, int] = {}
    messages: dict[date, int] = {}
    for day, n_accounts, n_signins, n_messages in conn.execute(per_day):
        dd = _d(day)
        accounts_by_day[dd] = int(n_accounts)
        signins[dd] = int(n_signins or 0)
        if n_messages is not None:
            messages[dd] = int(n_messages)
    out = []
    for k in range(days):
        dd = first + timedelta(days=k)
        iso = dd.isocalendar()
        out.append(
            (
                dd,
                f"{iso.year}-W{iso.week:02d}",
                accounts_by_day.get(dd, 0),
                signins.get(dd, 0),
                messages.get(dd),
                (BASIC_OFF_BY_DEFAULT - dd).days,
            )
        )
    return out


def _json(value: Any) -> Any:
    return value.isoformat() if hasattr(value, "isoformat") else value


def readiness_payload(
    store: Store,
    tenant: str,
    *,
    today: date,
    days: int,
    burndown_days: int | None = None,
    domains: tuple[str, ...] = (),
    senders: tuple[str, ...] = (),
    max_rows: int | None = None,
    records: bool = False,
) -> dict[str, Any]:
    """The readiness view as JSON values, for the service's ``/readiness`` and the HTML report: the accounts of
    the ``days`` ending ``today`` (:func:`readiness`; the first ``max_rows`` of them, ``total`` says how many) and
    the burndown of ``burndown_days`` (default: ``days``). Rows are lists in column order, or dictionaries keyed
    by column with ``records``."""
    params = _params(tenant, today, days, domains, senders)
    with store.read() as conn:
        return readiness_view(
            conn,
            Dialect(store.dialect),
            params,
            burndown_days=burndown_days,
            max_rows=max_rows,
            records=records,
        )


def readiness_view(
    conn: sa.Connection,
    d: Dialect,
    params: ReportParams,
    *,
    burndown_days: int | None = None,
    max_rows: int | None = None,
    records: bool = False,
) -> dict[str, Any]:
    """:func:`readiness_payload` over ``params``' tenant, range and filters, read on ``conn`` (a read transaction)
    with ``d``: the HTML report passes its own, so the accounts are the per-sender figures its tables computed."""
    rows = readiness_rows(conn, d, params)
    span = burndown_days or params.days
    burn = burndown_rows(conn, params.with_range(params.date_to - timedelta(days=span - 1), params.date_to))

    def cells(columns: tuple[str, ...], row: tuple[Any, ...]) -> Any:
        values = [_json(v) for v in row]
        return dict(zip(columns, values, strict=True)) if records else values

    return {
        "tenant": params.tenant,
        "today": params.date_to.isoformat(),
        "days": params.days,
        "basic_off_by_default": BASIC_OFF_BY_DEFAULT.isoformat(),
        "statuses": list(READINESS_STATUSES),
        "columns": list(READINESS_COLUMNS),
        "rows": [cells(READINESS_COLUMNS, r) for r in (rows if max_rows is None else rows[:max_rows])],
        "total": len(rows),
        "burndown_columns": list(BURNDOWN_COLUMNS),
        "burndown": [cells(BURNDOWN_COLUMNS, b) for b in burn],
    }


def _d(value: Any) -> date:
    return value if isinstance(value, date) else date.fromisoformat(str(value))
