"""The HTTP API: authentication on every endpoint, status, data, validation, report jobs and downloads."""

import csv
import io
import uuid
from datetime import timedelta

import httpx
import pytest

from connector.artifacts import build_report
from connector.service.auth import TokenVerifier, hash_token
from tests.service.conftest import AUTH, DATE_FROM, DATE_TO, Served, wait_for

RANGE = {"tenant": "contoso", "from": DATE_FROM.isoformat(), "to": DATE_TO.isoformat()}


def _concrete(path: str) -> str:
    return path.replace("{table}", "accounts").replace("{job_id}", str(uuid.uuid4())).replace("{name}", "summary.json")


def test_every_api_endpoint_answers_401_without_a_valid_token(served: Served) -> None:
    endpoints = [(m.upper(), p) for p, ops in served.app.openapi()["paths"].items() for m in ops]
    endpoints.append(("GET", "/api/v1/openapi.json"))
    assert len(endpoints) >= 11
    for method, path in endpoints:
        for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": "Basic x"}):
            r = served.client.request(method, _concrete(path), headers=headers, params=RANGE)
            assert r.status_code == 401, (method, path, headers)
            assert r.headers["www-authenticate"] == "Bearer"


def test_openapi_is_published_to_token_holders(served: Served) -> None:
    spec = served.get("/api/v1/openapi.json").json()
    assert {"/api/v1/health", "/api/v1/data/{table}", "/api/v1/reports/{job_id}/artifacts/{name}"} <= set(spec["paths"])
    assert served.client.get("/docs").status_code == 404  # no UI loaded from a CDN


def test_tokens_are_checked_against_hashes() -> None:
    verifier = TokenVerifier([hash_token("a" * 40), hash_token("b" * 40)])
    assert verifier.verify("b" * 40)
    assert not verifier.verify("c" * 40)
    assert not verifier.verify("")


def test_health_says_this_process_runs_the_scheduler(served: Served) -> None:
    body = served.get("/api/v1/health").json()
    assert body["status"] == "ok"
    assert body["scheduler"]["role"] == "leader"
    assert body["schema_version"] >= 2


def test_tenants_show_last_sync_and_coverage_per_source(served: Served) -> None:
    (tenant,) = served.get("/api/v1/tenants").json()["tenants"]
    assert tenant["name"] == "contoso"
    assert tenant["next_sync_at"] is not None
    sources = {s["source"]: s for s in tenant["sources"]}
    assert len(sources) >= 4
    assert all(s["last_run"]["status"] in ("succeeded", "unavailable") for s in sources.values())
    assert all(s["coverage"]["status"] == "ok" or s["coverage"]["reason"] for s in sources.values())


def test_data_matches_the_report_artifact(served: Served, tmp_path: pytest.TempPathFactory) -> None:
    from connector.artifacts import ReportParams

    params = ReportParams.build(
        served.settings, tenant="contoso", date_from=DATE_FROM, date_to=DATE_TO, formats=["csv"], today=DATE_TO
    )
    out = build_report(served.env.store, params, tmp_path / "r")  # type: ignore[operator]
    with (out.paths[0].parent / "sending_volume_by_domain.csv").open(newline="", encoding="utf-8") as fh:
        expected = list(csv.DictReader(fh))
    body = served.get("/api/v1/data/sending_volume_by_domain", **RANGE).json()
    assert body["total"] == len(expected) > 0
    assert [(r["date"], r["sender_domain"], str(r["messages"])) for r in body["rows"]] == [
        (e["date"], e["sender_domain"], e["messages"]) for e in expected
    ]


def test_data_is_paged_and_filtered(served: Served) -> None:
    full = served.get("/api/v1/data/sending_volume_sender_totals", **RANGE).json()
    assert full["total"] > 6
    page = served.get("/api/v1/data/sending_volume_sender_totals", **RANGE, limit=3, offset=3).json()
    assert page["rows"] == full["rows"][3:6]
    domain = full["rows"][0]["sender_domain"]
    narrowed = served.get("/api/v1/data/sending_volume_sender_totals", **RANGE, domain=domain).json()
    assert narrowed["total"] == sum(1 for r in full["rows"] if r["sender_domain"] == domain)
    sender = full["rows"][0]["sender_address"]
    one = served.get("/api/v1/data/sending_volume_sender_totals", **RANGE, sender=sender).json()
    assert [r["sender_address"] for r in one["rows"]] == [sender]


