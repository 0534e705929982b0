"""The rollups equal the same aggregation computed from the raw rows, whatever wrote them and in what order.

Seeded random data over several tenants, written by every kind of writer (store transactions as the sync does,
a group writer's savepoints, an import, a bare connection, the sign-in-IP mark), re-sent with changes, then
compared with an oracle that groups the raw rows in Python: exactly equal, on SQLite and PostgreSQL.
"""

import random
from collections import defaultdict
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from connector.store import Store, open_store, upsert
from connector.store import rollups as ru
from connector.store.derived import auth_bucket, domain_of, tls_bucket
from models import MessageTrace, SignIn, SmtpCsReportRow

#: nine days across a month's end (September 27 to October 5)
T0 = datetime(2026, 9, 27, tzinfo=UTC)
DAYS = 9
#: the days with SmtpCSReport rows: every other day of both months rests on message trace
CS_DAYS = (1, 2, 6)
TENANTS = ("contoso", "fabrikam", "northwind")
TLS = ("TLS1.2", "Tls12", "1.0", "TLS 1.1", "tls1.3", None, "SSL3", "TLSv1.2")
AUTH = ("Basic", "basic auth", "OAuth2", "XOAUTH", None, "ntlm")
CODES = (0, 0, 0, 50126, 50057, 53003, None)

tr: sa.Table = MessageTrace.__table__  # type: ignore[attr-defined]
cs: sa.Table = SmtpCsReportRow.__table__  # type: ignore[attr-defined]
si: sa.Table = SignIn.__table__  # type: ignore[attr-defined]


@pytest.fixture
def store(db_url: str) -> Iterator[Store]:
    s = open_store(db_url, busy_timeout_seconds=10)
    yield s
    s.close()


def _senders(rnd: random.Random, tenant: str) -> list[str]:
    out = [f"user{i}@{rnd.choice(['a', 'b'])}.{tenant}.com" for i in range(8)]
    # "no-at-sign" has no domain; "trailing@" has the empty one (the domain rollup keeps the two apart)
    return [*out, "Scanner@Mixed.Example", "no-at-sign", "trailing@", f"relay@{tenant}.com"]


#: a sender whose domain only Python lower-cases (SQLite's lower() is ASCII-only): the rollups' sender_domain is
#: connector.store.derived.domain_of's, whichever path wrote them
NON_ASCII_SENDER = "Drucker@BÜRO.Example"


def _when(rnd: random.Random, days: tuple[int, ...] | None = None) -> datetime:
    # some rows right at midnight and just before it: the day boundary must be exact
    day = rnd.choice(days) if days else rnd.randrange(DAYS)
    second = rnd.choice([0, 1, 86399, rnd.randrange(86400)])
    return T0 + timedelta(days=day, seconds=second)


def _trace(rnd: random.Random, tenant: str, i: int) -> dict[str, Any]:
    return {
        "tenant": tenant,
        "trace_id": f"tr{i}",
        # several recipients share a message id; some rows have none
        "message_id": None if rnd.random() < 0.1 else f"<m{i // 3}@x>",
        "sender_address": rnd.choice(_senders(rnd, tenant)),
        # an address with two '@' and one ending in '@' take the SQL's slow path to the part after the last '@'
        "recipient_address": rnd.choice(
            [f"r{i}@ext{i % 4}.example", f"r{i}@{tenant}.com", None, "undisclosed", f"r{i}@relay@Ext.Example", "x@"]
        ),
        "received_at": _when(rnd),
        "status": rnd.choice(["delivered", "failed"]),
        "from_ip": rnd.choice(["198.51.100.1", "198.51.100.2"]),
        "from_smtp_signin_ip": rnd.choice([True, False, None]),
    }


