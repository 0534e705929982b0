"""The simulator's request and response values, independent of how they travel (in-process or HTTPS)."""

import json
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import parse_qsl, urlsplit

__all__ = ["SimRequest", "SimResponse", "graph_error", "json_response"]


@dataclass(frozen=True, slots=True)
class SimRequest:
    """One HTTP request as the simulator sees it. Header names are matched case-insensitively."""

    method: str
    url: str
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""

    def header(self, name: str) -> str | None:
        low = name.lower()
        for k, v in self.headers.items():
            if k.lower() == low:
                return v
        return None

    @property
    def origin(self) -> str:
        parts = urlsplit(self.url)
        return f"{parts.scheme}://{parts.netloc}".lower()

    @property
    def path(self) -> str:
        return urlsplit(self.url).path

    @property
    def query(self) -> dict[str, str]:
        """Decoded query parameters (the last value wins when a name repeats)."""
        return dict(parse_qsl(urlsplit(self.url).query, keep_blank_values=True))

    def form(self) -> dict[str, str]:
        return dict(parse_qsl(self.body.decode("utf-8", errors="replace"), keep_blank_values=True))

    def json(self) -> Any:
        return json.loads(self.body.decode("utf-8"))


@dataclass(slots=True)
class SimResponse:
    """An HTTP response. ``reset`` drops the connection instead of answering; ``truncate_at`` sends only
    that many
    body bytes while announcing the full ``Content-Length``, then closes."""

    status: int
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    reset: bool = False
    truncate_at: int | None = None

    def header(self, name: str) -> str | None:
        low = name.lower()
        for k, v in self.headers.items():
            if k.lower() == low:
                return v
        return None

    def json(self) -> Any:
        return json.loads(self.body.decode("utf-8-sig"))


def json_response(status: int, payload: Any, headers: dict[str, str] | None = None) -> SimResponse:
    body = json.dumps(payload, separators=(",", ":")).encode("utf-8")
    out = {"Content-Type": "application/json; charset=utf-8"}
    out.update(headers or {})
    return SimResponse(status, out, body)


def graph_error(
    status: int,
    code: str,
    message: str,
    *,
    now: datetime,
    request: SimRequest | None = None,
    headers: dict[str, str] | None = None,
) -> SimResponse:
    """A Graph-style error: ``{"error": {"code", "message", "innerError": {...}}}`` plus a ``request-id`` header."""
    request_id = str(uuid.uuid4())
    client_request_id = (request.header("client-request-id") if request else None) or str(uuid.uuid4())
    payload = {
        "error": {
            "code": code,
            "message": message,
            "innerError": {
                "date": now.strftime("%Y-%m-%dT%H:%M:%S"),
                "request-id": request_id,
                "client-request-id": client_request_id,
            },
        }
    }
    out = {"request-id": request_id, "client-request-id": client_request_id}
    out.update(headers or {})
    return json_response(status, payload, out)
