"""The one exception tree of smtpauth.

Every error the connector raises on purpose is a :class:`SmtpAuthError`. Its ``str()`` is a message an admin can
act on; it never contains a token, secret, client assertion or pre-authenticated download URL::

    SmtpAuthError
    ├── ConfigError                 fatal, exit code 2: names the key and the fix
    ├── AuthError                   MSAL error dict mapped to an action; keeps the AADSTS code and correlation id
    ├── GraphError                  an HTTP call to Graph / Exchange failed: status, code, request_id, redacted url
    │   ├── RetryableError          429/503/504/509 and transport errors: retried by the client
    │   │   ├── ThrottledError      429 (and 503 with Retry-After): carries ``retry_after`` seconds
    │   │   └── TransportError      connection reset, timeout, truncated body
    │   ├── ThrottleCapExceeded     Retry-After beyond the configured cap: end the source's run as "throttled"
    │   ├── PermissionDeniedError   403: names the missing permission or role
    │   │   └── LicenceRequiredError    403 Authentication_RequestFromNonPremiumTenantOrB2CTenant (Entra P1/P2)
    │   ├── UnauthorizedError       401 after one token renewal (or message-trace service principal missing)
    │   ├── NotFoundError           404
    │   ├── BadRequestError         400: a bug or an API change, fail loudly with code and request-id
    │   ├── ExpiredLinkError        skiptoken / nextLink / download link expired: restart the slice / re-request
    │   ├── PagingLoopError         the same nextLink came back twice
    │   └── DownloadError           a report download was incomplete or malformed
    │       ├── BrowserSessionRequired  the file host wants an admin's browser session (sign-in page, 401)
    │       └── FileBusyError           a historical search file answered 503 "server busy" (downloaded too often)
    ├── SourceUnavailable           a source cannot run for this tenant (cloud, concealment, licence): a coverage reason
    │   └── CloudUnavailable        the tenant's cloud refused an API its documentation does not list there
    ├── RecordError                 one input record is unusable: counted as skipped, never dropped silently
    └── StorageError                the database refused a write or the schema is out of date

Errors that are *expected* in production (config, auth, permission, licence, throttling) are shown to the admin as
one line without a traceback by the CLI.
"""

from typing import Any

__all__ = [
    "AuthError",
    "BadRequestError",
    "BrowserSessionRequired",
    "CloudUnavailable",
    "ConfigError",
    "DownloadError",
    "ExpiredLinkError",
    "FileBusyError",
    "GraphError",
    "LicenceRequiredError",
    "NotFoundError",
    "PagingLoopError",
    "PermissionDeniedError",
    "RecordError",
    "RetryableError",
    "SmtpAuthError",
    "SourceUnavailable",
    "StorageError",
    "ThrottleCapExceeded",
    "ThrottledError",
    "TransportError",
    "UnauthorizedError",
]


class SmtpAuthError(Exception):
    """Base of every error smtpauth raises on purpose. ``str(err)`` is safe to show and to log."""

    #: a short machine-readable class used in sync-run records and coverage ("throttled", "permission", ...)
    kind: str = "error"


class ConfigError(SmtpAuthError):
    """The configuration is unusable. Fatal: the CLI prints the message and exits with code 2."""

    kind = "config"

    def __init__(self, message: str, *, key: str | None = None) -> None:
        self.key = key
        #: the message without the key
        self.detail = message
        super().__init__(f"{key}: {message}" if key else message)

    @property
    def names_an_argument(self) -> bool:
        """The key is a command-line option (``--from``) or argument (``JOB_ID``), not a configuration key."""
        return bool(self.key) and (self.key.startswith("-") or self.key.isupper())  # type: ignore[union-attr]


class AuthError(SmtpAuthError):
    """A token could not be acquired. The message says what to do; the AADSTS code is kept."""

    kind = "auth"

    def __init__(
        self,
        message: str,
        *,
        tenant: str | None = None,
        error: str | None = None,
        aadsts: str | None = None,
        correlation_id: str | None = None,
    ) -> None:
        self.tenant = tenant
        self.error = error
        self.aadsts = aadsts
        self.correlation_id = correlation_id
        parts = [message]
        if aadsts:
            parts.append(f"(AADSTS{aadsts}")
            parts[-1] += f", correlation id {correlation_id})" if correlation_id else ")"
        prefix = f"tenant {tenant!r}: " if tenant else ""
        super().__init__(prefix + " ".join(parts))