def _cs(rnd: random.Random, tenant: str, i: int) -> dict[str, Any]:
    return {
        "tenant": tenant,
        "occurred_at": _when(rnd, CS_DAYS),
        "sender_address": rnd.choice(_senders(rnd, tenant)),
        "sender_domain": rnd.choice([None, "Contoso.com", "b.example"]),
        "auth_method": rnd.choice(AUTH),
        "client_ip": rnd.choice(["192.0.2.1", "192.0.2.9", None]),
        "tls_version": rnd.choice(TLS),
        "message_count": rnd.choice([1, 1, 2, 5]),
        "message_id": f"<c{i}@x>",
    }


def _signin(rnd: random.Random, tenant: str, i: int) -> dict[str, Any]:
    upn = rnd.choice([*_senders(rnd, tenant)[:6], None])
    return {
        "tenant": tenant,
        "signin_id": f"s{i}",
        "created_at": _when(rnd),
        "user_principal_name": upn.lower() if upn else None,
        "ip_address": rnd.choice(["203.0.113.1", "203.0.113.2", "203.0.113.3", None]),
        "country": rnd.choice(["NL", "US", None]),
        "error_code": rnd.choice(CODES),
        "client_app_used": "Authenticated SMTP",
    }


TRACE_KEY = ("tenant", "trace_id")
CS_KEY = ("tenant", "occurred_at", "sender_address", "message_id")
SI_KEY = ("tenant", "signin_id")


def _write_everything(store: Store, seed: int) -> None:
    rnd = random.Random(seed)
    from connector.clock import FakeClock
    from connector.imports.loading import load_file_rows

    for tenant in TENANTS:
        traces = [_trace(rnd, tenant, i) for i in range(400)]
        cs_rows = [_cs(rnd, tenant, i) for i in range(250)]
        for row in traces[::37] + cs_rows[::29]:
            row["sender_address"] = NON_ASCII_SENDER
        signins = [_signin(rnd, tenant, i) for i in range(200)]
        # a sync: store transactions, several batches
        with store.transaction() as tx:
            upsert(tx, MessageTrace, traces[:250], key=TRACE_KEY, batch_size=60)
            upsert(tx, SignIn, signins[:150], key=SI_KEY, batch_size=50)
        # a group writer's savepoints, one of them rolled back
        with store.transaction() as tx:
            sp = tx.begin_nested()
            upsert(tx, MessageTrace, traces[250:320], key=TRACE_KEY)
            sp.commit()
            sp = tx.begin_nested()
            upsert(tx, MessageTrace, traces[320:330], key=TRACE_KEY)
            sp.rollback()
        # an overlapping re-sync: the same rows again, some changed (status, mark, message id)
        resent = []
        for row in traces[200:400]:
            changed = dict(row)
            if rnd.random() < 0.3:
                changed["from_smtp_signin_ip"] = rnd.choice([True, False])
                changed["status"] = "expanded"
            if rnd.random() < 0.1:
                changed["message_id"] = f"<late{row['trace_id']}@x>"
            if rnd.random() < 0.15:
                # corrected by Microsoft: another sender, another time (often another day)
                changed["sender_address"] = rnd.choice(_senders(rnd, tenant))
            if rnd.random() < 0.15:
                changed["received_at"] = _when(rnd)
            resent.append(changed)
        with store.transaction() as tx:
            upsert(tx, MessageTrace, resent, key=TRACE_KEY, batch_size=70)
        # an import (SmtpCSReport file): its own transaction through the import path
        load_file_rows(
            store,
            FakeClock(T0 + timedelta(days=20)),
            tenant=tenant,
            source="smtp_cs_report",
            path=__import__("pathlib").Path(f"{tenant}.csv"),
            sha256=f"{seed}{tenant}".ljust(64, "0"),
            model=SmtpCsReportRow,
            key=CS_KEY,
            rows=lambda rows=cs_rows[:200]: iter(rows),  # type: ignore[misc]
        )
        # the same report loaded again with corrections, plus new rows, on a bare connection (no store transaction)
        fixed = [dict(r, message_count=r["message_count"] + 1, tls_version="TLS1.0") for r in cs_rows[150:200]]
        with store.engine.begin() as conn:
            upsert(conn, SmtpCsReportRow, fixed + cs_rows[200:], key=CS_KEY, batch_size=40)
        # late sign-ins and changed outcomes
        late = [dict(r, error_code=rnd.choice(CODES)) for r in signins[100:150]] + signins[150:]
        for i, r in enumerate(late[:50]):
            if i % 4 == 0:
                late[i] = dict(r, created_at=_when(rnd))
            elif i % 4 == 1:
                upn = rnd.choice([*_senders(rnd, tenant)[:6], None])
                late[i] = dict(r, user_principal_name=upn.lower() if upn else None)
        with store.transaction() as tx:
            upsert(tx, SignIn, late, key=SI_KEY)
        # the sign-in-IP mark, an UPDATE outside the upsert
        from connector.sync.sources.message_trace import mark_signin_ips

        with store.transaction() as tx:
            for sender in _senders(rnd, tenant)[:4]:
                mark_signin_ips(tx, tenant, sender, T0, timedelta(hours=6))


