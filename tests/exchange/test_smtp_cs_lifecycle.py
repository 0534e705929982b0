"""The SmtpCSReport job lifecycle across sync runs, against the simulated Exchange admin API.

The simulator is strict by default: a search must name senders (at most 100), the quota is 250 a day, and a
finished search's FileUrl wants an admin's browser session. ``permissive`` tenants get a link the app can fetch.
"""

from collections import Counter, defaultdict
from datetime import UTC, datetime, timedelta
from pathlib import Path

from connector.imports import import_file
from connector.simulator import Fault
from connector.simulator.exchange import HistoricalSearch
from tests.exchange.conftest import ExoEnv

SOURCE = "smtp_cs_report"


def stored_tls(exo: ExoEnv) -> dict[str, dict[str, int]]:
    out: dict[str, Counter[str]] = defaultdict(Counter)
    for sender, tls, n in exo.rows(
        "SELECT sender_address, tls_version, SUM(message_count) FROM smtp_cs_report_row "
        "GROUP BY sender_address, tls_version"
    ):
        out[sender][tls or ""] += int(n)
    return {k: dict(v) for k, v in out.items()}


def searched_span(exo: ExoEnv) -> tuple[datetime, datetime]:
    ((start, end),) = exo.rows("SELECT MIN(start_date), MAX(end_date) FROM historical_search_job WHERE status = 'Done'")
    return _utc(start), _utc(end)


def _utc(value: object) -> datetime:
    moment = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment


def sim_jobs(exo: ExoEnv) -> list[HistoricalSearch]:
    state = exo.sim.exchange_state.get(exo.sim.directory.tenant("contoso").tenant_id)
    return list(getattr(state, "jobs", {}).values())


def known_senders(exo: ExoEnv) -> set[str]:
    from connector.sync.sources.smtp_cs_report import smtp_cs_senders

    with exo.store.read() as conn:
        return set(smtp_cs_senders(conn, "contoso"))


def seed_senders(exo: ExoEnv, count: int) -> list[str]:
    """``count`` SMTP AUTH senders, as an admin's SMTP AUTH clients Export brings them in."""
    senders = [f"device{i:04d}@contoso.com" for i in range(count)]
    path = exo.tmp / "smtp-auth-clients_2026-11-01_2026-11-07.csv"
    lines = ["Sender address,TLS 1.0 %,TLS 1.1 %,TLS 1.2 %,Messages sent"]
    lines += [f"{s},0,0,100,5" for s in senders]
    path.write_text("\n".join(lines) + "\n")
    import_file(exo.store, exo.clock, Path(path), tenant="contoso")
    return senders


def test_permissive_files_are_downloaded_loaded_and_equal_to_ground_truth(exo: ExoEnv) -> None:
    exo.sim.settings.strict = False
    exo.prime()
    senders = known_senders(exo)
    assert len(senders) > 5
    assert exo.run(SOURCE).startswith("ok: 0 file(s) loaded, 3 search(es) submitted, 3 waiting")
    assert {s for s, _ in exo.jobs()} == {"NotStarted"}
    assert all(set(j.senders) == senders for j in sim_jobs(exo))
    exo.clock.advance(120)
    exo.run(SOURCE)
    assert {s for s, _ in exo.jobs()} == {"InProgress"}
    exo.clock.advance(400)
    assert exo.run(SOURCE).startswith("ok: 3 file(s) loaded, 0 search(es) submitted, 0 waiting")
    loaded = exo.rows(
        "SELECT status, downloaded_at, loaded_at, attempts, file_rows, loaded_via FROM historical_search_job"
    )
    assert all(r[0] == "Done" and r[1] and r[2] and r[3] == 1 and r[4] > 0 and r[5] == "download" for r in loaded)
    start, end = searched_span(exo)
    truth = exo.truth()
    expected = {s: c for s, c in truth.tls_counts(start, end).items() if s in senders}
    assert stored_tls(exo) == expected
    # a later run downloads nothing again and changes nothing
    downloads = exo.sim.stats["requests.download"]
    rows = exo.rows("SELECT COUNT(*) FROM smtp_cs_report_row")
    # nothing was due: the coverage shows no reason, as for any other source that is up to date
    assert exo.run(SOURCE) == "ok: None"
    assert exo.sim.stats["requests.download"] == downloads
    assert exo.rows("SELECT COUNT(*) FROM smtp_cs_report_row") == rows
    assert exo.sim.stats["download_auth_violations"] == 0


