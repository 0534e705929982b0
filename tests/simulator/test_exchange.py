import csv
import io
from datetime import timedelta
from typing import Any

import httpx
import pytest

from connector.simulator import Fault, GroundTruth, SimTransport, Simulator
from connector.simulator.exchange import ANCHOR_MAILBOX, SMTPCS_COLUMNS

from .conftest import token


def _exo(sim: Simulator, http: httpx.Client, app: str = "reader") -> httpx.Client:
    t = sim.directory.tenant("contoso")
    return httpx.Client(
        transport=SimTransport(sim),
        headers={
            "Authorization": f"Bearer {token(sim, http, app=app, exchange=True)}",
            "X-AnchorMailbox": ANCHOR_MAILBOX + t.initial_domain,
        },
    )


def _invoke(sim: Simulator, c: httpx.Client, name: str, url: str | None = None, **params: Any) -> httpx.Response:
    t = sim.directory.tenant("contoso")
    url = url or f"{sim.endpoints.exchange}/adminapi/beta/{t.tenant_id}/InvokeCommand"
    return c.post(url, json={"CmdletInput": {"CmdletName": name, "Parameters": params}})


def test_transport_config_and_cas_mailbox_paging(sim: Simulator, http: httpx.Client) -> None:
    sim.settings.cas_page_size = 50
    with _exo(sim, http) as c:
        cfg = _invoke(sim, c, "Get-TransportConfig").json()["value"][0]
        assert cfg["SmtpClientAuthenticationDisabled"] is False
        rows: list[dict[str, Any]] = []
        r = _invoke(sim, c, "Get-CASMailbox", ResultSize="Unlimited")
        while True:
            rows.extend(r.json()["value"])
            link = r.json().get("@odata.nextLink")
            if not link:
                break
            r = _invoke(sim, c, "Get-CASMailbox", url=link, ResultSize="Unlimited")
    assert len(rows) == sim.directory.tenant("contoso").users
    assert {row["SmtpClientAuthenticationDisabled"] for row in rows} == {True, False, None}


def test_anchor_mailbox_audience_and_role_are_enforced(sim: Simulator, http: httpx.Client) -> None:
    with _exo(sim, http) as c:
        c.headers.pop("X-AnchorMailbox")
        assert _invoke(sim, c, "Get-TransportConfig").status_code == 400
    graph_token = token(sim, http)
    with httpx.Client(transport=SimTransport(sim), headers={"Authorization": f"Bearer {graph_token}"}) as c:
        assert _invoke(sim, c, "Get-TransportConfig").status_code == 401
    with _exo(sim, http, app="no-reports") as c:
        assert _invoke(sim, c, "Get-TransportConfig").status_code == 403


def _wait_done(sim: Simulator, c: httpx.Client, job_id: str, *, fresh: bool = True) -> dict[str, Any]:
    statuses = []
    for _ in range(10):
        job: dict[str, Any] = _invoke(sim, c, "Get-HistoricalSearch", JobId=job_id).json()["value"][0]
        statuses.append(job["Status"])
        if job["Status"] in ("Done", "Failed"):
            break
        sim.clock.advance(120)  # type: ignore[attr-defined]
    if fresh:
        assert statuses[0] == "NotStarted"
        assert "InProgress" in statuses
    return job


def test_historical_search_lifecycle_utf16_file_and_download_limit(sim: Simulator, http: httpx.Client) -> None:
    now = sim.clock.now()
    start, end = now - timedelta(days=3), now - timedelta(days=1)
    with _exo(sim, http) as c:
        r = _invoke(
            sim,
            c,
            "Start-HistoricalSearch",
            ReportType="SmtpCSReport",
            StartDate=start.isoformat(),
            EndDate=end.isoformat(),
            ReportTitle="smtp",
        )
        job = _wait_done(sim, c, r.json()["value"][0]["JobId"])
    assert job["Status"] == "Done"
    body = http.get(job["FileUrl"]).content
    assert body.startswith(b"\xff\xfe")
    rows = list(csv.DictReader(io.StringIO(body.decode("utf-16"))))
    assert tuple(rows[0]) == SMTPCS_COLUMNS
    truth = GroundTruth(sim, "contoso").smtp_messages(start, end)
    assert sorted(r["message_id"] for r in rows) == sorted(m.message_id for m in truth)
    for _ in range(sim.settings.history_download_limit - 1):
        assert http.get(job["FileUrl"]).status_code == 200
    assert http.get(job["FileUrl"]).status_code == 403


def test_historical_search_rules_quota_and_failures(sim: Simulator, http: httpx.Client) -> None:
    now = sim.clock.now()
    args = {"ReportType": "SmtpCSReport", "EndDate": now.isoformat(), "ReportTitle": "t"}
    sim.settings.history_quota_per_day = 2
    with _exo(sim, http) as c:
        too_old = _invoke(sim, c, "Start-HistoricalSearch", StartDate=(now - timedelta(days=91)).isoformat(), **args)
        assert too_old.status_code == 400
        sim.faults.add(Fault("exchange", "history_failed"))
        failing = _invoke(sim, c, "Start-HistoricalSearch", StartDate=(now - timedelta(days=1)).isoformat(), **args)
        sim.settings.history_max_rows = 5
        big = _invoke(sim, c, "Start-HistoricalSearch", StartDate=(now - timedelta(days=5)).isoformat(), **args)
        over = _invoke(sim, c, "Start-HistoricalSearch", StartDate=(now - timedelta(days=1)).isoformat(), **args)
        assert over.status_code == 400
        assert over.json()["error"]["code"] == "QuotaExceeded"
        assert _wait_done(sim, c, failing.json()["value"][0]["JobId"])["Status"] == "Failed"
        job = _wait_done(sim, c, big.json()["value"][0]["JobId"], fresh=False)
    assert job["Status"] == "Failed"
    assert "rows" in job["ErrorMessage"]


@pytest.mark.parametrize("cmdlet", ["Set-TransportConfig", "Get-Mailbox"])
def test_unknown_cmdlets_are_refused(sim: Simulator, http: httpx.Client, cmdlet: str) -> None:
    with _exo(sim, http) as c:
        assert _invoke(sim, c, cmdlet).status_code == 400