def _oracle(store: Store) -> dict[str, dict[Any, dict[str, Any]]]:  # noqa: PLR0912
    """Every rollup, grouped from the raw rows in Python."""
    sender_day: dict[tuple[str, date, str], dict[str, Any]] = defaultdict(lambda: defaultdict(int))
    tls: dict[tuple[str, date, str, str, str], dict[str, Any]] = defaultdict(lambda: defaultdict(int))
    msgs: dict[tuple[str, date, str], set[str]] = defaultdict(set)
    ip_msgs: dict[tuple[str, date, str], set[str]] = defaultdict(set)
    ips: dict[tuple[str, date, str], set[str]] = defaultdict(set)
    countries: dict[tuple[str, date, str], set[str]] = defaultdict(set)
    hours: dict[tuple[Any, ...], list[Any]] = defaultdict(lambda: [0, set()])
    rdoms: dict[tuple[Any, ...], list[Any]] = defaultdict(lambda: [0, set()])
    origins: dict[tuple[Any, ...], dict[str, Any]] = {}
    with store.read() as conn:
        for r in conn.execute(sa.select(tr)):
            k = (r.tenant, r.received_at.astimezone(UTC).date(), r.sender_address)
            sender_day[k]["trace_rows"] += 1
            msgs[k].add(r.message_id or r.trace_id)
            if r.from_smtp_signin_ip:
                ip_msgs[k].add(r.message_id or r.trace_id)
            h = hours[(*k, r.received_at.astimezone(UTC).hour)]
            h[0] += 1
            h[1].add(r.message_id or r.trace_id)
            if domain_of(r.recipient_address) is not None:
                d = rdoms[(*k, domain_of(r.recipient_address))]
                d[0] += 1
                d[1].add(r.message_id or r.trace_id)
        for r in conn.execute(sa.select(cs)):
            k = (r.tenant, r.occurred_at.astimezone(UTC).date(), r.sender_address)
            row = sender_day[k]
            n = r.message_count
            row["cs_rows"] += 1
            row["cs_messages"] += n
            bucket = tls_bucket(r.tls_version)
            row["cs_tls_unknown" if bucket == "unknown" else f"cs_tls1{bucket[5]}"] += n
            row[f"cs_{auth_bucket(r.auth_method).lower()}".replace("cs_unknown", "cs_auth_unknown")] += n
            if r.sender_domain is not None:
                row["cs_file_domain"] = max(row.get("cs_file_domain") or "", r.sender_domain)
            if bucket in ("TLS1.0", "TLS1.1") and r.client_ip is not None:
                row["cs_legacy_client_ip"] = max(row.get("cs_legacy_client_ip") or "", r.client_ip)
            t = tls[(*k, bucket, auth_bucket(r.auth_method))]
            t["rows"] += 1
            t["messages"] += n
            if r.sender_domain is not None:
                t["cs_file_domain"] = max(t.get("cs_file_domain") or "", r.sender_domain)
        for r in conn.execute(sa.select(si)):
            k = (r.tenant, r.created_at.astimezone(UTC).date(), r.user_principal_name or "")
            row = sender_day[k]
            row["signin_rows"] += 1
            row["signins_ok"] += int(r.error_code == 0)
            row["signins_failed"] += int(r.error_code is not None and r.error_code != 0)
            row["signins_blocked"] += int(r.error_code in ru.BLOCKED_CODES)
            last = row.get("signin_last_at")
            row["signin_last_at"] = r.created_at if last is None or r.created_at > last else last
            if r.ip_address is not None:
                ips[k].add(r.ip_address)
            if r.country is not None:
                countries[k].add(r.country)
            if r.user_principal_name is not None:
                ok = (*k, r.ip_address or "", r.country or "", -1 if r.error_code is None else r.error_code)
                o = origins.setdefault(ok, {"rows": 0, "first_at": r.created_at, "last_at": r.created_at})
                o["rows"] += 1
                o["first_at"], o["last_at"] = min(o["first_at"], r.created_at), max(o["last_at"], r.created_at)
    out_sd: dict[Any, dict[str, Any]] = {}
    for k, row in sender_day.items():
        full = {c.name: 0 for c in ru.rsd.columns if c.name not in ("tenant", "utc_day", "sender_address")}
        full.update(dict.fromkeys(("cs_file_domain", "cs_legacy_client_ip", "signin_last_at")))
        full.update(row)
        full["sender_domain"] = domain_of(k[2])
        full["trace_messages"] = len(msgs[k])
        full["trace_signin_ip_messages"] = len(ip_msgs[k])
        full["signin_ips"] = len(ips[k])
        full["signin_countries"] = len(countries[k])
        out_sd[k] = full
    for (tenant, day, sender, hour), (_, ids) in hours.items():
        out_sd[(tenant, day, sender)]["trace_hour_mask"] |= 1 << hour
        out_sd[(tenant, day, sender)]["trace_hour_messages"] += len(ids)
    out_tls = {
        k: {
            "sender_domain": domain_of(k[2]),
            "cs_file_domain": v.get("cs_file_domain"),
            **{"rows": v["rows"], "messages": v["messages"]},
        }
        for k, v in tls.items()
    }
    days: dict[Any, dict[str, Any]] = defaultdict(lambda: defaultdict(int))
    senders: dict[Any, dict[str, Any]] = {}
    for (tenant, day, sender), row in out_sd.items():
        d = days[(tenant, day)]
        d["trace_rows"] += row["trace_rows"]
        d["cs_rows"] += row["cs_rows"]
        d["signin_rows"] += row["signin_rows"]
        d["senders"] += 1
        s = senders.setdefault(
            (tenant, sender),
            {
                "sender_domain": domain_of(sender),
                "trace_days": 0,
                "cs_days": 0,
                "signin_ok_days": 0,
                "first_day": day,
                "last_day": day,
            },
        )
        s["trace_days"] += int(row["trace_rows"] > 0)
        s["cs_days"] += int(row["cs_rows"] > 0)
        s["signin_ok_days"] += int(row["signins_ok"] > 0)
        s["first_day"], s["last_day"] = min(s["first_day"], day), max(s["last_day"], day)
    return {
        "rollup_domain_day": _domain_oracle(out_sd),
        "rollup_sender_month": _month_oracle(out_sd, days),
        "rollup_sender_week": _month_oracle(out_sd, days, ru.week_of),
        "rollup_sender_day": out_sd,
        "rollup_sender_day_tls": out_tls,
        "rollup_day": {k: dict(v) for k, v in days.items()},
        "rollup_sender": senders,
        "rollup_sender_hour": {k: {"rows": v[0], "messages": len(v[1])} for k, v in hours.items()},
        "rollup_sender_recipient_domain": {k: {"rows": v[0], "messages": len(v[1])} for k, v in rdoms.items()},
        "rollup_signin_origin": origins,
    }


