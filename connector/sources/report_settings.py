"""``GET /admin/reportSettings``: whether the tenant conceals user names in usage reports.

We only observe the setting; flipping it is the admin's decision (microsoft-365-apis.md §1).
"""

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from connector.http.families import REPORT_SETTINGS as REPORT_SETTINGS_FAMILY
from connector.sources._base import InvalidRecordError, SourceSpec
from models import ReportSettingsSnapshot

__all__ = ["REPORT_SETTINGS", "normalize_report_settings"]

REPORT_SETTINGS = SourceSpec(
    name="report_settings",
    family=REPORT_SETTINGS_FAMILY,
    permission="ReportSettings.Read.All",
    path="/v1.0/admin/reportSettings",
    model=ReportSettingsSnapshot,
    key=("tenant", "observed_on"),
)


def normalize_report_settings(body: Any, *, tenant: str, observed_at: datetime) -> dict[str, Any]:
    """The ``report_settings_snapshot`` row. Raises InvalidRecordError when ``displayConcealedNames`` is not a
    boolean (never guessed: the flag decides whether identities can be joined).

    The object may come flat (as the SDKs read it) or wrapped in ``value`` (as the v1.0 page's example shows it).
    """
    if observed_at.tzinfo is None:
        raise ValueError("observed_at must be timezone-aware")
    if isinstance(body, Mapping) and "displayConcealedNames" not in body and isinstance(body.get("value"), Mapping):
        body = body["value"]
    if not isinstance(body, Mapping) or "displayConcealedNames" not in body:
        raise InvalidRecordError("no 'displayConcealedNames'", location="response", sample=body)
    value = body["displayConcealedNames"]
    if not isinstance(value, bool):
        raise InvalidRecordError("'displayConcealedNames' is not a boolean", location="response", sample=value)
    return {
        "tenant": tenant,
        "observed_on": observed_at.astimezone(UTC).date(),
        "observed_at": observed_at,
        "display_concealed_names": value,
    }
