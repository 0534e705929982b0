"""OData paging: nextLink followed whole, foreign origins refused, loops detected, tokens renewed mid-way."""

import json
from typing import Any

import httpx
import pytest
from httpkit import GRAPH, SCOPE, Tokens, graph_error

from connector.errors import ExpiredLinkError, GraphError, PagingLoopError, UnauthorizedError

SIGNINS = "v1.0/auditLogs/signIns"
FILTER = {"$filter": "clientAppUsed eq 'Authenticated SMTP'", "$top": "2"}


def page(rows: list[dict[str, Any]], next_link: str | None = None, request_id: str = "rid") -> httpx.Response:
    body: dict[str, Any] = {"value": rows}
    if next_link:
        body["@odata.nextLink"] = next_link
    return httpx.Response(200, json=body, headers={"request-id": request_id})


def next_link(n: int) -> str:
    query = "$filter=clientAppUsed%20eq%20'Authenticated%20SMTP'"
    return f"{GRAPH}/v1.0/auditLogs/signIns?{query}&$skiptoken=tok{n}"


def three_pages(request: httpx.Request) -> httpx.Response:
    token = request.url.params.get("$skiptoken")
    if token is None:
        return page([{"id": "1"}, {"id": "2"}], next_link(2), "rid-1")
    if token == "tok2":
        return page([{"id": "3"}, {"id": "4"}], next_link(3), "rid-2")
    return page([{"id": "5"}], None, "rid-3")


def test_pages_follow_next_link_whole(make_client) -> None:
    client, rec = make_client(three_pages)
    pages = list(client.iter_pages(SIGNINS, params=FILTER, family="signins"))
    assert [p.index for p in pages] == [0, 1, 2]
    assert [r["id"] for p in pages for r in p.value] == ["1", "2", "3", "4", "5"]
    assert [p.request_id for p in pages] == ["rid-1", "rid-2", "rid-3"]
    assert rec.requests[0].url.params["$filter"] == FILTER["$filter"]
    # the next link is sent as given: no $top added back, query untouched
    assert str(rec.requests[1].url) == next_link(2)
    assert str(rec.requests[2].url) == next_link(3)
    assert all(r.headers["Authorization"] == "Bearer token-graph-1" for r in rec.requests)
    # page URLs are safe to log: the skiptoken is gone
    assert "tok2" not in pages[1].url
    assert "$filter" in pages[1].url


def test_a_next_link_seen_twice_is_a_loop(make_client) -> None:
    def loop(request: httpx.Request) -> httpx.Response:
        return page([{"id": "x"}], next_link(2))

    client, rec = make_client(loop)
    with pytest.raises(PagingLoopError) as info:
        list(client.iter_pages(SIGNINS, family="signins"))
    assert len(rec.requests) == 2
    assert "tok2" not in str(info.value)


def test_a_next_link_to_another_origin_is_refused_before_sending_the_token(make_client) -> None:
    def foreign(request: httpx.Request) -> httpx.Response:
        return page([{"id": "1"}], "https://evil.test/v1.0/auditLogs/signIns?$skiptoken=abc")

    client, rec = make_client(foreign)
    with pytest.raises(GraphError, match="another origin"):
        list(client.iter_pages(SIGNINS, family="signins"))
    assert [r.url.host for r in rec.requests] == ["graph.test"]


@pytest.mark.parametrize(
    "link",
    ["http://graph.test/v1.0/x?$skiptoken=a", "https://graph.test:8443/v1.0/x", "/v1.0/x?$skiptoken=a"],
)
def test_scheme_port_or_relative_next_links_count_as_foreign(make_client, link: str) -> None:
    client, rec = make_client(lambda request: page([], link))
    with pytest.raises(GraphError, match="another origin"):
        list(client.iter_pages(SIGNINS, family="signins"))
    assert len(rec.requests) == 1


def test_absolute_urls_must_have_the_graph_origin(make_client) -> None:
    client, rec = make_client(three_pages)
    with pytest.raises(GraphError, match="another origin"):
        client.get_json("https://elsewhere.test/v1.0/me", family="graph")
    assert rec.requests == []


