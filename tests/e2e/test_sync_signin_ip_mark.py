"""Each message-trace row is stored marked when its sender had a successful SMTP AUTH sign-in from the row's
``fromIP`` within ``signin_ip_match_hours``; rows stored without the mark (an import, an older version) are marked
by the next sync. The expected marks are computed here independently, from the stored sign-ins."""

from datetime import UTC, datetime, timedelta

from tests.e2e.conftest import SimEnv


def _dt(value: object) -> datetime:
    moment = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def expected_marks(env: SimEnv) -> dict[str, bool]:
    hours = timedelta(hours=env.settings().sync.signin_ip_match_hours)
    signins: dict[tuple[str, str], list[datetime]] = {}
    for upn, ip, created in env.rows(
        "SELECT lower(user_principal_name), ip_address, created_at FROM signin "
        "WHERE tenant = 'contoso' AND error_code = 0 AND ip_address IS NOT NULL"
    ):
        signins.setdefault((upn, ip), []).append(_dt(created))
    out = {}
    for trace_id, sender, from_ip, received in env.rows(
        "SELECT trace_id, sender_address, from_ip, received_at FROM message_trace WHERE tenant = 'contoso'"
    ):
        at = _dt(received)
        out[trace_id] = any(abs(t - at) <= hours for t in signins.get((sender, from_ip), []))
    return out


def stored_marks(env: SimEnv) -> dict[str, bool | None]:
    return {
        t: None if flag is None else bool(flag)
        for t, flag in env.rows("SELECT trace_id, from_smtp_signin_ip FROM message_trace WHERE tenant = 'contoso'")
    }


def test_rows_are_stored_with_the_right_mark_and_unmarked_rows_are_caught_up(env: SimEnv) -> None:
    assert all(r.ok for r in env.sync())
    expected = expected_marks(env)
    assert stored_marks(env) == expected
    # not a trivial answer: devices submit from their sign-in IPs, other mail does not
    assert sum(expected.values()) > 50
    assert len(expected) - sum(expected.values()) > 50

    # rows that reached the table without the mark (as an import stores them)
    with env.store.transaction() as tx:
        tx.exec_driver_sql(
            "UPDATE message_trace SET from_smtp_signin_ip = NULL WHERE id IN "
            "(SELECT id FROM message_trace WHERE tenant = 'contoso' ORDER BY id LIMIT 300)"
        )
    assert sum(1 for flag in stored_marks(env).values() if flag is None) == 300
    env.clock.advance(3600)
    assert all(r.ok for r in env.sync())
    assert stored_marks(env) == expected_marks(env)
