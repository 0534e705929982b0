"""Run every rule for one tenant over the stored data and save the findings (docs/insights.md).

Incremental: the rules read the rollups of their window (baseline and judged days), never raw rows beyond a few
sample ids, so a run costs the same with 90 or 365 days stored. Each run records what it judged (the window, the
rules' settings and the newest change of a day in the window, from ``rollup_day.changed_at``); a run that finds
the same (no day of its window changed since, same window and settings) stops there: its findings are saved
already.
"""

import hashlib
import json
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from connector.config import InsightsSettings
from connector.insights import queries as q
from connector.insights.model import Candidate, day_start
from connector.insights.rules_behaviour import external_domain_candidates, off_hours_candidates, tls_candidates
from connector.insights.rules_signins import brute_force_candidates, origin_candidates, spray_candidates
from connector.insights.rules_volume import volume_candidates
from connector.insights.store import SaveResult, save_findings
from connector.store import runs
from connector.store.readside.sql import Dialect, rday
from connector.store.store import Store

__all__ = ["DetectionResult", "correlate", "detect", "run_detection"]

log = logging.getLogger(__name__)


#: the watermark (source, key) holding what the last run judged
STATE_SOURCE, STATE_KEY = "insights", "judged"


@dataclass
class DetectionResult:
    tenant: str
    candidates: list[Candidate]
    saved: SaveResult
    #: nothing changed in the window since the last run: the rules did not run
    skipped: bool = False


def _window(cfg: InsightsSettings, tenant: str, now: datetime) -> q.Window:
    judged_start = day_start(now.date() - timedelta(days=cfg.lookback_days - 1))
    return q.Window(tenant, judged_start - timedelta(days=cfg.baseline_days), judged_start, now + timedelta(seconds=1))


def correlate(cfg: InsightsSettings, candidates: list[Candidate]) -> None:
    """A new origin shortly before or during a volume spike of the same account: both become high."""
    hours = timedelta(hours=cfg.correlation_hours)
    spikes = [c for c in candidates if c.kind in ("volume_spike", "first_time_sender")]
    for origin in (c for c in candidates if c.kind == "new_origin"):
        for spike in spikes:
            if spike.account == origin.account and spike.window_start - hours <= origin.window_start < spike.window_end:
                for c, other in ((origin, spike), (spike, origin)):
                    c.severity = "high"
                    c.evidence["correlated_with"] = {
                        "kind": other.kind,
                        "window_start": other.window_start.isoformat(),
                        "window_end": other.window_end.isoformat(),
                    }
                    c.summary += f"; together with a {other.kind.replace('_', ' ')}"


def detect(store: Store, cfg: InsightsSettings, tenant: str, now: datetime) -> list[Candidate]:
    """Every rule's candidates for ``tenant`` as of ``now`` (read-only)."""
    d = Dialect(store.dialect)
    w = _window(cfg, tenant, now)
    judged = [w.judged_start.date() + timedelta(days=k) for k in range(cfg.lookback_days)]
    out: list[Candidate] = []
    with store.read() as conn:
        first_trace, first_signin = q.earliest(conn, tenant)
        if first_trace is not None:
            out += volume_candidates(cfg, q.volume_daily(conn, d, w), first_trace.date(), judged)
            if (w.judged_start - first_trace).days >= cfg.min_history_days:
                out += off_hours_candidates(cfg, *q.hourly(conn, d, w))
                out += external_domain_candidates(cfg, *q.external_domains(conn, d, w))
        out += tls_candidates(cfg, q.tls_daily(conn, d, w), judged)
        if first_signin is not None:
            origins = q.origins(conn, w)
            if (w.judged_start - first_signin).days >= cfg.min_history_days:
                out += origin_candidates(cfg, origins, w.judged_start)
            fails = q.failures(conn, d, w, cfg.failure_codes)
            out += spray_candidates(cfg, fails, origins)
            out += brute_force_candidates(cfg, fails, origins)
        correlate(cfg, out)
        for c in out:
            _add_samples(conn, tenant, c)
    return out


def _add_samples(conn: Connection, tenant: str, c: Candidate) -> None:
    if c.kind in ("volume_spike", "first_time_sender", "off_hours_sending", "external_domains"):
        c.evidence["sample_message_ids"] = q.sample_ids(conn, tenant, c.account, c.window_start, c.window_end)
    elif c.kind in ("new_origin", "brute_force"):
        ips = list(c.evidence.get("new_ips", {})) or list(c.evidence.get("ips", []))
        c.evidence["sample_signin_ids"] = q.sample_signins(
            conn, tenant, [c.account], ips, start=c.window_start, end=c.window_end
        )
    elif c.kind == "password_spray":
        c.evidence["sample_signin_ids"] = q.sample_signins(
            conn, tenant, [], [c.account], start=c.window_start, end=c.window_end
        )


def _judged_state(conn: Connection, cfg: InsightsSettings, w: q.Window) -> str:
    """What a run over ``w`` judges: the window, the settings, and the newest change of a day in the window."""
    changed = conn.execute(
        sa.select(sa.func.max(rday.c.changed_at)).where(
            rday.c.tenant == w.tenant, rday.c.utc_day.between(w.baseline_start.date(), w.end.date())
        )
    ).scalar()
    settings = hashlib.sha256(cfg.model_dump_json().encode()).hexdigest()[:16]
    return json.dumps(
        {
            "baseline_start": w.baseline_start.date().isoformat(),
            "judged_start": w.judged_start.date().isoformat(),
            "settings": settings,
            "changed_at": changed.isoformat() if changed is not None else None,
        },
        sort_keys=True,
    )


def run_detection(
    store: Store, cfg: InsightsSettings, tenant: str, now: datetime, *, channels: tuple[str, ...] = ()
) -> DetectionResult:
    """Detect and save (unless nothing changed since the last run); returns what was found and what changed.
    Raises StorageError."""
    w = _window(cfg, tenant, now)
    with store.read() as conn:
        state = _judged_state(conn, cfg, w)
        last = runs.get_watermark(conn, tenant, STATE_SOURCE, STATE_KEY)
    if state == last:
        log.info("insights %s: no day of the window changed since the last run", tenant)
        return DetectionResult(tenant, [], SaveResult(), skipped=True)
    candidates = detect(store, cfg, tenant, now)
    with store.transaction() as conn:
        saved = save_findings(conn, tenant, candidates, now=now, channels=channels)
        runs.set_watermark(conn, tenant, STATE_SOURCE, STATE_KEY, state, now=now)
    log.info("insights %s: %d findings (%d new, %d updated)", tenant, len(candidates), saved.inserted, saved.updated)
    return DetectionResult(tenant, candidates, saved)
