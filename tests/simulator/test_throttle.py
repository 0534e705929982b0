import httpx
import pytest

from connector.clock import FakeClock
from connector.simulator import Limit, SimDirectory, SimTransport, Simulator, ThrottleConfig

from .conftest import graph

SMTP = "clientAppUsed eq 'Authenticated SMTP'"


def test_defaults_are_the_documented_limits() -> None:
    c = ThrottleConfig()
    assert c.reports_csv_per_app == Limit(14, 600)
    assert c.reports_csv_per_tenant == Limit(40, 600)
    assert c.reports_json_per_app == Limit(100, 600)
    assert c.signins_per_app == Limit(5, 10)
    assert c.message_trace_per_tenant == Limit(100, 300)


@pytest.fixture
def throttled(directory: SimDirectory) -> tuple[Simulator, httpx.Client, FakeClock]:
    clock = FakeClock()
    sim = Simulator(directory, clock=clock, throttle=ThrottleConfig(time_scale=60))
    return sim, httpx.Client(transport=SimTransport(sim)), clock


def _hit(g: httpx.Client, path: str, params: dict[str, str], n: int) -> list[httpx.Response]:
    return [g.get(path, params=params) for _ in range(n)]


@pytest.mark.parametrize(
    ("path", "params", "limit", "window"),
    [
        ("/v1.0/reports/getEmailAppUsageUserCounts(period='D7')", {}, 14, 600),
        ("/beta/reports/getEmailAppUsageUserCounts(period='D7')", {"$format": "application/json"}, 100, 600),
        ("/v1.0/auditLogs/signIns", {"$filter": SMTP, "$top": "1"}, 5, 10),
        ("/v1.0/admin/exchange/tracing/messageTraces", {"$top": "1"}, 100, 300),
    ],
)
def test_n_plus_first_request_in_a_scaled_window_is_429(
    throttled: tuple[Simulator, httpx.Client, FakeClock], path: str, params: dict[str, str], limit: int, window: int
) -> None:
    sim, http, clock = throttled
    with graph(sim, http) as g:
        first = _hit(g, path, params, limit)
        assert all(r.status_code in (200, 302) for r in first)
        over = g.get(path, params=params)
        assert over.status_code == 429
        clock.advance(window / 60 + 0.01)
        assert g.get(path, params=params).status_code in (200, 302)


def test_tenant_wide_csv_limit_spans_apps(throttled: tuple[Simulator, httpx.Client, FakeClock]) -> None:
    sim, http, _ = throttled
    path = "/v1.0/reports/getEmailAppUsageUserDetail(period='D7')"
    sim.throttle_config.reports_csv_per_app = Limit(30, 600)
    with graph(sim, http, app="reader") as a, graph(sim, http, app="cert") as b:
        assert all(r.status_code == 302 for r in _hit(a, path, {}, 25) + _hit(b, path, {}, 15))
        r = b.get(path)
    assert r.status_code == 429
    assert float(r.headers["Retry-After"]) > 0
    assert sim.stats["throttled.reports"] == 1


def test_signin_429s_vary_retry_after_and_code(throttled: tuple[Simulator, httpx.Client, FakeClock]) -> None:
    sim, http, _ = throttled
    with graph(sim, http) as g:
        _hit(g, "/v1.0/auditLogs/signIns", {"$filter": SMTP, "$top": "1"}, 5)
        rs = _hit(g, "/v1.0/auditLogs/signIns", {"$filter": SMTP, "$top": "1"}, 3)
    assert [r.status_code for r in rs] == [429] * 3
    assert any("Retry-After" not in r.headers for r in rs)
    assert any(r.json()["error"]["code"] == "UnknownError" for r in rs)


def test_throttling_can_be_turned_off(sim: Simulator, http: httpx.Client) -> None:
    with graph(sim, http) as g:
        assert all(r.status_code == 200 for r in _hit(g, "/v1.0/auditLogs/signIns", {"$filter": SMTP, "$top": "1"}, 20))
