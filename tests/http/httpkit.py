"""Helpers for the HTTP client tests: hosts, a recording MockTransport handler, a counting token provider."""

from collections.abc import Callable

import httpx

GRAPH = "https://graph.test"
EXCHANGE = "https://exchange.test"
DOWNLOAD = "https://reports.download.test"
SCOPE = f"{GRAPH}/.default"
EXCHANGE_SCOPE = f"{EXCHANGE}/.default"
TENANT_ID = "contoso.onmicrosoft.com"

Handler = Callable[[httpx.Request], httpx.Response]


class Tokens:
    """A TokenProvider whose token changes after every invalidate; counts what it did."""

    def __init__(self) -> None:
        self.generation: dict[str, int] = {}
        self.issued: list[str] = []
        self.invalidated: list[str] = []

    def token(self, scope: str) -> str:
        token = f"token-{scope.split('//')[1].split('.', maxsplit=1)[0]}-{self.generation.get(scope, 1)}"
        self.issued.append(token)
        return token

    def invalidate(self, scope: str) -> None:
        self.invalidated.append(scope)
        self.generation[scope] = self.generation.get(scope, 1) + 1


class Recorder:
    """Wraps a handler and keeps every request it saw."""

    def __init__(self, handler: Handler) -> None:
        self.handler = handler
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        request.read()
        return self.handler(request)

    def urls(self) -> list[str]:
        return [str(r.url) for r in self.requests]


def scripted(responses: list[httpx.Response | Exception]) -> Handler:
    """A handler answering with the given responses in order (an Exception is raised instead)."""
    queue = iter(responses)

    def handler(request: httpx.Request) -> httpx.Response:
        item = next(queue)
        if isinstance(item, Exception):
            raise item
        return item

    return handler


def graph_error(
    status: int, code: str, message: str = "", request_id: str = "rid-err", **headers: str
) -> httpx.Response:
    body = {"error": {"code": code, "message": message, "innerError": {"request-id": request_id, "date": "x"}}}
    return httpx.Response(status, json=body, headers=headers)
