"""Retries: Retry-After honoured exactly, jittered backoff without it, bounds, the cap, fatal 4xx."""

import random
from datetime import UTC, datetime

import httpx
import pytest
from httpkit import graph_error, scripted

from connector.clock import FakeClock
from connector.config import HttpSettings
from connector.errors import (
    BadRequestError,
    NotFoundError,
    PermissionDeniedError,
    RetryableError,
    ThrottleCapExceeded,
    ThrottledError,
    TransportError,
)
from connector.http import RetryPolicy, parse_retry_after

OK = httpx.Response(200, json={"ok": True})


def test_parse_retry_after_accepts_integers_fractions_and_http_dates() -> None:
    now = datetime(2026, 11, 28, 6, 0, tzinfo=UTC)
    assert parse_retry_after("7", now) == 7.0
    assert parse_retry_after("2.128", now) == 2.128
    assert parse_retry_after("Sat, 28 Nov 2026 06:00:30 GMT", now) == 30.0
    assert parse_retry_after("Sat, 28 Nov 2026 05:00:00 GMT", now) == 0.0
    assert parse_retry_after("soon", now) is None
    assert parse_retry_after("nan", now) is None
    assert parse_retry_after(None, now) is None


def test_429_with_retry_after_7_waits_exactly_7_seconds(make_client, clock: FakeClock) -> None:
    client, rec = make_client(scripted([httpx.Response(429, headers={"Retry-After": "7"}), OK]))
    assert client.get_json("v1.0/x", family="graph").json == {"ok": True}
    assert clock.sleeps == [7.0]
    assert len(rec.requests) == 2
    assert client.stats.throttled == 1
    assert client.stats.retries == 1


def test_fractional_retry_after_is_honoured(make_client, clock: FakeClock) -> None:
    client, _ = make_client(scripted([httpx.Response(429, headers={"Retry-After": "2.128"}), OK]))
    client.get_json("v1.0/x", family="graph")
    assert clock.sleeps == [2.128]


def test_503_with_retry_after_is_throttling(make_client, clock: FakeClock) -> None:
    client, _ = make_client(scripted([graph_error(503, "serviceNotAvailable", **{"Retry-After": "3"}), OK]))
    client.get_json("v1.0/x", family="graph")
    assert clock.sleeps == [3.0]


def test_without_retry_after_backoff_is_jittered_within_bounds(make_client, clock: FakeClock) -> None:
    policy = RetryPolicy(max_attempts=6, backoff_initial_seconds=1.0, backoff_max_seconds=4.0, rng=random.Random(1))
    replies: list[httpx.Response | Exception] = [
        httpx.Response(429),
        httpx.Response(503),
        httpx.Response(504),
        httpx.Response(509),
        httpx.Response(429),
        OK,
    ]
    client, rec = make_client(scripted(replies), policy=policy)
    client.get_json("v1.0/x", family="graph")
    assert len(clock.sleeps) == 5
    for n, slept in enumerate(clock.sleeps, start=1):
        assert 0.0 <= slept <= min(4.0, 2 ** (n - 1))
    assert len(set(clock.sleeps)) == 5  # jittered, not a fixed ladder
    assert len(rec.requests) == 6


@pytest.mark.parametrize(
    ("status", "code", "error"),
    [
        (400, "BadRequest", BadRequestError),
        (403, "Authorization_RequestDenied", PermissionDeniedError),
        (404, "ResourceNotFound", NotFoundError),
    ],
)
def test_other_4xx_are_not_retried(make_client, clock: FakeClock, status: int, code: str, error: type) -> None:
    client, rec = make_client(scripted([graph_error(status, code)]))
    with pytest.raises(error):
        client.get_json("v1.0/x", family="graph")
    assert len(rec.requests) == 1
    assert clock.sleeps == []


def test_attempts_are_bounded(make_client, clock: FakeClock) -> None:
    policy = RetryPolicy(max_attempts=3, rng=random.Random(1))
    client, rec = make_client(scripted([httpx.Response(429, headers={"Retry-After": "1"})] * 3), policy=policy)
    with pytest.raises(ThrottledError) as info:
        client.get_json("v1.0/x", family="graph")
    assert len(rec.requests) == 3
    assert clock.sleeps == [1.0, 1.0]
    assert info.value.retry_after == 1.0


def test_total_wait_is_bounded(make_client, clock: FakeClock) -> None:
    policy = RetryPolicy(max_attempts=10, max_total_wait_seconds=25, rng=random.Random(1))
    client, rec = make_client(scripted([httpx.Response(429, headers={"Retry-After": "10"})] * 4), policy=policy)
    with pytest.raises(ThrottledError):
        client.get_json("v1.0/x", family="graph")
    # a third wait would take the total to 30 s > 25 s: stop before sleeping it
    assert clock.sleeps == [10.0, 10.0]
    assert len(rec.requests) == 3


def test_retry_after_over_the_cap_raises_at_once_without_sleeping(make_client, clock: FakeClock) -> None:
    policy = RetryPolicy(retry_after_cap_seconds=300, rng=random.Random(1))
    client, rec = make_client(scripted([graph_error(429, "TooManyRequests", **{"Retry-After": "3600"})]), policy=policy)
    with pytest.raises(ThrottleCapExceeded) as info:
        client.get_json("v1.0/x", family="graph")
    assert clock.sleeps == []
    assert len(rec.requests) == 1
    assert info.value.retry_after == 3600
    assert info.value.kind == "throttled"
    assert info.value.request_id == "rid-err"


def test_transport_errors_are_retried(make_client, clock: FakeClock) -> None:
    replies: list[httpx.Response | Exception] = [
        httpx.ConnectError("connection refused"),
        httpx.ReadTimeout("timed out"),
        httpx.RemoteProtocolError("peer closed connection"),
        OK,
    ]
    client, rec = make_client(scripted(replies))
    assert client.get_json("v1.0/x", family="graph").json == {"ok": True}
    assert len(rec.requests) == 4
    assert client.stats.transport_errors == 3


def test_truncated_json_body_is_a_retryable_transport_error(make_client, clock: FakeClock) -> None:
    short = httpx.Response(200, headers={"Content-Length": "500"}, content=b'{"value": [')
    client, rec = make_client(scripted([short, OK]))
    assert client.get_json("v1.0/x", family="graph").json == {"ok": True}
    assert len(rec.requests) == 2


def test_exhausted_transport_retries_raise_transport_error(make_client) -> None:
    policy = RetryPolicy(max_attempts=2, rng=random.Random(1))
    client, _ = make_client(scripted([httpx.ConnectError("refused")] * 2), policy=policy)
    with pytest.raises(TransportError) as info:
        client.get_json("v1.0/x", family="graph")
    assert isinstance(info.value, RetryableError)


def test_policy_from_settings_copies_every_bound() -> None:
    settings = HttpSettings(
        max_attempts=4,
        max_total_wait_seconds=60,
        retry_after_cap_seconds=30,
        backoff_initial_seconds=0.5,
        backoff_max_seconds=8,
    )
    policy = RetryPolicy.from_settings(settings, rng=random.Random(3))
    assert (policy.max_attempts, policy.max_total_wait_seconds, policy.retry_after_cap_seconds) == (4, 60, 30)
    assert (policy.backoff_initial_seconds, policy.backoff_max_seconds) == (0.5, 8)
