from datetime import datetime, timedelta

import httpx
import pytest

from connector.simulator import Fault, GroundTruth, Simulator
from connector.simulator.directory import SimTenant

from .conftest import graph

PATH = "/v1.0/admin/exchange/tracing/messageTraces"


def _iso(d: datetime) -> str:
    return d.strftime("%Y-%m-%dT%H:%M:%SZ")


def _window(lo: datetime, hi: datetime, sender: str | None = None) -> str:
    text = f"receivedDateTime ge {_iso(lo)} and receivedDateTime le {_iso(hi)}"
    return text + (f" and senderAddress eq '{sender}'" if sender else "")


def _all(g: httpx.Client, params: dict[str, str]) -> list[dict[str, object]]:
    out: list[dict[str, object]] = []
    r = g.get(PATH, params=params)
    while True:
        assert r.status_code == 200, r.text
        out.extend(r.json()["value"])
        link = r.json().get("@odata.nextLink")
        if not link:
            return out
        assert link.startswith(sim_graph(g))
        r = g.get(link)


def sim_graph(g: httpx.Client) -> str:
    return str(g.base_url).rstrip("/")


def test_trace_pages_and_matches_truth(sim: Simulator, http: httpx.Client) -> None:
    now = sim.clock.now()
    lo, hi = now - timedelta(days=3), now
    with graph(sim, http) as g:
        rows = _all(g, {"$filter": _window(lo, hi), "$top": "500"})
    truth = GroundTruth(sim, "contoso")
    assert len(rows) == truth.trace_row_count(lo, hi)
    served: dict[str, set[object]] = {}
    for r in rows:
        served.setdefault(str(r["senderAddress"]), set()).add(r["messageId"])
    assert served == truth.trace_message_ids(lo, hi)
    assert len({r["id"] for r in rows}) == len(rows)
    assert {
        "id",
        "messageId",
        "senderAddress",
        "recipientAddress",
        "receivedDateTime",
        "status",
        "size",
        "subject",
        "fromIP",
        "toIP",
    } == set(rows[0])


def test_sender_filter_includes_non_smtp_mail_from_other_ips(sim: Simulator, http: httpx.Client) -> None:
    pop = sim.population(sim.directory.tenant("contoso"))
    sender = next(a for a in pop.senders if a.kind == "lob_basic")
    now = sim.clock.now()
    with graph(sim, http) as g:
        rows = _all(g, {"$filter": _window(now - timedelta(days=9), now, sender.upn)})
    assert {r["senderAddress"] for r in rows} == {sender.upn}
    assert len({r["fromIP"] for r in rows}) >= 2


@pytest.mark.parametrize(
    "build",
    [
        lambda now: _window(now - timedelta(days=11), now),
        lambda now: _window(now - timedelta(days=95), now - timedelta(days=88)),
        lambda now: f"receivedDateTime ge {_iso(now - timedelta(days=1))}",
        lambda now: _window(now - timedelta(days=1), now) + " and subject eq 'x'",
    ],
)
def test_window_rules_are_400(sim: Simulator, http: httpx.Client, build: object) -> None:
    with graph(sim, http) as g:
        r = g.get(PATH, params={"$filter": build(sim.clock.now())})  # type: ignore[operator]
    assert r.status_code == 400


@pytest.mark.parametrize("top", ["0", "5001", "x"])
def test_bad_top_is_400(sim: Simulator, http: httpx.Client, top: str) -> None:
    with graph(sim, http) as g:
        assert g.get(PATH, params={"$top": top}).status_code == 400


def test_mixed_case_status_fault(sim: Simulator, http: httpx.Client) -> None:
    sim.faults.add(Fault("message_trace", "mixed_case"))
    with graph(sim, http) as g:
        rows = g.get(PATH, params={"$top": "50"}).json()["value"]
    assert "Delivered" in {r["status"] for r in rows}


def test_missing_service_principal_is_401(sim: Simulator, http: httpx.Client) -> None:
    contoso: SimTenant = sim.directory.tenant("contoso")
    contoso.message_trace_sp = False
    try:
        with graph(sim, http) as g:
            r = g.get(PATH)
    finally:
        contoso.message_trace_sp = True
    assert r.status_code == 401
    assert "8bd644d1-64a1-4d4b-ae52-2e0cbf64e373" in r.json()["error"]["message"]
