"""The dashboard in headless Chromium (Debian's chromium driven by Playwright): token login, widget and flyout,
pivots and views, domain filter, accounts, sync status, Request report with its download; values escaped, nothing
loaded from elsewhere, no CSP violation. Skipped only with SMTPAUTH_SKIP_BROWSER=1; a missing chromium fails."""

import os
import shutil
from datetime import UTC, datetime, time
from pathlib import Path
from typing import Any

import pytest

from models import SmtpCsReportRow
from tests.artifacts.test_html_browser import CHROMIUM_ARGS
from tests.service.conftest import DATE_FROM, DATE_TO, OUTPUT, TOKEN, Served

pytestmark = pytest.mark.skipif(os.environ.get("SMTPAUTH_SKIP_BROWSER") == "1", reason="SMTPAUTH_SKIP_BROWSER=1")

EVIL = "<img src=x onerror=window.__xss=1>@evil.example"
RANGE = {"tenant": "contoso", "from": DATE_FROM.isoformat(), "to": DATE_TO.isoformat()}


def _plant_markup_sender(served: Served) -> None:
    at = datetime.combine(DATE_TO, time(9), UTC)
    row = {
        "tenant": "contoso", "occurred_at": at, "sender_address": EVIL, "sender_domain": "evil.example",
        "auth_method": "Basic", "client_ip": "198.51.100.1", "tls_version": "TLS1.0", "tls_cipher": None,
        "message_count": 3, "message_id": "<evil@x>", "job_id": None,
    }  # fmt: skip
    with served.env.store.transaction() as tx:
        served.env.store.upsert(
            tx, SmtpCsReportRow, [row], key=("tenant", "occurred_at", "sender_address", "message_id")
        )


def _ready(page: Any) -> None:
    page.wait_for_selector("body[data-ready=true]", timeout=30_000)


def test_dashboard_in_chromium(served: Served) -> None:
    from playwright.sync_api import expect, sync_playwright

    chromium = shutil.which("chromium") or "/usr/bin/chromium"
    assert Path(chromium).exists(), "install chromium (apt-get install -y chromium) or set SMTPAUTH_SKIP_BROWSER=1"
    _plant_markup_sender(served)
    totals = served.get("/api/v1/data/sending_volume_sender_totals", **RANGE).json()["rows"]
    top = totals[0]
    domain_rows = [r for r in totals if r["sender_domain"] == top["sender_domain"]]
    summary = served.get("/api/v1/summary", **RANGE).json()
    accounts = served.get("/api/v1/data/accounts", **RANGE).json()["rows"]
    basic_in_use = sum(1 for a in accounts if a["status"] == "basic_in_use")
    findings = served.get("/api/v1/data/findings", **RANGE).json()["rows"]
    assert findings, "the simulated tenant's spray and compromised accounts are found"
    assert basic_in_use > 0
    OUTPUT.mkdir(exist_ok=True)
    requests: list[str] = []
    problems: list[str] = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        context = browser.new_context(viewport={"width": 1400, "height": 1000}, accept_downloads=True)
        page = context.new_page()
        page.on("request", lambda r: requests.append(r.url))
        page.on("console", lambda m: problems.append(m.text) if m.type in ("error", "warning") else None)
        page.on("pageerror", lambda e: problems.append(str(e)))
        page.goto(served.url + "/")
        page.wait_for_selector("body[data-ready=login]")
        # a wrong token is refused and the login form says so
        page.fill("#token", "not-the-token")
        page.click("#login-btn")
        page.wait_for_selector("#login-error:has-text('refused')")
        problems.clear()  # the browser logs the refused request (401) as a console error
        page.fill("#token", TOKEN)
        page.click("#login-btn")
        _ready(page)
        page.fill("#from", DATE_FROM.isoformat())
        page.fill("#to", DATE_TO.isoformat())
        page.click("#apply")
        _ready(page)
        assert page.locator("#error").inner_text() == ""
        assert page.locator("#kpi-value").inner_text() == f"{summary['kpi']['smtp_accounts_7d']:,}"
        assert page.locator("#kpi-chart").is_visible()
        page.click("#open-flyout")
        assert f"{summary['flyout']['messages']:,}" in page.locator("#flyout").inner_text()
        page.screenshot(path=str(OUTPUT / "dashboard-flyout.png"), full_page=True)
        page.click("#close-flyout")
        # Sending volume: chart, then the details table with the largest sender
        assert page.locator("#volume-chart").is_visible()
        page.click("#pivot-volume button[data-view=table]")
        row = page.locator("#volume-table tbody tr", has_text=top["sender_address"]).first
        assert row.locator("td").nth(2).inner_text() == f"{top['messages']:,}"
        # the domain filter narrows every view to that domain
        page.select_option("#domain", top["sender_domain"])
        _ready(page)
        assert page.locator("#volume-table tbody tr").count() == len(domain_rows)
        page.screenshot(path=str(OUTPUT / "dashboard-volume-domain.png"), full_page=True)
        page.select_option("#domain", "")
        _ready(page)
        # TLS usage: chart and table; a sender name holding markup is shown as text, never run
        page.click("nav.pivots button[data-pivot=tls]")
        page.wait_for_selector("#tls-chart", state="visible")
        page.click("#pivot-tls button[data-view=table]")
        evil = page.locator("#tls-table tbody tr", has_text="<img src=x").first
        assert evil.locator("td").nth(0).inner_text() == EVIL
        assert evil.locator("td").nth(1).inner_text() == "100.0 %"  # legacy TLS share: 3 of 3 messages
        assert evil.locator("td").nth(1).get_attribute("title") == "3 of 3 messages over TLS 1.0/1.1"
        assert evil.locator("td").nth(3).inner_text() == "100.0 %"  # TLS 1.0
        assert evil.locator("td").nth(3).get_attribute("title") == "3 messages"
        assert page.evaluate("window.__xss") is None
        assert page.locator("#tls-table img").count() == 0
        page.screenshot(path=str(OUTPUT / "dashboard-tls.png"), full_page=True)
        # accounts with statuses, filtered by status
        page.click("nav.pivots button[data-pivot=accounts]")
        assert page.locator("#accounts-table tbody tr").count() > 0
        page.select_option("#account-status", "basic_in_use")
        expect(page.locator("#accounts-table tbody tr")).to_have_count(basic_in_use)
        assert set(page.locator("#accounts-table tbody tr td:nth-child(3)").all_inner_texts()) == {"basic_in_use"}
        # findings, as the API lists them, most severe first
        page.click("nav.pivots button[data-pivot=findings]")
        expect(page.locator("#findings-table tbody tr")).to_have_count(len(findings))
        if findings:
            assert (
                page.locator("#findings-table tbody tr").first.locator("td").nth(1).inner_text()
                == findings[0]["severity"]
            )
        # sync status and coverage per source
        page.click("nav.pivots button[data-pivot=status]")
        assert page.locator("#status-table tbody tr", has_text="signins").count() == 1
        assert page.locator("#coverage-table tbody tr").count() > 0
        assert "leader" in page.locator("#scheduler").inner_text()
        page.screenshot(path=str(OUTPUT / "dashboard-status.png"), full_page=True)
        # Request report: queued, run by the scheduler, listed with its downloads
        page.click("nav.pivots button[data-pivot=reports]")
        page.fill("#report-from", DATE_FROM.isoformat())
        page.fill("#report-to", DATE_TO.isoformat())
        page.uncheck("#report-form input[value=xlsx]")
        page.click("#request-report")
        button = page.locator("#jobs-table button", has_text="sending_volume_by_domain.csv").first
        button.wait_for(timeout=60_000)
        page.screenshot(path=str(OUTPUT / "dashboard-reports.png"), full_page=True)
        with page.expect_download() as info:
            button.click()
        saved = OUTPUT / "downloaded-sending_volume_by_domain.csv"
        info.value.save_as(saved)
        context.close()
        browser.close()
    assert saved.read_text(encoding="utf-8").startswith("date,sender_domain,messages")
    assert [u for u in requests if not (u.startswith((served.url, "blob:")))] == []
    assert problems == []


