"""When a source cannot run, coverage says why (never zero usage); concealed identifiers are never joined."""

import re
from datetime import datetime

import pytest

from connector.simulator import Fault
from tests.e2e.conftest import SimEnv


def coverage(env: SimEnv, tenant: str) -> dict[str, tuple[str, str | None, str | None]]:
    return {
        r[0]: (r[1], r[2], r[3])
        for r in env.rows("SELECT source, status, reason, fix FROM coverage WHERE tenant = :t", t=tenant)
    }


def test_tenant_without_p1_shows_sign_ins_unavailable(env: SimEnv) -> None:
    env.tenants = [("fabrikam", "fabrikam", "cert")]
    (result,) = env.sync()
    assert result.ok  # unavailable for a stated reason is not a failure
    status, reason, fix = coverage(env, "fabrikam")["signins"]
    assert status == "unavailable"
    assert reason == "unavailable: Entra ID P1/P2 licence required"
    assert fix is not None
    assert "P1 or P2" in fix
    assert env.rows("SELECT COUNT(*) FROM signin WHERE tenant = 'fabrikam'")[0][0] == 0
    # the other sources still ran
    assert coverage(env, "fabrikam")["usage_user_detail"][0] == "ok"
    run = env.rows("SELECT status, error_class FROM sync_run WHERE tenant = 'fabrikam' AND source = 'signins'")
    assert run == [("unavailable", "licence")]


def test_missing_permission_is_named_with_the_fix(env: SimEnv) -> None:
    env.tenants = [("contoso", "contoso", "no-reports")]
    (result,) = env.sync()
    cov = coverage(env, "contoso")
    for source in ("usage_user_detail", "usage_user_counts", "usage_apps_kpi"):
        status, reason, fix = cov[source]
        assert status == "unavailable"
        assert reason is not None
        assert "Reports.Read.All" in reason
        assert fix is not None
        assert "admin consent" in fix
    assert cov["signins"][0] == "ok"
    assert {o.source: o.status for o in result.outcomes}["signins"] == "succeeded"


def test_message_trace_without_service_principal(env: SimEnv) -> None:
    tenant = env.sim.directory.tenant("contoso")
    tenant.message_trace_sp = False
    (result,) = env.sync()
    status, reason, fix = coverage(env, "contoso")["message_trace"]
    assert status == "unavailable"
    assert reason is not None
    assert "service principal" in reason
    assert fix is not None
    assert "8bd644d1-64a1-4d4b-ae52-2e0cbf64e373" in fix
    assert {o.source: o.status for o in result.outcomes}["message_trace"] == "unavailable"


@pytest.mark.parametrize("cloud", ["usgov", "usgovdod", "china"])
def test_sources_a_national_cloud_does_not_offer_end_unavailable_with_microsofts_answer(
    env: SimEnv, cloud: str
) -> None:
    env.sim.cloud = cloud
    env.tenant_extra = f'cloud = "{cloud}"\n'
    (result,) = env.sync()
    assert result.ok
    statuses = {o.source: o.status for o in result.outcomes}
    missing = {"report_settings", "usage_user_counts", "usage_apps_kpi", "message_trace"}
    assert {s for s, st in statuses.items() if st == "unavailable"} == missing
    assert all(statuses[s] == "succeeded" for s in statuses.keys() - missing)
    cov = coverage(env, "contoso")
    for source in missing:
        status, reason, _fix = cov[source]
        assert status == "unavailable"
        assert reason == f"unavailable in the {cloud} cloud: Microsoft does not offer this API there"
    runs = dict(env.rows("SELECT source, error_message FROM sync_run WHERE status = 'unavailable'"))
    assert set(runs) == missing
    # Microsoft's own refusal is kept in the run record
    assert all("Microsoft answered" in m and "HTTP 400" in m and "request-id" in m for m in runs.values())
    assert env.rows("SELECT COUNT(*) FROM usage_user_detail")[0][0] > 0
    assert env.rows("SELECT COUNT(*) FROM signin")[0][0] > 0


def test_concealed_names_are_flagged_and_never_joined(env: SimEnv) -> None:
    env.tenants = [("northwind", "northwind", "reader")]
    (result,) = env.sync()
    assert result.ok
    assert coverage(env, "northwind")["report_settings"][1] is not None
    detail = env.rows("SELECT user_principal_name, concealed FROM usage_user_detail WHERE tenant = 'northwind'")
    assert detail
    assert all(concealed for _, concealed in detail)
    assert all(re.fullmatch(r"[0-9a-f]{32}", upn) for upn, _ in detail)
    # message trace asked only for real addresses (from sign-ins), never for hashed identifiers
    senders = [
        r[0] for r in env.rows("SELECT key FROM watermark WHERE tenant = 'northwind' AND source = 'message_trace'")
    ]
    assert senders
    assert all("@" in s for s in senders)
    hashed = {upn for upn, _ in detail}
    traced = {r[0] for r in env.rows("SELECT DISTINCT sender_address FROM message_trace WHERE tenant = 'northwind'")}
    assert not hashed & traced


def test_token_expiring_mid_paging_is_renewed_once(env: SimEnv) -> None:
    env.sync_toml += "\nsignin_slice_hours = 720.0"
    env.sim.faults.add(Fault("signins", "expired_token", skip=2))
    issued_before = env.sim.stats["tokens.issued"]
    (result,) = env.sync(sources=["signins"])
    assert result.ok
    # one token for the run, one renewal after the 401 on the third page
    assert env.sim.stats["tokens.issued"] - issued_before == 2
    wm = env.rows("SELECT value FROM watermark WHERE source = 'signins'")[0][0]
    assert datetime.fromisoformat(wm) == env.clock.now().replace(microsecond=0)
