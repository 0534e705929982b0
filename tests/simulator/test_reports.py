import csv
import io
from datetime import timedelta

import httpx

from connector.simulator import GroundTruth, Simulator
from connector.simulator.graph_reports import USER_COUNTS_COLUMNS, USER_DETAIL_COLUMNS

from .conftest import graph

DETAIL = "/v1.0/reports/getEmailAppUsageUserDetail(period='D7')"


def _download(sim: Simulator, http: httpx.Client, tenant: str = "contoso", path: str = DETAIL) -> list[dict[str, str]]:
    with graph(sim, http, tenant) as g:
        r = g.get(path)
    assert r.status_code == 302
    d = http.get(r.headers["Location"])
    assert d.status_code == 200
    assert d.headers["Content-Type"] == "application/octet-stream"
    assert int(d.headers["Content-Length"]) == len(d.content)
    assert d.content.startswith(b"\xef\xbb\xbf")
    return list(csv.DictReader(io.StringIO(d.content.decode("utf-8-sig"))))


def test_user_detail_302_to_bom_csv_with_documented_columns(sim: Simulator, http: httpx.Client) -> None:
    rows = _download(sim, http)
    assert tuple(rows[0].keys()) == USER_DETAIL_COLUMNS
    assert len(rows) == sim.directory.tenant("contoso").users
    assert sim.stats["download_auth_violations"] == 0


def test_smtp_column_matches_ground_truth(sim: Simulator, http: httpx.Client) -> None:
    rows = _download(sim, http)
    served = {r["User Principal Name"] for r in rows if r["SMTP App"]}
    truth = GroundTruth(sim, "contoso")
    assert served == truth.smtp_users(7)
    assert rows[0]["Report Refresh Date"] == truth.refresh_date.isoformat()


def test_daily_counts_and_d7_match_ground_truth(sim: Simulator, http: httpx.Client) -> None:
    truth = GroundTruth(sim, "contoso")
    daily = _download(sim, http, path="/v1.0/reports/getEmailAppUsageUserCounts(period='D30')")
    assert tuple(daily[0].keys()) == USER_COUNTS_COLUMNS
    expected = truth.daily_smtp_users(truth.refresh_date - timedelta(days=29), truth.refresh_date)
    assert {r["Report Date"]: int(r["SMTP App"]) for r in daily} == {d.isoformat(): n for d, n in expected.items()}
    apps = _download(sim, http, path="/v1.0/reports/getEmailAppUsageAppsUserCounts(period='D7')")
    assert int(apps[0]["SMTP App"]) == truth.d7_count()
    versions = _download(sim, http, path="/v1.0/reports/getEmailAppUsageVersionsUserCounts(period='D7')")
    assert "SMTP App" not in versions[0]
    assert list(versions[0])[-1] != "Report Period"


def test_download_host_rejects_authorization_and_counts_it(sim: Simulator, http: httpx.Client) -> None:
    with graph(sim, http) as g:
        location = g.get(DETAIL).headers["Location"]
        r = g.get(location)  # the Graph client would send its token along
    assert r.status_code == 400
    assert sim.stats["download_auth_violations"] == 1


def test_download_link_expires(sim: Simulator, http: httpx.Client, clock: object) -> None:
    with graph(sim, http) as g:
        location = g.get(DETAIL).headers["Location"]
    sim.clock.advance(sim.settings.download_link_minutes * 60 + 1)  # type: ignore[attr-defined]
    assert http.get(location).status_code == 403
    assert http.get(location.replace("sig=", "sig=x")).status_code == 403


def test_if_none_match_gives_304(sim: Simulator, http: httpx.Client) -> None:
    with graph(sim, http) as g:
        etag = g.get(DETAIL).headers["ETag"]
        assert g.get(DETAIL, headers={"If-None-Match": etag}).status_code == 304


def test_date_variant_and_its_range(sim: Simulator, http: httpx.Client) -> None:
    today = sim.clock.now().date()
    with graph(sim, http) as g:
        ok = g.get(f"/v1.0/reports/getEmailAppUsageUserDetail(date={today - timedelta(days=3)})")
        old = g.get(f"/v1.0/reports/getEmailAppUsageUserDetail(date={today - timedelta(days=40)})")
        bad = g.get("/v1.0/reports/getEmailAppUsageUserDetail(period='D8')")
    assert ok.status_code == 302
    assert old.status_code == 400
    assert bad.status_code == 400


def test_beta_json_pages_with_absolute_next_link(sim: Simulator, http: httpx.Client) -> None:
    sim.settings.json_page_size = 50
    seen: list[dict[str, object]] = []
    with graph(sim, http) as g:
        url: str | None = (
            f"{sim.endpoints.graph}/beta/reports/getEmailAppUsageUserDetail(period='D7')?$format=application/json"
        )
        while url:
            page = g.get(url).json()
            seen.extend(page["value"])
            url = page.get("@odata.nextLink")
            assert url is None or url.startswith(sim.endpoints.graph + "/beta/")
    assert len(seen) == sim.directory.tenant("contoso").users
    assert len({r["userPrincipalName"] for r in seen}) == len(seen)
    first = seen[0]
    assert isinstance(first["smtpApp"], list)
    assert {"reportRefreshDate", "lastActivityDate", "pop3App", "imap4App", "reportPeriod"} <= set(first)


def test_concealed_tenant_hashes_names_and_says_so(sim: Simulator, http: httpx.Client) -> None:
    rows = _download(sim, http, tenant="northwind")
    upns = [r["User Principal Name"] for r in rows]
    assert all(len(u) == 32 and "@" not in u and u == u.upper() for u in upns)
    assert upns == [r["User Principal Name"] for r in _download(sim, http, tenant="northwind")]
    with graph(sim, http, "northwind") as g:
        assert g.get("/v1.0/admin/reportSettings").json()["value"]["displayConcealedNames"] is True
    with graph(sim, http) as g:
        assert g.get("/v1.0/admin/reportSettings").json()["value"]["displayConcealedNames"] is False


def test_missing_permission_names_it(sim: Simulator, http: httpx.Client) -> None:
    with graph(sim, http, app="no-reports") as g:
        r = g.get(DETAIL)
    assert r.status_code == 403
    assert "Reports.Read.All" in r.json()["error"]["message"]
