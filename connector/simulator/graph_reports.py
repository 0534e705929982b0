"""Graph email-app usage reports (API notes section 1): the v1.0 302-to-CSV flow, the beta JSON variant and
``admin/reportSettings``.

Cell values: a per-user app column holds ``Yes`` when the account used that app in the period and is empty
otherwise (JSON: ``["Yes"]`` / ``[]``). Only the ``SMTP App`` column is derived message by message from the
population; the other apps' figures are stable synthetic values.
"""

import csv
import hashlib
import io
import itertools
import re
from collections.abc import Iterator
from datetime import date, timedelta
from typing import Any
from urllib.parse import urlencode

from connector.simulator.app import Call, Download
from connector.simulator.messages import SimResponse, json_response
from connector.simulator.population import Population

__all__ = [
    "APPS_COUNTS_COLUMNS",
    "REPORTS",
    "USER_COUNTS_COLUMNS",
    "USER_DETAIL_COLUMNS",
    "VERSIONS_COLUMNS",
    "conceal",
    "handle_report",
    "handle_report_settings",
    "report_rows",
]

_APPS = (
    "Mail For Mac",
    "Outlook For Mac",
    "Outlook For Windows",
    "Outlook For Mobile",
    "Other For Mobile",
    "Outlook For Web",
    "POP3 App",
    "IMAP4 App",
    "SMTP App",
)
USER_DETAIL_COLUMNS = (
    "Report Refresh Date",
    "User Principal Name",
    "Display Name",
    "Is Deleted",
    "Deleted Date",
    "Last Activity Date",
    *_APPS,
    "Report Period",
)
USER_COUNTS_COLUMNS = ("Report Refresh Date", *_APPS, "Report Date", "Report Period")
APPS_COUNTS_COLUMNS = ("Report Refresh Date", *_APPS, "Report Period")
VERSIONS_COLUMNS = (
    "Report Refresh Date",
    "Report Period",
    "Outlook 2007",
    "Outlook 2010",
    "Outlook 2013",
    "Outlook 2016",
    "Outlook 2019",
    "Outlook M365",
    "Undetermined",
)
REPORTS = {
    "getEmailAppUsageUserDetail": USER_DETAIL_COLUMNS,
    "getEmailAppUsageUserCounts": USER_COUNTS_COLUMNS,
    "getEmailAppUsageAppsUserCounts": APPS_COUNTS_COLUMNS,
    "getEmailAppUsageVersionsUserCounts": VERSIONS_COLUMNS,
}
_PERIODS = {"D7": 7, "D30": 30, "D90": 90, "D180": 180}
_SHARE = {
    "Mail For Mac": 0.04,
    "Outlook For Mac": 0.08,
    "Outlook For Windows": 0.7,
    "Outlook For Mobile": 0.45,
    "Other For Mobile": 0.05,
    "Outlook For Web": 0.5,
    "POP3 App": 0.01,
    "IMAP4 App": 0.02,
}
_ARG = re.compile(r"^(?P<name>getEmailAppUsage\w+)\((?P<key>period|date)=(?P<value>[^)]*)\)$")


def _camel(column: str) -> str:
    special = {"POP3 App": "pop3App", "IMAP4 App": "imap4App", "SMTP App": "smtpApp"}
    if column in special:
        return special[column]
    words = column.replace("-", " ").split()
    return words[0].lower() + "".join(w[:1].upper() + w[1:].lower() for w in words[1:])


def conceal(tenant_id: str, value: str, salt: str = "upn") -> str:
    """The concealed form of a name: 32 upper-case hex characters, stable per tenant and value."""
    return hashlib.md5(f"{tenant_id}:{salt}:{value}".encode(), usedforsecurity=False).hexdigest().upper()


def refresh_date(call: Call) -> date:
    return call.now.date() - timedelta(days=call.sim.settings.usage_lag_days)


def report_rows(
    pop: Population,
    tenant_id: str,
    report: str,
    refresh: date,
    *,
    period: int | None,
    day: date | None,
    concealed: bool,
) -> Iterator[dict[str, Any]]:
    """Rows of ``report`` keyed by CSV column name, typed (dates, bools, ints). Streams the user detail."""
    first, last = (day, day) if day is not None else (refresh - timedelta(days=(period or 7) - 1), refresh)
    period_label = 1 if day is not None else period
    if report == "getEmailAppUsageUserDetail":
        for i in range(pop.users):
            yield _user_row(
                pop,
                tenant_id=tenant_id,
                index=i,
                refresh=refresh,
                first=first,
                last=last,
                period_label=period_label,
                concealed=concealed,
            )
    elif report == "getEmailAppUsageUserCounts":
        d = last
        while d >= first:
            row: dict[str, Any] = {"Report Refresh Date": refresh, "Report Date": d, "Report Period": period}
            row.update(_app_counts(pop, d, d))
            yield row
            d -= timedelta(days=1)
    elif report == "getEmailAppUsageAppsUserCounts":
        row = {"Report Refresh Date": refresh, "Report Period": period}
        row.update(_app_counts(pop, first, last))
        yield row
    else:
        mailboxes = pop.users - pop.n_senders
        shares = (0.0, 0.01, 0.05, 0.3, 0.1, 0.5, 0.04)
        row = {"Report Refresh Date": refresh, "Report Period": period}
        row.update(zip(VERSIONS_COLUMNS[2:], (round(mailboxes * s) for s in shares), strict=True))
        yield row