def test_data_as_csv(served: Served) -> None:
    r = served.get("/api/v1/data/accounts", **RANGE, format="csv")
    assert r.status_code == 200
    assert r.headers["content-type"] == "text/csv; charset=utf-8"
    rows = list(csv.reader(io.StringIO(r.text)))
    assert rows[0][:4] == ["account", "domain", "display_name", "status"]
    assert len(rows) - 1 == int(r.headers["x-total-count"]) > 0


@pytest.mark.parametrize(
    ("params", "status", "param"),
    [
        ({"from": "2026-13-01"}, 400, "from"),
        ({"to": "yesterday"}, 400, "to"),
        ({"from": DATE_TO.isoformat(), "to": DATE_FROM.isoformat()}, 400, "to"),
        ({"from": "2020-01-01"}, 400, "from"),
        ({"tenant": "nope"}, 404, "tenant"),
        ({"format": "xml"}, 400, "format"),
        ({"limit": "100000"}, 400, "limit"),
        ({"limit": "0"}, 400, "limit"),
        ({"domain": "not a domain"}, 400, "domain"),
        ({"sender": "nobody"}, 400, "sender"),
    ],
)
def test_bad_input_is_a_clear_4xx(served: Served, params: dict[str, str], status: int, param: str) -> None:
    r = served.get("/api/v1/data/accounts", **{**RANGE, **params})
    assert r.status_code == status, r.text
    assert r.json()["detail"]["param"] == param
    assert r.json()["detail"]["error"]


def test_unknown_table_and_missing_tenant(served: Served) -> None:
    assert served.get("/api/v1/data/passwords", **RANGE).status_code == 404
    r = served.get("/api/v1/data/accounts")
    assert r.status_code == 400
    assert r.json()["detail"]["param"] == "tenant"


def test_summary_has_widget_history_flyout_and_coverage(served: Served) -> None:
    body = served.get("/api/v1/summary", **RANGE).json()
    assert body["kpi"]["smtp_accounts_7d"] is not None
    assert body["kpi_history"]
    assert all(DATE_FROM.isoformat() <= h["date"] <= DATE_TO.isoformat() for h in body["kpi_history"])
    assert body["flyout"]["messages"] > 0
    assert {c["section"] for c in body["coverage"]} >= {"sending_volume", "tls_usage"}


def test_request_report_then_status_list_and_download(served: Served) -> None:
    r = served.client.post("/api/v1/reports", json={**RANGE, "formats": ["csv", "xlsx", "html"]}, headers=AUTH)
    assert r.status_code == 202, r.text
    job_id = r.json()["job_id"]
    job = served.wait_job(job_id)
    assert job["status"] == "succeeded", job["error"]
    assert any(j["job_id"] == job_id for j in served.get("/api/v1/reports").json()["jobs"])
    names = job["artifacts"]
    csv_name = "sending_volume_by_domain.csv"
    got = served.get(f"/api/v1/reports/{job_id}/artifacts/{csv_name}")
    assert got.status_code == 200
    assert got.headers["content-type"] == "text/csv; charset=utf-8"
    assert got.text.startswith("date,sender_domain,messages")
    xlsx = served.get(f"/api/v1/reports/{job_id}/artifacts/smtp_auth_report.xlsx")
    assert xlsx.headers["content-type"].startswith("application/vnd.openxmlformats")
    assert xlsx.content[:2] == b"PK"
    assert "smtp_auth_report.html" in names


