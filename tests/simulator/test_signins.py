from datetime import datetime, timedelta

import httpx
import pytest

from connector.simulator import EXPIRED_SKIPTOKEN_CODE, GroundTruth, Simulator

from .conftest import graph

SMTP = "clientAppUsed eq 'Authenticated SMTP'"


def _iso(d: datetime) -> str:
    return d.strftime("%Y-%m-%dT%H:%M:%SZ")


def _all(g: httpx.Client, params: dict[str, str]) -> list[dict[str, object]]:
    out: list[dict[str, object]] = []
    r = g.get("/v1.0/auditLogs/signIns", params=params)
    while True:
        assert r.status_code == 200, r.text
        body = r.json()
        out.extend(body["value"])
        link = body.get("@odata.nextLink")
        if not link:
            return out
        r = g.get(link)


def test_signins_newest_first_paged_and_equal_to_truth(sim: Simulator, http: httpx.Client) -> None:
    now = sim.clock.now()
    start = now - timedelta(days=8)
    with graph(sim, http) as g:
        rows = _all(g, {"$filter": f"{SMTP} and createdDateTime ge {_iso(start)}", "$top": "200"})
    times = [str(r["createdDateTime"]) for r in rows]
    assert times == sorted(times, reverse=True)
    assert len({r["id"] for r in rows}) == len(rows)
    truth = GroundTruth(sim, "contoso").signin_ids(start=start)
    served: dict[str, set[object]] = {}
    for r in rows:
        served.setdefault(str(r["userPrincipalName"]), set()).add(r["id"])
        assert r["userPrincipalName"] == str(r["userPrincipalName"]).lower()
    assert served == {u: set(ids) for u, ids in truth.items()}
    codes = {r["status"]["errorCode"] for r in rows}  # type: ignore[index]
    assert {0, 50126} <= codes


def test_signin_shape(sim: Simulator, http: httpx.Client) -> None:
    with graph(sim, http) as g:
        row = g.get("/v1.0/auditLogs/signIns", params={"$filter": SMTP, "$top": "1"}).json()["value"][0]
    assert row["clientAppUsed"] == "Authenticated SMTP"
    assert set(row["status"]) == {"errorCode", "failureReason", "additionalDetails"}
    assert set(row["location"]) == {"city", "state", "countryOrRegion", "geoCoordinates"}


@pytest.mark.parametrize(
    "params",
    [
        {"$filter": "appId eq 'x'"},
        {"$filter": f"{SMTP} or createdDateTime ge 2026-11-01T00:00:00Z"},
        {"$filter": f"{SMTP} and createdDateTime ge '2026-11-01T00:00:00Z'"},
        {"$filter": "createdDateTime ge 2026-11-01T00:00:00Z"},
        {"$filter": SMTP, "$top": "1001"},
        {"$filter": SMTP, "$top": "0"},
    ],
)
def test_unsupported_filters_and_top_are_400(sim: Simulator, http: httpx.Client, params: dict[str, str]) -> None:
    with graph(sim, http) as g:
        r = g.get("/v1.0/auditLogs/signIns", params=params)
    assert r.status_code == 400


def test_window_bounds_and_retention(sim: Simulator, http: httpx.Client) -> None:
    now = sim.clock.now()
    lo, hi = now - timedelta(days=3), now - timedelta(days=2)
    with graph(sim, http) as g:
        rows = _all(g, {"$filter": f"{SMTP} and createdDateTime ge {_iso(lo)} and createdDateTime le {_iso(hi)}"})
        old = _all(g, {"$filter": f"{SMTP} and createdDateTime le {_iso(now - timedelta(days=31))}"})
    assert rows
    assert all(_iso(lo) <= str(r["createdDateTime"])[:19] + "Z" <= _iso(hi) for r in rows)
    assert old == []


def test_skiptoken_expires(sim: Simulator, http: httpx.Client) -> None:
    with graph(sim, http) as g:
        link = g.get("/v1.0/auditLogs/signIns", params={"$filter": SMTP, "$top": "5"}).json()["@odata.nextLink"]
        assert g.get(link).status_code == 200
        sim.clock.advance(sim.settings.skiptoken_minutes * 60 + 1)  # type: ignore[attr-defined]
        r = g.get(link)
    assert r.status_code == 400
    assert r.json()["error"]["code"] == EXPIRED_SKIPTOKEN_CODE


def test_tenant_without_p1_gets_licence_error(sim: Simulator, http: httpx.Client) -> None:
    with graph(sim, http, "fabrikam", "cert") as g:
        r = g.get("/v1.0/auditLogs/signIns", params={"$filter": SMTP})
    assert r.status_code == 403
    assert r.json()["error"]["code"] == "Authentication_RequestFromNonPremiumTenantOrB2CTenant"


def test_spray_and_compromise_are_visible(sim: Simulator, http: httpx.Client) -> None:
    with graph(sim, http) as g:
        rows = _all(g, {"$filter": SMTP})
    spray = [r for r in rows if r["status"]["errorCode"] == 50126]  # type: ignore[index]
    assert len({r["ipAddress"] for r in spray}) == 1
    assert len({r["userPrincipalName"] for r in spray}) > 10
    foreign = {r["userPrincipalName"] for r in rows if r["location"]["countryOrRegion"] in ("NG", "BR", "VN")}  # type: ignore[index]
    assert len(foreign) == 2
