"""Report downloads: 302 to a pre-authenticated URL fetched without any token, whole or not at all."""

import io
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from httpkit import DOWNLOAD, graph_error

from connector.errors import BrowserSessionRequired, DownloadError, ExpiredLinkError, FileBusyError, TransportError
from connector.http import RetryPolicy

REPORT = "v1.0/reports/getEmailAppUsageUserDetail(period='D7')"
FAMILY = "reports_csv:getEmailAppUsageUserDetail"
CSV = b"\xef\xbb\xbfReport Refresh Date,User Principal Name,SMTP App\n" + b"2026-11-27,user@contoso.com,Yes\n" * 2000


class ReportServer:
    """Graph answers 302 with a fresh link each time; the download host rejects any token header."""

    def __init__(self, bodies: list[httpx.Response] | None = None) -> None:
        self.links = 0
        self.bodies = bodies or []
        self.downloads: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        if request.url.host == "reports.download.test":
            assert "authorization" not in request.headers
            assert "x-anchormailbox" not in request.headers
            self.downloads.append(request)
            if self.bodies:
                return self.bodies.pop(0)
            return httpx.Response(200, content=CSV, headers={"ETag": '"v2"'})
        assert request.headers["Authorization"].startswith("Bearer ")
        if request.headers.get("If-None-Match") == '"v2"':
            return httpx.Response(304)
        self.links += 1
        location = f"{DOWNLOAD}/data/download/SECRETLINK{self.links}?sig=SIGNATURE{self.links}"
        return httpx.Response(302, headers={"Location": location, "request-id": f"rid-{self.links}"})


def cut_short() -> httpx.Response:
    def body() -> Iterator[bytes]:
        yield CSV[:1000]
        raise httpx.RemoteProtocolError("peer closed connection without sending complete message body")

    return httpx.Response(200, content=body(), headers={"Content-Length": str(len(CSV))})


def test_report_is_downloaded_without_any_token_header(make_client) -> None:
    server = ReportServer()
    client, rec = make_client(server)
    dest = io.BytesIO()
    result = client.download_report(REPORT, family=FAMILY, dest=dest)
    assert dest.getvalue() == CSV
    assert (result.not_modified, result.size, result.etag, result.link_requests) == (
        False,
        len(CSV),
        '"v2"',
        1,
    )
    assert result.request_id == "rid-1"
    assert [r.url.host for r in rec.requests] == ["graph.test", "reports.download.test"]
    assert "SECRETLINK1" in str(server.downloads[0].url)  # the link is used whole


def test_a_truncated_download_is_retried_and_dest_holds_only_the_full_body(make_client, clock) -> None:
    short = httpx.Response(200, content=CSV[:500], headers={"Content-Length": str(len(CSV))})
    server = ReportServer([short, cut_short()])
    client, _ = make_client(server)
    dest = io.BytesIO(b"HEADER")
    dest.seek(0, io.SEEK_END)
    result = client.download_report(REPORT, family=FAMILY, dest=dest)
    assert dest.getvalue() == b"HEADER" + CSV
    assert result.size == len(CSV)
    assert len(server.downloads) == 3
    assert server.links == 1
    assert client.stats.transport_errors == 2


def test_a_download_that_stays_truncated_leaves_dest_empty(make_client) -> None:
    server = ReportServer([cut_short() for _ in range(3)])
    client, _ = make_client(server, policy=RetryPolicy(max_attempts=3))
    dest = io.BytesIO()
    with pytest.raises(TransportError) as info:
        client.download_report(REPORT, family=FAMILY, dest=dest)
    assert dest.getvalue() == b""
    assert "SECRETLINK" not in str(info.value)
    assert "SIGNATURE" not in str(info.value)


@pytest.mark.parametrize("status", [403, 404])
def test_an_expired_download_link_is_requested_again(make_client, status: int) -> None:
    server = ReportServer([httpx.Response(status, text="AuthenticationFailed")])
    client, _ = make_client(server)
    dest = io.BytesIO()
    result = client.download_report(REPORT, family=FAMILY, dest=dest)
    assert dest.getvalue() == CSV
    assert result.link_requests == 2
    assert server.links == 2
    assert "SECRETLINK2" in str(server.downloads[1].url)


