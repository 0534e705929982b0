"""The SMTP AUTH setting of a mailbox is a state: the accounts table shows the newest snapshot with its date even
when it was taken after the range's end, and an account turned off since it used Basic auth reads as blocked now,
in use until its last day."""

from datetime import timedelta

import sqlalchemy as sa

from connector.artifacts import TABLES
from connector.service.queries import data_page
from models import MailboxSmtpPosture
from tests.artifacts.conftest import DATE_TO, Synced

_mp: sa.Table = MailboxSmtpPosture.__table__  # type: ignore[attr-defined]
SPEC = next(t for t in TABLES if t.name == "accounts")


def _accounts(synced: Synced) -> dict[str, dict[str, object]]:
    _, rows = data_page(synced.store, SPEC, synced.params(), limit=100_000, offset=0)
    return {str(r[0]): dict(zip(SPEC.column_names, r, strict=True)) for r in rows}


def test_newest_posture_after_the_range_and_blocked_now(synced: Synced) -> None:
    before = _accounts(synced)
    basic = sorted(a for a, r in before.items() if r["status"] == "basic_in_use")
    assert len(basic) >= 2, "the simulated tenant has Basic SMTP AUTH senders"
    turned_off, still_on = basic[0], basic[1]
    later = DATE_TO + timedelta(days=2)  # a snapshot taken after the report's range
    rows = [
        {"tenant": "contoso", "snapshot_date": later, "user_principal_name": turned_off,
         "smtp_client_auth_disabled": True, "effective_enabled": False},
        {"tenant": "contoso", "snapshot_date": later, "user_principal_name": still_on,
         "smtp_client_auth_disabled": False, "effective_enabled": True},
    ]  # fmt: skip
    with synced.store.transaction() as tx:
        tx.execute(_mp.insert(), rows)
    try:
        after = _accounts(synced)
    finally:
        with synced.store.transaction() as tx:
            tx.execute(_mp.delete().where(_mp.c.snapshot_date == later))
    off, on = after[turned_off], after[still_on]
    assert off["smtp_auth_enabled"] is False
    assert off["posture_snapshot_date"] == later
    assert off["status"] == "blocked_now"
    last = off["last_active_date"]
    assert last is not None
    assert last <= DATE_TO  # type: ignore[operator]
    assert str(off["action"]).startswith(f"Blocked now, in use until {last.isoformat()}")  # type: ignore[attr-defined]
    assert on["smtp_auth_enabled"] is True
    assert on["posture_snapshot_date"] == later
    assert on["status"] == "basic_in_use"