def test_without_known_senders_no_search_is_sent(exo: ExoEnv) -> None:
    coverage = exo.run(SOURCE)
    assert coverage.startswith("ok: 0 file(s) loaded, 0 search(es) submitted")
    assert "no account has been seen using SMTP AUTH" in coverage
    assert sim_jobs(exo) == []
    assert exo.sim.stats["requests.exchange"] == 0


def test_340_senders_become_4_searches_of_at_most_100_with_the_notify_address(exo: ExoEnv) -> None:
    exo.sync_toml = "smtp_cs_backfill_days = 1\nsmtp_cs_search_days = 2.0"
    exo.tenant_extra = 'notify_address = ["it-reports@contoso.com"]\n'
    senders = seed_senders(exo, 340)
    exo.run(SOURCE)
    jobs = sim_jobs(exo)
    assert sorted(len(j.senders) for j in jobs) == [40, 100, 100, 100]
    assert sorted(s for j in jobs for s in j.senders) == sorted(senders)
    assert {j.notify for j in jobs} == {("it-reports@contoso.com",)}
    assert len({(j.start, j.end) for j in jobs}) == 1
    stored = exo.rows("SELECT sender_addresses, notify_addresses FROM historical_search_job")
    assert len(stored) == 4
    assert all("it-reports@contoso.com" in n for _, n in stored)


def test_the_251st_search_of_a_day_waits_for_the_next_day(exo: ExoEnv) -> None:
    exo.sync_toml = "smtp_cs_backfill_days = 90\nsmtp_cs_search_days = 1.0\nsmtp_cs_max_searches_per_run = 400"
    seed_senders(exo, 340)
    coverage = exo.run(SOURCE)
    assert coverage.startswith("throttled: 0 file(s) loaded, 250 search(es) submitted")
    assert "wait for the next day" in coverage
    assert len(sim_jobs(exo)) == 250
    exo.clock.advance(3600)
    exo.run(SOURCE)
    assert len(sim_jobs(exo)) == 250
    exo.clock.advance(24 * 3600)
    exo.run(SOURCE)
    assert len(sim_jobs(exo)) > 250
    # Exchange itself never had to refuse one
    assert all(j.senders for j in sim_jobs(exo))


def test_a_file_behind_a_sign_in_page_leaves_the_search_waiting_and_the_run_succeeded(exo: ExoEnv) -> None:
    assert exo.sim.settings.strict
    exo.sync_toml = "smtp_cs_backfill_days = 2\nsmtp_cs_search_days = 4.0"
    exo.prime()
    exo.run(SOURCE)
    exo.clock.advance(600)
    (result,) = exo.sync(sources=[SOURCE])
    assert result.ok
    (outcome,) = result.outcomes
    assert outcome.status == "succeeded"
    assert "1 search(es) ready, waiting for an admin download" in outcome.message
    assert "Downloadable reports" in outcome.message
    assert [s for s, _ in exo.jobs()] == ["WaitingForAdmin"]
    assert exo.sim.stats["portal_sign_in_redirects"] == 1
    ((status,),) = exo.rows("SELECT status FROM coverage WHERE source = 'smtp_cs_report'")
    assert status == "stale"
    # waiting searches are not asked again, and not searched again
    exo.clock.advance(600)
    exo.run(SOURCE)
    assert exo.sim.stats["portal_sign_in_redirects"] == 1
    assert [s for s, _ in exo.jobs()] == ["WaitingForAdmin"]


def test_quota_refused_by_exchange_is_throttled_coverage_and_the_next_day_resumes(exo: ExoEnv) -> None:
    exo.sim.settings.strict = False
    exo.prime()
    exo.sim.settings.history_quota_per_day = 2
    coverage = exo.run(SOURCE)
    assert coverage.startswith("throttled: 0 file(s) loaded, 2 search(es) submitted")
    assert "quota" in coverage
    assert len(exo.jobs()) == 2
    exo.clock.advance(25 * 3600)
    assert exo.run(SOURCE).startswith("ok:")
    assert len(exo.jobs()) > 2
    marks = exo.rows("SELECT DISTINCT value FROM watermark WHERE source = 'smtp_cs_report' AND key LIKE 'sender:%'")
    latest = exo.clock.now().replace(microsecond=0) - timedelta(hours=4)
    assert [datetime.fromisoformat(m[0]) for m in marks] == [latest]


