"""Findings in the database: merged across runs on a stable key, listed, acknowledged; notifications queued.

A candidate joins a stored finding of the same tenant, kind and account whose window overlaps it or ends less
than a day before it starts: the stored ``window_start`` stays the key, the window grows, the severity never
drops, ``acknowledged_at`` is never touched. So a re-run finds the same rows, and an incident seen over several
runs stays one finding.
"""

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Row

from connector.insights.model import Candidate, max_severity, severity_rank
from models import Finding, FindingNotification

__all__ = ["SaveResult", "acknowledge", "list_findings", "save_findings"]

ft: sa.Table = Finding.__table__  # type: ignore[attr-defined]
nt: sa.Table = FindingNotification.__table__  # type: ignore[attr-defined]

#: a candidate starting less than this after a stored finding ended continues it
MERGE_GAP = timedelta(days=1)


@dataclass
class SaveResult:
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    #: ids of findings that became high severity in this run (inserted or raised)
    new_high: list[int] = field(default_factory=list)


def _merge_evidence(old: dict[str, Any], new: dict[str, Any]) -> dict[str, Any]:
    merged = {**old, **new}
    if isinstance(old.get("days"), dict) and isinstance(new.get("days"), dict):
        merged["days"] = dict(sorted({**old["days"], **new["days"]}.items()))
    return merged


#: statements built once
_INSERT = ft.insert().returning(ft.c.id, sort_by_parameter_order=True)
_UPDATE = ft.update().where(ft.c.id == sa.bindparam("finding_id"))
_COLUMNS = ("window_end", "severity", "summary", "evidence", "action")


@dataclass(eq=False)
class _Stored:
    """A finding as this run leaves it: read from the database (``id`` set) or inserted by this run (``id`` None
    until the inserts are written)."""

    window_start: datetime
    window_end: datetime
    severity: str
    summary: str
    evidence: str
    action: str
    acknowledged_at: datetime | None = None
    id: int | None = None
    #: matched by a candidate of this run: written back (``last_seen_at``)
    seen: bool = False


def _stored(conn: Connection, tenant: str, candidates: Sequence[Candidate]) -> dict[tuple[str, str], list[_Stored]]:
    """The stored findings a candidate of this run can join, per (kind, account), in ``window_start`` order: one
    read for the run instead of one per candidate."""
    accounts = {(c.kind, c.account) for c in candidates}
    q = sa.select(ft).where(
        ft.c.tenant == tenant,
        ft.c.kind.in_(sorted({kind for kind, _ in accounts})),
        ft.c.window_start <= max(c.window_end for c in candidates) + MERGE_GAP,
        ft.c.window_end >= min(c.window_start for c in candidates) - MERGE_GAP,
    )
    out: dict[tuple[str, str], list[_Stored]] = {}
    for r in conn.execute(q.order_by(ft.c.window_start, ft.c.id)):
        if (r.kind, r.account) in accounts:
            out.setdefault((r.kind, r.account), []).append(
                _Stored(
                    r.window_start,
                    r.window_end,
                    r.severity,
                    r.summary,
                    r.evidence,
                    r.action,
                    acknowledged_at=r.acknowledged_at,
                    id=int(r.id),
                )
            )
    return out


def _join(found: list[_Stored], c: Candidate) -> _Stored | None:
    """The finding ``c`` continues: the earliest whose window overlaps it or ends less than MERGE_GAP before it."""
    latest, earliest = c.window_end + MERGE_GAP, c.window_start - MERGE_GAP
    return next((f for f in found if f.window_start <= latest and f.window_end >= earliest), None)


def _merge(row: _Stored, c: Candidate) -> tuple[bool, bool]:
    """Grow ``row`` by the candidate continuing it; whether a value changed, and whether it became high."""
    severity = max_severity(row.severity, c.severity)
    # the key (window_start) of a stored finding never moves: an earlier candidate only adds evidence
    values: dict[str, Any] = {
        "window_end": max(row.window_end, c.window_end),
        "severity": severity,
        "summary": c.summary,
        "evidence": json.dumps(_merge_evidence(json.loads(row.evidence), c.evidence), sort_keys=True, default=str),
        "action": c.action,
    }
    changed = any(getattr(row, k) != v for k, v in values.items())
    raised = severity == "high" and severity_rank(row.severity) < severity_rank("high")
    for k, v in values.items():
        setattr(row, k, v)
    row.seen = True
    return changed, raised


