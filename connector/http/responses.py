"""Turn an unsuccessful Graph or Exchange response into the exception tree (API notes section 6)."""

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import httpx

from connector import jsonio
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
from connector.http.families import MESSAGE_TRACE, base_family, permission_for
from connector.http.redact import redact_text
from connector.http.retry import parse_retry_after

__all__ = [
    "ErrorBody",
    "body_size_mismatch",
    "error_for_response",
    "is_expired_link",
    "parse_error_body",
    "request_id_of",
]

#: 403 code meaning the tenant lacks Entra ID P1/P2 (API notes section 2)
LICENCE_CODE = "Authentication_RequestFromNonPremiumTenantOrB2CTenant"
#: service principal every tenant must have before Graph message trace answers anything but 401 (section 3)
MESSAGE_TRACE_APP_ID = "8bd644d1-64a1-4d4b-ae52-2e0cbf64e373"

_EXPIRED_CODES = frozenset(
    code.lower()
    for code in (
        "Directory_ExpiredPageToken",
        "Request_ExpiredSkipToken",
        "ExpiredSkipToken",
        "InvalidSkipToken",
        "Request_InvalidSkipToken",
        "SkipTokenExpired",
        "ExpiredPageToken",
    )
)
_LINK_WORDS = r"(?:skip\s*token|page\s*token|next\s*link|continuation\s*token)"
_STALE_WORDS = r"(?:expired|no longer valid|is not valid|invalid)"
# we never edit a nextLink, so a token the server calls invalid has gone stale: both mean "restart the slice"
_EXPIRED_MESSAGE = re.compile(
    rf"{_LINK_WORDS}\W+(?:\w+\W+){{0,8}}?{_STALE_WORDS}|{_STALE_WORDS}\W+(?:\w+\W+){{0,2}}?\$?{_LINK_WORDS}",
    re.IGNORECASE,
)


@dataclass(frozen=True, slots=True)
class ErrorBody:
    code: str | None
    message: str | None
    request_id: str | None


def request_id_of(response: httpx.Response) -> str | None:
    value: str | None = response.headers.get("request-id") or response.headers.get("client-request-id")
    return value


def body_size_mismatch(response: httpx.Response, decoded_size: int) -> tuple[int, int] | None:
    """(received, announced) when the body's size differs from ``Content-Length``, else None.

    Content-Length counts the bytes on the wire; when a content-encoding (gzip) is applied that is the raw
    count.
    """
    announced = response.headers.get("content-length", "").strip()
    if not announced.isdigit():
        return None
    encoding = response.headers.get("content-encoding", "identity").strip().lower()
    received = decoded_size if encoding in ("", "identity") else response.num_bytes_downloaded
    return None if received == int(announced) else (received, int(announced))


def parse_error_body(response: httpx.Response) -> ErrorBody:
    """Read ``{"error": {"code", "message", "innerError": {"request-id"}}}``; tolerate any other body."""
    code = message = inner_id = None
    try:
        body: Any = jsonio.loads(response.content) if response.content else None
    except (ValueError, UnicodeDecodeError):
        body = None
    error = body.get("error") if isinstance(body, dict) else None
    if isinstance(error, dict):
        code = error.get("code") if isinstance(error.get("code"), str) else None
        message = error.get("message") if isinstance(error.get("message"), str) else None
        inner = error.get("innerError") or error.get("innererror")
        if isinstance(inner, dict) and isinstance(inner.get("request-id"), str):
            inner_id = str(inner["request-id"])
    elif isinstance(error, str):
        # OAuth-style bodies ({"error": "invalid_token", "error_description": ...})
        code = error
        desc = body.get("error_description") if isinstance(body, dict) else None
        message = desc if isinstance(desc, str) else None
    if message is not None:
        message = redact_text(message.strip())[:500]
    return ErrorBody(code, message, inner_id or request_id_of(response))


def is_expired_link(code: str | None, message: str | None) -> bool:
    """True when a Graph error says a skiptoken / nextLink is no longer valid (section 2: they expire in
    minutes)."""
    if code and code.lower() in _EXPIRED_CODES:
        return True
    return bool(message and _EXPIRED_MESSAGE.search(message))


def error_for_response(response: httpx.Response, *, family: str, url: str, now: datetime) -> GraphError:
    """The exception for a non-success ``response``; ``url`` must already be redacted."""
    status = response.status_code
    body = parse_error_body(response)
    meta: dict[str, Any] = {"status": status, "code": body.code, "request_id": body.request_id, "url": url}
    said = f": {body.message}" if body.message else ""
    if status in (429, 503, 504, 509):
        retry_after = parse_retry_after(response.headers.get("retry-after"), now)
        if status == 429 or retry_after is not None:
            return ThrottledError(f"throttled by Microsoft{said}", retry_after=retry_after, **meta)
        return RetryableError(f"service unavailable{said}", **meta)
    if status == 400:
        if is_expired_link(body.code, body.message):
            return ExpiredLinkError(f"the paging link expired; restart the time slice{said}", **meta)
        return BadRequestError(f"request rejected (a bug or an API change){said}", **meta)
    if status == 401:
        if base_family(family) == MESSAGE_TRACE:
            return UnauthorizedError(
                "message trace refused the token: the tenant needs a service principal for app "
                f"{MESSAGE_TRACE_APP_ID} (New-MgServicePrincipal -AppId {MESSAGE_TRACE_APP_ID}) "
                f"and the app needs ExchangeMessageTrace.Read.All{said}",
                **meta,
            )
        return UnauthorizedError(f"the token was refused after a renewal{said}", **meta)
    if status == 403:
        permission = permission_for(family)
        if body.code == LICENCE_CODE:
            return LicenceRequiredError(
                "sign-in logs need an Entra ID P1 or P2 licence in this tenant", permission=permission, **meta
            )
        grant = (
            f": grant {permission} to the app registration (API permissions, then admin consent)" if permission else ""
        )
        return PermissionDeniedError(f"access denied{grant}{said}", permission=permission, **meta)
    if status == 404:
        return NotFoundError(f"not found{said}", **meta)
    if status == 410 and is_expired_link(body.code, body.message):
        return ExpiredLinkError(f"the paging link expired; restart the time slice{said}", **meta)
    return GraphError(f"unexpected HTTP {status}{said}", **meta)
