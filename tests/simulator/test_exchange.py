import csv
import io
from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest

from connector.simulator import Fault, GroundTruth, SimTransport, Simulator
from connector.simulator.exchange import ANCHOR_MAILBOX, SEARCH_PROPERTIES, SMTPCS_COLUMNS, admin_session

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


def _senders(sim: Simulator) -> list[str]:
    return [a.upn for a in sim.population(sim.directory.tenant("contoso")).senders]


def _search(sim: Simulator, c: httpx.Client, start: datetime, end: datetime, **params: Any) -> httpx.Response:
    args = {"ReportType": "SmtpCSReport", "StartDate": start.isoformat(), "EndDate": end.isoformat()}
    return _invoke(sim, c, "Start-HistoricalSearch", ReportTitle="smtp", **args, **params)


def test_historical_search_of_some_senders_utf16_file_and_server_busy_after_the_limit(
    sim: Simulator, http: httpx.Client
) -> None:
    sim.settings.strict = False
    now = sim.clock.now()
    start, end = now - timedelta(days=3), now - timedelta(days=1)
    chosen = _senders(sim)[:3]
    with _exo(sim, http) as c:
        r = _search(sim, c, start, end, SenderAddress=chosen, NotifyAddress=["admin@contoso.com"])
        job = _wait_done(sim, c, r.json()["value"][0]["JobId"])
    assert job["Status"] == "Done"
    assert job["SenderAddress"] == chosen
    assert job["NotifyAddress"] == ["admin@contoso.com"]
    body = http.get(job["FileUrl"]).content
    assert body.startswith(b"\xff\xfe")
    rows = list(csv.DictReader(io.StringIO(body.decode("utf-16"))))
    assert tuple(rows[0]) == SMTPCS_COLUMNS
    truth = [m for m in GroundTruth(sim, "contoso").smtp_messages(start, end) if m.sender in chosen]
    assert sorted(r["message_id"] for r in rows) == sorted(m.message_id for m in truth)
    assert len(rows) == job["FileRows"] > 0
    for _ in range(sim.settings.history_download_limit - 1):
        assert http.get(job["FileUrl"]).status_code == 200
    busy = http.get(job["FileUrl"])
    assert busy.status_code == 503
    assert "busy" in busy.text.lower()


def test_strict_file_url_answers_an_app_with_a_sign_in_page_and_an_admin_session_with_the_file(
    sim: Simulator, http: httpx.Client
) -> None:
    assert sim.settings.strict
    now = sim.clock.now()
    with _exo(sim, http) as c:
        r = _search(sim, c, now - timedelta(days=2), now - timedelta(hours=4), SenderAddress=_senders(sim)[:2])
        job = _wait_done(sim, c, r.json()["value"][0]["JobId"])
    url = job["FileUrl"]
    assert "/ExtendedReport/Download?Type=OnDemandReport&RequestID=" + job["JobId"] in url
    redirect = http.get(url)
    assert redirect.status_code == 302
    page = http.get(redirect.headers["Location"])
    assert page.status_code == 200
    assert page.headers["Content-Type"].startswith("text/html")
    assert "Sign in" in page.text
    with httpx.Client(transport=SimTransport(sim), headers={"Authorization": "Bearer x"}) as bearer:
        assert bearer.get(url).status_code == 400
    other = admin_session(sim, "fabrikam")
    assert http.get(url, headers={"Cookie": f"SimAdminSession={other}"}).status_code == 302
    session = admin_session(sim, "contoso")
    file = http.get(url, headers={"Cookie": f"SimAdminSession={session}"})
    assert file.status_code == 200
    assert file.content.startswith(b"\xff\xfe")


def test_a_search_needs_an_address_parameter_of_at_most_100_values(sim: Simulator, http: httpx.Client) -> None:
    now = sim.clock.now()
    start, end = now - timedelta(days=2), now - timedelta(days=1)
    with _exo(sim, http) as c:
        none = _search(sim, c, start, end)
        assert none.status_code == 400
        assert "SenderAddress" in none.json()["error"]["message"]
        too_many = _search(sim, c, start, end, SenderAddress=[f"u{i}@contoso.com" for i in range(101)])
        assert too_many.status_code == 400
        assert "at most 100" in too_many.json()["error"]["message"]
        assert _search(sim, c, start, end, SenderAddress=[f"u{i}@contoso.com" for i in range(100)]).status_code == 200
        assert _search(sim, c, start, end, RecipientAddress="a@example.net,b@example.net").status_code == 200


def test_historical_search_rules_quota_failures_and_error_description(sim: Simulator, http: httpx.Client) -> None:
    now = sim.clock.now()
    senders = {"SenderAddress": _senders(sim)}
    sim.settings.history_quota_per_day = 2
    with _exo(sim, http) as c:
        too_old = _search(sim, c, now - timedelta(days=91), now, **senders)
        assert too_old.status_code == 400
        sim.faults.add(Fault("exchange", "history_failed"))
        failing = _search(sim, c, now - timedelta(days=1), now, **senders)
        sim.settings.history_max_rows = 5
        big = _search(sim, c, now - timedelta(days=5), now, **senders)
        over = _search(sim, c, now - timedelta(days=1), now, **senders)
        assert over.status_code == 400
        assert over.json()["error"]["code"] == "QuotaExceeded"
        failed = _wait_done(sim, c, failing.json()["value"][0]["JobId"])
        assert failed["Status"] == "Failed"
        assert "internal error" in failed["ErrorDescription"]
        job = _wait_done(sim, c, big.json()["value"][0]["JobId"], fresh=False)
        listed = _invoke(sim, c, "Get-HistoricalSearch").json()["value"]
    assert job["Status"] == "Failed"
    assert "rows" in job["ErrorDescription"]
    assert "ErrorMessage" not in job
    assert set(job) == set(SEARCH_PROPERTIES)
    assert len(listed) == 2
    # Get-HistoricalSearch shows the searches of the last ten days only
    sim.clock.advance(11 * 86400)  # type: ignore[attr-defined]
    with _exo(sim, http) as c:
        assert _invoke(sim, c, "Get-HistoricalSearch").json()["value"] == []
        assert _invoke(sim, c, "Get-HistoricalSearch", JobId=job["JobId"]).status_code == 404


def test_the_anchor_mailbox_may_name_the_tenant_id(sim: Simulator, http: httpx.Client) -> None:
    t = sim.directory.tenant("contoso")
    with _exo(sim, http) as c:
        c.headers["X-AnchorMailbox"] = ANCHOR_MAILBOX + t.tenant_id
        assert _invoke(sim, c, "Get-TransportConfig").status_code == 200
        c.headers["X-AnchorMailbox"] = ANCHOR_MAILBOX + "fabrikam.com"
        assert _invoke(sim, c, "Get-TransportConfig").status_code == 400


@pytest.mark.parametrize("cmdlet", ["Set-TransportConfig", "Get-Mailbox"])
def test_unknown_cmdlets_are_refused(sim: Simulator, http: httpx.Client, cmdlet: str) -> None:
    with _exo(sim, http) as c:
        assert _invoke(sim, c, cmdlet).status_code == 400
