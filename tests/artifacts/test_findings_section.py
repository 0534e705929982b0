"""The report carries the findings detected after the sync: a CSV (and XLSX sheet, Parquet file) and an HTML
section."""

from pathlib import Path

import sqlalchemy as sa

from connector.artifacts import build_report
from tests.artifacts.conftest import Synced
from tests.artifacts.helpers import read_csv

RANK = {"high": 0, "medium": 1, "low": 2}


def test_findings_csv_lists_the_detected_activity_in_the_range(synced: Synced, out_dir: Path) -> None:
    params = synced.params(formats=("csv",))
    build_report(synced.store, params, out_dir)
    rows = read_csv(out_dir / "findings.csv")
    # exactly the stored findings whose window overlaps the report's range
    with synced.store.read() as conn:
        expected = {
            str(i)
            for (i,) in conn.execute(
                sa.text("SELECT id FROM finding WHERE tenant = 'contoso' AND window_start < :e AND window_end >= :s"),
                {"s": params.start, "e": params.end},
            )
        }
    assert {r["id"] for r in rows} == expected
    # the simulator's password spray and compromised accounts fall in the range
    assert {r["severity"] for r in rows if r["kind"] == "password_spray"} == {"high"}
    spiking = {r["account"] for r in rows if r["kind"] == "volume_spike"}
    assert set(synced.truth.compromised_accounts()) <= spiking
    # most severe first, each with the action to take
    ranks = [RANK[r["severity"]] for r in rows]
    assert ranks == sorted(ranks)
    assert all(r["action"] for r in rows)


def test_findings_follow_the_sender_filter(synced: Synced, out_dir: Path) -> None:
    account = next(iter(synced.truth.compromised_accounts()))
    build_report(synced.store, synced.params(senders=(account,), formats=("csv",)), out_dir)
    rows = read_csv(out_dir / "findings.csv")
    assert rows
    assert {r["account"] for r in rows} == {account}


def test_findings_section_is_in_the_html(synced: Synced, out_dir: Path) -> None:
    result = build_report(synced.store, synced.params(formats=("html",)), out_dir)
    assert result.html is not None
    page = result.html.read_text()
    assert 'data-pivot="findings"' in page
    assert "password_spray" in page
