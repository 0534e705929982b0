"""Config posture snapshots from Get-TransportConfig and Get-CASMailbox."""

import pytest

from connector.sources.cas_mailbox import effective_enabled
from connector.sync.sources.smtp_cs_plan import is_size_failure
from tests.exchange.conftest import ExoEnv


@pytest.mark.parametrize(
    ("mailbox", "org", "expected"),
    [(True, False, False), (False, True, True), (None, True, False), (None, False, True), (None, None, None)],
)
def test_effective_value_mailbox_wins_over_org(mailbox: bool | None, org: bool | None, expected: bool | None) -> None:
    assert effective_enabled(mailbox, org) is expected


@pytest.mark.parametrize("org_disabled", [False, True])
def test_snapshot_effective_values_and_same_day_rerun_changes_nothing(exo: ExoEnv, org_disabled: bool) -> None:
    exo.sim.directory.tenant("contoso").smtp_auth_disabled = org_disabled
    assert exo.run("exchange_posture").startswith("ok")
    rows = exo.rows("SELECT smtp_client_auth_disabled, effective_enabled FROM mailbox_smtp_posture")
    assert len(rows) == exo.sim.directory.tenant("contoso").users
    assert {r[0] for r in rows} == {True, False, None}
    for disabled, effective in rows:
        assert effective == (not org_disabled if disabled is None else not disabled)
    assert exo.rows("SELECT smtp_client_auth_disabled FROM transport_config_snapshot")[0][0] == org_disabled
    exo.clock.advance(3600)
    exo.run("exchange_posture")
    ((inserted, updated),) = exo.rows(
        "SELECT rows_inserted, rows_updated FROM sync_run WHERE source = 'exchange_posture' ORDER BY id DESC LIMIT 1"
    )
    assert (inserted, updated) == (0, 0)


def test_missing_exchange_role_is_unavailable_with_the_fix(exo: ExoEnv) -> None:
    exo.tenants = [("contoso", "contoso", "no-reports")]
    coverage = exo.run("exchange_posture")
    assert coverage.startswith("unavailable:")
    ((fix,),) = exo.rows("SELECT fix FROM coverage WHERE source = 'exchange_posture'")
    assert "View-Only Organization Management" in fix


def test_size_failures_are_recognized_and_download_refusals_are_not() -> None:
    assert is_size_failure("The report would contain more than 100000 rows, the limit of a historical search report.")
    assert not is_size_failure("Exchange refused its file (downloaded too many times, or the link expired)")
    assert not is_size_failure("The search failed because of an internal error. Submit it again.")
