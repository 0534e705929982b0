"""A Request report file handed back through the dashboard: listed waiting, uploaded in headless Chromium (a real
multipart upload), loaded once, a second upload changes nothing; an upload over the limit (streamed: the server
never holds it) or a file that is not a report is refused with a clear message and nothing stored."""

import os
import shutil
import tracemalloc
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from connector.simulator.exchange import render_smtpcs, smtpcs_rows
from connector.store import history
from connector.store.history import WAITING_FOR_ADMIN
from tests.artifacts.test_html_browser import CHROMIUM_ARGS
from tests.service.conftest import AUTH, OUTPUT, START, TOKEN, Served

JOB = "0b7c52a8-3f0e-4a51-9a43-5d6c1e7f9a20"


@pytest.fixture
def waiting(served: Served, tmp_path: Path) -> Iterator[Path]:
    """A search the sync left waiting for an admin (its FileUrl wanted a browser session), and the file the admin
    downloaded for it from the portal."""
    truth = served.env.truth()
    start, end = START - timedelta(days=3), START - timedelta(days=2)
    senders = sorted({m.sender for m in truth.smtp_messages(start, end)})[:4]
    with served.env.store.transaction() as tx:
        history.insert_job(
            tx, "contoso", JOB, title="smtpauth contoso upload", start=start, end=end, status="NotStarted",
            now=start, senders=senders, notify=["it@contoso.com"],
        )  # fmt: skip
        history.update_job(tx, "contoso", JOB, status=WAITING_FOR_ADMIN)
    messages = [m for m in smtpcs_rows(truth.pop, start, end, truth.now) if m.sender in senders]
    path = tmp_path / f"SmtpCSReport_{JOB}.csv"
    path.write_bytes(render_smtpcs(iter(messages)))
    yield path
    with served.env.store.transaction() as tx:
        tx.exec_driver_sql("DELETE FROM smtp_cs_report_row WHERE job_id = ?", (JOB,))
        tx.exec_driver_sql("DELETE FROM historical_search_job WHERE job_id = ?", (JOB,))
        tx.exec_driver_sql("DELETE FROM watermark WHERE source = 'file_import'")


def _job_rows(served: Served) -> int:
    return int(served.env.rows("SELECT COUNT(*) FROM smtp_cs_report_row WHERE job_id = :j", j=JOB)[0][0])


def _limit(served: Served, limit: int) -> None:
    settings = served.app.state.settings
    served.app.state.settings = settings.model_copy(
        update={"service": settings.service.model_copy(update={"max_upload_bytes": limit})}
    )


def test_waiting_searches_are_listed_with_where_to_get_the_file(served: Served, waiting: Path) -> None:
    (item,) = served.get("/api/v1/searches", tenant="contoso").json()["searches"]
    assert item["job_id"] == JOB
    assert item["senders"] == 4
    assert "Mail flow > Message trace > Downloadable reports" in item["where"]
    assert "it@contoso.com" in item["where"]
    assert f"RequestID={JOB}" in item["where"]


