"""``Get-CASMailbox``: may each mailbox use SMTP AUTH?

``SmtpClientAuthenticationDisabled`` is True (off), False (on) or null (inherits ``Get-TransportConfig``); the
mailbox value wins (microsoft-365-apis.md §4). Input is a page of the Exchange admin API (``InvokeCommand``)
or an admin's ``Get-CASMailbox | Export-Csv`` file; booleans may arrive as JSON booleans or as
``True``/``False`` text. Security defaults and authentication policies can still block Basic auth:
``effective_enabled`` is the SMTP AUTH setting only.
"""

from collections.abc import Iterator, Mapping
from datetime import date
from typing import Any

from connector.http.families import EXCHANGE
from connector.sources._base import (
    BytesSource,
    InvalidRecordError,
    Normalized,
    SourceSpec,
    guarded,
    iter_csv,
    json_items,
    parse_bool,
    parse_field,
    text_or_none,
)
from models import MailboxSmtpPosture

__all__ = [
    "CAS_MAILBOX",
    "effective_enabled",
    "normalize_cas_mailbox",
    "normalize_cas_mailbox_csv",
    "normalize_cas_mailboxes_page",
]

CAS_MAILBOX = SourceSpec(
    name="cas_mailbox",
    family=EXCHANGE,
    permission="Exchange.ManageAsApp + View-Only Organization Management (or Global Reader)",
    path="Get-CASMailbox -ResultSize Unlimited",
    model=MailboxSmtpPosture,
    key=("tenant", "snapshot_date", "user_principal_name"),
    opt_in=True,
)


def effective_enabled(mailbox_disabled: bool | None, org_disabled: bool | None) -> bool | None:
    """Whether SMTP AUTH is on for a mailbox; None when it inherits an org value we do not know."""
    if mailbox_disabled is not None:
        return not mailbox_disabled
    if org_disabled is not None:
        return not org_disabled
    return None


def normalize_cas_mailbox(
    location: str, item: Any, *, tenant: str, snapshot_date: date, org_smtp_client_auth_disabled: bool | None
) -> dict[str, Any]:
    """One ``mailbox_smtp_posture`` row. Raises InvalidRecordError without an address or on a bad boolean."""
    if not isinstance(item, Mapping):
        raise InvalidRecordError("not an object", location=location, sample=item)
    primary = text_or_none(item.get("PrimarySmtpAddress"))
    upn = text_or_none(item.get("UserPrincipalName")) or primary
    if upn is None:
        raise InvalidRecordError("no UserPrincipalName or PrimarySmtpAddress", location=location, sample=item)
    disabled = parse_field(
        location,
        "SmtpClientAuthenticationDisabled",
        item.get("SmtpClientAuthenticationDisabled"),
        parse_bool,
        "boolean",
    )
    return {
        "tenant": tenant,
        "snapshot_date": snapshot_date,
        "user_principal_name": upn.lower(),
        "primary_smtp_address": primary.lower() if primary else None,
        "smtp_client_auth_disabled": disabled,
        "effective_enabled": effective_enabled(disabled, org_smtp_client_auth_disabled),
    }


def normalize_cas_mailboxes_page(
    page: Mapping[str, Any], *, tenant: str, snapshot_date: date, org_smtp_client_auth_disabled: bool | None
) -> Iterator[Normalized]:
    """Rows of one ``InvokeCommand`` result page. Raises DownloadError without a ``value`` array."""
    return guarded(
        json_items(page),
        lambda location, item: normalize_cas_mailbox(
            location,
            item,
            tenant=tenant,
            snapshot_date=snapshot_date,
            org_smtp_client_auth_disabled=org_smtp_client_auth_disabled,
        ),
    )


def normalize_cas_mailbox_csv(
    source: BytesSource, *, tenant: str, snapshot_date: date, org_smtp_client_auth_disabled: bool | None
) -> Iterator[Normalized]:
    """Rows of a ``Get-CASMailbox | Export-Csv`` file. Raises DownloadError without the setting's column."""
    columns = iter_csv(
        source,
        required={"SmtpClientAuthenticationDisabled": ("SmtpClientAuthenticationDisabled",)},
        optional={"PrimarySmtpAddress": ("PrimarySmtpAddress",), "UserPrincipalName": ("UserPrincipalName",)},
    )
    return guarded(
        columns,
        lambda location, cells: normalize_cas_mailbox(
            location,
            cells,
            tenant=tenant,
            snapshot_date=snapshot_date,
            org_smtp_client_auth_disabled=org_smtp_client_auth_disabled,
        ),
    )
