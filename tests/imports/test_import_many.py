"""Many files in one call: one group commit across files, each file all or nothing, streamed payloads, exact
rollups, and the CLI taking files, folders and --load of many pages."""

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from connector import jsonio
from connector.cli import cli
from connector.clock import FakeClock
from connector.imports import import_files, load_payload
from connector.imports import payloads as payloads_module
from connector.store.store import Store
from tests.imports.conftest import rows
from tests.store.test_rollups import _assert_equal

T0 = datetime(2026, 11, 1, tzinfo=UTC)
CS_HEADER = (
    "date,senderName,senderDomain,authMethod,original_client_ip,tls_version,tls_cipher,message_count,message_id\n"
)


def cs_file(path: Path, first: int, count: int, *, encoding: str = "utf-16") -> Path:
    lines = [CS_HEADER]
    for n in range(first, first + count):
        at = T0 + timedelta(hours=7 * n)
        hour = at.hour % 12 or 12
        stamp = f"{at.month}/{at.day}/{at.year} {hour}:{at.minute:02d}:{at.second:02d} {'AM' if at.hour < 12 else 'PM'}"
        tls = ("TLS1.0", "TLS1.2", "TLS 1.1")[n % 3]
        lines.append(f"{stamp},dev{n % 4}@contoso.com,contoso.com,Basic,10.0.0.{n % 7},{tls},X,{1 + n % 2},<m{n}@x>\n")
    path.write_text("".join(lines), encoding=encoding, newline="")
    return path


def signin(n: int) -> dict[str, Any]:
    return {
        "id": f"s-{n:06d}",
        "createdDateTime": (T0 + timedelta(minutes=37 * n)).isoformat().replace("+00:00", "Z"),
        "userPrincipalName": f"Dev{n % 5}@contoso.com",
        "ipAddress": f"10.1.0.{n % 9}",
        "clientAppUsed": "Authenticated SMTP",
        "status": {"errorCode": 0 if n % 4 else 50126},
        "location": {"countryOrRegion": "US" if n % 2 else "FR", "geoCoordinates": {"latitude": 47.5}},
    }


def page(first: int, count: int) -> dict[str, Any]:
    return {"@odata.context": "x", "value": [signin(n) for n in range(first, first + count)]}


def test_many_files_share_one_commit_and_a_bad_one_is_refused_alone(
    store: Store, clock: FakeClock, tmp_path: Path
) -> None:
    files = [cs_file(tmp_path / f"r{i}.csv", i * 40, 40) for i in range(4)]
    bad = tmp_path / "r9.csv"
    bad.write_text("date,message_id\n1/2/2026 1:00:00 AM,<a@b>\n", encoding="utf-8")  # no sender column
    batch = import_files(store, clock, [files[0], files[1], bad, files[2], files[3], files[1]], tenant="contoso")
    assert [o.error is None for o in batch.outcomes] == [True, True, False, True, True, True]
    assert "lacks the required column(s) senderName" in (batch.outcomes[2].error or "")
    assert batch.outcomes[5].result is not None
    assert batch.outcomes[5].result.already_imported
    assert batch.commits == 1  # six files, one transaction
    assert rows(store, "SELECT count(*), count(DISTINCT message_id) FROM smtp_cs_report_row") == [(160, 160)]
    runs = rows(store, "SELECT status, rows_seen FROM sync_run ORDER BY id")
    assert runs == [("succeeded", 40), ("succeeded", 40), ("failed", 0), ("succeeded", 40), ("succeeded", 40)]
    _assert_equal(store)
    # the whole set again: every file already imported, nothing changes
    again = import_files(store, clock, [tmp_path], tenant="contoso")
    assert [o.result.already_imported for o in again.outcomes if o.result] == [True] * 4
    assert len(again.refused) == 1