class GraphError(SmtpAuthError):
    """An HTTP call to Microsoft Graph or Exchange failed.

    Attributes are safe to log: ``url`` is already redacted (no query string on download hosts, no secrets).
    """

    kind = "graph"

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        code: str | None = None,
        request_id: str | None = None,
        url: str | None = None,
    ) -> None:
        self.status = status
        self.code = code
        self.request_id = request_id
        self.url = url
        self.detail = message
        bits = [message]
        meta = []
        if status is not None:
            meta.append(f"HTTP {status}")
        if code:
            meta.append(f"code {code}")
        if request_id:
            meta.append(f"request-id {request_id}")
        if url:
            meta.append(url)
        if meta:
            bits.append("[" + ", ".join(meta) + "]")
        super().__init__(" ".join(bits))


class RetryableError(GraphError):
    """A failure worth retrying (429/503/504/509, transport errors)."""

    kind = "retryable"

    def __init__(self, message: str, *, retry_after: float | None = None, **kw: Any) -> None:
        self.retry_after = retry_after
        super().__init__(message, **kw)


class ThrottledError(RetryableError):
    """HTTP 429 (or 503 carrying Retry-After)."""

    kind = "throttled"


class TransportError(RetryableError):
    """The connection failed, timed out or a body was cut short."""

    kind = "transport"


class ThrottleCapExceeded(GraphError):  # noqa: N818 (a run outcome, not a failure)
    """Microsoft asked us to wait longer than the configured cap; the source run ends as throttled."""

    kind = "throttled"

    def __init__(self, message: str, *, retry_after: float, **kw: Any) -> None:
        self.retry_after = retry_after
        super().__init__(message, **kw)


class PermissionDeniedError(GraphError):
    """HTTP 403: the app lacks a permission or role. ``permission`` names it when known."""

    kind = "permission"

    def __init__(self, message: str, *, permission: str | None = None, **kw: Any) -> None:
        self.permission = permission
        super().__init__(message, **kw)


class LicenceRequiredError(PermissionDeniedError):
    """The tenant lacks the licence a source needs (sign-in logs need Entra ID P1/P2)."""

    kind = "licence"


class UnauthorizedError(GraphError):
    """HTTP 401 that a fresh token did not cure."""

    kind = "unauthorized"


class NotFoundError(GraphError):
    """HTTP 404."""

    kind = "not_found"


class BadRequestError(GraphError):
    """HTTP 400: a filter or window rule was broken: a bug or an API change."""

    kind = "bad_request"


class ExpiredLinkError(GraphError):
    """A skiptoken, nextLink or download link is no longer valid: restart the slice or request again."""

    kind = "expired_link"


class PagingLoopError(GraphError):
    """A server returned a nextLink we had already followed."""

    kind = "paging_loop"


class DownloadError(GraphError):
    """A report download was incomplete or not in the expected format."""

    kind = "download"


class BrowserSessionRequired(DownloadError):  # noqa: N818 (an outcome: an admin has to fetch the file)
    """A file host answered with a sign-in (401, a redirect to a login page, an HTML page): only an admin's browser
    session can fetch the file (historical search ``FileUrl``, API notes section 9)."""

    kind = "browser_session"


class FileBusyError(DownloadError):
    """A historical search file answered 503 "server busy": it was downloaded too many times (about 20); asking
    again does not help, a new search does (API notes section 9)."""

    kind = "file_busy"


class SourceUnavailable(SmtpAuthError):  # noqa: N818 (a coverage state, not a failure)
    """A source cannot run for this tenant; ``reason`` is what coverage shows."""

    kind = "unavailable"

    def __init__(self, reason: str, *, fix: str | None = None) -> None:
        self.reason = reason
        self.fix = fix
        super().__init__(reason + (f". {fix}" if fix else ""))


class CloudUnavailable(SourceUnavailable):
    """Microsoft refused, in this tenant's national cloud, an API its documentation lists for the global service
    only. ``microsoft_error`` (code, message, request-id) is kept in the run record."""

    def __init__(self, cloud: str, api: str, error: "GraphError", *, fix: str | None = None) -> None:
        self.cloud = cloud
        self.api = api
        self.microsoft_error = str(error)
        super().__init__(f"unavailable in the {cloud} cloud: Microsoft does not offer this API there", fix=fix)

    def __str__(self) -> str:
        return f"{super().__str__()} (Microsoft answered: {self.microsoft_error})"


class RecordError(SmtpAuthError):
    """One input record could not be used; it is counted as skipped with this reason."""

    kind = "record"


class StorageError(SmtpAuthError):
    """The database refused an operation."""

    kind = "storage"
