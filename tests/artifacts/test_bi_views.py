"""The BI views exist on SQLite and PostgreSQL and add up to what the report says."""

from datetime import UTC, date, datetime, timedelta

import sqlalchemy as sa

from connector.store import open_store
from connector.store.migrations.v0002_report_jobs_and_bi_views import VIEWS
from models import MessageTrace, SmtpCsReportRow

AT = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)


def test_views_are_created_and_aggregate_by_utc_day(db_url: str) -> None:
    store = open_store(db_url)
    trace = [
        {"tenant": "t", "trace_id": f"r{i}", "message_id": f"<m{i // 2}@x>", "sender_address": "printer@contoso.com",
         "recipient_address": f"a{i}@contoso.com", "received_at": AT + timedelta(hours=8 * i), "status": "delivered",
         "from_ip": "198.51.100.1", "from_smtp_signin_ip": i % 2 == 0}
        for i in range(6)
    ]  # fmt: skip
    cs = [
        {"tenant": "t", "occurred_at": AT + timedelta(minutes=i), "sender_address": "app@fabrikam.com",
         "sender_domain": "fabrikam.com", "auth_method": ("Basic", "OAuth")[i % 2], "tls_version": "TLS 1.2",
         "message_count": 1, "message_id": f"<c{i}@x>"}
        for i in range(4)
    ]  # fmt: skip
    with store.transaction() as tx:
        store.upsert(tx, MessageTrace, trace, key=("tenant", "trace_id"))
        store.upsert(tx, SmtpCsReportRow, cs, key=("tenant", "occurred_at", "sender_address", "message_id"))
    with store.read() as conn:
        names = set(sa.inspect(conn).get_view_names())
        assert set(VIEWS) <= names

        def rows(sql: str) -> list[tuple[object, ...]]:
            return [tuple(r) for r in conn.execute(sa.text(sql))]

        by_day = rows(
            "SELECT CAST(date_key AS VARCHAR(10)), sender_domain, source, messages, messages_from_smtp_signin_ip "
            "FROM bi_fact_sender_day ORDER BY 1, 2"
        )
        # rows every 8 h from 09:00; message k is rows 2k and 2k+1 (two recipients); even rows came from a sign-in IP
        assert by_day == [
            ("2026-11-20", "contoso.com", "message_trace", 1, 1),
            ("2026-11-20", "fabrikam.com", "smtp_cs_report", 4, None),
            ("2026-11-21", "contoso.com", "message_trace", 2, 2),
            ("2026-11-22", "contoso.com", "message_trace", 1, 0),
        ]
        tls = rows("SELECT tls_version_key, auth_method_key, messages FROM bi_fact_sender_day_tls ORDER BY 2")
        assert tls == [("TLS1.2", "Basic", 2), ("TLS1.2", "OAuth", 2)]
        assert rows("SELECT COUNT(*) FROM bi_dim_sender") == [(2,)]
        assert rows("SELECT sender_domain, senders FROM bi_dim_domain ORDER BY 1") == [
            ("contoso.com", 1),
            ("fabrikam.com", 1),
        ]
        dates = rows("SELECT CAST(date_key AS VARCHAR(10)), iso_weekday FROM bi_dim_date ORDER BY 1")
        assert dates == [
            (d.isoformat(), d.isoweekday()) for d in (date(2026, 11, 20), date(2026, 11, 21), date(2026, 11, 22))
        ]
        assert rows("SELECT COUNT(*) FROM bi_dim_tls_version WHERE is_legacy = 1") == [(2,)]
    store.close()