def test_own_quota_count_stops_before_exchange_refuses(exo: ExoEnv) -> None:
    exo.prime()
    exo.sync_toml += "\nsmtp_cs_quota_per_day = 1"
    coverage = exo.run(SOURCE)
    assert coverage.startswith("throttled:")
    assert "quota 1" in coverage
    assert len(exo.jobs()) == 1


def test_a_failed_search_is_retried_with_its_senders_then_surfaced(exo: ExoEnv) -> None:
    exo.sync_toml = "smtp_cs_backfill_days = 2\nsmtp_cs_search_days = 4.0\nsmtp_cs_max_retries = 1"
    exo.prime()
    exo.sim.faults.add(Fault("exchange", "history_failed", count=None))
    exo.run(SOURCE)
    exo.clock.advance(600)
    exo.run(SOURCE)
    assert [s for s, _ in exo.jobs()] == ["Failed", "NotStarted"]
    first, second = sim_jobs(exo)
    assert first.senders == second.senders
    assert (first.start, first.end) == (second.start, second.end)
    exo.clock.advance(600)
    coverage = exo.run(SOURCE)
    assert coverage.startswith("failed:")
    assert "given up" in coverage
    assert "internal error" in coverage
    assert [s for s, _ in exo.jobs()] == ["Failed", "Failed"]


def test_server_busy_is_not_retried_as_transient_and_the_range_is_searched_again(exo: ExoEnv) -> None:
    exo.sim.settings.strict = False
    exo.sync_toml = "smtp_cs_backfill_days = 2\nsmtp_cs_search_days = 4.0"
    exo.prime()
    exo.sim.settings.history_download_limit = 0
    exo.run(SOURCE)
    exo.clock.advance(600)
    downloads = exo.sim.stats["requests.download"]
    coverage = exo.run(SOURCE)
    assert exo.sim.stats["requests.download"] == downloads + 1
    assert "503 server busy" in coverage
    assert [s for s, _ in exo.jobs()] == ["Unavailable", "NotStarted"]
    exo.sim.settings.history_download_limit = 20
    exo.clock.advance(600)
    exo.run(SOURCE)
    assert [s for s, _ in exo.jobs()] == ["Unavailable", "Done"]


def test_our_download_count_stops_at_the_limit(exo: ExoEnv) -> None:
    exo.sim.settings.strict = False
    exo.sync_toml = "smtp_cs_backfill_days = 2\nsmtp_cs_search_days = 4.0\nsmtp_cs_download_limit = 1"
    exo.prime()
    exo.run(SOURCE)
    exo.sim.faults.add(Fault("historical_download", "503", count=None))
    exo.clock.advance(600)
    assert "download failed" in exo.run(SOURCE)
    coverage = exo.run(SOURCE)
    assert "already downloaded 1 times (limit 1)" in coverage


def test_error_description_with_the_row_limit_halves_the_range_and_loads_it_whole(exo: ExoEnv) -> None:
    exo.sim.settings.strict = False
    exo.sync_toml = "smtp_cs_backfill_days = 4\nsmtp_cs_search_days = 10.0"
    exo.prime()
    senders = known_senders(exo)
    now = exo.clock.now()
    total = sum(1 for m in exo.truth().smtp_messages(now - timedelta(days=4), now) if m.sender in senders)
    exo.sim.settings.history_max_rows = int(total * 0.6)
    exo.run(SOURCE)
    exo.clock.advance(600)
    assert "rows" in exo.run(SOURCE)
    assert [s for s, _ in exo.jobs()] == ["Failed", "NotStarted", "NotStarted"]
    ((error,),) = exo.rows("SELECT error FROM historical_search_job WHERE status = 'Failed'")
    assert "more than" in error
    assert "rows" in error
    exo.clock.advance(600)
    exo.run(SOURCE)
    assert [s for s, _ in exo.jobs()] == ["Failed", "Done", "Done"]
    start, end = searched_span(exo)
    expected = {s: c for s, c in exo.truth().tls_counts(start, end).items() if s in senders}
    assert stored_tls(exo) == expected