def test_groups_are_committed_by_size_and_every_file_stays_whole(
    store: Store, clock: FakeClock, tmp_path: Path
) -> None:
    files = [cs_file(tmp_path / f"r{i}.csv", i * 60, 60) for i in range(5)]
    batch = import_files(store, clock, files, tenant="contoso", group_rows=100)
    # a group is committed once it holds >= 100 rows: after files 2 and 4, and the last at the end
    assert batch.commits == 3
    assert rows(store, "SELECT count(*) FROM smtp_cs_report_row") == [(300,)]
    _assert_equal(store)


def test_a_file_failing_part_way_rolls_back_alone(store: Store, clock: FakeClock, tmp_path: Path) -> None:
    good = tmp_path / "a.json"
    good.write_text(json.dumps([page(0, 30)]), encoding="utf-8")
    cut = tmp_path / "b.json"
    cut.write_text(json.dumps([page(100, 30), page(200, 30)])[:-400], encoding="utf-8")  # truncated in page 2
    after = tmp_path / "c.json"
    after.write_text(json.dumps(page(300, 30)), encoding="utf-8")
    batch = import_files(store, clock, [good, cut, after], tenant="contoso", source="signins")
    assert [o.error is None for o in batch.outcomes] == [True, False, True]
    assert "not a JSON document" in (batch.outcomes[1].error or "")
    got = rows(store, "SELECT min(signin_id), max(signin_id), count(*) FROM signin")
    assert got == [("s-000000", "s-000329", 60)]
    assert rows(store, "SELECT status FROM sync_run ORDER BY id") == [("succeeded",), ("failed",), ("succeeded",)]
    _assert_equal(store)


@pytest.mark.parametrize("shape", ["array", "page"])
def test_a_large_payload_is_streamed_and_loads_what_a_small_one_does(
    store: Store, clock: FakeClock, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, shape: str
) -> None:
    body = [page(0, 50), page(50, 50), page(100, 20)] if shape == "array" else page(0, 120)
    path = tmp_path / "big.json"
    path.write_bytes(b"\xef\xbb\xbf" + json.dumps(body, indent=1).encode())
    monkeypatch.setattr(jsonio, "STREAM_ABOVE", 0)  # every file is "large"
    result = load_payload(store, clock, path, tenant="contoso", source="signins")
    assert (result.rows_seen, result.inserted, result.skipped) == (120, 120, 0)
    monkeypatch.setattr(jsonio, "STREAM_ABOVE", 1 << 30)  # the same file, decoded whole, for another tenant
    load_payload(store, clock, path, tenant="fabrikam", source="signins")
    cols = "signin_id, created_at, user_principal_name, ip_address, error_code, country, utc_day"
    streamed = rows(store, f"SELECT {cols} FROM signin WHERE tenant = 'contoso' ORDER BY signin_id")  # noqa: S608
    whole = rows(store, f"SELECT {cols} FROM signin WHERE tenant = 'fabrikam' ORDER BY signin_id")  # noqa: S608
    assert len(streamed) == 120
    assert streamed == whole
    _assert_equal(store)


def test_streaming_reads_a_page_at_a_time(tmp_path: Path) -> None:
    path = tmp_path / "pages.json"
    path.write_text(json.dumps([page(n * 200, 200) for n in range(20)]), encoding="utf-8")
    size = path.stat().st_size
    with path.open("rb") as fh:
        pages = jsonio.stream_pages(fh)
        first = next(pages)
        assert len(first["value"]) == 200
        assert fh.tell() < size / 4  # the rest of the file is not read yet
        assert sum(1 for _ in pages) == 19


