"""Graph email-app usage reports: ``getEmailAppUsageUserDetail``, ``...UserCounts``, ``...AppsUserCounts``.

CSV (v1.0) columns are mapped by header name (Microsoft appends columns over time), a UTF-8 BOM is stripped,
and ``Report Refresh Date`` is the as-of date. The beta JSON variant uses camelCase names, per-user app fields
are string arrays (``[]`` = not used) and counts are integers.

What a non-empty per-user app cell means is undocumented (microsoft-365-apis.md §1): a cell counts as "used"
unless it is blank, ``No``, ``False`` or ``0``, and the raw cell is kept in ``smtp_app_detail``.

Concealed names: a UPN without ``@`` or made of 32 hex characters is a hashed identifier (concealment is the
tenant default): such rows are flagged ``concealed`` and must never be joined to sign-ins or message trace.
"""

import re
from collections.abc import Iterator, Mapping
from datetime import date
from typing import Any

from connector.http.families import REPORTS_CSV
from connector.sources._base import (
    BytesSource,
    InvalidRecordError,
    Normalized,
    SourceSpec,
    guarded,
    iter_csv,
    json_items,
    parse_bool,
    parse_date,
    parse_field,
    parse_int,
    text_or_none,
)
from connector.sources.drift import DriftRecorder
from models import UsageAppsKpi, UsageUserCounts, UsageUserDetail

__all__ = [
    "APPS_USER_COUNTS",
    "PERIODS",
    "USER_COUNTS",
    "USER_DETAIL",
    "app_cell_used",
    "check_view",
    "is_concealed",
    "normalize_apps_user_counts_csv",
    "normalize_apps_user_counts_json",
    "normalize_user_counts_csv",
    "normalize_user_counts_json",
    "normalize_user_detail_csv",
    "normalize_user_detail_json",
]

PERIODS = ("D7", "D30", "D90", "D180")

USER_DETAIL = SourceSpec(
    name="usage_user_detail",
    family=REPORTS_CSV,
    permission="Reports.Read.All",
    path="/v1.0/reports/getEmailAppUsageUserDetail({view})",
    model=UsageUserDetail,
    key=("tenant", "report_view", "user_principal_name"),
)
USER_COUNTS = SourceSpec(
    name="usage_user_counts",
    family=REPORTS_CSV,
    permission="Reports.Read.All",
    path="/v1.0/reports/getEmailAppUsageUserCounts(period='{period}')",
    model=UsageUserCounts,
    key=("tenant", "report_date"),
)
APPS_USER_COUNTS = SourceSpec(
    name="usage_apps_kpi",
    family=REPORTS_CSV,
    permission="Reports.Read.All",
    path="/v1.0/reports/getEmailAppUsageAppsUserCounts(period='{period}')",
    model=UsageAppsKpi,
    key=("tenant", "report_refresh_date", "period"),
)

#: our column -> (CSV header, beta JSON name) of the per-app columns
_APPS: dict[str, tuple[str, str]] = {
    "mail_for_mac": ("Mail For Mac", "mailForMac"),
    "outlook_for_mac": ("Outlook For Mac", "outlookForMac"),
    "outlook_for_windows": ("Outlook For Windows", "outlookForWindows"),
    "outlook_for_mobile": ("Outlook For Mobile", "outlookForMobile"),
    "other_for_mobile": ("Other For Mobile", "otherForMobile"),
    "outlook_for_web": ("Outlook For Web", "outlookForWeb"),
    "pop3_app": ("POP3 App", "pop3App"),
    "imap4_app": ("IMAP4 App", "imap4App"),
    "smtp_app": ("SMTP App", "smtpApp"),
}
_OPTIONAL_APPS = {col: (csv_name,) for col, (csv_name, _) in _APPS.items() if col != "smtp_app"}

#: the documented CSV columns (API notes section 1), what the drift guard compares a header with
_APP_HEADERS = tuple(h for h, _ in _APPS.values())
DETAIL_COLUMNS = (
    "Report Refresh Date",
    "User Principal Name",
    "Display Name",
    "Is Deleted",
    "Deleted Date",
    "Last Activity Date",
    *_APP_HEADERS,
    "Report Period",
)
COUNTS_COLUMNS = ("Report Refresh Date", *_APP_HEADERS, "Report Date", "Report Period")
APPS_COLUMNS = ("Report Refresh Date", *_APP_HEADERS, "Report Period")


def _watch(drift: DriftRecorder | None, subject: str, columns: tuple[str, ...]) -> Any:
    return (lambda header: drift.header(subject, header, columns)) if drift is not None else None


_HEX32 = re.compile(r"[0-9a-fA-F]{32}")
_NOT_USED = {"", "no", "false", "0"}


def is_concealed(user_principal_name: str) -> bool:
    """True for a concealed (hashed) identifier: no '@', or 32 hex characters."""
    return "@" not in user_principal_name or bool(_HEX32.fullmatch(user_principal_name))


