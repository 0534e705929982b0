"""A Request report file an admin downloaded comes back (inbox, import, CLI) and is matched to its search."""

import os
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner

from connector.cli import cli
from connector.imports import ImportOptions, ImportRefused, import_file
from connector.simulator import SimTransport
from connector.simulator.exchange import admin_session
from connector.sync.progress import LinesProgress
from tests.exchange.conftest import ExoEnv

SOURCE = "smtp_cs_report"


def _waiting(exo: ExoEnv) -> list[str]:
    exo.sync_toml = "smtp_cs_backfill_days = 4\nsmtp_cs_search_days = 2.0"
    exo.tenant_extra = 'notify_address = ["it-reports@contoso.com"]\n'
    exo.prime()
    exo.run(SOURCE)
    exo.clock.advance(600)
    exo.run(SOURCE)
    jobs = [r[0] for r in exo.rows("SELECT job_id FROM historical_search_job WHERE status = 'WaitingForAdmin'")]
    assert len(jobs) == 2
    return jobs


def _admin_download(exo: ExoEnv, job_id: str, folder: Path, name: str | None = None) -> Path:
    """What the admin does in a browser: sign in, open the portal's download address of the search."""
    cookie = admin_session(exo.sim, "contoso")
    with httpx.Client(transport=SimTransport(exo.sim)) as browser:
        response = browser.get(
            f"{exo.sim.endpoints.download}/ExtendedReport/Download",
            params={"Type": "OnDemandReport", "RequestID": job_id},
            headers={"Cookie": f"SimAdminSession={cookie}"},
        )
    assert response.status_code == 200
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / (name or f"SmtpCSReport_{job_id}.csv")
    path.write_bytes(response.content)
    return path


def test_files_dropped_in_the_inbox_are_matched_by_name_or_content_and_load_once(exo: ExoEnv) -> None:
    first, second = _waiting(exo)
    inbox = exo.tmp / "data" / "inbox"
    _admin_download(exo, first, inbox)
    # a file renamed by the admin is matched by its rows
    _admin_download(exo, second, inbox, name="report from the portal.csv")
    lines: list[str] = []
    (result,) = exo.sync(sources=[SOURCE], progress=LinesProgress(lines.append))
    assert result.ok
    jobs = dict(exo.rows("SELECT job_id, loaded_via FROM historical_search_job WHERE loaded_at IS NOT NULL"))
    assert jobs == {first: "inbox", second: "inbox"}
    per_job = dict(exo.rows("SELECT job_id, COUNT(*) FROM smtp_cs_report_row GROUP BY job_id"))
    files = dict(exo.rows("SELECT job_id, file_rows FROM historical_search_job"))
    assert per_job == {first: files[first], second: files[second]}
    # the source's line and outcome count the rows just loaded from the inbox (the run itself finds none new)
    loaded = files[first] + files[second]
    assert loaded > 0
    (outcome,) = (o for o in result.outcomes if o.source == SOURCE)
    assert (outcome.rows_seen, outcome.inserted, outcome.inbox_rows, outcome.inbox_files) == (loaded, loaded, loaded, 2)
    assert f"  contoso/{SOURCE}: succeeded, {loaded:,} rows ({loaded:,} from 2 inbox files)" in lines
    # the next run has nothing waiting in the inbox: its rows are its own again
    lines.clear()
    (again,) = exo.sync(sources=[SOURCE], progress=LinesProgress(lines.append))
    (outcome,) = (o for o in again.outcomes if o.source == SOURCE)
    assert outcome.inbox_files == 0
    assert f"  contoso/{SOURCE}: succeeded, {outcome.rows_seen:,} rows" in lines
    assert "waiting for an admin" not in exo.run(SOURCE)


def test_a_named_search_must_fit_the_file_and_a_second_import_changes_nothing(exo: ExoEnv) -> None:
    first, second = _waiting(exo)
    path = _admin_download(exo, first, exo.tmp / "downloads", name="download.csv")
    with pytest.raises(ImportRefused, match=f"not the file of search {second}"):
        import_file(exo.store, exo.clock, path, tenant="contoso", options=ImportOptions(search=second))
    assert exo.rows("SELECT COUNT(*) FROM smtp_cs_report_row") == [(0,)]
    loaded = import_file(exo.store, exo.clock, path, tenant="contoso", options=ImportOptions(search=first))
    assert f"search {first}" in loaded.summary()
    assert loaded.inserted > 0
    again = import_file(exo.store, exo.clock, path, tenant="contoso", options=ImportOptions(search=first))
    assert again.already_imported
    assert exo.rows("SELECT COUNT(*) FROM smtp_cs_report_row") == [(loaded.inserted,)]


def test_reports_waiting_lists_each_search_and_where_the_admin_gets_it(exo: ExoEnv) -> None:
    first, _second = _waiting(exo)
    exo.settings()
    saved = {k: os.environ.get(k) for k in exo.environ}
    os.environ.update(exo.environ)
    try:
        out = CliRunner().invoke(cli, ["-c", str(exo.tmp / "smtpauth.toml"), "reports", "waiting"])
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
    assert out.exit_code == 0, out.output
    assert first in out.output
    flat = " ".join(out.output.split())
    assert "Mail flow > Message trace > Downloadable reports" in flat
    assert "it-reports@contoso.com" in flat
    assert f"smtpauth import FILE --search {first}" in out.output
    # 80 columns, but for the portal address (one word, never broken)
    assert max(len(line) for line in out.output.splitlines() if "RequestID" not in line) <= 80
