"""Entra ID sign-in logs, filtered on ``clientAppUsed eq 'Authenticated SMTP'`` (Basic-auth SMTP only).

One page of ``/auditLogs/signIns`` in, ``signin`` rows out. UPNs are lower-cased (Graph stores them so);
unknown enum values (``unknownFutureValue``) are kept as they are. Beta-only fields are None on v1.0.
"""

from collections.abc import Iterator, Mapping
from typing import Any

from connector.http.families import SIGNINS as SIGNINS_FAMILY
from connector.sources._base import (
    InvalidRecordError,
    Normalized,
    SourceSpec,
    guarded,
    json_items,
    parse_bool,
    parse_datetime,
    parse_field,
    parse_int,
    text_or_none,
)
from connector.sources.drift import DriftRecorder
from models import SignIn

__all__ = ["SIGNINS", "SIGNIN_ENUMS", "SIGNIN_FIELDS", "normalize_signin", "normalize_signins_page"]

#: the fields of a v1.0 sign-in (API notes section 2) and those beta adds that we read or know
SIGNIN_FIELDS = (
    "id", "createdDateTime", "userDisplayName", "userPrincipalName", "userId", "appId", "appDisplayName",
    "ipAddress", "clientAppUsed", "correlationId", "conditionalAccessStatus", "isInteractive", "riskDetail",
    "riskLevelAggregated", "riskLevelDuringSignIn", "riskState", "riskEventTypes", "riskEventTypes_v2",
    "resourceDisplayName", "resourceId", "status", "deviceDetail", "location", "appliedConditionalAccessPolicies",
)  # fmt: skip
_BETA_FIELDS = ("userAgent", "authenticationProtocol", "signInEventTypes", "userType")
_RISK_LEVELS = ("low", "medium", "high", "hidden", "none", "unknownFutureValue")
#: enum fields and their documented values (compared case-insensitively)
SIGNIN_ENUMS = {
    "conditionalAccessStatus": ("success", "failure", "notApplied", "unknownFutureValue"),
    "riskLevelAggregated": _RISK_LEVELS,
    "riskLevelDuringSignIn": _RISK_LEVELS,
    "riskState": (
        "none", "confirmedSafe", "remediated", "dismissed", "atRisk", "confirmedCompromised", "unknownFutureValue"
    ),
}  # fmt: skip

SIGNINS = SourceSpec(
    name="signins",
    family=SIGNINS_FAMILY,
    permission="AuditLog.Read.All + Directory.Read.All (Entra ID P1/P2 licence)",
    path="/v1.0/auditLogs/signIns",
    model=SignIn,
    key=("tenant", "signin_id"),
)


_EMPTY: Mapping[str, Any] = {}


def _obj(item: Mapping[str, Any], name: str) -> Mapping[str, Any]:
    value = item.get(name)
    # decoded JSON objects are dicts: the ABC check (slow) only for anything else
    return value if value.__class__ is dict or isinstance(value, Mapping) else _EMPTY


def normalize_signin(location: str, item: Any, *, tenant: str) -> dict[str, Any]:
    """One ``signin`` row. Raises InvalidRecordError without an ``id`` or a valid ``createdDateTime``."""
    if item.__class__ is not dict and not isinstance(item, Mapping):
        raise InvalidRecordError("not a JSON object", location=location, sample=item)
    signin_id = text_or_none(item.get("id"))
    if signin_id is None:
        raise InvalidRecordError("no 'id'", location=location, sample=item)
    created = parse_field(location, "createdDateTime", item.get("createdDateTime"), parse_datetime, "timestamp")
    if created is None:
        raise InvalidRecordError("no 'createdDateTime'", location=location, sample=signin_id)
    status = _obj(item, "status")
    where = _obj(item, "location")
    upn = text_or_none(item.get("userPrincipalName"))
    return {
        "tenant": tenant,
        "signin_id": signin_id,
        "created_at": created,
        "user_principal_name": upn.lower() if upn else None,
        "user_id": text_or_none(item.get("userId")),
        "user_display_name": text_or_none(item.get("userDisplayName")),
        "app_id": text_or_none(item.get("appId")),
        "app_display_name": text_or_none(item.get("appDisplayName")),
        "ip_address": text_or_none(item.get("ipAddress")),
        "client_app_used": text_or_none(item.get("clientAppUsed")),
        "error_code": parse_field(location, "status.errorCode", status.get("errorCode"), parse_int, "number"),
        "failure_reason": text_or_none(status.get("failureReason")),
        "additional_details": text_or_none(status.get("additionalDetails")),
        "country": text_or_none(where.get("countryOrRegion")),
        "state": text_or_none(where.get("state")),
        "city": text_or_none(where.get("city")),
        "conditional_access_status": text_or_none(item.get("conditionalAccessStatus")),
        "is_interactive": parse_field(location, "isInteractive", item.get("isInteractive"), parse_bool, "boolean"),
        "risk_level_aggregated": text_or_none(item.get("riskLevelAggregated")),
        "risk_level_during_signin": text_or_none(item.get("riskLevelDuringSignIn")),
        "risk_state": text_or_none(item.get("riskState")),
        "risk_detail": text_or_none(item.get("riskDetail")),
        "resource_display_name": text_or_none(item.get("resourceDisplayName")),
        "correlation_id": text_or_none(item.get("correlationId")),
        "user_agent": text_or_none(item.get("userAgent")),
        "authentication_protocol": text_or_none(item.get("authenticationProtocol")),
    }


def normalize_signins_page(
    page: Mapping[str, Any], *, tenant: str, drift: DriftRecorder | None = None
) -> Iterator[Normalized]:
    """``signin`` rows of one page; bad items are yielded as InvalidRecordError. Raises DownloadError."""

    def one(location: str, item: Any) -> dict[str, Any]:
        if drift is not None and isinstance(item, Mapping):
            expected = SIGNIN_FIELDS + _BETA_FIELDS if "userAgent" in item else SIGNIN_FIELDS
            drift.keys("signIn", item.keys(), expected, required=("id", "createdDateTime"))
            for name, known in SIGNIN_ENUMS.items():
                drift.value("signIn", name, item.get(name), known)
        return normalize_signin(location, item, tenant=tenant)

    return guarded(json_items(page), one)