def _month_oracle(
    sender_day: dict[Any, dict[str, Any]], days: dict[Any, dict[str, Any]], start_of: Any = ru.month_of
) -> dict[Any, dict[str, Any]]:
    """``rollup_sender_month`` (``rollup_sender_week`` with ``start_of`` a week's Monday) from the sender-day
    figures, in Python: the SmtpCSReport part over the sender's days with SmtpCSReport rows, the message-trace part
    over the days no sender has SmtpCSReport rows."""
    cs_cols = ("cs_messages", "cs_tls10", "cs_tls11", "cs_tls12", "cs_tls13", "cs_tls_unknown")
    cs_cols += ("cs_basic", "cs_oauth", "cs_auth_unknown")
    out: dict[Any, dict[str, Any]] = {}
    for (tenant, day, sender), row in sorted(sender_day.items()):
        m = out.setdefault(
            (tenant, start_of(day), sender),
            {
                "sender_domain": row["sender_domain"],
                **dict.fromkeys(("cs_days", *cs_cols, "trace_days", "trace_messages", "trace_ip_days"), 0),
                **dict.fromkeys(("trace_ip_messages", "signin_days", "signins_ok", "signins_failed"), 0),
                "signins_blocked": 0,
                "cs_file_domain": None,
                "cs_volume_domain": None,
                "signin_last_at": None,
                "last_active_day": None,
            },
        )

        def top(old: Any, new: Any) -> Any:
            return new if old is None or (new is not None and new > old) else old

        if row["cs_rows"] > 0:
            m["cs_days"] += 1
            for c in cs_cols:
                m[c] += row[c]
            m["cs_file_domain"] = top(m["cs_file_domain"], row["cs_file_domain"])
            file_domain = row["cs_file_domain"].lower() if row["cs_file_domain"] is not None else None
            own = row["sender_domain"]
            m["cs_volume_domain"] = top(m["cs_volume_domain"], own if own is not None else file_domain)
        if days[(tenant, day)]["cs_rows"] == 0:
            if row["trace_messages"] > 0:
                m["trace_days"] += 1
                m["trace_messages"] += row["trace_messages"]
            if row["trace_signin_ip_messages"] > 0:
                m["trace_ip_days"] += 1
                m["trace_ip_messages"] += row["trace_signin_ip_messages"]
        if row["signin_rows"] > 0:
            m["signin_days"] += 1
            for c in ("signins_ok", "signins_failed", "signins_blocked"):
                m[f"{c}"] += row[c]
            m["signin_last_at"] = top(m["signin_last_at"], row["signin_last_at"])
        if row["trace_messages"] > 0 or row["cs_messages"] > 0 or row["signins_ok"] > 0:
            m["last_active_day"] = top(m["last_active_day"], day)
    return out


