import io
from datetime import date

import pytest

from connector.errors import DownloadError
from connector.sources._base import InvalidRecordError
from connector.sources.usage_reports import (
    app_cell_used,
    is_concealed,
    normalize_apps_user_counts_csv,
    normalize_apps_user_counts_json,
    normalize_user_counts_csv,
    normalize_user_counts_json,
    normalize_user_detail_csv,
    normalize_user_detail_json,
)

DETAIL = (
    "Report Refresh Date,User Principal Name,Display Name,Is Deleted,Deleted Date,Last Activity Date,"
    "Mail For Mac,Outlook For Mac,Outlook For Windows,Outlook For Mobile,Other For Mobile,Outlook For Web,"
    "POP3 App,IMAP4 App,SMTP App,Report Period\n"
    "2026-11-26,Printer@Contoso.com,Printer,False,,2026-11-25,,,,,,,,,Yes,7\n"
    "2026-11-26,alice@contoso.com,Alice,False,,2026-11-24,,,Yes,,,Yes,,,,7\n"
    "2026-11-26,FE7CC8C15246EDCCA289C9A4022762F7,,False,,2026-11-25,,,,,,,,,Yes,7\n"
)


def rows_of(items: list[object]) -> list[dict[str, object]]:
    return [r for r in items if isinstance(r, dict)]


def test_user_detail_csv_maps_columns_by_name() -> None:
    out = list(normalize_user_detail_csv(io.BytesIO(DETAIL.encode()), tenant="contoso", view="D7"))
    assert len(out) == 3
    printer, alice, hashed = out
    assert isinstance(printer, dict)
    assert printer["user_principal_name"] == "printer@contoso.com"
    assert printer["smtp_app"] is True
    assert printer["smtp_app_detail"] == "Yes"
    assert printer["report_refresh_date"] == date(2026, 11, 26)
    assert printer["report_view"] == "D7"
    assert printer["report_date"] is None
    assert printer["report_period"] == 7
    assert printer["concealed"] is False
    assert isinstance(alice, dict)
    assert alice["smtp_app"] is False
    assert alice["outlook_for_windows"] is True
    assert alice["pop3_app"] is False
    assert isinstance(hashed, dict)
    assert hashed["concealed"] is True


def test_user_detail_csv_tolerates_reordered_extra_and_missing_optional_columns_and_a_bom() -> None:
    text = (
        "SMTP App,Brand New Column,User Principal Name,Report Refresh Date\n"
        "Yes,whatever,scanner@contoso.com,2026-11-26\n"
        "No,x,bob@contoso.com,2026-11-26\n"
    )
    out = list(normalize_user_detail_csv(io.BytesIO(b"\xef\xbb\xbf" + text.encode()), tenant="t", view="D30"))
    assert [(r["user_principal_name"], r["smtp_app"]) for r in rows_of(out)] == [
        ("scanner@contoso.com", True),
        ("bob@contoso.com", False),
    ]
    assert rows_of(out)[0]["pop3_app"] is None
    assert rows_of(out)[0]["display_name"] is None


def test_user_detail_csv_streams_from_an_iterator_of_byte_chunks() -> None:
    data = DETAIL.encode()
    chunks = (data[i : i + 7] for i in range(0, len(data), 7))
    assert len(rows_of(list(normalize_user_detail_csv(chunks, tenant="t", view="2026-11-20")))) == 3


def test_per_date_view_sets_the_report_date() -> None:
    out = rows_of(list(normalize_user_detail_csv(io.BytesIO(DETAIL.encode()), tenant="t", view="2026-11-20")))
    assert {r["report_date"] for r in out} == {date(2026, 11, 20)}
    assert {r["report_view"] for r in out} == {"2026-11-20"}


def test_bad_dates_are_skipped_with_a_reason() -> None:
    text = "Report Refresh Date,User Principal Name,SMTP App,Last Activity Date\n2026-13-45,a@b.c,Yes,\n"
    text += "2026-11-26,b@b.c,Yes,yesterday\n2026-11-26,,Yes,\n2026-11-26,c@b.c,Yes,\n"
    out = list(normalize_user_detail_csv(io.BytesIO(text.encode()), tenant="t", view="D7"))
    skipped = [r for r in out if isinstance(r, InvalidRecordError)]
    assert [(s.location, s.reason) for s in skipped] == [
        ("line 2", "invalid date in 'report_refresh_date'"),
        ("line 3", "invalid date in 'last_activity_date'"),
        ("line 4", "no user principal name"),
    ]
    assert [r["user_principal_name"] for r in rows_of(out)] == ["c@b.c"]


