"""The findings section: unusual SMTP AUTH activity detected after each sync (see ``connector.insights``) whose
window overlaps the report's range, most severe first."""

from typing import Any

import sqlalchemy as sa
from sqlalchemy.sql import Select

from connector.store.readside.params import ReportParams
from connector.store.readside.sql import Dialect, sender_filter
from models import Finding

__all__ = ["findings_in_range"]

_f: sa.Table = Finding.__table__  # type: ignore[attr-defined]


def findings_in_range(d: Dialect, params: ReportParams) -> Select[Any]:
    """``findings``: id, severity, kind, account, window, summary, action, acknowledgement, first/last seen."""
    rank = sa.case((_f.c.severity == "high", 0), (_f.c.severity == "medium", 1), else_=2)
    return (
        sa.select(
            _f.c.id,
            _f.c.severity,
            _f.c.kind,
            _f.c.account,
            _f.c.window_start,
            _f.c.window_end,
            _f.c.summary,
            _f.c.action,
            _f.c.acknowledged_at,
            _f.c.first_seen_at,
            _f.c.last_seen_at,
        )
        .where(
            _f.c.tenant == params.tenant,
            _f.c.window_start < params.end,
            _f.c.window_end >= params.start,
            # a finding about a source across accounts (a spray from one IP) has no sender to filter on
            *sender_filter(params, _f.c.account, d.domain(_f.c.account)),
        )
        .order_by(rank, _f.c.window_start.desc(), _f.c.account)
    )