def _domain_oracle(sender_day: dict[Any, dict[str, Any]]) -> dict[Any, dict[str, Any]]:
    """``rollup_domain_day`` from the sender-day figures, in Python."""
    out: dict[Any, dict[str, Any]] = {}

    def add(key: tuple[Any, ...], domain: str | None, messages: int, ip: int) -> None:
        row = out.setdefault((*key, int(domain is not None), domain or ""), dict.fromkeys(("senders", "messages"), 0))
        row["senders"] += 1
        row["messages"] += messages
        row["ip_messages"] = row.get("ip_messages", 0) + ip
        row["ip_senders"] = row.get("ip_senders", 0) + int(ip > 0)

    for (tenant, day, _), row in sender_day.items():
        own = row["sender_domain"]
        if row["cs_rows"] > 0 and own is not None:
            add((tenant, day, "cs"), own, row["cs_messages"], 0)
        elif row["cs_rows"] > 0:
            file_domain = row["cs_file_domain"].lower() if row["cs_file_domain"] is not None else None
            add((tenant, day, "cs_file"), file_domain, row["cs_messages"], 0)
        if row["trace_rows"] > 0:
            add((tenant, day, "trace"), own, row["trace_messages"], row["trace_signin_ip_messages"])
    return out


_KEYS = {
    "rollup_domain_day": ("tenant", "utc_day", "part", "has_domain", "domain"),
    "rollup_sender_month": ("tenant", "month", "sender_address"),
    "rollup_sender_week": ("tenant", "week", "sender_address"),
    "rollup_sender_day": ("tenant", "utc_day", "sender_address"),
    "rollup_sender_day_tls": ("tenant", "utc_day", "sender_address", "tls_bucket", "auth_bucket"),
    "rollup_day": ("tenant", "utc_day"),
    "rollup_sender": ("tenant", "sender_address"),
    "rollup_sender_hour": ("tenant", "utc_day", "sender_address", "hour"),
    "rollup_sender_recipient_domain": ("tenant", "utc_day", "sender_address", "recipient_domain"),
    "rollup_signin_origin": ("tenant", "utc_day", "user_principal_name", "ip_address", "country", "error_code"),
}


