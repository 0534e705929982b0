"""Saving a run's candidates: merged in memory and written in batches, the stored findings must be exactly those one
statement per candidate gave: a candidate continues the earliest finding of its kind and account whose window
overlaps it or ends less than a day before it, including a finding an earlier candidate of the same run made or
grew; the key never moves, the severity never drops, acknowledged findings keep their acknowledgement and queue no
notification. On SQLite and PostgreSQL."""

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from connector.insights.model import Candidate
from connector.insights.store import nt, save_findings
from connector.store.store import Store, open_store
from models import Finding

ft: sa.Table = Finding.__table__  # type: ignore[attr-defined]

NOW = datetime(2026, 11, 28, 6, tzinfo=UTC)
LATER = NOW + timedelta(days=1)


def _day(n: int) -> datetime:
    return datetime(2026, 11, 20, tzinfo=UTC) + timedelta(days=n)


def _cand(kind: str, account: str, first: int, last: int, severity: str = "low", *, tag: str = "") -> Candidate:
    return Candidate(
        kind=kind,
        severity=severity,
        account=account,
        window_start=_day(first),
        window_end=_day(last + 1),
        summary=f"{account} {first}-{last}{tag}",
        action="look",
        evidence={"days": {_day(d).date().isoformat(): {"n": d} for d in range(first, last + 1)}},
    )


@pytest.fixture
def store(db_url: str) -> Iterator[Store]:
    s = open_store(db_url)
    yield s
    s.close()


def _findings(store: Store) -> dict[tuple[str, str, int], dict[str, Any]]:
    with store.read() as conn:
        rows = conn.execute(sa.select(ft).order_by(ft.c.id)).mappings().all()
    return {(r["kind"], r["account"], (r["window_start"] - _day(0)).days): dict(r) for r in rows}


def test_a_run_merges_into_stored_and_into_its_own_findings(store: Store) -> None:
    with store.transaction() as conn:
        first = save_findings(
            conn,
            "t",
            [
                _cand("volume_spike", "a@x.com", 0, 0),
                _cand("volume_spike", "a@x.com", 5, 5, "medium"),  # a gap of 4 days: its own finding
                _cand("off_hours_sending", "b@x.com", 1, 1),
                _cand("off_hours_sending", "c@x.com", 1, 1),
                _cand("new_origin", "d@x.com", 2, 2, "high"),
            ],
            now=NOW,
            channels=("mail",),
        )
    assert (first.inserted, first.updated, first.unchanged) == (5, 0, 0)
    stored = _findings(store)
    ids = {key: row["id"] for key, row in stored.items()}
    assert first.new_high == [ids["new_origin", "d@x.com", 2]]
    with store.transaction() as conn:
        conn.execute(ft.update().where(ft.c.id == ids["off_hours_sending", "c@x.com", 1]).values(acknowledged_at=NOW))
    with store.transaction() as conn:
        second = save_findings(
            conn,
            "t",
            [
                # continues day 0 (ends less than a day before) and then day 2 continues what day 1 made of it
                _cand("volume_spike", "a@x.com", 1, 1, tag=" again"),
                _cand("volume_spike", "a@x.com", 2, 2, "high"),
                # day 4 touches both (day 0's grown to day 2 ends a day before it, day 5 starts after it): it
                # continues the earliest, and the day-5 finding stays as it was
                _cand("volume_spike", "a@x.com", 4, 4),
                # two new findings in one run, the second continuing the first
                _cand("volume_spike", "e@x.com", 7, 7),
                _cand("volume_spike", "e@x.com", 8, 8, "high"),
                # the same as stored: unchanged
                _cand("off_hours_sending", "b@x.com", 1, 1),
                # acknowledged: raised to high, but no notification
                _cand("off_hours_sending", "c@x.com", 2, 2, "high"),
                # the same window, another kind: its own finding
                _cand("external_domains", "b@x.com", 1, 1),
            ],
            now=LATER,
            channels=("mail", "teams"),
        )
    assert (second.inserted, second.updated, second.unchanged) == (2, 5, 1)
    after = _findings(store)
    assert set(after) == {
        ("volume_spike", "a@x.com", 0),
        ("volume_spike", "a@x.com", 5),
        ("volume_spike", "e@x.com", 7),
        ("off_hours_sending", "b@x.com", 1),
        ("off_hours_sending", "c@x.com", 1),
        ("new_origin", "d@x.com", 2),
        ("external_domains", "b@x.com", 1),
    }
    a0 = after["volume_spike", "a@x.com", 0]
    assert a0["id"] == ids["volume_spike", "a@x.com", 0]
    assert (a0["window_end"], a0["severity"], a0["summary"]) == (_day(5), "high", "a@x.com 4-4")
    assert sorted(json.loads(a0["evidence"])["days"]) == ["2026-11-20", "2026-11-21", "2026-11-22", "2026-11-24"]
    assert (a0["first_seen_at"], a0["last_seen_at"]) == (NOW, LATER)
    assert after["volume_spike", "a@x.com", 5] == stored["volume_spike", "a@x.com", 5]
    e7 = after["volume_spike", "e@x.com", 7]
    assert (e7["window_end"], e7["severity"], e7["summary"]) == (_day(9), "high", "e@x.com 8-8")
    assert (e7["first_seen_at"], e7["last_seen_at"]) == (LATER, LATER)
    assert e7["id"] > after["external_domains", "b@x.com", 1]["id"] > max(ids.values())
    b1 = after["off_hours_sending", "b@x.com", 1]
    assert (b1["last_seen_at"], b1["severity"]) == (LATER, "low")
    c1 = after["off_hours_sending", "c@x.com", 1]
    assert (c1["severity"], c1["acknowledged_at"], c1["window_end"]) == ("high", NOW, _day(3))
    untouched = after["new_origin", "d@x.com", 2]
    assert untouched == stored["new_origin", "d@x.com", 2]
    # became high in this run and not acknowledged: a0 (raised), e7 (inserted low, raised by its second day)
    assert second.new_high == [a0["id"], e7["id"]]
    with store.read() as conn:
        queued = sorted((r.finding_id, r.channel) for r in conn.execute(sa.select(nt)))
    assert queued == sorted(
        [(ids["new_origin", "d@x.com", 2], "mail"), (a0["id"], "mail"), (a0["id"], "teams"), (e7["id"], "mail"),
         (e7["id"], "teams")]
    )  # fmt: skip


def test_new_findings_get_their_ids_in_candidate_order(store: Store) -> None:
    candidates = [_cand("off_hours_sending", f"s{k:03d}@x.com", 3, 3) for k in range(300)]
    with store.transaction() as conn:
        saved = save_findings(conn, "t", list(reversed(candidates)), now=NOW, channels=())
    assert saved.inserted == 300
    with store.read() as conn:
        rows = conn.execute(sa.select(ft.c.id, ft.c.account, ft.c.summary).order_by(ft.c.id)).all()
    assert [r.account for r in rows] == [f"s{k:03d}@x.com" for k in range(300)]
    assert [r.summary for r in rows] == [f"s{k:03d}@x.com 3-3" for k in range(300)]