@pytest.mark.parametrize(
    "name",
    [
        "../../smtpauth.toml",
        "..%2F..%2Fsmtpauth.toml",
        "%2e%2e/%2e%2e/smtpauth.db",
        "/etc/passwd",
        "sub/../../../smtpauth.toml",
        "summary.json/../../../smtpauth.toml",
        "%2e%2e",
        "..%5c..%5csmtpauth.toml",
    ],
)
def test_path_traversal_in_artifact_names_is_refused(served: Served, name: str) -> None:
    r = served.client.post("/api/v1/reports", json={**RANGE, "formats": ["csv"]}, headers=AUTH)
    job_id = r.json()["job_id"]
    assert served.wait_job(job_id)["status"] == "succeeded"
    got = served.client.get(f"/api/v1/reports/{job_id}/artifacts/{name}", headers=AUTH)
    assert got.status_code == 404
    assert b"tenant_id" not in got.content
    assert b"root:" not in got.content


def test_unknown_or_malformed_job_ids_are_404(served: Served) -> None:
    assert served.get(f"/api/v1/reports/{uuid.uuid4()}").status_code == 404
    assert served.get("/api/v1/reports/..%2F..%2Fetc").status_code == 404
    assert served.get(f"/api/v1/reports/{uuid.uuid4()}/artifacts/summary.json").status_code == 404


def test_report_request_validation(served: Served) -> None:
    post = served.client.post
    assert post("/api/v1/reports", json={**RANGE, "tenant": "nope"}, headers=AUTH).status_code == 404
    assert post("/api/v1/reports", json={**RANGE, "from": "28/11/2026"}, headers=AUTH).status_code == 400
    assert post("/api/v1/reports", json={**RANGE, "formats": ["pdf"]}, headers=AUTH).status_code == 400
    assert post("/api/v1/reports", json={**RANGE, "extra": 1}, headers=AUTH).status_code == 400
    assert post("/api/v1/reports", content=b"{not json", headers=AUTH).status_code == 400


def test_request_bodies_are_size_limited(served: Served) -> None:
    big = {**RANGE, "senders": ["x" * 1000 + "@contoso.com"] * 80}
    r = served.client.post("/api/v1/reports", json=big, headers=AUTH)
    assert r.status_code == 413


def test_trigger_sync_returns_a_run_id_and_the_run_is_listed(served: Served) -> None:
    r = served.client.post("/api/v1/sync", json={"tenants": ["contoso"]}, headers=AUTH)
    assert r.status_code == 202, r.text
    run_id = r.json()["run_id"]

    def finished() -> list[dict[str, object]] | None:
        runs = served.get("/api/v1/sync-runs", tenant="contoso", limit=100).json()["runs"]
        mine = [x for x in runs if x["run_id"] == run_id]
        return mine if mine and not served.runner.syncing() else None

    mine = wait_for(finished, 120)
    assert {x["status"] for x in mine} <= {"succeeded", "unavailable", "skipped"}
    assert served.client.post("/api/v1/sync", json={"tenants": ["nope"]}, headers=AUTH).status_code == 404
    assert served.get("/api/v1/sync-runs", status="weird").status_code == 400


def test_security_headers(served: Served) -> None:
    r = served.get("/api/v1/health")
    assert "default-src 'none'" in r.headers["content-security-policy"]
    assert r.headers["cache-control"] == "no-store"
    assert r.headers["x-content-type-options"] == "nosniff"
    assert served.client.get("/assets/../smtpauth.toml").status_code == 404
    assert served.client.get("/assets/chart.umd.min.js").status_code == 200
    page = served.client.get("/")
    assert page.headers["content-type"].startswith("text/html")
    assert "default-src 'none'" in page.headers["content-security-policy"]
    assert "https://" not in page.text
    assert served.client.get("/assets/dashboard.js").headers["content-type"].startswith("text/javascript")


