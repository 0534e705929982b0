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


#: statements built once: a run may save hundreds of candidates
_EXISTING = (
    sa.select(ft)
    .where(
        ft.c.tenant == sa.bindparam("tenant"),
        ft.c.kind == sa.bindparam("kind"),
        ft.c.account == sa.bindparam("account"),
        ft.c.window_start <= sa.bindparam("latest", type_=ft.c.window_start.type),
        ft.c.window_end >= sa.bindparam("earliest", type_=ft.c.window_end.type),
    )
    .order_by(ft.c.window_start)
    .limit(1)
)
_INSERT = ft.insert().returning(ft.c.id)
_UPDATE = ft.update().where(ft.c.id == sa.bindparam("finding_id"))


def _existing(conn: Connection, tenant: str, c: Candidate) -> Row[Any] | None:
    params = {
        "tenant": tenant,
        "kind": c.kind,
        "account": c.account,
        "latest": c.window_end + MERGE_GAP,
        "earliest": c.window_start - MERGE_GAP,
    }
    return conn.execute(_EXISTING, params).first()


def save_findings(
    conn: Connection, tenant: str, candidates: Sequence[Candidate], *, now: datetime, channels: Sequence[str]
) -> SaveResult:
    """Insert or merge each candidate (in window order); queue a notification per channel for each finding that
    became high severity and is not acknowledged."""
    result = SaveResult()
    for c in sorted(candidates, key=lambda c: (c.kind, c.account, c.window_start)):
        row = _existing(conn, tenant, c)
        if row is None:
            fid = conn.execute(
                _INSERT,
                {
                    "tenant": tenant,
                    "kind": c.kind,
                    "account": c.account,
                    "window_start": c.window_start,
                    "window_end": c.window_end,
                    "severity": c.severity,
                    "summary": c.summary,
                    "evidence": json.dumps(c.evidence, sort_keys=True, default=str),
                    "action": c.action,
                    "first_seen_at": now,
                    "last_seen_at": now,
                },
            ).scalar_one()
            result.inserted += 1
            if c.severity == "high":
                result.new_high.append(int(fid))
            continue
        severity = max_severity(row.severity, c.severity)
        evidence = json.dumps(_merge_evidence(json.loads(row.evidence), c.evidence), sort_keys=True, default=str)
        # the key (window_start) of a stored finding never moves: an earlier candidate only adds evidence
        values: dict[str, Any] = {
            "window_end": max(row.window_end, c.window_end),
            "severity": severity,
            "summary": c.summary,
            "evidence": evidence,
            "action": c.action,
        }
        changed = any(getattr(row, k) != v for k, v in values.items())
        values["last_seen_at"] = now
        conn.execute(_UPDATE, {"finding_id": row.id, **values})
        if changed:
            result.updated += 1
        else:
            result.unchanged += 1
        if severity == "high" and severity_rank(row.severity) < severity_rank("high") and row.acknowledged_at is None:
            result.new_high.append(int(row.id))
    for fid in result.new_high:
        for channel in channels:
            exists = conn.execute(sa.select(nt.c.id).where(nt.c.finding_id == fid, nt.c.channel == channel)).first()
            if exists is None:
                conn.execute(
                    nt.insert().values(finding_id=fid, channel=channel, status="pending", attempts=0, queued_at=now)
                )
    return result


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