def check_view(view: str) -> date | None:
    """Check a UserDetail view: a period (``D7``...) → None, an ISO date → that date. Raises ValueError."""
    if view in PERIODS:
        return None
    try:
        return date.fromisoformat(view)
    except ValueError:
        raise ValueError(
            f"report view must be one of {', '.join(PERIODS)} or a date YYYY-MM-DD, not {view!r}"
        ) from None


def _check_period(period: str) -> None:
    if period not in PERIODS:
        raise ValueError(f"report period must be one of {', '.join(PERIODS)}, not {period!r}")


def app_cell_used(value: Any) -> tuple[bool, str | None]:
    """(used, detail) of a per-user app cell: CSV text, a beta JSON string array, or a boolean."""
    if value is None:
        return False, None
    if isinstance(value, bool):
        return value, None
    if isinstance(value, list):
        items = [str(v) for v in value if v is not None and str(v).strip()]
        return (True, ";".join(items)) if items else (False, None)
    text = str(value).strip()
    if text.lower() in _NOT_USED:
        return False, None
    return True, text


def _upn(location: str, value: Any) -> tuple[str, bool]:
    upn = text_or_none(value)
    if upn is None:
        raise InvalidRecordError("no user principal name", location=location)
    upn = upn.lower()
    return upn, is_concealed(upn)


def _user_detail_row(
    location: str,
    raw: Mapping[str, Any],
    names: Mapping[str, str],
    *,
    tenant: str,
    view: str,
    day: date | None,
) -> dict[str, Any]:
    """Map one UserDetail record; ``names`` gives the raw key of each of our fields (CSV or JSON)."""
    upn, concealed = _upn(location, raw.get(names["user_principal_name"]))
    refresh = parse_field(
        location, names["report_refresh_date"], raw.get(names["report_refresh_date"]), parse_date, "date"
    )
    if refresh is None:
        raise InvalidRecordError(f"no {names['report_refresh_date']!r}", location=location)
    row: dict[str, Any] = {
        "tenant": tenant,
        "report_view": view,
        "report_refresh_date": refresh,
        "report_period": parse_field(
            location, names["report_period"], raw.get(names["report_period"]), parse_int, "number"
        ),
        "report_date": day,
        "user_principal_name": upn,
        "display_name": text_or_none(raw.get(names["display_name"])),
        "is_deleted": bool(
            parse_field(location, names["is_deleted"], raw.get(names["is_deleted"]), parse_bool, "boolean")
        ),
        "deleted_date": parse_field(
            location, names["deleted_date"], raw.get(names["deleted_date"]), parse_date, "date"
        ),
        "last_activity_date": parse_field(
            location, names["last_activity_date"], raw.get(names["last_activity_date"]), parse_date, "date"
        ),
        "concealed": concealed,
    }
    for column in _APPS:
        present = names[column] in raw
        used, detail = app_cell_used(raw.get(names[column]))
        row[column] = used if present else None
        if column == "smtp_app":
            row["smtp_app"] = used
            row["smtp_app_detail"] = detail
    return row


_DETAIL_CSV_REQUIRED = {
    "report_refresh_date": ("Report Refresh Date",),
    "user_principal_name": ("User Principal Name",),
    "smtp_app": ("SMTP App",),
}
_DETAIL_CSV_OPTIONAL = {
    "display_name": ("Display Name",),
    "is_deleted": ("Is Deleted",),
    "deleted_date": ("Deleted Date",),
    "last_activity_date": ("Last Activity Date",),
    "report_period": ("Report Period",),
    **_OPTIONAL_APPS,
}
_IDENTITY = {name: name for name in [*_DETAIL_CSV_REQUIRED, *_DETAIL_CSV_OPTIONAL]}
_DETAIL_JSON = {
    "report_refresh_date": "reportRefreshDate",
    "user_principal_name": "userPrincipalName",
    "display_name": "displayName",
    "is_deleted": "isDeleted",
    "deleted_date": "deletedDate",
    "last_activity_date": "lastActivityDate",
    "report_period": "reportPeriod",
    **{col: json_name for col, (_, json_name) in _APPS.items()},
}


def normalize_user_detail_csv(
    source: BytesSource, *, tenant: str, view: str, drift: DriftRecorder | None = None
) -> Iterator[Normalized]:
    """Rows of ``usage_user_detail`` from a UserDetail CSV download (streamed).

    ``view`` is what was requested: ``D7``/``D30``/``D90``/``D180`` or the date ``YYYY-MM-DD``. Raises
    ValueError for a bad view, DownloadError for a file without the required columns.
    """
    day = check_view(view)

    def mapper(location: str, cells: dict[str, str | None]) -> dict[str, Any]:
        return _user_detail_row(location, cells, _IDENTITY, tenant=tenant, view=view, day=day)

    watch = _watch(drift, "getEmailAppUsageUserDetail", DETAIL_COLUMNS)
    yield from guarded(
        iter_csv(source, required=_DETAIL_CSV_REQUIRED, optional=_DETAIL_CSV_OPTIONAL, on_header=watch), mapper
    )


