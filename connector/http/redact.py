"""Keep credentials out of logs and error messages.

Three kinds of secret travel through the connector: bearer tokens, app credentials (client secret, client
assertion, key passphrase) and the pre-authenticated report download URL, which is itself a credential (API
notes section 1). :func:`redact_url` makes a URL safe to show; :class:`RedactingFilter` scrubs every log
record; :func:`install_log_redaction` wires the filter into logging once, at start-up.
"""

import logging
import re
import threading
from collections.abc import Iterable
from typing import Any
from urllib.parse import parse_qsl, quote, urlsplit, urlunsplit

from connector.clouds import CLOUDS

__all__ = [
    "REDACTED",
    "RedactingFilter",
    "install_log_redaction",
    "origin_of",
    "redact_text",
    "redact_url",
    "register_api_origin",
]

REDACTED = "[REDACTED]"

#: query parameters whose values are opaque continuation state or credentials, even on a Graph host
_SECRET_PARAMS = frozenset(
    {
        "$skiptoken",
        "$skip",
        "$deltatoken",
        "skiptoken",
        "deltatoken",
        "access_token",
        "token",
        "code",
        "sig",
        "signature",
        "client_secret",
        "client_assertion",
    }
)

#: characters left as they are in redacted query values so a $filter stays readable in an error message
_READABLE = " $()',:[]/"

_lock = threading.Lock()
# Graph and Exchange hosts keep their path and filters in redacted URLs; every other host (a download host) is
# reduced to its origin. Overrides of the cloud hosts (a proxy, the simulator) are added by the client.
_api_origins: set[str] = {
    origin
    for endpoints in CLOUDS.values()
    for origin in (endpoints.graph_endpoint, endpoints.exchange_endpoint, endpoints.authority_host)
}


def origin_of(url: str) -> str:
    """``scheme://host[:port]`` in lower case, with the scheme's default port dropped ('' when not
    absolute)."""
    parts = urlsplit(url)
    if not parts.scheme or not parts.hostname:
        return ""
    scheme = parts.scheme.lower()
    host = parts.hostname.lower()
    if ":" in host:
        host = f"[{host}]"
    try:
        port = parts.port
    except ValueError:
        port = None
    if port is None or (scheme, port) in (("https", 443), ("http", 80)):
        return f"{scheme}://{host}"
    return f"{scheme}://{host}:{port}"


def register_api_origin(url: str) -> None:
    """Treat ``url``'s origin as a Graph/Exchange API host in :func:`redact_url` (idempotent, thread-safe)."""
    origin = origin_of(url)
    if origin:
        with _lock:
            _api_origins.add(origin)


def _is_api_origin(origin: str, extra: Iterable[str]) -> bool:
    with _lock:
        if origin in _api_origins:
            return True
    return origin in {origin_of(o) for o in extra}


def redact_url(url: str, *, api_origins: Iterable[str] = ()) -> str:
    """A URL that is safe to log and to keep in an error.

    On a Graph/Exchange host the path and ``$filter``-style parameters stay (they explain a 400) while paging
    state (``$skiptoken``, ``$skip``, ...) and anything credential-like is replaced by ``[REDACTED]``. Any
    other host is a download host whose path and query *are* the credential: only its origin is kept.
    """
    try:
        parts = urlsplit(url)
    except ValueError:
        return REDACTED
    origin = origin_of(url)
    if not origin:
        # a relative path: keep the path, drop the query (it is ours, but may carry paging state)
        return parts.path or REDACTED
    if not _is_api_origin(origin, api_origins):
        if parts.path in ("", "/") and not parts.query and not parts.fragment and "@" not in parts.netloc:
            return url  # nothing but an origin (a server's own address): no credential in it
        return f"{origin}/{REDACTED}"
    query = []
    for key, value in parse_qsl(parts.query, keep_blank_values=True):
        shown = REDACTED if key.lower() in _SECRET_PARAMS else value
        query.append(f"{quote(key, safe='$')}={quote(shown, safe=_READABLE)}")
    return urlunsplit((parts.scheme, parts.netloc.rpartition("@")[2], parts.path, "&".join(query), ""))


