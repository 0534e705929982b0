"""OData paging: follow ``@odata.nextLink`` whole, only to the API's own origin, and never in a circle.

The contract is dlt's paginator reduced to what Graph needs: :meth:`NextLinkPaginator.update` reads a page
body, :attr:`~NextLinkPaginator.has_next` and :attr:`~NextLinkPaginator.next_url` say what to request next.
"""

from dataclasses import dataclass, field
from typing import Any

from connector.errors import DownloadError, GraphError, PagingLoopError
from connector.http.redact import origin_of, redact_url

__all__ = ["NextLinkPaginator", "Page"]


@dataclass(frozen=True, slots=True)
class Page:
    """One page of an OData collection."""

    #: the rows (``value``)
    value: list[dict[str, Any]]
    #: 0 for the first page
    index: int
    #: Graph's ``request-id`` for this page (quote it to Microsoft support)
    request_id: str | None
    #: the page's URL, redacted (safe to log)
    url: str
    #: the whole body, for ``@odata.count`` / ``@odata.deltaLink`` and friends
    body: dict[str, Any] = field(repr=False)


class NextLinkPaginator:
    """Tracks ``@odata.nextLink`` for one collection.

    Raises GraphError when a nextLink points at another origin (the bearer token would go with it: reliability
    notes, sharp edge 3), PagingLoopError when a nextLink comes back a second time, DownloadError when a page
    is not an OData collection.
    """

    def __init__(self, origin: str) -> None:
        self._origin = origin_of(origin)
        self._seen: set[str] = set()
        self._next: str | None = None

    @property
    def has_next(self) -> bool:
        return self._next is not None

    @property
    def next_url(self) -> str:
        if self._next is None:
            raise RuntimeError("no next page")
        return self._next

    def start(self, url: str) -> None:
        """Remember the first URL, so a nextLink pointing back to it counts as a loop."""
        self._seen = {url}
        self._next = None

    def update(self, body: Any, *, url: str) -> list[dict[str, Any]]:
        """Read one page body; return its rows and set the next link. ``url`` is the redacted page URL."""
        if not isinstance(body, dict) or not isinstance(body.get("value"), list):
            raise DownloadError("the response is not an OData collection (no 'value' list)", url=url)
        rows = [row for row in body["value"] if isinstance(row, dict)]
        if len(rows) != len(body["value"]):
            raise DownloadError("the collection holds non-object rows", url=url)
        link = body.get("@odata.nextLink")
        if link is None or link == "":
            self._next = None
            return rows
        if not isinstance(link, str):
            raise DownloadError("@odata.nextLink is not a string", url=url)
        if origin_of(link) != self._origin:
            raise GraphError(
                "refusing to follow a nextLink to another origin "
                f"({origin_of(link) or 'not an absolute URL'}): the token is only sent to the API's own host",
                url=redact_url(link),
            )
        if link in self._seen:
            raise PagingLoopError("the server returned a nextLink that was already followed", url=redact_url(link))
        self._seen.add(link)
        self._next = link
        return rows
