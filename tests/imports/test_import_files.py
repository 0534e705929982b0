"""Importing admin files: detection, flexible headers, encodings, refusals, formula-like values, re-imports."""

from datetime import date
from pathlib import Path

import pytest

from connector.clock import FakeClock
from connector.imports import ImportOptions, ImportRefused, import_file
from connector.imports.inbox import process_inbox
from connector.store.store import Store
from tests.imports.conftest import rows

PERIOD = ImportOptions(date(2026, 11, 1), date(2026, 11, 7))


def write(path: Path, text: str, encoding: str = "utf-8") -> Path:
    path.write_bytes(text.encode(encoding))
    return path


EXPORT = (
    "Sender address,Domain,TLS 1.0 %,TLS 1.1 %,TLS 1.2 %,Messages sent,Authentication protocol\n"
    "printer@contoso.com,contoso.com,100%,0%,0%,40,Basic\n"
    "App@Contoso.com,contoso.com,0,10.5,89.5,200,OAuth\n"
)


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "utf-16"])
def test_export_loads_in_every_encoding_and_reimport_changes_nothing(
    store: Store, clock: FakeClock, tmp_path: Path, encoding: str
) -> None:
    path = write(tmp_path / "export.csv", EXPORT, encoding)
    result = import_file(store, clock, path, tenant="contoso", options=PERIOD)
    assert (result.kind, result.inserted, result.skipped) == ("eac_export", 2, 0)
    got = rows(
        store,
        "SELECT sender_address, tls10_pct, tls11_pct, tls12_pct, messages, auth_protocol "
        "FROM imported_tls_aggregate ORDER BY sender_address",
    )
    assert got == [
        ("app@contoso.com", 0.0, 10.5, 89.5, 200, "OAuth"),
        ("printer@contoso.com", 100.0, 0.0, 0.0, 40, "Basic"),
    ]
    again = import_file(store, clock, path, tenant="contoso", options=PERIOD)
    assert again.already_imported
    assert rows(store, "SELECT COUNT(*) FROM sync_run WHERE source = 'eac_export'") == [(1,)]


def test_reordered_renamed_and_extra_columns_are_matched_by_name(
    store: Store, clock: FakeClock, tmp_path: Path
) -> None:
    text = (
        "Notes,MESSAGE COUNT,tls1.2 (percentage),TLS_1_1_pct,Sender Email Address,% TLS 1.0,Extra\n"
        "x,7,50,25,scanner@fabrikam.com,25,y\n"
    )
    path = write(tmp_path / "clients_2026-11-01_2026-11-07.csv", text)
    result = import_file(store, clock, path, tenant="contoso")
    assert result.inserted == 1
    assert rows(
        store,
        "SELECT sender_address, domain, tls10_pct, tls11_pct, tls12_pct, messages, period_start, "
        "period_end FROM imported_tls_aggregate",
    )[0][:6] == ("scanner@fabrikam.com", "fabrikam.com", 25.0, 25.0, 50.0, 7)


def test_missing_columns_are_refused_with_their_names_and_nothing_loaded(
    store: Store, clock: FakeClock, tmp_path: Path
) -> None:
    path = write(tmp_path / "export.csv", "Sender address,TLS 1.0 %,Messages sent\na@b.com,1,2\n")
    with pytest.raises(ImportRefused, match=r"lacks the required column\(s\) TLS 1.1, TLS 1.2: not loaded"):
        import_file(store, clock, path, tenant="contoso", options=PERIOD)
    assert rows(store, "SELECT COUNT(*) FROM imported_tls_aggregate") == [(0,)]
    assert rows(store, "SELECT status FROM sync_run") == [("failed",)]


def test_unknown_files_and_exports_without_a_period_are_refused(store: Store, clock: FakeClock, tmp_path: Path) -> None:
    with pytest.raises(ImportRefused, match=r"not a file smtpauth knows.*found columns: a, b"):
        import_file(store, clock, write(tmp_path / "x.csv", "a,b\n1,2\n"), tenant="contoso")
    with pytest.raises(ImportRefused, match="--from and --to"):
        import_file(store, clock, write(tmp_path / "export.csv", EXPORT), tenant="contoso")


def test_formula_like_values_are_stored_as_is_or_skipped_never_crash(
    store: Store, clock: FakeClock, tmp_path: Path
) -> None:
    text = (
        "Sender address,TLS 1.0 %,TLS 1.1 %,TLS 1.2 %,Messages sent,Authentication protocol\n"
        '"=HYPERLINK(""http://x"")",0,0,100,3,@SUM(A1)\n'
        "ok@contoso.com,0,0,100,=1+1,Basic\n"
    )
    result = import_file(store, clock, write(tmp_path / "export.csv", text), tenant="contoso", options=PERIOD)
    assert (result.inserted, result.skipped) == (1, 1)
    assert rows(store, "SELECT sender_address, auth_protocol FROM imported_tls_aggregate") == [
        ('=hyperlink("http://x")', "@SUM(A1)")
    ]


def test_saved_smtp_cs_report_file_in_utf16_loads_per_message_rows(
    store: Store, clock: FakeClock, tmp_path: Path
) -> None:
    text = (
        "message_id,tls_version,senderName,date,authMethod,extra\r\n"
        "<m1@x>,TLS1.2,Printer@Contoso.com,2026-11-20T08:00:00Z,Basic,1\r\n"
        "<m2@x>,TLS1.0,printer@contoso.com,11/20/2026 9:00:00 AM,Basic,1\r\n"
    )
    path = write(tmp_path / "smtpcs.csv", "\ufeff" + text, "utf-16-le")
    assert import_file(store, clock, path, tenant="contoso").inserted == 2
    assert rows(store, "SELECT tls_version FROM smtp_cs_report_row ORDER BY message_id") == [("TLS1.2",), ("TLS1.0",)]


def test_cas_mailbox_export_uses_the_stored_org_value(store: Store, clock: FakeClock, tmp_path: Path) -> None:
    text = (
        "#TYPE Deserialized.Microsoft.Exchange.Data.Directory.Management.CASMailbox\n"
        '"Name","PrimarySmtpAddress","SmtpClientAuthenticationDisabled"\n'
        '"a","a@contoso.com","True"\n"b","b@contoso.com","False"\n"c","c@contoso.com",""\n'
    )
    result = import_file(
        store,
        clock,
        write(tmp_path / "cas.csv", text),
        tenant="contoso",
        options=ImportOptions(as_of=date(2026, 11, 27)),
    )
    assert result.inserted == 3
    assert rows(store, "SELECT user_principal_name, effective_enabled FROM mailbox_smtp_posture ORDER BY 1") == [
        ("a@contoso.com", False),
        ("b@contoso.com", True),
        ("c@contoso.com", None),
    ]


def test_inbox_moves_files_to_done_and_failed_with_a_reason(store: Store, clock: FakeClock, tmp_path: Path) -> None:
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    write(inbox / "clients_2026-11-01_2026-11-07.csv", EXPORT)
    write(inbox / "bad.csv", "Sender address,Messages sent\na@b.com,1\n")
    outcomes = process_inbox(inbox, store, clock, ["contoso"])
    assert sorted(o.ok for o in outcomes) == [False, True]
    assert [p.name for p in (inbox / "done").iterdir()] == ["20261128T060000Z_clients_2026-11-01_2026-11-07.csv"]
    reason = (inbox / "failed" / "20261128T060000Z_bad.csv.reason.txt").read_text()
    assert "TLS 1.0" in reason
    assert "not" in reason
    assert not list(inbox.glob("*.csv"))