def test_over_the_limit_is_refused_while_streaming_and_nothing_is_stored(served: Served, waiting: Path) -> None:
    original = served.app.state.settings
    _limit(served, 4 * 1024 * 1024)
    boundary = "smtpauthtestboundary"
    size = 40 * 1024 * 1024

    def body() -> Iterator[bytes]:
        yield (
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="big.csv"\r\n'
            "Content-Type: text/csv\r\n\r\n"
        ).encode()
        chunk = b"x" * (256 * 1024)
        for _ in range(size // len(chunk)):
            yield chunk
        yield f"\r\n--{boundary}--\r\n".encode()

    try:
        tracemalloc.start()
        response = served.client.post(
            "/api/v1/uploads/smtp-cs-report",
            params={"tenant": "contoso"},
            headers={**AUTH, "Content-Type": f"multipart/form-data; boundary={boundary}"},
            content=body(),
        )
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    finally:
        served.app.state.settings = original
    assert response.status_code == 413
    assert "larger than service.max_upload_bytes" in response.json()["detail"]["error"]
    assert peak < 8 * 1024 * 1024, f"the upload was held in memory ({peak:,} bytes)"
    assert _job_rows(served) == 0
    assert not any((served.settings.data_dir / "uploads").iterdir())


def test_the_same_file_uploaded_in_chromium_loads_once_and_a_non_csv_is_refused(
    served: Served, waiting: Path, tmp_path: Path
) -> None:
    if os.environ.get("SMTPAUTH_SKIP_BROWSER") == "1":
        pytest.skip("SMTPAUTH_SKIP_BROWSER=1")
    from playwright.sync_api import expect, sync_playwright

    chromium = shutil.which("chromium") or "/usr/bin/chromium"
    picture = tmp_path / "screenshot.png"
    picture.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 20)
    file_rows = len(waiting.read_bytes().decode("utf-16").splitlines()) - 1
    assert file_rows > 0
    OUTPUT.mkdir(exist_ok=True)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        page = browser.new_context(viewport={"width": 1400, "height": 1000}).new_page()
        page.goto(served.url + "/")
        page.wait_for_selector("body[data-ready=login]")
        page.fill("#token", TOKEN)
        page.click("#login-btn")
        page.wait_for_selector("body[data-ready=true]", timeout=30_000)
        page.click("nav.pivots button[data-pivot=reports]")
        row = page.locator(f"#searches-panel tr[data-search='{JOB}']")
        expect(row).to_contain_text("smtpauth contoso upload")
        expect(row).to_contain_text("Downloadable reports")
        page.screenshot(path=str(OUTPUT / "dashboard-waiting-search.png"), full_page=True)
        # a picture is not a report file: refused, nothing stored
        row.locator("input[type=file]").set_input_files(str(picture))
        row.locator("button").click()
        expect(row.locator(".upload-result")).to_contain_text("not a Request report")
        assert _job_rows(served) == 0
        # the admin's file: loaded once, the search counts as loaded and leaves the list
        row.locator("input[type=file]").set_input_files(str(waiting))
        row.locator("button").click()
        expect(page.locator("#searches-panel")).to_contain_text("No search is waiting.")
        expect(page.locator("#searches-panel .last-upload")).to_contain_text(f"search {JOB}")
        assert _job_rows(served) == file_rows
        ((status, via, loaded),) = served.env.rows(
            "SELECT status, loaded_via, loaded_at FROM historical_search_job WHERE job_id = :j", j=JOB
        )
        assert (status, via) == ("Done", "upload")
        assert loaded is not None
        # the same file again, through the general upload: nothing changes
        other = page.locator("#searches-panel p.note .uploader")
        other.locator("input[type=file]").set_input_files(str(waiting))
        other.locator("button").click()
        expect(page.locator("#searches-panel .last-upload")).to_contain_text("already imported")
        page.screenshot(path=str(OUTPUT / "dashboard-upload-done.png"), full_page=True)
        browser.close()
    assert _job_rows(served) == file_rows
    stamp = served.env.rows("SELECT loaded_at FROM historical_search_job WHERE job_id = :j", j=JOB)[0][0]
    assert stamp == loaded
    assert isinstance(START, datetime)


def test_tenant_status_shows_the_schema_drift_of_each_source(served: Served) -> None:
    from connector.sources.drift import DriftRecorder
    from connector.store import runs

    drift = DriftRecorder()
    drift.header("getEmailAppUsageUserCounts", ["Report Refresh Date", "Report Date", "Brand New"], ["Report Date"])
    with served.env.store.transaction() as tx:
        runs.record_drift(tx, tenant="contoso", source="usage_user_counts", drift=drift, run_id="r1", now=START)
    try:
        (contoso,) = [t for t in served.get("/api/v1/tenants").json()["tenants"] if t["name"] == "contoso"]
        sources = {s["source"]: s for s in contoso["sources"]}
        assert {(d["kind"], d["name"]) for d in sources["usage_user_counts"]["drift"]} == {
            ("unexpected", "Report Refresh Date"),
            ("unexpected", "Brand New"),
        }
        assert sources["signins"]["drift"] == []
    finally:
        with served.env.store.transaction() as tx:
            tx.exec_driver_sql("DELETE FROM schema_drift")
