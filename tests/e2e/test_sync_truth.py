"""A full sync of the simulated tenant equals the simulator's ground truth, on SQLite and PostgreSQL."""

from collections import defaultdict
from datetime import date, datetime, timedelta

from connector.simulator import GroundTruth
from tests.e2e.conftest import SimEnv


def signin_ids_in_db(env: SimEnv) -> dict[str, set[str]]:
    out: dict[str, set[str]] = defaultdict(set)
    for upn, sid in env.rows("SELECT user_principal_name, signin_id FROM signin WHERE tenant = 'contoso'"):
        out[upn].add(sid)
    return dict(out)


def watermark(env: SimEnv, source: str, key: str) -> str:
    rows = env.rows(
        "SELECT value FROM watermark WHERE tenant = 'contoso' AND source = :s AND key = :k", s=source, k=key
    )
    assert len(rows) == 1, (source, key)
    return str(rows[0][0])


def trace_messages(truth: GroundTruth, start: datetime, end: datetime) -> dict[str, list[tuple[datetime, str]]]:
    """(received, messageId) per sender of every message the simulated message trace serves in the range."""
    out: dict[str, list[tuple[datetime, str]]] = defaultdict(list)
    day = max(start.date(), truth.pop.start)
    while day <= end.date():
        for m in truth.pop.day_messages(day):
            if start <= m.received <= min(end, truth.now):
                out[m.sender].append((m.received, m.message_id))
        day += timedelta(days=1)
    return out


def assert_matches_truth(env: SimEnv, truth: GroundTruth) -> None:
    """Every stored figure equals what the simulator says a correct sync must find."""
    settings = env.settings()
    # sign-ins: exactly the served Authenticated SMTP sign-ins of the window the run covered
    until = datetime.fromisoformat(watermark(env, "signins", "created_until"))
    since = until - timedelta(days=settings.sync.signin_backfill_days) + timedelta(minutes=5)
    expected = {u: set(ids) for u, ids in truth.signin_ids(since, until).items()}
    assert signin_ids_in_db(env) == expected
    assert sum(map(len, expected.values())) > 100

    # usage: the 7-day KPI, the daily SMTP user counts and the SMTP users of the D7 snapshot
    (kpi,) = env.rows("SELECT smtp_app FROM usage_apps_kpi WHERE tenant = 'contoso'")
    assert kpi[0] == truth.d7_count()
    counts = {
        d if isinstance(d, date) else date.fromisoformat(d): n
        for d, n in env.rows("SELECT report_date, smtp_app FROM usage_user_counts WHERE tenant = 'contoso'")
    }
    history = truth.daily_smtp_users(min(counts), truth.refresh_date)
    assert {d: n for d, n in counts.items() if d >= truth.pop.start} == history
    # the days before the tenant's history (D180 reaches further back) are served, and stored, as zero
    assert {n for d, n in counts.items() if d < truth.pop.start} <= {0}
    d7 = {u for (u,) in env.rows("SELECT user_principal_name FROM usage_user_detail WHERE report_view = 'D7'")}
    assert d7 == truth.smtp_users(7)

    # message trace: for every sender the connector knows, the distinct messageIds of its window
    senders = {
        r[0]: datetime.fromisoformat(r[1])
        for r in env.rows(
            "SELECT substr(key, 8), value FROM watermark WHERE tenant = 'contoso' AND source = 'message_trace'"
        )
    }
    assert truth.smtp_users(7) <= set(senders)
    stored: dict[str, set[str]] = defaultdict(set)
    for sender, mid in env.rows("SELECT sender_address, message_id FROM message_trace WHERE tenant = 'contoso'"):
        stored[sender].add(mid)
    backfill = timedelta(days=settings.sync.message_trace_backfill_days) - timedelta(minutes=10)
    served = trace_messages(truth, min(senders.values()) - backfill, max(senders.values()))
    for sender, end in senders.items():
        want = {mid for received, mid in served.get(sender, []) if end - backfill <= received <= end}
        assert stored.get(sender, set()) == want, sender
    # nothing was stored for anybody else, and nothing twice
    assert set(stored) <= set(senders)
    (dupes,) = env.rows("SELECT COUNT(*) - COUNT(DISTINCT trace_id) FROM message_trace WHERE tenant = 'contoso'")
    assert dupes[0] == 0


def test_full_sync_equals_ground_truth(env: SimEnv) -> None:
    (result,) = env.sync()
    assert result.ok, [(o.source, o.status, o.message) for o in result.outcomes]
    assert_matches_truth(env, env.truth())
    # the pre-authenticated download host never saw our token
    assert env.sim.stats["download_auth_violations"] == 0
    assert env.sim.stats["requests.download"] > 0


def test_second_sync_inserts_and_updates_nothing(env: SimEnv) -> None:
    env.sync()
    (second,) = env.sync()
    assert second.ok
    for outcome in second.outcomes:
        assert (outcome.source, outcome.inserted, outcome.updated) == (outcome.source, 0, 0)
    # the per-date usage views already captured were not downloaded again
    detail = next(o for o in second.outcomes if o.source == "usage_user_detail")
    assert detail.requests == 1


def test_every_source_records_a_run_and_coverage(env: SimEnv) -> None:
    (result,) = env.sync()
    names = [o.source for o in result.outcomes]
    runs = env.rows("SELECT source, status, rows_inserted, ended_at FROM sync_run WHERE tenant = 'contoso'")
    assert sorted(r[0] for r in runs) == sorted(names)
    assert all(r[1] == "succeeded" and r[3] is not None for r in runs)
    coverage = {r[0]: r[1] for r in env.rows("SELECT source, status FROM coverage WHERE tenant = 'contoso'")}
    assert coverage == dict.fromkeys(names, "ok")
    as_of = env.rows("SELECT data_as_of FROM coverage WHERE source = 'usage_user_detail'")[0][0]
    assert as_of is not None


def test_usage_reports_as_beta_json_give_the_same_rows_as_csv(sqlite_env: SimEnv) -> None:
    sqlite_env.sync(sources=["usage_user_detail", "usage_user_counts", "usage_apps_kpi"])
    tables = ("usage_user_detail", "usage_user_counts", "usage_apps_kpi")
    cols = {
        "usage_user_detail": "report_view, user_principal_name, report_refresh_date, smtp_app, last_activity_date",
        "usage_user_counts": "report_date, smtp_app, report_refresh_date",
        "usage_apps_kpi": "report_refresh_date, period, smtp_app",
    }
    from_csv = {t: set(sqlite_env.rows(f"SELECT {cols[t]} FROM {t}")) for t in tables}  # noqa: S608
    with sqlite_env.store.transaction() as tx:
        for t in (*tables, "watermark"):
            tx.exec_driver_sql(f"DELETE FROM {t}")  # noqa: S608
    sqlite_env.sync_toml += '\nusage_format = "json"'
    (result,) = sqlite_env.sync(sources=["usage_user_detail", "usage_user_counts", "usage_apps_kpi"])
    assert result.ok
    assert sqlite_env.sim.stats["requests.reports_json"] > 0
    for t in tables:
        assert set(sqlite_env.rows(f"SELECT {cols[t]} FROM {t}")) == from_csv[t], t  # noqa: S608
    assert from_csv["usage_user_detail"]
