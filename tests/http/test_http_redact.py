"""Redaction: URLs, free text, log records, and a whole run's captured logs."""

import io
import logging
from collections.abc import Iterator
from types import TracebackType

import httpx
import pytest
from httpkit import DOWNLOAD, graph_error

import connector.http.redact as redact_module
from connector.errors import SmtpAuthError
from connector.http import RedactingFilter, RetryPolicy, install_log_redaction, redact_text, redact_url

JWT = "eyJ0eXAiOiJKV1QiLCJhbGciOiJSUzI1NiJ9.eyJhdWQiOiJodHRwczovL2dyYXBoIn0.c2lnbmF0dXJlLXBhcnQ"


@pytest.fixture
def redaction() -> Iterator[None]:
    factory = logging.getLogRecordFactory()
    levels = {name: logging.getLogger(name).level for name in ("httpx", "httpcore")}
    redact_module._installed = False
    install_log_redaction()
    yield
    logging.setLogRecordFactory(factory)
    redact_module._installed = False
    for name, level in levels.items():
        logging.getLogger(name).setLevel(level)


def test_graph_urls_keep_path_and_filter_but_not_paging_state() -> None:
    url = (
        "https://graph.microsoft.com/v1.0/auditLogs/signIns?$filter=createdDateTime%20ge%202026-11-01"
        "&$top=1000&$skiptoken=SKIPSECRET&$skip=20"
    )
    shown = redact_url(url)
    assert shown.startswith("https://graph.microsoft.com/v1.0/auditLogs/signIns?")
    assert "$filter=createdDateTime ge 2026-11-01" in shown
    assert "$top=1000" in shown
    assert "SKIPSECRET" not in shown
    assert "$skip=20" not in shown


def test_download_urls_keep_only_their_origin() -> None:
    url = "https://reports.office.com/data/download/JDFKdf2_eJXKS034703LJdkekvl?sig=abc#frag"
    assert redact_url(url) == "https://reports.office.com/[REDACTED]"


def test_free_text_is_scrubbed() -> None:
    text = (
        f"Authorization: Bearer {JWT} client_secret=S3cr3t~value&client_assertion={JWT} "
        '{"access_token": "AT-VALUE", "passphrase": "hunter2"} '
        "see https://reports.office.com/data/download/LINKSECRET?sig=SIGVALUE"
    )
    scrubbed = redact_text(text)
    for secret in (JWT, "S3cr3t~value", "AT-VALUE", "hunter2", "LINKSECRET", "SIGVALUE"):
        assert secret not in scrubbed
    assert "https://reports.office.com/[REDACTED]" in scrubbed


def failure_info() -> tuple[type[BaseException], BaseException, TracebackType | None]:
    try:
        raise ValueError("client_secret=TOPSECRET")  # noqa: TRY301 (the traceback is the fixture)
    except ValueError as exc:
        return type(exc), exc, exc.__traceback__


def test_the_filter_scrubs_message_args_and_tracebacks() -> None:
    logger = logging.getLogger("test.redact")
    record = logger.makeRecord(
        "test.redact", logging.ERROR, __file__, 1, "sending %s to %s", (f"Bearer {JWT}", "x"), None
    )
    record.exc_info = failure_info()
    RedactingFilter().filter(record)
    formatted = logging.Formatter().format(record)
    assert JWT not in formatted
    assert "TOPSECRET" not in formatted
    assert "[REDACTED]" in formatted


