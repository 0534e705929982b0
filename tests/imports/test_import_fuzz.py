"""Property-based fuzz of the file importers: whatever the bytes, an import loads or refuses with one line
(ImportRefused, no other exception), a refusal stores nothing, and no run is left "running"."""

from collections.abc import Iterator
from datetime import UTC, date, datetime

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from connector.clock import FakeClock
from connector.imports import ImportOptions, ImportRefused, import_file
from connector.store.store import Store, open_store

HEADERS = {
    "export": "Sender address,Domain,TLS 1.0 %,TLS 1.1 %,TLS 1.2 %,Messages sent,Authentication protocol",
    "smtpcs": "message_id,tls_version,senderName,date,authMethod,message_count",
    "cas": "PrimarySmtpAddress,SmtpClientAuthenticationDisabled",
}
TABLES = ("imported_tls_aggregate", "smtp_cs_report_row", "mailbox_smtp_posture", "watermark", "skipped_record")

_CELL = st.one_of(
    st.sampled_from(
        [
            "",
            "1",
            "100%",
            "-5",
            "1e400",
            "99999999999999999999999",
            "=SUM(A1)",
            "@x",
            "a@contoso.com",
            "2026-11-20T08:00:00Z",
            "11/20/2026 9:00:00 AM",
            "0001-01-01",
            "TLS1.2",
            "Basic",
            "True",
            '"',
            '""',
            "\x00",
        ]
    ),
    st.text(max_size=20),
    st.integers(min_value=-(10**25), max_value=10**25).map(str),
)
_LINE = st.lists(_CELL, min_size=0, max_size=8).map(",".join)


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Store]:
    s = open_store(f"sqlite:///{tmp_path_factory.mktemp('fuzz') / 'smtpauth.db'}")
    yield s
    s.close()


def _counts(store: Store) -> dict[str, int]:
    with store.read() as conn:
        return {t: int(conn.execute(sa.text(f"SELECT count(*) FROM {t}")).scalar_one()) for t in TABLES}  # noqa: S608


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    kind=st.sampled_from([*HEADERS, "none"]),
    lines=st.lists(_LINE, max_size=12),
    encoding=st.sampled_from(["utf-8", "utf-8-sig", "utf-16", "latin-1"]),
    newline=st.sampled_from(["\n", "\r\n"]),
    tail=st.sampled_from(["", "\n", '"', "\xff", ","]),
)
def test_fuzzed_files_load_or_are_refused_cleanly(
    store: Store,
    tmp_path_factory: pytest.TempPathFactory,
    *,
    kind: str,
    lines: list[str],
    encoding: str,
    newline: str,
    tail: str,
) -> None:
    header = HEADERS.get(kind, "a,b,c")
    text = newline.join([header, *lines]) + tail
    path = tmp_path_factory.mktemp("f") / "clients_2026-11-01_2026-11-07.csv"
    try:
        path.write_bytes(text.encode(encoding, errors="replace"))
    except UnicodeEncodeError:
        return
    before = _counts(store)
    clock = FakeClock(datetime(2026, 11, 28, 6, tzinfo=UTC))
    try:
        result = import_file(store, clock, path, tenant="contoso", options=ImportOptions(as_of=date(2026, 11, 27)))
    except ImportRefused as refused:
        message = str(refused)
        assert "\n" not in message
        assert "Traceback" not in message
        assert _counts(store) == before, message
    else:
        assert result.rows_seen >= result.inserted + result.updated
    with store.read() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM sync_run WHERE status = 'running'")).scalar_one() == 0
