"""Streaming a pre-authenticated report download into a file, whole or not at all (API notes section 1).

The download URL is a credential: it is requested without any token header, never logged and never kept in an
error (only its origin is). The body is streamed in chunks so memory stays flat, checked against
``Content-Length``, and ``dest`` is rewound and truncated before every attempt and after a failure, so the
caller gets a complete file or an exception, never a partial file.
"""

import logging
from dataclasses import dataclass
from typing import BinaryIO

import httpx

from connector.clock import Clock
from connector.errors import (
    BrowserSessionRequired,
    DownloadError,
    ExpiredLinkError,
    FileBusyError,
    RetryableError,
    TransportError,
)
from connector.http.redact import redact_text, redact_url
from connector.http.responses import body_size_mismatch, error_for_response

__all__ = ["DownloadResult", "fetch_download", "reset_dest"]

log = logging.getLogger(__name__)

#: headers that must never reach a download host (httpx forwards custom headers on redirects: sharp edge 4)
_CREDENTIAL_HEADERS = ("authorization", "x-anchormailbox", "cookie")


@dataclass(frozen=True, slots=True)
class DownloadResult:
    """What :meth:`GraphClient.download_report` wrote."""

    #: the server answered 304 to ``If-None-Match``: ``dest`` is untouched
    not_modified: bool
    #: bytes written to ``dest`` (decoded body)
    size: int
    etag: str | None
    #: Graph's request-id of the report request
    request_id: str | None
    content_type: str | None
    #: how many times the report was requested (more than 1 when a download link expired)
    link_requests: int


def _check_file_answer(response: httpx.Response, shown: str) -> None:
    """Recognize a historical search file host asking for an admin's sign-in, or busy for good."""
    status = response.status_code
    media = response.headers.get("content-type", "").split(";")[0].strip().lower()
    if status == 401 or 300 <= status < 400 or (status == 200 and media in ("text/html", "application/xhtml+xml")):
        response.read()
        where = " (redirected to a sign-in page)" if 300 <= status < 400 else ""
        raise BrowserSessionRequired(
            f"the file host asks for a signed-in admin{where}: the file can be fetched only from a browser",
            status=status,
            url=shown,
        )
    if status == 503:
        body = response.read()[:4096].decode("utf-8", errors="replace").lower()
        if "busy" in body:
            raise FileBusyError(
                "the file host answered 503 server busy: the file was downloaded too many times (about 20)",
                status=status,
                url=shown,
            )


def reset_dest(dest: BinaryIO, start: int) -> None:
    dest.seek(start)
    dest.truncate()


def fetch_download(
    http: httpx.Client,
    location: str,
    dest: BinaryIO,
    start: int,
    *,
    clock: Clock,
    chunk_size: int,
    file_host: bool = False,
) -> tuple[int, httpx.Headers]:
    """One attempt at streaming ``location`` into ``dest`` from offset ``start``; returns (bytes, headers).

    Raises ExpiredLinkError on 403/404/410 (the link is stale: request the report again), TransportError when
    the connection fails or the body is shorter or longer than ``Content-Length`` (retryable), RetryableError
    on 429/503/504, DownloadError on anything else. With ``file_host`` (a historical search's ``FileUrl``):
    BrowserSessionRequired for 401, a redirect or an HTML page (a sign-in), FileBusyError for a 503 whose body
    says the server is busy (the file was downloaded too often: not transient, whatever the page says).
    """
    shown = redact_url(location)
    reset_dest(dest, start)
    request = http.build_request("GET", location, headers={"Accept": "*/*"})
    for name in _CREDENTIAL_HEADERS:
        request.headers.pop(name, None)
    began = clock.monotonic()
    try:
        # auth=None: no client-level auth either; the URL is the credential
        response = http.send(request, stream=True, auth=None)
        try:
            status = response.status_code
            if file_host:
                _check_file_answer(response, shown)
            if status != 200:
                response.read()
                log.info("GET %s -> %d", shown, status)
                if status in (403, 404, 410):
                    raise ExpiredLinkError("the report download link has expired", status=status, url=shown)
                err = error_for_response(response, family="download", url=shown, now=clock.now())
                if isinstance(err, RetryableError):
                    raise err
                raise DownloadError(f"the download host answered HTTP {status}", status=status, url=shown)
            written = 0
            for chunk in response.iter_bytes(chunk_size):
                dest.write(chunk)
                written += len(chunk)
            mismatch = body_size_mismatch(response, written)
            if mismatch is not None:
                raise TransportError(
                    f"the download was cut short: {mismatch[0]} of {mismatch[1]} bytes", status=200, url=shown
                )
            dest.flush()
            log.info("GET %s -> 200, %d bytes in %.2f s", shown, written, clock.monotonic() - began)
            return written, response.headers
        finally:
            response.close()
    except httpx.RequestError as exc:
        raise TransportError(f"download failed ({type(exc).__name__}: {redact_text(str(exc))})", url=shown) from None
