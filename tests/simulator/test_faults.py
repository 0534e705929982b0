import csv
import io

import httpx
import pytest

from connector.simulator import Chaos, Fault, Simulator

from .conftest import graph

SMTP = "clientAppUsed eq 'Authenticated SMTP'"
DETAIL = "/v1.0/reports/getEmailAppUsageUserDetail(period='D7')"


def test_scripted_429_fires_count_times_with_retry_after(sim: Simulator, http: httpx.Client) -> None:
    sim.faults.add(Fault(route="signins", kind="429", count=2, retry_after=7))
    with graph(sim, http) as g:
        rs = [g.get("/v1.0/auditLogs/signIns", params={"$filter": SMTP, "$top": "1"}) for _ in range(3)]
    assert [r.status_code for r in rs] == [429, 429, 200]
    assert rs[0].headers["Retry-After"] == "7"


def test_429_without_retry_after_and_5xx(sim: Simulator, http: httpx.Client) -> None:
    sim.faults.add(Fault("reports", "429"))
    sim.faults.add(Fault("reports", "503", retry_after=2.5))
    sim.faults.add(Fault("reports", "504"))
    with graph(sim, http) as g:
        rs = [g.get(DETAIL) for _ in range(4)]
    assert [r.status_code for r in rs] == [429, 503, 504, 302]
    assert "Retry-After" not in rs[0].headers
    assert rs[1].headers["Retry-After"] == "2.5"


def test_reset_raises_read_error(sim: Simulator, http: httpx.Client) -> None:
    sim.faults.add(Fault("signins", "reset"))
    with graph(sim, http) as g, pytest.raises(httpx.ReadError):
        g.get("/v1.0/auditLogs/signIns", params={"$filter": SMTP})


def test_truncated_download_raises_on_read(sim: Simulator, http: httpx.Client) -> None:
    sim.faults.add(Fault("download", "truncate"))
    with graph(sim, http) as g:
        location = g.get(DETAIL).headers["Location"]
    with pytest.raises(httpx.RemoteProtocolError):
        http.get(location)
    assert http.get(location).status_code == 200


def test_expired_download_and_expired_token(sim: Simulator, http: httpx.Client) -> None:
    sim.faults.add(Fault("download", "expired_download"))
    sim.faults.add(Fault("signins", "expired_token"))
    with graph(sim, http) as g:
        assert http.get(g.get(DETAIL).headers["Location"]).status_code == 403
        r = g.get("/v1.0/auditLogs/signIns", params={"$filter": SMTP})
        assert r.status_code == 401
        assert r.json()["error"]["code"] == "InvalidAuthenticationToken"
        assert g.get("/v1.0/auditLogs/signIns", params={"$filter": SMTP}).status_code == 200


def test_expired_skiptoken_fires_only_on_next_pages(sim: Simulator, http: httpx.Client) -> None:
    sim.faults.add(Fault("signins", "expired_skiptoken"))
    with graph(sim, http) as g:
        first = g.get("/v1.0/auditLogs/signIns", params={"$filter": SMTP, "$top": "3"})
        assert first.status_code == 200
        assert g.get(first.json()["@odata.nextLink"]).status_code == 400


@pytest.mark.parametrize("kind", ["csv_reorder", "csv_extra_column"])
def test_csv_column_faults_keep_data_mappable_by_name(sim: Simulator, http: httpx.Client, kind: str) -> None:
    with graph(sim, http) as g:
        plain = http.get(g.get(DETAIL).headers["Location"]).content.decode("utf-8-sig")
        sim.faults.add(Fault("reports", kind))
        altered = http.get(g.get(DETAIL).headers["Location"]).content.decode("utf-8-sig")
    a, b = list(csv.DictReader(io.StringIO(plain))), list(csv.DictReader(io.StringIO(altered)))
    assert list(a[0]) != list(b[0])
    assert [{k: r[k] for k in a[0]} for r in b] == a


def test_chaos_mode_is_seeded(sim: Simulator, http: httpx.Client) -> None:
    def run() -> list[int]:
        sim.faults.clear()
        sim.faults.chaos = Chaos(rate_429=0.3, rate_5xx=0.05, seed=3)
        with graph(sim, http) as g:
            return [
                g.get("/v1.0/auditLogs/signIns", params={"$filter": SMTP, "$top": "1"}).status_code for _ in range(60)
            ]

    first, second = run(), run()
    assert first == second
    assert 5 < first.count(429) < 35
    assert set(first) <= {200, 429, 503, 504}


def test_unknown_fault_kind_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown fault kind"):
        Fault("signins", "explode")
