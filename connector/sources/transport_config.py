"""``Get-TransportConfig``: the organization-wide SMTP AUTH switch (and the legacy-TLS endpoint opt-in)."""

from collections.abc import Mapping
from datetime import date
from typing import Any

from connector.http.families import EXCHANGE
from connector.sources._base import InvalidRecordError, SourceSpec, parse_bool, parse_field
from models import TransportConfigSnapshot

__all__ = ["TRANSPORT_CONFIG", "normalize_transport_config"]

TRANSPORT_CONFIG = SourceSpec(
    name="transport_config",
    family=EXCHANGE,
    permission="Exchange.ManageAsApp + View-Only Organization Management (or Global Reader)",
    path="Get-TransportConfig",
    model=TransportConfigSnapshot,
    key=("tenant", "snapshot_date"),
    opt_in=True,
)


def normalize_transport_config(body: Any, *, tenant: str, snapshot_date: date) -> dict[str, Any]:
    """The ``transport_config_snapshot`` row from an ``InvokeCommand`` result (``value[0]``) or the object
    itself.

    Raises InvalidRecordError when ``SmtpClientAuthenticationDisabled`` is missing or not a boolean.
    """
    item = body
    if isinstance(body, Mapping) and isinstance(body.get("value"), list):
        values = body["value"]
        item = values[0] if values else None
    if not isinstance(item, Mapping) or item.get("SmtpClientAuthenticationDisabled") is None:
        raise InvalidRecordError("no SmtpClientAuthenticationDisabled", location="response", sample=item)
    disabled = parse_field(
        "response",
        "SmtpClientAuthenticationDisabled",
        item["SmtpClientAuthenticationDisabled"],
        parse_bool,
        "boolean",
    )
    legacy = parse_field("response", "AllowLegacyTLSClients", item.get("AllowLegacyTLSClients"), parse_bool, "boolean")
    return {
        "tenant": tenant,
        "snapshot_date": snapshot_date,
        "smtp_client_auth_disabled": bool(disabled),
        "allow_legacy_tls_clients": legacy,
    }