def test_a_second_process_serves_the_api_without_a_scheduler(served: Served) -> None:
    from connector.service import JobRunner, create_app
    from connector.store.store import open_store
    from tests.service.conftest import LiveServer

    store = open_store(served.settings.database_url)
    standby = JobRunner(served.settings, store, clock=served.runner.clock, manual=True)
    assert standby.start() == "standby"
    app = create_app(served.settings, store, standby, served.app.state.verifier)
    try:
        with LiveServer(app) as url, httpx.Client(base_url=url, headers=AUTH) as client:
            health = client.get("/api/v1/health").json()
            assert health["scheduler"]["role"] == "standby"
            assert "another smtpauth serve" in health["scheduler"]["detail"]
            r = client.post("/api/v1/sync", json={})
            assert r.status_code == 503
            assert "does not run the scheduler" in r.json()["detail"]["error"]
            # a report requested here is run by the leader
            job_id = client.post("/api/v1/reports", json={**RANGE, "formats": ["csv"]}).json()["job_id"]
            assert served.get(f"/api/v1/reports/{job_id}").json()["status"] == "queued"
            served.env.clock.advance(served.settings.service.report_poll_seconds + 1)  # the leader's next look
            assert served.wait_job(job_id)["status"] == "succeeded"
    finally:
        standby.stop(grace_seconds=5)
        store.close()


def test_every_report_table_is_served_including_findings(served: Served) -> None:
    from connector.service.queries import DATA_TABLES

    assert "findings" in DATA_TABLES
    for name, spec in DATA_TABLES.items():
        body = served.get(f"/api/v1/data/{name}", **RANGE, limit=2).json()
        assert body["columns"] == list(spec.column_names), name
        assert len(body["rows"]) <= 2


def test_an_unknown_domain_filter_is_refused_naming_the_known_ones(served: Served) -> None:
    known = {r["sender_domain"] for r in served.get("/api/v1/data/sending_volume_by_domain", **RANGE).json()["rows"]}
    assert "contoso.com" in known
    r = served.client.post("/api/v1/reports", json={**RANGE, "domains": ["nowhere.example"]}, headers=AUTH)
    assert r.status_code == 400
    detail = r.json()["detail"]
    assert detail["param"] == "domains"
    assert "nowhere.example" in detail["error"]
    assert "contoso.com" in detail["error"]
    ok = served.client.post(
        "/api/v1/reports", json={**RANGE, "domains": ["CONTOSO.COM"], "formats": ["csv"]}, headers=AUTH
    )
    assert ok.status_code == 202
    assert served.wait_job(ok.json()["job_id"])["status"] == "succeeded"
    # the read endpoints refuse it too, the known domains read once per database change (the read cache)
    cache = served.app.state.read_cache
    assert served.get("/api/v1/data/accounts", **RANGE, domain="nowhere.example").status_code == 400
    for path in ("/api/v1/data/accounts", "/api/v1/summary"):
        hits = cache.hits
        got = served.get(path, **RANGE, domain="nowhere.example")
        assert got.status_code == 400
        assert got.json()["detail"] == {"error": detail["error"], "param": "domain"}
        assert cache.hits > hits
    assert served.get("/api/v1/data/accounts", **RANGE, domain="contoso.com").status_code == 200


def test_readiness_answers_what_the_report_pivot_shows_for_the_same_days(served: Served) -> None:
    from connector.artifacts import ReportParams
    from connector.artifacts.build import _readiness

    body = served.get("/api/v1/readiness", tenant="contoso").json()
    assert body["rows"], "the simulated tenant has SMTP AUTH accounts"
    assert set(body["rows"][0]) == set(body["columns"])
    today = served.runner.clock.now().date()
    assert body["today"] == today.isoformat()
    days = served.settings.insights.readiness_days
    start = today - timedelta(days=days - 1)
    pivot = _readiness(served.app.state.store, ReportParams(tenant="contoso", date_from=start, date_to=today))
    assert pivot["readiness"]["total"] == len(body["rows"])
    assert [[r[c] for c in body["columns"]] for r in body["rows"]] == pivot["readiness"]["rows"][: len(body["rows"])]
    assert pivot["burndown"]["columns"] == body["burndown_columns"]
    assert len(body["burndown"]) == served.settings.insights.burndown_days


