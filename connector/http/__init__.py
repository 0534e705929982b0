"""HTTP plumbing: the one client every Graph and Exchange call goes through.

:func:`build_http_client` and :class:`GraphClient` (client), pacing (:class:`RateLimiter`), retries
(:class:`RetryPolicy`), OData paging (:class:`Page`), report downloads (:class:`DownloadResult`), API families
and log redaction (:func:`install_log_redaction`, :func:`redact_url`).
"""

from connector.http.client import GraphClient, GraphResponse, build_http_client, exchange_anchor_mailbox
from connector.http.download import DownloadResult
from connector.http.families import (
    EXCHANGE,
    GRAPH,
    MESSAGE_TRACE,
    REPORT_SETTINGS,
    REPORTS_CSV,
    REPORTS_JSON,
    SIGNINS,
    reports_csv_family,
)
from connector.http.paging import NextLinkPaginator, Page
from connector.http.ratelimit import DEFAULT_LIMITS, RateLimiter, Window
from connector.http.redact import RedactingFilter, install_log_redaction, redact_text, redact_url
from connector.http.responses import error_for_response, is_expired_link, parse_error_body
from connector.http.retry import ClientStats, RetryPolicy, parse_retry_after

__all__ = [
    "DEFAULT_LIMITS",
    "EXCHANGE",
    "GRAPH",
    "MESSAGE_TRACE",
    "REPORTS_CSV",
    "REPORTS_JSON",
    "REPORT_SETTINGS",
    "SIGNINS",
    "ClientStats",
    "DownloadResult",
    "GraphClient",
    "GraphResponse",
    "NextLinkPaginator",
    "Page",
    "RateLimiter",
    "RedactingFilter",
    "RetryPolicy",
    "Window",
    "build_http_client",
    "error_for_response",
    "exchange_anchor_mailbox",
    "install_log_redaction",
    "is_expired_link",
    "parse_error_body",
    "parse_retry_after",
    "redact_text",
    "redact_url",
    "reports_csv_family",
]