def _app_counts(pop: Population, first: date, last: date) -> dict[str, int]:
    mailboxes = pop.users - pop.n_senders
    span = (last - first).days + 1
    factor = min(1.0, 0.55 + 0.05 * span)
    out = {app: round(mailboxes * share * factor) for app, share in _SHARE.items()}
    out["SMTP App"] = sum(1 for a in pop.senders if pop.smtp_days(a.index, first, last))
    return out


def _user_row(
    pop: Population,
    *,
    tenant_id: str,
    index: int,
    refresh: date,
    first: date,
    last: date,
    period_label: int | None,
    concealed: bool,
) -> dict[str, Any]:
    account = pop.account(index)
    deleted = pop.deleted_on(index, refresh)
    apps = pop.mailbox_apps(index)
    mailbox_last = pop.mailbox_last_activity(index, refresh)
    smtp_last = None
    smtp_used = False
    if account.is_smtp_sender:
        smtp_used = bool(pop.smtp_days(index, first, last))
        history = pop.smtp_days(index, pop.start, refresh)
        smtp_last = history[-1] if history else None
    last_activity = max((d for d in (mailbox_last, smtp_last) if d is not None), default=None)
    mailbox_in_period = mailbox_last is not None and first <= mailbox_last <= last
    row: dict[str, Any] = {
        "Report Refresh Date": refresh,
        "User Principal Name": conceal(tenant_id, account.upn) if concealed else account.upn,
        "Display Name": conceal(tenant_id, account.display_name, "name") if concealed else account.display_name,
        "Is Deleted": deleted is not None,
        "Deleted Date": deleted,
        "Last Activity Date": last_activity,
        "Report Period": period_label,
    }
    for app, used in apps.items():
        row[app] = used and mailbox_in_period
    row["SMTP App"] = smtp_used
    return row


