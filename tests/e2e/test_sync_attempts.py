"""A sync job attempted again under the same run id: what an earlier attempt finished is not synced twice.

A queued sync job keeps its run id across attempts. The queue takes a job up again when its worker died mid-sync,
and also when the worker's heartbeats came late although its sync had ended, or when the worker died between the
end of its sync and telling the queue. Each later attempt must sync only what no earlier attempt finished.
"""

import re

from connector.store import runs
from tests.e2e.conftest import SimEnv
from tests.e2e.test_sync_truth import assert_matches_truth


def _data_requests(env: SimEnv) -> int:
    """Requests the simulator answered for Graph and Exchange data (token requests left out)."""
    stats = env.sim.stats.snapshot()
    return stats.get("requests", 0) - stats.get("requests.token", 0) - stats.get("requests.discovery", 0)


def _runs(env: SimEnv) -> list[tuple[str, str, str, str | None]]:
    return [
        (r[0], r[1], r[2], r[3])
        for r in env.rows("SELECT run_id, source, status, error_class FROM sync_run ORDER BY id")
    ]


def test_an_attempt_after_the_sync_ended_syncs_nothing_again(env: SimEnv) -> None:
    (first,) = env.sync(run_id="job-7")
    assert first.ok
    assert first.outcomes
    assert first.resumed == ()
    ran = tuple(o.source for o in first.outcomes)
    before = _runs(env)
    requests = _data_requests(env)
    assert requests > 0

    (again,) = env.sync(run_id="job-7")

    assert again.outcomes == []
    assert again.resumed == ran
    assert again.ok
    assert _runs(env) == before
    assert _data_requests(env) == requests
    assert_matches_truth(env, env.truth())


def test_an_attempt_after_a_lost_one_runs_only_what_it_did_not_finish(env: SimEnv) -> None:
    # the lost attempt: report settings and the usage detail ran to their end, then the worker died during the
    # usage counts (its run left "running")
    (lost,) = env.sync(run_id="job-8", sources=["report_settings", "usage_user_detail"])
    assert [o.status for o in lost.outcomes] == ["succeeded", "succeeded"]
    with env.store.transaction() as tx:
        runs.start_run(tx, tenant="contoso", source="usage_user_counts", run_id="job-8", now=env.clock.now())

    (retry,) = env.sync(run_id="job-8")

    assert retry.resumed == ("report_settings", "usage_user_detail")
    assert retry.ok
    ran = [o.source for o in retry.outcomes]
    assert "usage_user_counts" in ran
    assert "report_settings" not in ran
    assert "usage_user_detail" not in ran
    rows = _runs(env)
    # the cut-short run is marked interrupted, and this attempt's runs have an id of their own
    assert ("job-8", "usage_user_counts", "failed", "interrupted") in rows
    attempt_ids = {r[0] for r in rows if r[0] != "job-8"}
    assert len(attempt_ids) == 1
    (attempt,) = attempt_ids
    assert re.fullmatch(r"job-8-r[0-9a-f]{6}", attempt)
    assert sorted(r[1] for r in rows if r[0] == attempt) == sorted(ran)
    assert_matches_truth(env, env.truth())

    # a third attempt finds every source finished by one attempt or the other
    (third,) = env.sync(run_id="job-8")
    assert third.outcomes == []
    assert sorted(third.resumed) == sorted(["report_settings", "usage_user_detail", *ran])


def test_a_run_id_of_another_job_is_not_taken_for_an_earlier_attempt(env: SimEnv) -> None:
    (first,) = env.sync(run_id="job-9")
    (other,) = env.sync(run_id="job-90")
    assert first.outcomes
    assert other.outcomes
    assert other.resumed == ()