_URL = re.compile(r"https?://[^\s\"'<>]+", re.IGNORECASE)
_PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = (
    # "Authorization: Bearer x", "'Authorization': 'Basic x'"
    (re.compile(r"(authorization['\"]?\s*[:=]\s*['\"]?)[^'\"\r\n,}]+", re.IGNORECASE), r"\1" + REDACTED),
    (re.compile(r"\b(bearer|basic)\s+[A-Za-z0-9\-._~+/]+=*", re.IGNORECASE), r"\1 " + REDACTED),
    # form or query style: client_secret=..., access_token=...
    (
        re.compile(
            r"\b(client_secret|client_assertion|access_token|refresh_token|id_token|passphrase|password"
            r"|assertion)=[^&\s'\"]+",
            re.IGNORECASE,
        ),
        r"\1=" + REDACTED,
    ),
    # JSON or repr style: "access_token": "...", 'passphrase': '...'
    (
        re.compile(
            r"(['\"](?:client_secret|client_assertion|access_token|refresh_token|id_token|passphrase|password"
            r"|private_key|secret)['\"]\s*:\s*)(['\"])(?:\\.|(?!\2).)*\2",
            re.IGNORECASE,
        ),
        r"\1\2" + REDACTED + r"\2",
    ),
    # a bare JWT anywhere (access tokens and client assertions are JWTs)
    (re.compile(r"\beyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*"), REDACTED),
    (
        re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----.*?(-----END [A-Z ]*PRIVATE KEY-----|$)", re.DOTALL),
        REDACTED,
    ),
)


def redact_text(text: str) -> str:
    """``text`` with tokens, credentials and download URLs replaced by ``[REDACTED]``."""
    text = _URL.sub(lambda m: redact_url(m.group(0)), text)
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    return text


class RedactingFilter(logging.Filter):
    """A logging filter that rewrites a record's message (and its formatted traceback) with
    :func:`redact_text`.

    It never drops a record. Attach it to handlers, or let :func:`install_log_redaction` apply it to every
    record.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        scrub_record(record)
        return True


#: argument types a format string may need as they are (``%d``, ``%.1f``); they carry no secret
_PLAIN_ARGS = (int, float, bool, type(None))


def _scrub_args(record: logging.LogRecord) -> bool:
    """Redact a tuple of args one by one and keep it (True), when the message still formats with them.

    Some formatters read ``record.args`` themselves (uvicorn's access log unpacks a 5-tuple), so a record's
    args stay a tuple where that is possible; anything but a number becomes its redacted text.
    """
    if not isinstance(record.args, tuple) or not isinstance(record.msg, str):
        return False
    args = tuple(a if isinstance(a, _PLAIN_ARGS) else redact_text(str(a)) for a in record.args)
    msg = redact_text(record.msg)
    try:
        rendered = msg % args if args else msg
    except (TypeError, ValueError, KeyError):
        return False
    # a secret split across arguments shows only once they are joined: keep the args only if that is not so
    if redact_text(rendered) != rendered:
        return False
    record.msg, record.args = msg, args
    return True


def scrub_record(record: logging.LogRecord) -> None:
    """Redact the record's message in place: its args one by one when they are a tuple the message formats with
    (formatters such as uvicorn's access log read them), otherwise the rendered message, with the args dropped.

    Idempotent, and safe to run again on a record changed after it was created (a traceback attached later is
    still scrubbed): redacting redacted text changes nothing.
    """
    if not _scrub_args(record):
        try:
            message = record.getMessage()
        except (TypeError, ValueError):
            message = f"{record.msg!s} {record.args!r}"
        record.msg = redact_text(message)
        record.args = None
    if record.exc_info and not record.exc_text:
        record.exc_text = redact_text(logging.Formatter().formatException(record.exc_info))
    elif record.exc_text:
        record.exc_text = redact_text(record.exc_text)
    if record.stack_info:
        record.stack_info = redact_text(record.stack_info)


_installed = False


def install_log_redaction() -> None:
    """Redact every log record from every logger, and quieten loggers that print full URLs.

    Called once by the CLI and the service before anything else logs. Idempotent. httpx logs each request's
    full URL at INFO (a download URL is a credential), so ``httpx`` and ``httpcore`` are raised to WARNING;
    the records that still get through are scrubbed like all others.
    """
    global _installed  # noqa: PLW0603 (logging configuration is process-wide by nature)
    with _lock:
        if _installed:
            return
        _installed = True
    previous = logging.getLogRecordFactory()

    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = previous(*args, **kwargs)
        scrub_record(record)
        return record

    logging.setLogRecordFactory(factory)
    for name in ("httpx", "httpcore"):
        logger = logging.getLogger(name)
        if logger.level < logging.WARNING:
            logger.setLevel(logging.WARNING)