def _csv_cell(column: str, value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        if column == "Is Deleted":
            return "True" if value else "False"
        return "Yes" if value else ""
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


def render_csv(columns: tuple[str, ...], rows: Iterator[dict[str, Any]], flags: frozenset[str]) -> bytes:
    """UTF-8 with BOM, CRLF line ends, header per the API notes (or altered by a fault)."""
    cols = list(columns)
    if "csv_reorder" in flags:
        cols = [cols[0], *reversed(cols[1:])]
    if "csv_extra_column" in flags or "schema_drift" in flags:
        cols.insert(len(cols) // 2, "Future Column")
    header = list(cols)
    if "schema_drift" in flags:
        # Microsoft renames a column we do not need
        renamed = next(c for c in ("Display Name", "Outlook For Web", "Outlook 2007") if c in cols)
        header[cols.index(renamed)] = _DRIFT_RENAMES[renamed]
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\r\n")
    writer.writerow(header)
    for row in rows:
        writer.writerow(["future" if c == "Future Column" else _csv_cell(c, row.get(c)) for c in cols])
    return b"\xef\xbb\xbf" + buf.getvalue().encode("utf-8")


_DRIFT_RENAMES = {
    "Display Name": "User Display Name",
    "Outlook For Web": "Outlook On The Web",
    "Outlook 2007": "Outlook 2007 Or Older",
}


def _json_value(column: str, value: Any) -> Any:
    if isinstance(value, date):
        return value.isoformat()
    if column in _APPS and isinstance(value, bool):
        return ["Yes"] if value else []
    return value


def _parse(call: Call, segment: str) -> tuple[str, int | None, date | None] | SimResponse:
    m = _ARG.match(segment)
    if not m or m["name"] not in REPORTS:
        return call.error(400, "BadRequest", f"Resource not found for the segment '{segment}'.")
    name, key, value = m["name"], m["key"], m["value"].strip()
    if key == "period":
        period = _PERIODS.get(value.strip("'"))
        if period is None or not (value.startswith("'") and value.endswith("'")):
            return call.error(400, "BadRequest", f"Invalid period value {value}: use 'D7', 'D30', 'D90' or 'D180'.")
        return name, period, None
    if name != "getEmailAppUsageUserDetail":
        return call.error(400, "BadRequest", f"{name} does not accept a date parameter.")
    try:
        day = date.fromisoformat(value)
    except ValueError:
        return call.error(400, "BadRequest", f"Invalid date value {value}: use YYYY-MM-DD without quotes.")
    refresh = refresh_date(call)
    oldest = call.now.date() - timedelta(days=call.sim.settings.usage_date_days)
    if day > refresh or day < oldest:
        return call.error(
            400,
            "BadRequest",
            f"The date {value} is not in the supported range: data is available from {oldest} to {refresh}.",
        )
    return name, None, day


def _permission(call: Call, role: str) -> SimResponse | None:
    if role in call.grant.roles:
        return None
    have = ", ".join(sorted(call.grant.roles)) or "none"
    return call.error(
        403,
        "Forbidden",
        f"Missing role permissions on the request. API requires one of '{role}'. Roles on the request '{have}'.",
    )


def handle_report(call: Call, version: str, segment: str) -> SimResponse:
    parsed = _parse(call, segment)
    if isinstance(parsed, SimResponse):
        return parsed
    name, period, day = parsed
    denied = _permission(call, "Reports.Read.All")
    if denied is not None:
        return denied
    tenant = call.tenant
    app_id = call.grant.client_id
    limits = call.sim.throttle_config
    json_format = call.request.query.get("$format", "").lower() == "application/json"
    if json_format and version != "beta":
        return call.error(400, "BadRequest", "$format=application/json is supported on the beta endpoint only.")
    if json_format:
        blocked = call.sim.throttled(
            call, "reports_json", [(("json", tenant.tenant_id, app_id), limits.reports_json_per_app)]
        )
    else:
        blocked = call.sim.throttled(
            call,
            "reports",
            [
                (("csv-app", tenant.tenant_id, app_id, name), limits.reports_csv_per_app),
                (("csv-tenant", tenant.tenant_id, name), limits.reports_csv_per_tenant),
            ],
        )
    if blocked is not None:
        return blocked
    refresh = refresh_date(call)
    concealed = tenant.concealed_names
    pop = call.population

    def rows() -> Iterator[dict[str, Any]]:
        return report_rows(pop, tenant.tenant_id, name, refresh, period=period, day=day, concealed=concealed)

    if json_format:
        return _json_page(call, version, segment, name, rows)
    etag = (
        '"'
        + hashlib.sha1(  # noqa: S324 (an ETag, not a security hash)
            f"{tenant.tenant_id}:{segment}:{refresh}:{concealed}".encode()
        ).hexdigest()
        + '"'
    )
    if call.request.header("If-None-Match") == etag:
        return SimResponse(304, {"ETag": etag})
    flags = frozenset(call.flags)
    expires = call.now + timedelta(minutes=call.sim.settings.download_link_minutes)
    token = call.sim.add_download(
        Download(
            tenant.tenant_id,
            lambda: render_csv(REPORTS[name], rows(), flags),
            expires,
            fault_flags=flags,
        )
    )
    query = urlencode({"sv": "2024-08-04", "se": expires.strftime("%Y-%m-%dT%H:%M:%SZ"), "sp": "r", "sig": token})
    location = f"{call.sim.endpoints.download}/reports/{tenant.tenant_id}/{name}.csv?{query}"
    return SimResponse(302, {"Location": location, "ETag": etag, "Content-Length": "0"})


def _json_page(call: Call, version: str, segment: str, name: str, rows: Any) -> SimResponse:
    page = call.sim.settings.json_page_size if name == "getEmailAppUsageUserDetail" else 10_000
    offset = 0
    skiptoken = call.request.query.get("$skiptoken")
    if skiptoken is not None:
        saved = call.sim.load_skiptoken(skiptoken)
        if saved is None or not isinstance(saved[1], tuple) or saved[1][0] != ("reports", segment):
            return call.error(400, "BadRequest", "Invalid Skip Token.")
        offset = int(saved[1][1])
    window = list(itertools.islice(rows(), offset, offset + page + 1))
    value = [{_camel(c): _json_value(c, v) for c, v in row.items()} for row in window[:page]]
    payload: dict[str, Any] = {"@odata.context": f"{call.sim.endpoints.graph}/{version}/$metadata#Collection"}
    payload["value"] = value
    if len(window) > page:
        token = call.sim.save_skiptoken((("reports", segment), offset + page))
        query = urlencode({"$format": "application/json", "$skiptoken": token})
        payload["@odata.nextLink"] = f"{call.sim.endpoints.graph}/{version}/reports/{segment}?{query}"
    return json_response(200, payload)


def handle_report_settings(call: Call) -> SimResponse:
    denied = _permission(call, "ReportSettings.Read.All")
    if denied is not None:
        return denied
    # the shape of the v1.0 page's example: the object wrapped in "value" (API notes section 9)
    return json_response(
        200,
        {
            "@odata.context": f"{call.sim.endpoints.graph}/v1.0/$metadata#admin/reportSettings/$entity",
            "value": {
                "@odata.type": "#microsoft.graph.adminReportSettings",
                "displayConcealedNames": call.tenant.concealed_names,
            },
        },
    )