@pytest.mark.parametrize(
    "scope",
    [{}, {"domains": ("contoso.com",), "trace_signin_ip_only": True}, {"senders": ("printer@contoso.com",)}],
)
def test_the_sender_tables_read_together_equal_each_read_alone(served: Served, scope: dict[str, object]) -> None:
    import sqlalchemy as sa

    from connector.artifacts import ReportParams
    from connector.service.queries import DATA_TABLES, SENDER_TABLES, data_page, sender_pages

    store = served.app.state.store
    params = ReportParams(tenant="contoso", date_from=DATE_FROM, date_to=DATE_TO, **scope)  # type: ignore[arg-type]
    for limit, offset in ((5000, 0), (3, 2)):
        together = sender_pages(store, params, limit=limit, offset=offset)
        assert set(together) == set(SENDER_TABLES)
        for name in SENDER_TABLES:
            assert together[name] == data_page(store, DATA_TABLES[name], params, limit=limit, offset=offset), name
    if not scope:
        assert together["accounts"][0] > 3, "the simulated tenant has accounts"
    if store.dialect == "sqlite":  # the temporary tables went with the read transaction
        with store.read() as conn:
            assert conn.execute(sa.text("SELECT count(*) FROM sqlite_temp_master")).scalar_one() == 0


def test_the_sender_volume_period_can_be_asked(served: Served) -> None:
    daily = served.get("/api/v1/data/sending_volume_by_sender", **RANGE).json()
    assert daily["rows"]
    assert {r["period"] for r in daily["rows"]} == {"day"}
    weekly = served.get("/api/v1/data/sending_volume_by_sender", **RANGE, granularity="WEEK").json()
    assert {r["period"] for r in weekly["rows"]} == {"week"}
    assert sum(r["messages"] for r in weekly["rows"]) == sum(r["messages"] for r in daily["rows"])
    assert sum(r["active_days"] for r in weekly["rows"]) == len(daily["rows"])
    bad = served.get("/api/v1/data/sending_volume_by_sender", **RANGE, granularity="daily")
    assert bad.status_code == 400
    assert bad.json()["detail"] == {
        "error": "unknown granularity 'daily': choose from auto, day, week, month",
        "param": "granularity",
    }
    r = served.client.post("/api/v1/reports", json={**RANGE, "granularity": "month", "formats": ["csv"]}, headers=AUTH)
    assert r.status_code == 202
    job = served.wait_job(r.json()["job_id"])
    assert job["status"] == "succeeded"
    assert job["parameters"]["granularity"] == "month"


def test_every_table_is_encoded_as_json_dumps_would_write_it(served: Served) -> None:
    """The answers are written by msgspec: byte for byte what ``json.dumps`` (as FastAPI renders it) writes for
    the same rows, dates and times in ``isoformat`` (``+00:00``), for every table and the summary."""
    import json

    from connector.artifacts import ReportParams
    from connector.service.queries import DATA_TABLES, data_page, summary
    from connector.service.routes_data import data_answer, summary_answer

    def reference(body: object) -> bytes:
        return json.dumps(body, ensure_ascii=False, allow_nan=False, separators=(",", ":")).encode("utf-8")

    def iso(value: object) -> object:
        return value.isoformat() if hasattr(value, "isoformat") else value

    store = served.app.state.store
    params = ReportParams(tenant="contoso", date_from=DATE_FROM, date_to=DATE_TO)
    kinds: set[str] = set()
    for name, spec in DATA_TABLES.items():
        total, rows = data_page(store, spec, params, limit=5000, offset=0)
        kinds |= {type(v).__name__ for r in rows for v in r}
        expected = {
            "table": name,
            "tenant": "contoso",
            "from": DATE_FROM.isoformat(),
            "to": DATE_TO.isoformat(),
            "columns": list(spec.column_names),
            "total": total,
            "limit": 5000,
            "offset": 0,
            "rows": [{c: iso(v) for c, v in zip(spec.column_names, r, strict=True)} for r in rows],
        }
        assert data_answer(store, spec, params, fmt="json", limit=5000, offset=0).body == reference(expected), name
    # the rows hold every kind of value the encoder must write as json does
    assert {"datetime", "date", "str", "int", "float", "bool", "NoneType"} <= kinds
    assert summary_answer(store, params).body == reference(summary(store, params))