def test_each_panel_loads_on_its_own(served: Served) -> None:
    """A slow panel shows its loading state while the others already show data; a failing one shows its own
    error; neither blanks the page."""
    from playwright.sync_api import sync_playwright

    chromium = shutil.which("chromium") or "/usr/bin/chromium"
    top = served.get("/api/v1/data/sending_volume_sender_totals", **RANGE).json()["rows"][0]
    held: list[Any] = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        page = browser.new_context(viewport={"width": 1400, "height": 1000}).new_page()
        # the TLS table fails on the server; the accounts table is held back until released below
        page.route(
            "**/api/v1/data/tls_usage_by_sender?*",
            lambda route: route.fulfill(
                status=500, content_type="application/json", body='{"detail": {"error": "database is busy"}}'
            ),
        )

        def hold(route: Any) -> None:
            held.append(route)

        page.route("**/api/v1/data/accounts?*", hold)
        page.goto(served.url + "/")
        page.wait_for_selector("body[data-ready=login]")
        page.fill("#token", TOKEN)
        page.click("#login-btn")
        page.wait_for_selector("[data-panel=volume][data-state=ready]", state="attached", timeout=30_000)
        page.fill("#from", DATE_FROM.isoformat())
        page.fill("#to", DATE_TO.isoformat())
        held.clear()
        page.click("#apply")
        page.wait_for_selector("[data-panel=volume][data-state=ready]", state="attached", timeout=30_000)
        page.wait_for_selector("[data-panel=tls][data-state=error]", state="attached", timeout=30_000)
        page.wait_for_function("() => document.querySelector('[data-panel=accounts]').dataset.state === 'loading'")
        assert page.locator("body").get_attribute("data-ready") == "false"
        assert "Loading" in page.locator("[data-panel=accounts] .panel-state").inner_text()
        assert "database is busy" in page.locator("[data-panel=tls] .panel-state").inner_text()
        for name in ("summary", "findings", "status"):
            page.wait_for_selector(f"[data-panel={name}][data-state=ready]", state="attached", timeout=30_000)
        page.click("#pivot-volume button[data-view=table]")
        assert page.locator("#volume-table tbody tr", has_text=top["sender_address"]).count() == 1
        assert page.locator("#error").inner_text() == ""
        OUTPUT.mkdir(exist_ok=True)
        page.screenshot(path=str(OUTPUT / "dashboard-panels-loading.png"), full_page=True)
        page.click("nav.pivots button[data-pivot=tls]")
        assert page.locator("[data-panel=tls] .panel-state").is_visible()
        page.screenshot(path=str(OUTPUT / "dashboard-panel-error.png"), full_page=True)
        page.click("nav.pivots button[data-pivot=accounts]")
        assert page.locator("[data-panel=accounts] .panel-state").is_visible()
        page.screenshot(path=str(OUTPUT / "dashboard-panel-loading.png"), full_page=True)
        for route in held:
            route.continue_()
        page.wait_for_selector("body[data-ready=true]", timeout=30_000)
        assert page.locator("[data-panel=accounts]").get_attribute("data-state") == "ready"
        assert page.locator("[data-panel=tls]").get_attribute("data-state") == "error"
        browser.close()
