"""Pacing per (tenant, family) to the documented windows, on a fake clock."""

import threading

import pytest

from connector.clock import FakeClock
from connector.http import DEFAULT_LIMITS, RateLimiter, Window


def test_the_request_after_a_full_window_waits_for_the_window_to_slide() -> None:
    clock = FakeClock()
    limiter = RateLimiter(clock, {"signins": (Window(5, 10.0),)})
    for _ in range(5):
        assert limiter.acquire("contoso", "signins") == 0.0
    assert clock.sleeps == []
    assert limiter.acquire("contoso", "signins") == 10.0
    assert clock.sleeps == [10.0]


def test_requests_spread_over_time_are_not_delayed() -> None:
    clock = FakeClock()
    limiter = RateLimiter(clock, {"signins": (Window(5, 10.0),)})
    for _ in range(20):
        limiter.acquire("contoso", "signins")
        clock.advance(2.0)
    assert clock.sleeps == []


def test_csv_reports_are_limited_per_report_api_and_per_tenant() -> None:
    clock = FakeClock()
    limiter = RateLimiter(clock, DEFAULT_LIMITS)
    for _ in range(14):
        limiter.acquire("contoso", "reports_csv:getEmailAppUsageUserDetail")
    # the 15th call of the same report API waits for its 10-minute window ...
    limiter.acquire("contoso", "reports_csv:getEmailAppUsageUserDetail")
    assert clock.sleeps == [600.0]
    # ... while other report APIs share only the 40-per-tenant window
    clock2 = FakeClock()
    limiter2 = RateLimiter(clock2, DEFAULT_LIMITS)
    apis = ["getEmailAppUsageUserDetail", "getEmailAppUsageUserCounts", "getEmailAppUsageAppsUserCounts"]
    for i in range(40):
        limiter2.acquire("contoso", f"reports_csv:{apis[i % 3]}")
    assert clock2.sleeps == []
    limiter2.acquire("contoso", "reports_csv:getEmailAppUsageVersionsUserCounts")
    assert clock2.sleeps == [600.0]


def test_tenants_and_families_are_paced_independently() -> None:
    clock = FakeClock()
    limiter = RateLimiter(clock, {"signins": (Window(1, 10.0),), "graph": (Window(1, 10.0),)})
    limiter.acquire("contoso", "signins")
    limiter.acquire("fabrikam", "signins")
    limiter.acquire("contoso", "graph")
    limiter.acquire("contoso", "unknown_family")  # falls back to the graph window: waits
    assert clock.sleeps == [10.0]


def test_time_scale_shrinks_the_windows() -> None:
    clock = FakeClock()
    limiter = RateLimiter(clock, {"message_trace": (Window(100, 300.0),)}, time_scale=60)
    for _ in range(101):
        limiter.acquire("contoso", "message_trace")
    assert clock.sleeps == [5.0]


def test_off_never_waits() -> None:
    clock = FakeClock()
    limiter = RateLimiter.off(clock)
    for _ in range(1000):
        limiter.acquire("contoso", "signins")
    assert clock.sleeps == []


def test_concurrent_callers_never_exceed_the_window() -> None:
    clock = FakeClock()
    limiter = RateLimiter(clock, {"signins": (Window(5, 10.0),)})
    stamps: list[float] = []
    lock = threading.Lock()

    def worker() -> None:
        for _ in range(5):
            limiter.acquire("contoso", "signins")
            with lock:
                stamps.append(clock.monotonic())

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    stamps.sort()
    assert len(stamps) == 20
    for i in range(len(stamps) - 5):
        assert stamps[i + 5] - stamps[i] >= 10.0 - 1e-9


def test_invalid_windows_are_refused() -> None:
    with pytest.raises(ValueError, match="rate window"):
        Window(0, 10)
    with pytest.raises(ValueError, match="time_scale"):
        RateLimiter(FakeClock(), time_scale=0)


def test_a_slot_is_dated_by_its_response_so_a_slow_request_does_not_let_the_next_one_in_early() -> None:
    """Microsoft counts arrivals: the window of a request that took 3 s to answer ends 3 s later."""
    clock = FakeClock()
    limiter = RateLimiter(clock, {"signins": (Window(5, 10.0),)})
    slow = limiter.reserve("contoso", "signins")
    for _ in range(4):
        limiter.reserve("contoso", "signins").complete()
    clock.advance(3.0)
    slow.complete()  # its response came back at t=3
    clock.advance(7.5)  # t=10.5: the four fast ones have left the window, the slow one has not
    for _ in range(4):
        assert limiter.reserve("contoso", "signins").waited == 0.0
    # dated by its send time (t=0) the slow one would have left too; dated by its response it holds a slot to t=13
    assert limiter.reserve("contoso", "signins").waited == pytest.approx(2.5)
