"""Faults Microsoft produces end in complete data, or in a failed/throttled run that the next run completes."""

import pytest

from connector.simulator import Chaos, Fault
from tests.e2e.conftest import SimEnv
from tests.e2e.test_sync_truth import assert_matches_truth


def statuses(result: object) -> dict[str, str]:
    return {o.source: o.status for o in result.outcomes}  # type: ignore[attr-defined]


def test_chaos_429_and_5xx_storm_gives_exact_data(env: SimEnv) -> None:
    """30% of Graph calls answered 429 (half without Retry-After) and 5% 503/504: nothing lost or duplicated."""
    env.sim.faults.chaos = Chaos(rate_429=0.3, share_without_retry_after=0.5, rate_5xx=0.05, seed=11)
    (result,) = env.sync()
    assert result.ok, [(o.source, o.status, o.message) for o in result.outcomes]
    stats = env.sim.stats.snapshot()
    assert sum(v for k, v in stats.items() if k.startswith("faults.")) > 20
    assert sum(o.throttled for o in result.outcomes) > 10
    env.sim.faults.clear()
    assert_matches_truth(env, env.truth())
    assert env.sim.stats["download_auth_violations"] == 0


@pytest.mark.parametrize(
    "fault",
    [
        Fault("signins", "expired_skiptoken"),
        Fault("message_trace", "expired_skiptoken"),
        Fault("download", "expired_download"),
        Fault("download", "truncate"),
        Fault("signins", "reset"),
        Fault("message_trace", "reset", count=2),
        Fault("signins", "expired_token", skip=1),
        Fault("message_trace", "504", count=3),
        Fault("reports", "503", retry_after=2),
        Fault("signins", "429", count=4),
        Fault("download", "csv_reorder", count=None),
        Fault("download", "csv_extra_column", count=None),
        Fault("message_trace", "mixed_case", count=None),
    ],
    ids=lambda f: f"{f.route}-{f.kind}",
)
def test_scripted_fault_is_survived_in_one_run(env: SimEnv, fault: Fault) -> None:
    env.sim.faults.add(fault)
    (result,) = env.sync()
    assert result.ok, [(o.source, o.status, o.message) for o in result.outcomes]
    assert fault.fired >= 1
    assert_matches_truth(env, env.truth())


def test_persistent_504_shrinks_sign_in_slices(env: SimEnv) -> None:
    """504 on every attempt of the first slice size: the slice is halved until Graph answers."""
    env.sync_toml += "\nsignin_slice_hours = 48.0"
    env.http_toml = "[http]\npace_requests = false\nmax_attempts = 2\n"
    env.sim.faults.add(Fault("signins", "504", count=2))
    (result,) = env.sync()
    assert statuses(result)["signins"] == "succeeded"
    assert_matches_truth(env, env.truth())


def test_retry_after_beyond_cap_ends_throttled_and_next_run_completes(env: SimEnv) -> None:
    env.sim.faults.add(Fault("signins", "429", count=1, skip=2, retry_after=3600))
    (first,) = env.sync(sources=["signins"])
    assert statuses(first) == {"signins": "throttled"}
    # no sleeping for an hour: the run ended at once
    assert max(env.clock.sleeps, default=0) < 3600
    cov = env.rows("SELECT status, reason FROM coverage WHERE source = 'signins'")
    assert cov[0][0] == "throttled"
    assert "3600" in cov[0][1]
    marks_before = env.rows("SELECT value FROM watermark WHERE source = 'signins'")
    (second,) = env.sync()
    assert second.ok
    marks_after = env.rows("SELECT value FROM watermark WHERE source = 'signins'")
    assert marks_after != marks_before
    assert_matches_truth(env, env.truth())


def test_failed_run_is_completed_by_the_next_run(env: SimEnv) -> None:
    """Connection resets beyond the retry budget fail the source; the next run picks up where it stopped."""
    env.http_toml = "[http]\npace_requests = false\nmax_attempts = 2\n"
    env.sync_toml += "\nsignin_slice_hours = 24.0\nsignin_min_slice_minutes = 1440.0"
    env.sim.faults.add(Fault("signins", "reset", count=2, skip=5))
    (first,) = env.sync()
    assert statuses(first)["signins"] == "failed"
    run = env.rows("SELECT error_class, error_message FROM sync_run WHERE source = 'signins'")
    assert run[0][0] == "transport"
    stored_after_failure = env.rows("SELECT COUNT(*) FROM signin")[0][0]
    assert stored_after_failure > 0
    (second,) = env.sync()
    assert second.ok
    assert_matches_truth(env, env.truth())