def _stored(store: Store) -> dict[str, dict[Any, dict[str, Any]]]:
    out: dict[str, dict[Any, dict[str, Any]]] = {}
    with store.read() as conn:
        for name, key in _KEYS.items():
            table = ru.rsd.metadata.tables[name]
            rows = {}
            for r in conn.execute(sa.select(table)):
                m = dict(r._mapping)
                k = tuple(m.pop(c) for c in key)
                m.pop("changed_at", None)
                if name == "rollup_day" and not (m["trace_rows"] or m["cs_rows"] or m["signin_rows"]):
                    continue
                rows[k] = m
            out[name] = rows
    return out


def _assert_equal(store: Store) -> None:
    want, got = _oracle(store), _stored(store)
    for name in _KEYS:
        assert set(got[name]) == set(want[name]), name
        for k, row in want[name].items():
            assert got[name][k] == row, (name, k)


@pytest.mark.parametrize("seed", [1, 7])
def test_rollups_equal_the_raw_rows_after_every_kind_of_write(store: Store, seed: int) -> None:
    _write_everything(store, seed)
    with store.read() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(ru.rsd)).scalar_one() > 100
    _assert_equal(store)


def test_rebuild_reproduces_the_maintained_rollups_and_repairs_damage(store: Store) -> None:
    _write_everything(store, 3)
    maintained = _stored(store)
    with store.engine.begin() as conn:
        conn.execute(ru.rsd.update().values(trace_messages=999))
        conn.execute(ru.rst.delete().where(ru.rst.c.tenant == "fabrikam"))
        conn.execute(ru.rsnd.delete())
    result = ru.rebuild(store.engine)
    assert result.tenants == sorted(TENANTS)
    assert _stored(store) == maintained
    _assert_equal(store)


def test_rebuild_of_one_tenant_and_range_leaves_the_rest(store: Store) -> None:
    _write_everything(store, 5)
    with store.engine.begin() as conn:
        conn.execute(ru.rsd.update().values(cs_messages=-1))
    ru.rebuild(
        store.engine, tenant="contoso", date_from=T0.date() + timedelta(days=2), date_to=T0.date() + timedelta(days=3)
    )
    stored = _stored(store)["rollup_sender_day"]
    want = _oracle(store)["rollup_sender_day"]
    inside = [k for k in stored if k[0] == "contoso" and 2 <= (k[1] - T0.date()).days <= 3]
    assert inside
    for k, row in stored.items():
        assert row["cs_messages"] == (want[k]["cs_messages"] if k in inside else -1), k


