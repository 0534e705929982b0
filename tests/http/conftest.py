"""Fixtures for the HTTP client tests: a fake clock, a counting token provider, a client factory."""

import random
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from httpkit import EXCHANGE, EXCHANGE_SCOPE, GRAPH, SCOPE, TENANT_ID, Handler, Recorder, Tokens

from connector.clock import FakeClock
from connector.http import GraphClient, RateLimiter, RetryPolicy

MakeClient = Callable[..., tuple[GraphClient, Recorder]]


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def tokens() -> Tokens:
    return Tokens()


@pytest.fixture
def make_client(clock: FakeClock, tokens: Tokens) -> Iterator[MakeClient]:
    clients: list[httpx.Client] = []

    def factory(
        handler: Handler,
        *,
        policy: RetryPolicy | None = None,
        limiter: RateLimiter | None = None,
        **kw: Any,
    ) -> tuple[GraphClient, Recorder]:
        recorder = Recorder(handler)
        http = httpx.Client(transport=httpx.MockTransport(recorder), follow_redirects=False)
        clients.append(http)
        client = GraphClient(
            "contoso",
            GRAPH,
            tokens,
            SCOPE,
            http,
            limiter=limiter or RateLimiter.off(clock),
            policy=policy or RetryPolicy(rng=random.Random(7)),
            clock=clock,
            exchange_base=EXCHANGE,
            exchange_scope=EXCHANGE_SCOPE,
            anchor_mailbox=f"APP:SystemMailbox{{bb558c35-97f1-4cb9-8ff7-d53741dc928c}}@{TENANT_ID}",
            tenant_id=TENANT_ID,
            **kw,
        )
        return client, recorder

    yield factory
    for http in clients:
        http.close()