def test_links_that_keep_expiring_give_up_after_a_bounded_number_of_requests(make_client) -> None:
    server = ReportServer([httpx.Response(403) for _ in range(5)])
    client, _ = make_client(server, max_link_requests=3)
    dest = io.BytesIO()
    with pytest.raises(ExpiredLinkError) as info:
        client.download_report(REPORT, family=FAMILY, dest=dest)
    assert server.links == 3
    assert dest.getvalue() == b""
    assert "SECRETLINK" not in str(info.value)


def test_if_none_match_304_reports_not_modified_and_leaves_dest_alone(make_client) -> None:
    server = ReportServer()
    client, rec = make_client(server)
    dest = io.BytesIO(b"previous")
    dest.seek(0, io.SEEK_END)
    result = client.download_report(REPORT, family=FAMILY, dest=dest, etag='"v2"')
    assert result.not_modified
    assert result.etag == '"v2"'
    assert dest.getvalue() == b"previous"
    assert rec.requests[0].headers["If-None-Match"] == '"v2"'
    assert server.downloads == []


def test_a_302_without_location_is_a_download_error(make_client) -> None:
    client, _ = make_client(lambda request: httpx.Response(302))
    with pytest.raises(DownloadError, match="Location"):
        client.download_report(REPORT, family=FAMILY, dest=io.BytesIO())


def test_a_throttled_download_host_is_retried(make_client, clock) -> None:
    server = ReportServer([httpx.Response(503, headers={"Retry-After": "2"})])
    client, _ = make_client(server)
    dest = io.BytesIO()
    client.download_report(REPORT, family=FAMILY, dest=dest)
    assert dest.getvalue() == CSV
    assert clock.sleeps == [2.0]


def test_the_report_request_itself_maps_graph_errors(make_client) -> None:
    client, _ = make_client(lambda request: graph_error(403, "UnknownError", "no permission"))
    from connector.errors import PermissionDeniedError

    with pytest.raises(PermissionDeniedError) as info:
        client.download_report(REPORT, family=FAMILY, dest=io.BytesIO())
    assert info.value.permission == "Reports.Read.All"


FILE_URL = "https://admin.protection.test/ExtendedReport/Download?Type=OnDemandReport&RequestID=1"


@pytest.mark.parametrize(
    "answer",
    [
        httpx.Response(401, text="Unauthorized"),
        httpx.Response(302, headers={"Location": "https://login.test/common/oauth2/v2.0/authorize?x=1"}),
        httpx.Response(
            200,
            text="<!DOCTYPE html><title>Sign in to your account</title>",
            headers={"Content-Type": "text/html; charset=utf-8"},
        ),
    ],
    ids=["401", "redirect-to-sign-in", "html-page"],
)
def test_a_file_behind_a_sign_in_asks_for_a_browser_session_and_is_not_retried(
    make_client: Any, answer: httpx.Response
) -> None:
    calls: list[httpx.Request] = []

    def host(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        assert "authorization" not in request.headers
        return answer

    client, _ = make_client(host)
    dest = io.BytesIO(b"kept")
    dest.seek(4)
    with pytest.raises(BrowserSessionRequired, match="signed-in admin"):
        client.download_file(FILE_URL, family="exchange", dest=dest)
    assert len(calls) == 1
    assert dest.getvalue() == b"kept"


def test_503_server_busy_on_a_file_is_final_while_another_503_is_retried(make_client: Any) -> None:
    busy = httpx.Response(503, text="<h1>Server Busy</h1><p>The service is busy. Please try again later.</p>")
    calls: list[int] = []

    def host(request: httpx.Request) -> httpx.Response:
        calls.append(1)
        return busy

    client, _ = make_client(host)
    with pytest.raises(FileBusyError, match="downloaded too many times"):
        client.download_file(FILE_URL, family="exchange", dest=io.BytesIO())
    assert len(calls) == 1
    answers = [graph_error(503, "ServiceUnavailable"), httpx.Response(200, content=b"date,senderName\n")]
    client, _ = make_client(lambda request: answers.pop(0))
    assert client.download_file(FILE_URL, family="exchange", dest=io.BytesIO()) == len(b"date,senderName\n")
