"""Mapping Graph responses to the exception tree."""

import httpx
import pytest
from httpkit import graph_error

from connector.clock import FakeClock
from connector.errors import (
    BadRequestError,
    ExpiredLinkError,
    GraphError,
    LicenceRequiredError,
    NotFoundError,
    PermissionDeniedError,
    RetryableError,
    ThrottledError,
    UnauthorizedError,
)
from connector.http import error_for_response, is_expired_link, parse_error_body

NOW = FakeClock().now()


def map_(response: httpx.Response, family: str = "graph") -> GraphError:
    response.request = httpx.Request("GET", "https://graph.microsoft.com/v1.0/x")
    return error_for_response(response, family=family, url="https://graph.microsoft.com/v1.0/x", now=NOW)


def test_error_body_is_parsed_with_its_request_id() -> None:
    body = parse_error_body(graph_error(400, "Request_UnsupportedQuery", "Unsupported filter", request_id="abc-1"))
    assert (body.code, body.message, body.request_id) == (
        "Request_UnsupportedQuery",
        "Unsupported filter",
        "abc-1",
    )


def test_request_id_header_is_used_when_the_body_has_none() -> None:
    body = parse_error_body(httpx.Response(500, text="<html>oops</html>", headers={"request-id": "hdr-1"}))
    assert (body.code, body.message, body.request_id) == (None, None, "hdr-1")


def test_400_is_a_bad_request_with_code_and_request_id() -> None:
    err = map_(graph_error(400, "BadRequest", "Invalid filter clause", request_id="r-400"))
    assert isinstance(err, BadRequestError)
    assert (err.status, err.code, err.request_id) == (400, "BadRequest", "r-400")
    assert "r-400" in str(err)
    assert "Invalid filter clause" in str(err)


def test_licence_error_is_its_own_class() -> None:
    err = map_(
        graph_error(403, "Authentication_RequestFromNonPremiumTenantOrB2CTenant", "Neither tenant is B2C"),
        "signins",
    )
    assert isinstance(err, LicenceRequiredError)
    assert err.kind == "licence"
    assert "P1 or P2" in str(err)


@pytest.mark.parametrize(
    ("family", "permission"),
    [
        ("reports_csv:getEmailAppUsageUserDetail", "Reports.Read.All"),
        ("reports_json", "Reports.Read.All"),
        ("report_settings", "ReportSettings.Read.All"),
        ("signins", "AuditLog.Read.All"),
        ("message_trace", "ExchangeMessageTrace.Read.All"),
    ],
)
def test_403_names_the_permission_of_the_family(family: str, permission: str) -> None:
    err = map_(graph_error(403, "Authorization_RequestDenied", "Insufficient privileges"), family)
    assert type(err) is PermissionDeniedError
    assert err.permission == permission
    assert permission in str(err)


def test_exchange_403_names_the_role_too() -> None:
    err = map_(graph_error(403, "Forbidden"), "exchange")
    assert isinstance(err, PermissionDeniedError)
    assert err.permission is not None
    assert "Exchange.ManageAsApp" in err.permission


def test_message_trace_401_explains_the_service_principal() -> None:
    err = map_(graph_error(401, "Unauthorized"), "message_trace")
    assert isinstance(err, UnauthorizedError)
    assert "8bd644d1-64a1-4d4b-ae52-2e0cbf64e373" in str(err)


def test_404_and_throttling_classes() -> None:
    assert isinstance(map_(graph_error(404, "ResourceNotFound")), NotFoundError)
    throttled = map_(graph_error(429, "UnknownError", **{"Retry-After": "2.5"}))
    assert isinstance(throttled, ThrottledError)
    assert throttled.retry_after == 2.5
    no_header = map_(graph_error(429, "TooManyRequests"))
    assert isinstance(no_header, ThrottledError)
    assert no_header.retry_after is None
    gateway = map_(httpx.Response(504))
    assert type(gateway) is RetryableError
    assert gateway.retry_after is None


@pytest.mark.parametrize(
    ("code", "message", "expired"),
    [
        ("Directory_ExpiredPageToken", "The specified page token value has expired", True),
        ("BadRequest", "The skip token has expired and can no longer be used", True),
        ("BadRequest", "Invalid $skiptoken value", True),
        ("UnknownError", "SkipToken is invalid or expired.", True),
        ("BadRequest", "Invalid filter clause", False),
        (None, None, False),
    ],
)
def test_expired_link_detection(code: str | None, message: str | None, expired: bool) -> None:
    assert is_expired_link(code, message) is expired


def test_400_with_an_expired_skiptoken_is_an_expired_link() -> None:
    err = map_(graph_error(400, "Directory_ExpiredPageToken", "The specified page token value has expired"))
    assert isinstance(err, ExpiredLinkError)
    assert not isinstance(err, BadRequestError)
