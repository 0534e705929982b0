"""The SmtpCSReport job lifecycle across sync runs, against the simulated Exchange admin API."""

from collections import Counter, defaultdict
from datetime import UTC, datetime, timedelta

from connector.simulator import Fault
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


def test_queued_in_progress_done_downloaded_loaded_and_equal_to_ground_truth(exo: ExoEnv) -> None:
    assert exo.run(SOURCE).startswith("ok: 0 file(s) loaded, 3 search(es) submitted, 3 waiting")
    assert {s for s, _ in exo.jobs()} == {"NotStarted"}
    exo.clock.advance(120)
    exo.run(SOURCE)
    assert {s for s, _ in exo.jobs()} == {"InProgress"}
    exo.clock.advance(400)
    assert exo.run(SOURCE).startswith("ok: 3 file(s) loaded, 0 search(es) submitted, 0 waiting")
    loaded = exo.rows("SELECT status, downloaded_at, loaded_at, attempts, file_rows FROM historical_search_job")
    assert all(r[0] == "Done" and r[1] and r[2] and r[3] == 1 and r[4] > 0 for r in loaded)
    start, end = searched_span(exo)
    truth = exo.truth()
    assert stored_tls(exo) == truth.tls_counts(start, end)
    methods = dict(exo.rows("SELECT DISTINCT sender_address, auth_method FROM smtp_cs_report_row"))
    assert methods == {s: m for s, m in truth.auth_methods().items() if s in truth.tls_counts(start, end)}
    assert len(methods) > 5

    # a later run downloads nothing again and changes nothing
    downloads = exo.sim.stats["requests.download"]
    rows = exo.rows("SELECT COUNT(*) FROM smtp_cs_report_row")
    exo.run(SOURCE)
    assert exo.sim.stats["requests.download"] == downloads
    assert exo.rows("SELECT COUNT(*) FROM smtp_cs_report_row") == rows
    assert exo.sim.stats["download_auth_violations"] == 0


def test_quota_exhaustion_is_throttled_coverage_and_the_next_day_resumes(exo: ExoEnv) -> None:
    exo.sim.settings.history_quota_per_day = 2
    coverage = exo.run(SOURCE)
    assert coverage.startswith("throttled: 0 file(s) loaded, 2 search(es) submitted")
    assert "quota" in coverage
    assert len(exo.jobs()) == 2
    exo.clock.advance(25 * 3600)
    assert exo.run(SOURCE).startswith("ok:")
    # the range not submitted yesterday was submitted now, with the day that passed
    assert len(exo.jobs()) > 2
    (mark,) = exo.rows("SELECT value FROM watermark WHERE source = 'smtp_cs_report' AND key = 'submitted_until'")
    assert datetime.fromisoformat(mark[0]) == exo.clock.now().replace(microsecond=0) - timedelta(hours=4)


def test_own_quota_count_stops_before_exchange_refuses(exo: ExoEnv) -> None:
    exo.sync_toml += "\nsmtp_cs_quota_per_day = 1"
    coverage = exo.run(SOURCE)
    assert coverage.startswith("throttled:")
    assert "quota 1" in coverage
    assert len(exo.jobs()) == 1


def test_a_failed_search_is_retried_then_surfaced(exo: ExoEnv) -> None:
    exo.sync_toml = "smtp_cs_backfill_days = 2\nsmtp_cs_search_days = 4.0\nsmtp_cs_max_retries = 1"
    exo.sim.faults.add(Fault("exchange", "history_failed", count=None))
    exo.run(SOURCE)
    exo.clock.advance(600)
    exo.run(SOURCE)
    assert [s for s, _ in exo.jobs()] == ["Failed", "NotStarted"]
    exo.clock.advance(600)
    coverage = exo.run(SOURCE)
    assert coverage.startswith("failed:")
    assert "given up" in coverage
    assert "internal error" in coverage
    assert [s for s, _ in exo.jobs()] == ["Failed", "Failed"]


def test_a_file_refused_for_too_many_downloads_is_surfaced_and_searched_again(exo: ExoEnv) -> None:
    exo.sync_toml = "smtp_cs_backfill_days = 2\nsmtp_cs_search_days = 4.0"
    exo.sim.settings.history_download_limit = 0
    exo.run(SOURCE)
    exo.clock.advance(600)
    coverage = exo.run(SOURCE)
    assert "refused its file (downloaded too many times" in coverage
    assert [s for s, _ in exo.jobs()] == ["Unavailable", "NotStarted"]
    exo.sim.settings.history_download_limit = 20
    exo.clock.advance(600)
    exo.run(SOURCE)
    assert [s for s, _ in exo.jobs()] == ["Unavailable", "Done"]


def test_our_download_count_stops_at_the_limit(exo: ExoEnv) -> None:
    exo.sync_toml = "smtp_cs_backfill_days = 2\nsmtp_cs_search_days = 4.0\nsmtp_cs_download_limit = 1"
    exo.run(SOURCE)
    exo.sim.faults.add(Fault("historical_download", "503", count=None))
    exo.clock.advance(600)
    assert "download failed" in exo.run(SOURCE)
    coverage = exo.run(SOURCE)
    assert "already downloaded 1 times (limit 1)" in coverage


def test_a_range_over_the_row_limit_is_split_and_loaded_whole(exo: ExoEnv) -> None:
    exo.sync_toml = "smtp_cs_backfill_days = 4\nsmtp_cs_search_days = 10.0"
    now = exo.clock.now()
    total = len(exo.truth().smtp_messages(now - timedelta(days=4), now))
    exo.sim.settings.history_max_rows = int(total * 0.6)
    exo.run(SOURCE)
    exo.clock.advance(600)
    assert "rows" in exo.run(SOURCE)
    assert [s for s, _ in exo.jobs()] == ["Failed", "NotStarted", "NotStarted"]
    exo.clock.advance(600)
    exo.run(SOURCE)
    assert [s for s, _ in exo.jobs()] == ["Failed", "Done", "Done"]
    start, end = searched_span(exo)
    assert stored_tls(exo) == exo.truth().tls_counts(start, end)