def test_deleted_rows_leave_the_rollups_when_their_keys_are_touched(store: Store) -> None:
    """A purge deletes raw rows and names their keys: the rollups lose exactly what was deleted."""
    _write_everything(store, 11)
    with store.transaction() as tx:
        gone = tx.execute(
            sa.select(tr.c.tenant, tr.c.received_at, tr.c.sender_address).where(tr.c.sender_address == "no-at-sign")
        ).all()
        tx.execute(tr.delete().where(tr.c.sender_address == "no-at-sign"))
        doomed = tx.execute(sa.select(si.c.tenant, si.c.created_at).where(si.c.user_principal_name.is_(None))).all()
        tx.execute(si.delete().where(si.c.user_principal_name.is_(None)))
        ru.touch(tx, "message_trace", {(t, at.astimezone(UTC).date(), s) for t, at, s in gone})
        ru.touch(tx, "signin", {(t, at.astimezone(UTC).date(), "") for t, at in doomed})
    assert gone
    assert doomed
    _assert_equal(store)


def test_an_smtp_cs_report_day_moves_every_senders_month_off_message_trace(store: Store) -> None:
    """An SmtpCSReport for one sender makes its day rest on SmtpCSReport for the whole tenant: another sender's
    message trace of that day leaves its month's message-trace part, though none of its own rows changed."""
    day = T0 + timedelta(days=4, hours=10)  # October 1st
    trace = [
        {"tenant": "contoso", "trace_id": f"t{i}", "message_id": f"<m{i}@x>", "sender_address": "printer@a.com",
         "received_at": day + timedelta(days=i % 2, minutes=i)}
        for i in range(6)
    ]  # fmt: skip
    with store.transaction() as tx:
        upsert(tx, MessageTrace, trace, key=TRACE_KEY)
    month = (T0 + timedelta(days=4)).date()
    where = sa.and_(ru.rsm.c.sender_address == "printer@a.com", ru.rsm.c.month == month)
    with store.read() as conn:
        assert conn.execute(sa.select(ru.rsm.c.trace_days, ru.rsm.c.trace_messages).where(where)).one() == (2, 6)
    report = {"tenant": "contoso", "occurred_at": day, "sender_address": "scanner@b.com", "message_id": "<r@x>",
              "message_count": 4, "tls_version": "TLS1.2", "auth_method": "Basic"}  # fmt: skip
    with store.transaction() as tx:
        upsert(tx, SmtpCsReportRow, [report], key=CS_KEY)
    with store.read() as conn:
        assert conn.execute(sa.select(ru.rsm.c.trace_days, ru.rsm.c.trace_messages).where(where)).one() == (1, 3)
    _assert_equal(store)


@pytest.mark.postgres
def test_concurrent_writers_of_one_sender_day_leave_exact_rollups(pg_url: str) -> None:
    """Two PostgreSQL transactions write rows of the same sender-day and commit at the same time: the rollup
    counts both (the recomputes are serialized per tenant until commit)."""
    import threading

    store = open_store(pg_url, busy_timeout_seconds=10)
    try:
        barrier = threading.Barrier(2)
        day = T0 + timedelta(hours=9)

        def writer(prefix: str) -> None:
            rows = [
                {"tenant": "contoso", "trace_id": f"{prefix}{i}", "message_id": f"<{prefix}{i}@x>",
                 "sender_address": "printer@contoso.com", "received_at": day + timedelta(seconds=i)}
                for i in range(50)
            ]  # fmt: skip
            with store.transaction() as tx:
                upsert(tx, MessageTrace, rows, key=TRACE_KEY)
                barrier.wait(timeout=30)

        threads = [threading.Thread(target=writer, args=(p,)) for p in ("a", "b")]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        _assert_equal(store)
        with store.read() as conn:
            assert conn.execute(sa.select(ru.rsd.c.trace_messages)).scalar_one() == 100
    finally:
        store.close()


def test_the_sqlite_sign_in_statements_spell_the_error_code_constants() -> None:
    """The fixed SQL text of the SQLite sign-in recompute carries NO_ERROR_CODE and BLOCKED_CODES as literals."""
    assert f"coalesce(code, {ru.NO_ERROR_CODE})" in ru._ORIGIN_WRITE
    assert f"code IN ({', '.join(str(c) for c in ru.BLOCKED_CODES)})" in ru._SIGNIN_SENDER_DAY_WRITE
