"""The HTML page in headless Chromium: pivots and views switch, the expected numbers are on the page, no remote
load and no CSP violation. Skipped only with SMTPAUTH_SKIP_BROWSER=1; a missing chromium is a failure."""

import os
import shutil
from pathlib import Path

import pytest

from connector.artifacts import build_report
from tests.artifacts.conftest import Synced
from tests.artifacts.helpers import expected_tls, read_csv

pytestmark = pytest.mark.skipif(os.environ.get("SMTPAUTH_SKIP_BROWSER") == "1", reason="SMTPAUTH_SKIP_BROWSER=1")

SCREENSHOTS = Path(__file__).parent / "output"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def test_pivots_views_and_numbers_in_chromium(synced: Synced, out_dir: Path) -> None:
    from playwright.sync_api import sync_playwright

    chromium = shutil.which("chromium") or "/usr/bin/chromium"
    assert Path(chromium).exists(), "install chromium (apt-get install -y chromium) or set SMTPAUTH_SKIP_BROWSER=1"
    build_report(synced.store, synced.params(formats=("html", "csv")), out_dir)
    totals = read_csv(out_dir / "sending_volume_sender_totals.csv")
    top = totals[0]
    from tests.artifacts.conftest import CS_DAYS

    tls = expected_tls(synced.truth, CS_DAYS)
    legacy_sender = next(s for s, c in sorted(tls.items()) if c.get("TLS1.0"))
    requests: list[str] = []
    problems: list[str] = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.on("request", lambda r: requests.append(r.url))
        page.on("console", lambda m: problems.append(m.text) if m.type in ("error", "warning") else None)
        page.on("pageerror", lambda e: problems.append(str(e)))
        page.goto((out_dir / "smtp_auth_report.html").as_uri())
        page.wait_for_selector("body[data-ready=true]")
        assert page.locator("#volume-chart").is_visible()
        # Sending volume, details table: the largest sender and its message count
        page.click("#pivot-volume button[data-view=table]")
        row = page.locator("#volume-table tbody tr", has_text=top["sender_address"]).first
        assert row.locator("td").nth(2).inner_text() == f"{int(top['messages']):,}"
        # domain selector narrows the table to that domain
        page.select_option("#domain", top["sender_domain"])
        assert page.locator("#volume-table tbody tr").count() == sum(
            1 for r in totals if r["sender_domain"] == top["sender_domain"]
        )
        # TLS usage pivot: chart first, then the details table with the expected counts
        page.click("nav.pivots button[data-pivot=tls]")
        assert page.locator("#tls-chart").is_visible()
        page.click("#pivot-tls button[data-view=table]")
        cells = page.locator("#tls-table tbody tr", has_text=legacy_sender).first.locator("td")
        counts = tls[legacy_sender]
        # columns: sender, legacy share, domain, messages, TLS 1.0 .. unknown counts, TLS 1.0 .. 1.3 %
        assert cells.nth(3).inner_text() == f"{sum(counts.values()):,}"
        assert cells.nth(4).inner_text() == f"{counts.get('TLS1.0', 0):,}"
        assert cells.nth(9).inner_text().endswith(" %")
        assert cells.nth(9).get_attribute("title") == f"{counts.get('TLS1.0', 0):,} messages"
        # legacy senders first: the first row has the largest share of TLS 1.0/1.1 messages
        first = page.locator("#tls-table tbody tr").first.locator("td")
        shares = [
            100 * (c.get("TLS1.0", 0) + c.get("TLS1.1", 0)) / max(1, sum(v for k, v in c.items() if k != "unknown"))
            for c in tls.values()
        ]
        assert first.nth(1).inner_text() == f"{max(shares):.1f} %"
        everyone = page.locator("#tls-table tbody tr").count()
        page.check("#tls-legacy-only")
        legacy_rows = page.locator("#tls-table tbody tr").count()
        assert legacy_rows == sum(1 for c in tls.values() if c.get("TLS1.0", 0) + c.get("TLS1.1", 0)) < everyone
        page.uncheck("#tls-legacy-only")
        # human headers; numbers sort descending first, with an arrow
        assert page.locator("#tls-table th").first.inner_text().startswith("Sender")
        page.click("#tls-table th button[data-col=messages]")
        assert page.locator("#tls-table th[aria-sort=descending]").inner_text().startswith("Messages")
        # sorting by a column and filtering rows
        page.fill("#tls-table input[type=search]", legacy_sender)
        assert page.locator("#tls-table tbody tr").count() == 1
        page.click("nav.pivots button[data-pivot=accounts]")
        assert page.locator("#accounts-table tbody tr", has_text="blocked_but_attempting").count() >= 1
        # readiness: the accounts that need action with their next step, and the burndown
        page.click("nav.pivots button[data-pivot=readiness]")
        assert "accounts need action" in page.locator("#readiness-summary").inner_text()
        assert page.locator("#readiness-table tbody tr").count() >= 1
        assert page.locator("#burndown-chart").is_visible()
        page.screenshot(path=str(SCREENSHOTS / "report-readiness.png"), full_page=True)
        SCREENSHOTS.mkdir(exist_ok=True)
        page.click("nav.pivots button[data-pivot=volume]")
        page.click("#pivot-volume button[data-view=chart]")
        page.screenshot(path=str(SCREENSHOTS / "report.png"), full_page=True)
        browser.close()
    assert [u for u in requests if not u.startswith("file:")] == []
    assert problems == []