def save_findings(
    conn: Connection, tenant: str, candidates: Sequence[Candidate], *, now: datetime, channels: Sequence[str]
) -> SaveResult:
    """Insert or merge each candidate (in window order); queue a notification per channel for each finding that
    became high severity and is not acknowledged.

    The candidates are merged in memory, in the same order and with the same rule as one statement per candidate
    would (a candidate may continue a finding an earlier candidate of this run made or grew), then written: one
    read, one batch of inserts, one batch of updates."""
    result = SaveResult()
    if not candidates:
        return result
    stored = _stored(conn, tenant, candidates)
    #: in the order the candidates made them (their ids follow it)
    inserted: list[tuple[str, str, _Stored]] = []
    new_high: list[_Stored] = []
    for c in sorted(candidates, key=lambda c: (c.kind, c.account, c.window_start)):
        found = stored.setdefault((c.kind, c.account), [])
        row = _join(found, c)
        if row is None:
            evidence = json.dumps(c.evidence, sort_keys=True, default=str)
            new = _Stored(c.window_start, c.window_end, c.severity, c.summary, evidence, c.action)
            found.append(new)
            found.sort(key=lambda f: f.window_start)
            inserted.append((c.kind, c.account, new))
            result.inserted += 1
            if c.severity == "high":
                new_high.append(new)
            continue
        changed, raised = _merge(row, c)
        if changed:
            result.updated += 1
        else:
            result.unchanged += 1
        if raised and row.acknowledged_at is None:
            new_high.append(row)
    _write(conn, tenant, stored, inserted, now=now)
    result.new_high = [int(f.id) for f in new_high if f.id is not None]
    _queue_notifications(conn, result.new_high, channels, now=now)
    return result


def _write(
    conn: Connection,
    tenant: str,
    stored: dict[tuple[str, str], list[_Stored]],
    inserted: list[tuple[str, str, _Stored]],
    *,
    now: datetime,
) -> None:
    """Insert this run's new findings (in candidate order, so their ids follow it; each ``id`` set) and write back
    the stored ones a candidate joined."""
    updates = [
        {"finding_id": f.id, **{k: getattr(f, k) for k in _COLUMNS}, "last_seen_at": now}
        for found in stored.values()
        for f in found
        if f.seen and f.id is not None
    ]
    if inserted:
        rows = [
            {"tenant": tenant, "kind": kind, "account": account, "window_start": f.window_start,
             **{k: getattr(f, k) for k in _COLUMNS}, "first_seen_at": now, "last_seen_at": now}
            for kind, account, f in inserted
        ]  # fmt: skip
        ids = conn.execute(_INSERT, rows).scalars().all()
        for (_, _, f), fid in zip(inserted, ids, strict=True):
            f.id = int(fid)
    if updates:
        conn.execute(_UPDATE, updates)


def _queue_notifications(
    conn: Connection, finding_ids: Sequence[int], channels: Sequence[str], *, now: datetime
) -> None:
    for fid in finding_ids:
        for channel in channels:
            exists = conn.execute(sa.select(nt.c.id).where(nt.c.finding_id == fid, nt.c.channel == channel)).first()
            if exists is None:
                conn.execute(
                    nt.insert().values(finding_id=fid, channel=channel, status="pending", attempts=0, queued_at=now)
                )


def list_findings(
    conn: Connection,
    *,
    tenant: str | None = None,
    min_severity: str | None = None,
    include_acknowledged: bool = False,
) -> list[Row[Any]]:
    """Findings, most severe and most recent first."""
    clauses = []
    if tenant:
        clauses.append(ft.c.tenant == tenant)
    if min_severity:
        allowed = [s for s in ("low", "medium", "high") if severity_rank(s) >= severity_rank(min_severity)]
        clauses.append(ft.c.severity.in_(allowed))
    if not include_acknowledged:
        clauses.append(ft.c.acknowledged_at.is_(None))
    rank = sa.case((ft.c.severity == "high", 2), (ft.c.severity == "medium", 1), else_=0)
    q = sa.select(ft).where(*clauses).order_by(rank.desc(), ft.c.window_start.desc(), ft.c.id)
    return list(conn.execute(q))


def acknowledge(conn: Connection, finding_id: int, *, note: str | None, now: datetime) -> bool:
    """Mark a finding acknowledged (kept across re-runs); pending notifications of it are skipped. False when
    there is no such finding."""
    done = conn.execute(
        ft.update()
        .where(ft.c.id == finding_id)
        .values(acknowledged_at=sa.func.coalesce(ft.c.acknowledged_at, now), ack_note=note)
    ).rowcount
    conn.execute(
        nt.update()
        .where(nt.c.finding_id == finding_id, nt.c.status.in_(["pending", "failed"]))
        .values(status="skipped", error="acknowledged before delivery")
    )
    return bool(done)