def test_token_expiring_mid_paging_is_renewed_once(make_client, tokens: Tokens) -> None:
    calls = {"n": 0}

    def expiring(request: httpx.Request) -> httpx.Response:
        calls["n"] += 1
        if request.url.params.get("$skiptoken") == "tok3" and request.headers["Authorization"].endswith("-1"):
            return graph_error(401, "InvalidAuthenticationToken", "Lifetime validation failed")
        return three_pages(request)

    client, rec = make_client(expiring)
    rows = [r["id"] for p in client.iter_pages(SIGNINS, family="signins") for r in p.value]
    assert rows == ["1", "2", "3", "4", "5"]
    assert tokens.invalidated == [SCOPE]
    assert [r.headers["Authorization"] for r in rec.requests] == [
        "Bearer token-graph-1",
        "Bearer token-graph-1",
        "Bearer token-graph-1",
        "Bearer token-graph-2",
    ]
    assert client.stats.token_renewals == 1


def test_a_second_401_is_unauthorized(make_client, tokens: Tokens) -> None:
    client, rec = make_client(lambda request: graph_error(401, "InvalidAuthenticationToken", request_id="r401"))
    with pytest.raises(UnauthorizedError) as info:
        client.get_json("v1.0/x", family="graph")
    assert len(rec.requests) == 2
    assert tokens.invalidated == [SCOPE]
    assert info.value.request_id == "r401"
    assert info.value.status == 401


def test_expired_skiptoken_raises_expired_link(make_client) -> None:
    def expired(request: httpx.Request) -> httpx.Response:
        if request.url.params.get("$skiptoken"):
            return graph_error(400, "Directory_ExpiredPageToken", "The specified page token value has expired")
        return three_pages(request)

    client, _ = make_client(expired)
    pages = client.iter_pages(SIGNINS, family="signins")
    assert next(pages).index == 0
    with pytest.raises(ExpiredLinkError) as info:
        next(pages)
    assert info.value.status == 400
    assert "tok2" not in str(info.value)


def test_a_page_without_value_is_rejected(make_client) -> None:
    client, _ = make_client(lambda request: httpx.Response(200, json={"unexpected": 1}))
    with pytest.raises(GraphError, match="OData collection"):
        list(client.iter_pages(SIGNINS, family="signins"))


def test_invoke_command_posts_the_cmdlet_and_follows_pages_with_the_same_body(make_client, tokens: Tokens) -> None:
    from httpkit import EXCHANGE, TENANT_ID

    endpoint = f"{EXCHANGE}/adminapi/beta/{TENANT_ID}/InvokeCommand"

    def exchange(request: httpx.Request) -> httpx.Response:
        if "$skiptoken" not in str(request.url):
            return page([{"Identity": "a"}], f"{endpoint}?$skiptoken=p2")
        return page([{"Identity": "b"}])

    client, rec = make_client(exchange)
    rows = list(client.invoke_command("Get-CASMailbox", {"ResultSize": "Unlimited"}))
    assert [r["Identity"] for r in rows] == ["a", "b"]
    assert [r.method for r in rec.requests] == ["POST", "POST"]
    bodies = [json.loads(r.content) for r in rec.requests]
    assert (
        bodies[0]
        == bodies[1]
        == {"CmdletInput": {"CmdletName": "Get-CASMailbox", "Parameters": {"ResultSize": "Unlimited"}}}
    )
    assert str(rec.requests[0].url) == endpoint
    for r in rec.requests:
        assert r.headers["Authorization"] == "Bearer token-exchange-1"
        assert r.headers["X-AnchorMailbox"].startswith("APP:SystemMailbox{bb558c35")


def test_non_idempotent_cmdlets_are_not_retried_on_5xx(make_client) -> None:
    client, rec = make_client(lambda request: httpx.Response(503))
    with pytest.raises(GraphError):
        list(client.invoke_command("Start-HistoricalSearch", {"ReportType": "SmtpCSReport"}, idempotent=False))
    assert len(rec.requests) == 1