@pytest.mark.parametrize(
    ("body", "why"),
    [
        (b'{"@odata.context": "x", "items": []}', "no 'value' array"),
        (b'[{"value": []}, 3]', "expected a JSON page or an array of pages"),
        (b'{"value": [1, 2', "not a JSON document"),
        (b"<html>", "signins payloads are JSON"),
        (b'{"value": [{"id": "a", "n": 123456789012345678901234567890}]}', None),
    ],
)
@pytest.mark.parametrize("streamed", [True, False])
def test_payloads_that_are_not_pages_are_refused_either_way(  # noqa: PLR0917
    store: Store,
    clock: FakeClock,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    body: bytes,
    why: str | None,
    streamed: bool,
) -> None:
    monkeypatch.setattr(jsonio, "STREAM_ABOVE", 0 if streamed else 1 << 30)
    path = tmp_path / "p.json"
    path.write_bytes(body)
    batch = import_files(store, clock, [path], tenant="contoso", source="signins")
    if why is None:  # a number beyond 64 bits: decoded whole as json does (the item is skipped: no date), or
        # refused in one line by the streaming parser
        if streamed:
            assert "holds a number beyond 64 bits" in (batch.refused[0].error or "")
        else:
            assert batch.results[0].skipped == 1
    else:
        assert batch.refused
        assert why in (batch.refused[0].error or "")
    assert rows(store, "SELECT count(*) FROM signin") == [(0,)]


def test_json_decoding_matches_the_standard_library() -> None:
    for body in (
        b'{"value": [{"n": 123456789012345678901234567890}]}',  # beyond 64 bits: msgspec refuses, json reads
        b'\xef\xbb\xbf{"a": [1.5, "\\u00e9", null, true]}',
        '{"a": "é"}'.encode("utf-16"),
    ):
        assert jsonio.loads(body) == json.loads(body)
    with pytest.raises(ValueError, match="Expecting value"):
        jsonio.loads(b'{"a": ')


def test_cli_imports_files_and_folders_and_many_pages(tmp_path: Path, sqlite_url: str) -> None:
    config = tmp_path / "smtpauth.toml"
    config.write_text(
        f'data_dir = "{tmp_path / "data"}"\n[database]\nurl = "{sqlite_url}"\n'
        '[[tenants]]\nname = "contoso"\ntenant_id = "00000000-0000-0000-0000-000000000001"\n'
        'client_id = "00000000-0000-0000-0000-000000000002"\nclient_secret_env = "X_SECRET"\n',
        encoding="utf-8",
    )
    folder = tmp_path / "reports"
    folder.mkdir()
    for i in range(3):
        cs_file(folder / f"r{i}.csv", i * 10, 10)
    runner = CliRunner()
    result = runner.invoke(cli, ["-c", str(config), "import", str(folder)], env={"X_SECRET": "s"})
    assert result.exit_code == 0, result.output
    assert "3 file(s): 3 loaded, 0 already imported, 0 refused; 30 row(s): 30 new" in result.output
    pages = []
    for i in range(3):
        pages.append(tmp_path / f"page{i}.json")
        pages[-1].write_text(json.dumps(page(i * 10, 10)), encoding="utf-8")
    bad = tmp_path / "bad.json"
    bad.write_text("<html>", encoding="utf-8")
    result = runner.invoke(
        cli,
        ["-c", str(config), "import", "--load", str(pages[0]), str(pages[1]), str(bad), str(pages[2]), "--source",
         "signins"],
        env={"X_SECRET": "s"},
    )  # fmt: skip
    assert result.exit_code == 1
    assert "4 file(s): 3 loaded, 0 already imported, 1 refused; 30 row(s): 30 new" in result.output
    assert "error: bad.json: signins payloads are JSON" in result.output
    engine = sa.create_engine(sqlite_url)
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM signin")).scalar_one() == 30
        assert conn.execute(sa.text("SELECT count(*) FROM smtp_cs_report_row")).scalar_one() == 30
    engine.dispose()


def test_payload_module_streams_above_the_threshold(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "p.json"
    path.write_text(json.dumps([page(0, 5)]), encoding="utf-8")
    calls: list[int] = []
    real = jsonio.stream_pages

    def spy(fh: Any) -> Any:
        calls.append(1)
        return real(fh)

    monkeypatch.setattr(jsonio, "stream_pages", spy)
    monkeypatch.setattr(jsonio, "STREAM_ABOVE", 10)
    assert sum(len(p["value"]) for p in payloads_module._pages(path)) == 5
    assert calls == [1]
