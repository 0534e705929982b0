from datetime import UTC, datetime

import pytest

from connector.errors import DownloadError
from connector.sources._base import InvalidRecordError
from connector.sources.message_trace import normalize_message_trace_page
from connector.sources.report_settings import normalize_report_settings
from connector.sources.signins import normalize_signins_page

SIGNIN = {
    "id": "66ea54eb-6301-4ee5-be62-ff5a759b0100",
    "createdDateTime": "2026-11-20T08:15:30.1234567Z",
    "userDisplayName": "Scanner",
    "userPrincipalName": "Scanner@Contoso.com",
    "userId": "d7cc485d-2c1b-422c-98fd-5ce52859a4a3",
    "appId": "de8bc8b5-d9f9-48b1-a8ad-b748da725064",
    "ipAddress": "203.0.113.7",
    "clientAppUsed": "Authenticated SMTP",
    "conditionalAccessStatus": "notApplied",
    "isInteractive": False,
    "riskLevelAggregated": "unknownFutureValue",
    "status": {
        "errorCode": 50126,
        "failureReason": "Invalid username or password",
        "additionalDetails": None,
    },
    "location": {"city": "Lyon", "state": "Rhone", "countryOrRegion": "FR", "geoCoordinates": {}},
}


def test_signins_page() -> None:
    out = list(normalize_signins_page({"value": [SIGNIN]}, tenant="contoso"))
    row = out[0]
    assert isinstance(row, dict)
    assert row["signin_id"] == SIGNIN["id"]
    assert row["created_at"] == datetime(2026, 11, 20, 8, 15, 30, 123456, tzinfo=UTC)
    assert row["user_principal_name"] == "scanner@contoso.com"
    assert row["error_code"] == 50126
    assert row["country"] == "FR"
    assert row["is_interactive"] is False
    assert row["risk_level_aggregated"] == "unknownFutureValue"
    assert row["user_agent"] is None


@pytest.mark.parametrize(
    ("item", "reason"),
    [
        ({**SIGNIN, "id": None}, "no 'id'"),
        ({**SIGNIN, "createdDateTime": "yesterday"}, "invalid timestamp in 'createdDateTime'"),
        ({**SIGNIN, "status": {"errorCode": "abc"}}, "invalid number in 'status.errorCode'"),
        ("not an object", "not a JSON object"),
    ],
)
def test_bad_signins_are_skipped_with_a_reason(item: object, reason: str) -> None:
    (out,) = normalize_signins_page({"value": [item]}, tenant="contoso")
    assert isinstance(out, InvalidRecordError)
    assert out.reason == reason
    assert out.location == "item 0"


def test_a_page_without_value_is_refused() -> None:
    with pytest.raises(DownloadError, match="value"):
        list(normalize_signins_page({"error": {}}, tenant="contoso"))


def test_message_trace_lower_cases_sender_and_status() -> None:
    item = {
        "id": "4f0e1f6b-0000-0000-0000-000000000001",
        "messageId": "<abc@contoso.com>",
        "senderAddress": "Scanner@Contoso.COM",
        "recipientAddress": "Someone@Fabrikam.com",
        "receivedDateTime": "2026-11-20T08:15:31Z",
        "status": "FilteredAsSpam",
        "size": 52344,
        "subject": '=HYPERLINK("x")',
        "fromIP": "203.0.113.7",
        "toIP": None,
    }
    (row,) = normalize_message_trace_page({"value": [item]}, tenant="contoso")
    assert isinstance(row, dict)
    assert row["sender_address"] == "scanner@contoso.com"
    assert row["status"] == "filteredasspam"
    assert row["subject"] == '=HYPERLINK("x")'
    assert row["received_at"].tzinfo == UTC
    (bad,) = normalize_message_trace_page({"value": [{**item, "senderAddress": ""}]}, tenant="contoso")
    assert isinstance(bad, InvalidRecordError)


def test_report_settings() -> None:
    now = datetime(2026, 11, 28, 23, 30, tzinfo=UTC)
    row = normalize_report_settings({"displayConcealedNames": True}, tenant="contoso", observed_at=now)
    assert row["display_concealed_names"] is True
    assert row["observed_on"].isoformat() == "2026-11-28"
    with pytest.raises(InvalidRecordError, match="not a boolean"):
        normalize_report_settings({"displayConcealedNames": "yes"}, tenant="contoso", observed_at=now)


@pytest.mark.parametrize(
    "body",
    [
        {"displayConcealedNames": True},
        {"value": {"@odata.type": "#microsoft.graph.adminReportSettings", "displayConcealedNames": True}},
    ],
    ids=["flat", "wrapped-in-value"],
)
def test_report_settings_flat_or_wrapped_in_value(body: dict[str, object]) -> None:
    now = datetime(2026, 11, 28, 23, 30, tzinfo=UTC)
    assert normalize_report_settings(body, tenant="contoso", observed_at=now)["display_concealed_names"] is True
