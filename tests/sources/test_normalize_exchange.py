import io
from datetime import UTC, date, datetime

import pytest

from connector.errors import DownloadError
from connector.sources._base import InvalidRecordError
from connector.sources.cas_mailbox import (
    effective_enabled,
    normalize_cas_mailbox_csv,
    normalize_cas_mailboxes_page,
)
from connector.sources.smtp_cs_report import normalize_smtp_cs_report
from connector.sources.transport_config import normalize_transport_config

CS = (
    "date,senderName,senderDomain,authMethod,original_client_ip,tls_version,tls_cipher,message_count,message_id\n"
    "2026-11-20T08:15:31Z,Scanner@Contoso.com,contoso.com,Basic,203.0.113.7,TLS1.2,TLS_ECDHE_RSA,1,<a@x>\n"
    "11/20/2026 9:00:00 AM,printer@contoso.com,,OAuth,198.51.100.2,TLS1.0,,2,<b@x>\n"
    "not a date,p@contoso.com,,,,,,1,<c@x>\n"
)


def test_smtp_cs_report_utf16_with_bom() -> None:
    out = list(normalize_smtp_cs_report(io.BytesIO(CS.encode("utf-16")), tenant="contoso", job_id="j1"))
    first, second, bad = out
    assert isinstance(first, dict)
    assert first["sender_address"] == "scanner@contoso.com"
    assert first["tls_version"] == "TLS1.2"
    assert first["occurred_at"] == datetime(2026, 11, 20, 8, 15, 31, tzinfo=UTC)
    assert first["job_id"] == "j1"
    assert isinstance(second, dict)
    assert second["occurred_at"] == datetime(2026, 11, 20, 9, 0, tzinfo=UTC)
    assert second["sender_domain"] == "contoso.com"
    assert second["message_count"] == 2
    assert isinstance(bad, InvalidRecordError)
    assert bad.location == "line 4"


def test_smtp_cs_report_utf16le_without_bom_and_header_variants() -> None:
    text = "Message ID,Sender Address,Date,TLS Version\n<a@x>,a@contoso.com,2026-11-20 08:00:00,TLS1.2\n"
    (row,) = normalize_smtp_cs_report(io.BytesIO(text.encode("utf-16-le")), tenant="contoso")
    assert isinstance(row, dict)
    assert row["message_id"] == "<a@x>"
    assert row["client_ip"] is None
    assert row["message_count"] == 1


def test_smtp_cs_report_without_required_columns_is_refused() -> None:
    with pytest.raises(DownloadError, match="message_id"):
        list(normalize_smtp_cs_report(io.BytesIO(b"date,senderName\n"), tenant="contoso"))


@pytest.mark.parametrize(
    ("mailbox", "org", "enabled"),
    [(True, False, False), (False, True, True), (None, True, False), (None, False, True), (None, None, None)],
)
def test_mailbox_setting_wins(mailbox: bool | None, org: bool | None, enabled: bool | None) -> None:
    assert effective_enabled(mailbox, org) is enabled


def test_cas_mailbox_page_and_csv() -> None:
    page = {
        "value": [
            {"PrimarySmtpAddress": "Scanner@Contoso.com", "SmtpClientAuthenticationDisabled": None},
            {"PrimarySmtpAddress": "b@contoso.com", "SmtpClientAuthenticationDisabled": True},
            {"SmtpClientAuthenticationDisabled": False},
        ]
    }
    out = list(
        normalize_cas_mailboxes_page(
            page, tenant="contoso", snapshot_date=date(2026, 11, 28), org_smtp_client_auth_disabled=False
        )
    )
    assert isinstance(out[0], dict)
    assert (out[0]["user_principal_name"], out[0]["effective_enabled"]) == ("scanner@contoso.com", True)
    assert isinstance(out[1], dict)
    assert out[1]["effective_enabled"] is False
    assert isinstance(out[2], InvalidRecordError)
    csv_text = (
        "#TYPE Deserialized.Microsoft.Exchange.Data.Directory.Management.CASMailbox\n"
        '"Name","PrimarySmtpAddress","SmtpClientAuthenticationDisabled"\n"s","s@contoso.com",""\n'
        '"t","t@contoso.com","True"\n'
    )
    rows = list(
        normalize_cas_mailbox_csv(
            io.BytesIO(csv_text.encode()),
            tenant="c",
            snapshot_date=date(2026, 11, 28),
            org_smtp_client_auth_disabled=True,
        )
    )
    assert [(r["user_principal_name"], r["smtp_client_auth_disabled"]) for r in rows if isinstance(r, dict)] == [
        ("s@contoso.com", None),
        ("t@contoso.com", True),
    ]


def test_transport_config() -> None:
    body = {"value": [{"SmtpClientAuthenticationDisabled": True, "AllowLegacyTLSClients": False}]}
    row = normalize_transport_config(body, tenant="contoso", snapshot_date=date(2026, 11, 28))
    assert row["smtp_client_auth_disabled"] is True
    assert row["allow_legacy_tls_clients"] is False
    with pytest.raises(InvalidRecordError):
        normalize_transport_config({"value": []}, tenant="contoso", snapshot_date=date(2026, 11, 28))
