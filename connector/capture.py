"""``smtpauth check --capture DIR``: one redacted sample per endpoint, for a bug report about a changed shape.

Each sample keeps the shape (CSV header, JSON keys, enum values, dates, counts) and replaces what identifies people
or the tenant by a stable hash: addresses and UPNs keep an ``@`` (so concealed-name detection still reads them
right), IPs become addresses of the 198.18.0.0/15 benchmark range, ids become GUIDs, subjects and names become
``redacted-<hash>``. Links (``@odata.nextLink``, ``FileUrl``) are dropped: they can carry signatures. No token is
ever written. The hash is keyed per capture (a random salt that is not saved), so samples from two captures cannot
be joined, while within one capture the same address stays the same everywhere.

The Graph samples load back with ``smtpauth import --load FILE --source NAME`` (the file name is the source's).
"""

import csv
import hashlib
import io
import ipaddress
import json
import re
import secrets
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from connector.http.client import GraphClient
from connector.http.families import REPORT_SETTINGS, SIGNINS, reports_csv_family
from connector.sync.sources.message_trace import TRACE_HEADERS, TRACE_PATH

__all__ = ["Redactor", "capture_tenant"]

#: rows kept per CSV sample
SAMPLE_ROWS = 20
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+$")
_GUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
_HEX32 = re.compile(r"^[0-9a-fA-F]{32}$")
_LINKS = {"@odata.nextlink", "@odata.deltalink", "fileurl", "location"}
_IDENTIFYING = {
    "displayname", "userdisplayname", "subject", "sendername", "identity", "name", "city", "state",
    "devicename", "reporttitle", "notifyaddress", "correlationid",
}  # fmt: skip
_KEEP = {
    "report refresh date", "report period", "report date", "is deleted", "deleted date", "last activity date",
    "status", "conditionalaccessstatus", "clientappused", "countryorregion",
}  # fmt: skip


class Redactor:
    """Stable, keyed replacements for identifying values."""

    def __init__(self, salt: bytes | None = None) -> None:
        self.salt = salt or secrets.token_bytes(16)

    def _h(self, value: str) -> str:
        return hashlib.sha256(self.salt + value.lower().encode()).hexdigest()

    def value(self, key: str, value: Any) -> Any:
        low = key.lower()
        if isinstance(value, list):
            return [self.value(key, v) for v in value]
        if isinstance(value, dict):
            return self.obj(value)
        if not isinstance(value, str) or not value or low in _KEEP:
            return value
        h = self._h(value)
        if _EMAIL.match(value):
            return f"u{h[:10]}@d{h[10:16]}.example"
        if _GUID.match(value):
            return str(uuid.UUID(h[:32]))
        if _HEX32.match(value):
            return h[:32].upper()
        try:
            ipaddress.ip_address(value)
        except ValueError:
            pass
        else:
            n = int(h[:8], 16) % (2**17)
            return str(ipaddress.IPv4Address(int(ipaddress.IPv4Address("198.18.0.0")) + n))
        if low in _IDENTIFYING or "ip" in low or low.endswith("id") or "address" in low or "principal" in low:
            return f"redacted-{h[:12]}"
        return value

    def obj(self, item: dict[str, Any]) -> dict[str, Any]:
        return {k: self.value(k, v) for k, v in item.items() if k.lower() not in _LINKS}

    def csv_text(self, text: str, rows: int = SAMPLE_ROWS) -> str:
        reader = csv.reader(io.StringIO(text.lstrip("\ufeff")))
        header = next(reader, [])
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\r\n")
        writer.writerow(header)
        for i, row in enumerate(reader):
            if i >= rows:
                break
            writer.writerow([self.value(h, c) for h, c in zip(header, row, strict=False)])
        return out.getvalue()


def _write(folder: Path, name: str, text: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    path = folder / name
    path.write_text(text, encoding="utf-8")
    path.chmod(0o600)
    return path


def capture_tenant(client: GraphClient, folder: Path, *, exchange: bool) -> dict[str, str]:
    """Write one redacted sample per endpoint into ``folder``; return {file name: what happened}."""
    red = Redactor()
    done: dict[str, str] = {}

    def attempt(name: str, fetch: Callable[[], str]) -> None:
        try:
            _write(folder, name, fetch())
            done[name] = "written"
        except Exception as exc:  # noqa: BLE001 (a sample that cannot be had is reported, not fatal)
            done[name] = f"not captured: {exc}"

    def report_csv(api: str, arg: str) -> Callable[[], str]:
        def fetch() -> str:
            buf = io.BytesIO()
            client.download_report(f"v1.0/reports/{api}({arg})", family=reports_csv_family(api), dest=buf)
            return red.csv_text(buf.getvalue().decode("utf-8-sig"))

        return fetch

    def page(path: str, family: str, params: dict[str, str], headers: dict[str, str] | None = None) -> str:
        body = client.get_json(path, params=params, family=family, headers=headers).json
        if isinstance(body, dict) and isinstance(body.get("value"), list):
            body = {**body, "value": body["value"][:SAMPLE_ROWS]}
        return json.dumps(red.obj(body) if isinstance(body, dict) else body, indent=2)

    attempt("usage_user_detail.csv", report_csv("getEmailAppUsageUserDetail", "period='D7'"))
    attempt("usage_user_counts.csv", report_csv("getEmailAppUsageUserCounts", "period='D7'"))
    attempt("usage_apps_kpi.csv", report_csv("getEmailAppUsageAppsUserCounts", "period='D7'"))
    attempt("report_settings.json", lambda: page("v1.0/admin/reportSettings", REPORT_SETTINGS, {}))
    flt = "clientAppUsed eq 'Authenticated SMTP'"
    attempt("signins.json", lambda: page("v1.0/auditLogs/signIns", SIGNINS, {"$filter": flt, "$top": "5"}))
    from connector.http.families import MESSAGE_TRACE

    attempt(
        "message_trace.json",
        lambda: page(TRACE_PATH, MESSAGE_TRACE, {"$top": str(SAMPLE_ROWS)}, TRACE_HEADERS),
    )
    if exchange:
        for cmdlet, params in (
            ("Get-TransportConfig", {}),
            ("Get-CASMailbox", {"ResultSize": str(SAMPLE_ROWS)}),
            ("Get-HistoricalSearch", {}),
        ):

            def fetch(cmdlet: str = cmdlet, params: dict[str, str] = params) -> str:
                items = []
                for i, item in enumerate(client.invoke_command(cmdlet, params)):
                    if i >= SAMPLE_ROWS:
                        break
                    items.append(red.obj(item))
                return json.dumps({"value": items}, indent=2)

            attempt(f"{cmdlet}.json", fetch)
    return done