def normalize_user_detail_json(page: Mapping[str, Any], *, tenant: str, view: str) -> Iterator[Normalized]:
    """Rows of ``usage_user_detail`` from one beta JSON page (``value``). Raises ValueError, DownloadError."""
    day = check_view(view)

    def mapper(location: str, item: Any) -> dict[str, Any]:
        if not isinstance(item, Mapping):
            raise InvalidRecordError("not a JSON object", location=location, sample=item)
        if _DETAIL_JSON["smtp_app"] not in item:
            raise InvalidRecordError("no 'smtpApp' field", location=location, sample=item)
        return _user_detail_row(location, item, _DETAIL_JSON, tenant=tenant, view=view, day=day)

    yield from guarded(json_items(page), mapper)


def _counts(location: str, raw: Mapping[str, Any], names: Mapping[str, str]) -> dict[str, Any]:
    """Per-app counts; a column the input lacks is None (every row of a source has the same columns)."""
    return {
        column: parse_field(location, names[column], raw.get(names[column]), parse_int, "number") for column in _APPS
    } | {
        "report_period": parse_field(
            location, names["report_period"], raw.get(names["report_period"]), parse_int, "number"
        )
    }


def _required_date(location: str, raw: Mapping[str, Any], name: str) -> date:
    value = parse_field(location, name, raw.get(name), parse_date, "date")
    if value is None:
        raise InvalidRecordError(f"no {name!r}", location=location)
    return value


_COUNTS_CSV_OPTIONAL = {"report_period": ("Report Period",), **{c: (h,) for c, (h, _) in _APPS.items()}}
_COUNTS_JSON = {"report_period": "reportPeriod", **{c: j for c, (_, j) in _APPS.items()}}


def normalize_user_counts_csv(
    source: BytesSource, *, tenant: str, drift: DriftRecorder | None = None
) -> Iterator[Normalized]:
    """Rows of ``usage_user_counts`` from a UserCounts CSV (one row per report date). Raises DownloadError."""
    required = {"report_refresh_date": ("Report Refresh Date",), "report_date": ("Report Date",)}

    def mapper(location: str, cells: dict[str, str | None]) -> dict[str, Any]:
        return {
            "tenant": tenant,
            "report_date": _required_date(location, cells, "report_date"),
            "report_refresh_date": _required_date(location, cells, "report_refresh_date"),
            **_counts(location, cells, _IDENTITY_COUNTS),
        }

    watch = _watch(drift, "getEmailAppUsageUserCounts", COUNTS_COLUMNS)
    yield from guarded(iter_csv(source, required=required, optional=_COUNTS_CSV_OPTIONAL, on_header=watch), mapper)


_IDENTITY_COUNTS = {name: name for name in _COUNTS_CSV_OPTIONAL}


def normalize_user_counts_json(page: Mapping[str, Any], *, tenant: str) -> Iterator[Normalized]:
    """Rows of ``usage_user_counts`` from one beta JSON page. Raises DownloadError."""

    def mapper(location: str, item: Any) -> dict[str, Any]:
        if not isinstance(item, Mapping):
            raise InvalidRecordError("not a JSON object", location=location, sample=item)
        return {
            "tenant": tenant,
            "report_date": _required_date(location, item, "reportDate"),
            "report_refresh_date": _required_date(location, item, "reportRefreshDate"),
            **_counts(location, item, _COUNTS_JSON),
        }

    yield from guarded(json_items(page), mapper)


def normalize_apps_user_counts_csv(
    source: BytesSource, *, tenant: str, period: str, drift: DriftRecorder | None = None
) -> Iterator[Normalized]:
    """Rows of ``usage_apps_kpi`` from an AppsUserCounts CSV. Raises ValueError (period), DownloadError."""
    _check_period(period)
    required = {"report_refresh_date": ("Report Refresh Date",)}

    def mapper(location: str, cells: dict[str, str | None]) -> dict[str, Any]:
        return {
            "tenant": tenant,
            "report_refresh_date": _required_date(location, cells, "report_refresh_date"),
            "period": period,
            **_counts(location, cells, _IDENTITY_COUNTS),
        }

    watch = _watch(drift, "getEmailAppUsageAppsUserCounts", APPS_COLUMNS)
    yield from guarded(iter_csv(source, required=required, optional=_COUNTS_CSV_OPTIONAL, on_header=watch), mapper)


def normalize_apps_user_counts_json(page: Mapping[str, Any], *, tenant: str, period: str) -> Iterator[Normalized]:
    """Rows of ``usage_apps_kpi`` from one beta JSON page. Raises ValueError (period), DownloadError."""
    _check_period(period)

    def mapper(location: str, item: Any) -> dict[str, Any]:
        if not isinstance(item, Mapping):
            raise InvalidRecordError("not a JSON object", location=location, sample=item)
        return {
            "tenant": tenant,
            "report_refresh_date": _required_date(location, item, "reportRefreshDate"),
            "period": period,
            **_counts(location, item, _COUNTS_JSON),
        }

    yield from guarded(json_items(page), mapper)