def test_missing_required_columns_refuse_the_file() -> None:
    with pytest.raises(DownloadError, match="SMTP App"):
        list(normalize_user_detail_csv(io.BytesIO(b"Report Refresh Date,User Principal Name\n"), tenant="t", view="D7"))


def test_invalid_utf8_refuses_the_file() -> None:
    data = DETAIL.encode() + b"2026-11-26,\xff\xfe\xfa@x.com,,False,,,,,,,,,,,Yes,7\n"
    with pytest.raises(DownloadError, match="not valid"):
        list(normalize_user_detail_csv(io.BytesIO(data), tenant="t", view="D7"))


def test_a_bad_view_is_a_caller_error() -> None:
    with pytest.raises(ValueError, match="report view"):
        list(normalize_user_detail_csv(io.BytesIO(DETAIL.encode()), tenant="t", view="D8"))


@pytest.mark.parametrize(
    ("cell", "used"),
    [
        ("Yes", True),
        ("", False),
        ("No", False),
        ("false", False),
        ("0", False),
        ("16.0.1", True),
        ([], False),
        (["SMTP"], True),
        (None, False),
    ],
)
def test_app_cells(cell: object, used: bool) -> None:
    assert app_cell_used(cell)[0] is used


@pytest.mark.parametrize(
    ("upn", "concealed"),
    [
        ("a@contoso.com", False),
        ("FE7CC8C15246EDCCA289C9A4022762F7", True),
        ("fe7cc8c15246edcca289c9a4022762f7", True),
        ("someone", True),
    ],
)
def test_concealed_detection(upn: str, concealed: bool) -> None:
    assert is_concealed(upn) is concealed


def test_user_detail_json_arrays() -> None:
    page = {
        "value": [
            {
                "reportRefreshDate": "2026-11-26",
                "userPrincipalName": "P@contoso.com",
                "smtpApp": ["SMTP"],
                "pop3App": [],
                "isDeleted": False,
                "reportPeriod": "7",
            },
            {"reportRefreshDate": "2026-11-26", "userPrincipalName": "q@contoso.com", "smtpApp": []},
            "garbage",
        ]
    }
    out = list(normalize_user_detail_json(page, tenant="t", view="D7"))
    assert rows_of(out)[0]["smtp_app"] is True
    assert rows_of(out)[0]["pop3_app"] is False
    assert rows_of(out)[0]["imap4_app"] is None
    assert rows_of(out)[1]["smtp_app"] is False
    assert isinstance(out[2], InvalidRecordError)


def test_user_counts_csv_and_json() -> None:
    text = (
        "Report Refresh Date,Mail For Mac,Outlook For Mac,Outlook For Windows,Outlook For Mobile,Other For Mobile,"
        "Outlook For Web,POP3 App,IMAP4 App,SMTP App,Report Date,Report Period\n"
        "2026-11-26,0,1,20,5,0,12,0,1,7,2026-11-25,30\n2026-11-26,0,1,20,5,0,12,0,1,,2026-11-24,30\n"
    )
    out = rows_of(list(normalize_user_counts_csv(io.BytesIO(text.encode()), tenant="t")))
    assert [(r["report_date"], r["smtp_app"]) for r in out] == [
        (date(2026, 11, 25), 7),
        (date(2026, 11, 24), None),
    ]
    page = {"value": [{"reportRefreshDate": "2026-11-26", "reportDate": "2026-11-25", "smtpApp": 7}]}
    assert rows_of(list(normalize_user_counts_json(page, tenant="t")))[0]["smtp_app"] == 7


def test_apps_user_counts() -> None:
    text = "Report Refresh Date,SMTP App,POP3 App,Report Period\n2026-11-26,42,3,7\n"
    out = rows_of(list(normalize_apps_user_counts_csv(io.BytesIO(text.encode()), tenant="t", period="D7")))
    assert out[0]["smtp_app"] == 42
    assert out[0]["period"] == "D7"
    assert out[0]["outlook_for_web"] is None
    page = {"value": [{"reportRefreshDate": "2026-11-26", "smtpApp": 42, "reportPeriod": 7}]}
    assert rows_of(list(normalize_apps_user_counts_json(page, tenant="t", period="D7")))[0]["smtp_app"] == 42


def test_300k_rows_stream_without_holding_the_file() -> None:
    header = DETAIL.splitlines(keepends=True)[0].encode()
    line = b"2026-11-26,u%d@contoso.com,U,False,,2026-11-25,,,,,,,,,Yes,7\n"

    def chunks() -> object:
        yield header
        for i in range(300_000):
            yield line % i

    count = 0
    for row in normalize_user_detail_csv(chunks(), tenant="t", view="D7"):  # type: ignore[arg-type]
        assert isinstance(row, dict)
        count += 1
    assert count == 300_000