def test_uvicorn_access_and_startup_lines_survive_redaction() -> None:
    """uvicorn's access formatter unpacks ``record.args``: the filter keeps them a tuple (redacted one by one),
    and a bare server address is not a download link."""
    from uvicorn.logging import AccessFormatter, DefaultFormatter

    logger = logging.getLogger("uvicorn.access")
    path = f"/api/v1/summary?tenant=contoso&access_token={JWT}"
    record = logger.makeRecord(
        "uvicorn.access",
        logging.INFO,
        __file__,
        1,
        '%s - "%s %s HTTP/%s" %d',
        ("127.0.0.1:5000", "GET", path, "1.1", 200),
        None,
    )
    RedactingFilter().filter(record)
    line = AccessFormatter(fmt="%(client_addr)s %(request_line)s %(status_code)s", use_colors=False).format(record)
    assert line == "127.0.0.1:5000 GET /api/v1/summary?tenant=contoso&access_token=[REDACTED] HTTP/1.1 200 OK"
    start = logging.getLogger("uvicorn.error").makeRecord(
        "uvicorn.error",
        logging.INFO,
        __file__,
        1,
        "Uvicorn running on %s://%s:%d (Press CTRL+C to quit)",
        ("http", "127.0.0.1", 18465),
        None,
    )
    RedactingFilter().filter(start)
    assert DefaultFormatter(fmt="%(message)s", use_colors=False).format(start) == (
        "Uvicorn running on http://127.0.0.1:18465 (Press CTRL+C to quit)"
    )
    assert redact_text("see http://127.0.0.1:18465/ now") == "see http://127.0.0.1:18465/ now"
    assert redact_url("https://reports.office.com/?sig=x") == "https://reports.office.com/[REDACTED]"


def test_args_that_join_into_a_secret_are_rendered_and_redacted() -> None:
    record = logging.getLogger("t").makeRecord(
        "t", logging.INFO, __file__, 1, "%s%s", ("client_secret=", "S3cr3t-x"), None
    )
    RedactingFilter().filter(record)
    assert record.args is None
    assert record.getMessage() == "client_secret=[REDACTED]"


def test_install_quietens_httpx(redaction: None) -> None:
    assert logging.getLogger("httpx").level >= logging.WARNING
    assert logging.getLogger("httpcore").level >= logging.WARNING


def test_no_secret_reaches_the_logs_across_a_run_with_retries_and_errors(
    make_client, caplog: pytest.LogCaptureFixture, redaction: None
) -> None:
    served = {"links": 0, "downloads": 0}

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.host == "reports.download.test":
            served["downloads"] += 1
            if served["downloads"] == 1:
                return httpx.Response(503)
            if served["downloads"] == 2:
                return httpx.Response(403)
            return httpx.Response(200, content=b"a,b\n1,2\n")
        path = request.url.path
        if "reports" in path:
            served["links"] += 1
            return httpx.Response(
                302,
                headers={"Location": f"{DOWNLOAD}/data/download/LINKSECRET{served['links']}?sig=SIGSECRET"},
            )
        if request.url.params.get("$skiptoken") == "SKIPSECRET":
            return graph_error(400, "Directory_ExpiredPageToken", "The page token has expired")
        if request.headers["Authorization"].endswith("-1"):
            return graph_error(401, "InvalidAuthenticationToken", "Access token has expired")
        if "throttle" in path and not request.headers.get("x-retried"):
            return httpx.Response(429, headers={"Retry-After": "1"})
        return httpx.Response(
            200,
            json={"value": [{"id": 1}], "@odata.nextLink": "https://graph.test/v1.0/x?$skiptoken=SKIPSECRET"},
        )

    client, _ = make_client(handler, policy=RetryPolicy(max_attempts=3))
    caplog.set_level(logging.DEBUG)
    pages = client.iter_pages("v1.0/x", family="signins")
    with pytest.raises(SmtpAuthError) as paging_error:
        list(pages)
    result = client.download_report(
        "v1.0/reports/getEmailAppUsageUserDetail(period='D7')", family="reports_csv", dest=io.BytesIO()
    )
    assert result.link_requests == 2
    with pytest.raises(SmtpAuthError) as throttle_error:
        client.get_json("v1.0/throttle", family="graph")
    logging.getLogger("test").warning("request failed with headers %s", {"Authorization": "Bearer token-graph-2"})

    text = "\n".join(
        [caplog.text, str(paging_error.value), str(throttle_error.value)]
        + [logging.Formatter().format(r) for r in caplog.records]
    )
    assert "retrying" in caplog.text  # the run did retry
    for secret in ("token-graph-1", "token-graph-2", "LINKSECRET", "SIGSECRET", "SKIPSECRET"):
        assert secret not in text, secret
