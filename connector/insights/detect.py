"""Run every rule for one tenant over the stored data and save the findings (docs/insights.md).

Incremental by changed days: the rules read the rollups of their window (baseline and judged days), never raw
rows beyond a few sample ids, so a run costs the same with 90 or 365 days stored. Each run records what it judged
(the rules' settings and the newest change of a stored day, ``rollup_day.changed_at``). The next run judges only
from the first day of the judged window that changed since (a nightly sync: its last day or two), with the baseline
those days need before it; with no day changed it stops after one read (its findings are saved already). A change
in a baseline day, other settings or no earlier run judge the whole window.
"""

import hashlib
import json
import logging
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

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


def _window(cfg: InsightsSettings, tenant: str, now: datetime, first_changed: date | None = None) -> q.Window:
    """The judged days (the lookback, or from ``first_changed`` when that is later) and the baseline before them."""
    judged_start = day_start(now.date() - timedelta(days=cfg.lookback_days - 1))
    if first_changed is not None and day_start(first_changed) > judged_start:
        judged_start = day_start(min(first_changed, now.date()))
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


def detect(
    store: Store, cfg: InsightsSettings, tenant: str, now: datetime, *, first_changed: date | None = None
) -> list[Candidate]:
    """Every rule's candidates for ``tenant`` as of ``now`` (read-only), judging the lookback window's days (from
    ``first_changed`` on when that is later)."""
    d = Dialect(store.dialect)
    w = _window(cfg, tenant, now, first_changed)
    judged = [w.judged_start.date() + timedelta(days=k) for k in range((now.date() - w.judged_start.date()).days + 1)]
    out: list[Candidate] = []
    with store.read() as conn:
        first_trace, first_signin = q.earliest(conn, tenant)
        days = q.sender_days(conn, w)
        if first_trace is not None:
            out += volume_candidates(cfg, q.volume_daily(days), first_trace.date(), judged)
            if (w.judged_start - first_trace).days >= cfg.min_history_days:
                out += off_hours_candidates(cfg, *q.hourly(conn, w, days))
                out += external_domain_candidates(cfg, *q.external_domains(conn, w, days))
        out += tls_candidates(cfg, q.tls_daily(days), judged)
        if first_signin is not None:
            origins = q.origins(conn, w)
            if (w.judged_start - first_signin).days >= cfg.min_history_days:
                out += origin_candidates(cfg, origins, w.judged_start)
            fails = q.failures(conn, d, w, cfg.failure_codes)
            out += spray_candidates(cfg, fails, origins)
            out += brute_force_candidates(cfg, fails, origins)
        correlate(cfg, out)
        traced = [c for c in out if c.kind in _TRACE_SAMPLED]
        samples = q.sample_ids_many(conn, tenant, [(c.account, c.window_start, c.window_end) for c in traced])
        for c in out:
            if c.kind in _TRACE_SAMPLED:
                c.evidence["sample_message_ids"] = samples[(c.account, c.window_start, c.window_end)]
            else:
                _add_samples(conn, tenant, c)
    return out


#: candidate kinds whose evidence holds sample message-trace ids
_TRACE_SAMPLED = ("volume_spike", "first_time_sender", "off_hours_sending", "external_domains")


def _add_samples(conn: Connection, tenant: str, c: Candidate) -> None:
    if c.kind in ("new_origin", "brute_force"):
        ips = list(c.evidence.get("new_ips", {})) or list(c.evidence.get("ips", []))
        c.evidence["sample_signin_ids"] = q.sample_signins(
            conn, tenant, [c.account], ips, start=c.window_start, end=c.window_end
        )
    elif c.kind == "password_spray":
        c.evidence["sample_signin_ids"] = q.sample_signins(
            conn, tenant, [], [c.account], start=c.window_start, end=c.window_end
        )


def _settings_hash(cfg: InsightsSettings) -> str:
    return hashlib.sha256(cfg.model_dump_json().encode()).hexdigest()[:16]


def _state(cfg: InsightsSettings, changed: datetime | None) -> str:
    return json.dumps(
        {"settings": _settings_hash(cfg), "changed_at": changed.isoformat() if changed is not None else None},
        sort_keys=True,
    )


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def _changed_days(
    conn: Connection, cfg: InsightsSettings, w: q.Window, last: str | None
) -> tuple[datetime | None, list[date] | None]:
    """The newest change of a stored day of the tenant, and the days of ``w`` changed since the run that stored
    ``last`` (None: judge the whole window: no earlier run, other settings)."""
    newest = conn.execute(sa.select(sa.func.max(rday.c.changed_at)).where(rday.c.tenant == w.tenant)).scalar()
    newest = _aware(newest) if newest is not None else None
    try:
        before = json.loads(last) if last else None
    except ValueError:
        before = None
    if not isinstance(before, dict) or before.get("settings") != _settings_hash(cfg) or "changed_at" not in before:
        return newest, None
    since = datetime.fromisoformat(before["changed_at"]) if before["changed_at"] else None
    q_days = sa.select(rday.c.utc_day).where(
        rday.c.tenant == w.tenant, rday.c.utc_day.between(w.baseline_start.date(), w.end.date())
    )
    if since is not None:
        q_days = q_days.where(rday.c.changed_at > _aware(since))
    days = sorted(_as_date(v) for v in conn.execute(q_days).scalars())
    return newest, days


def _as_date(value: object) -> date:
    return value if isinstance(value, date) else date.fromisoformat(str(value))


def run_detection(
    store: Store, cfg: InsightsSettings, tenant: str, now: datetime, *, channels: tuple[str, ...] = ()
) -> DetectionResult:
    """Detect over the days changed since the last run and save (nothing changed: stop); returns what was found
    and what changed. Raises StorageError."""
    w = _window(cfg, tenant, now)
    with store.read() as conn:
        last = runs.get_watermark(conn, tenant, STATE_SOURCE, STATE_KEY)
        newest, changed = _changed_days(conn, cfg, w, last)
    state = _state(cfg, newest)
    first_changed: date | None = None
    if changed is not None:
        if not changed:
            log.info("insights %s: no day of the window changed since the last run", tenant)
            if state != last:
                with store.transaction() as conn:
                    runs.set_watermark(conn, tenant, STATE_SOURCE, STATE_KEY, state, now=now)
            return DetectionResult(tenant, [], SaveResult(), skipped=True)
        first_changed = changed[0]
        if first_changed < w.judged_start.date():
            first_changed = None  # a baseline day changed: the whole window is judged again
    candidates = detect(store, cfg, tenant, now, first_changed=first_changed)
    with store.transaction() as conn:
        saved = save_findings(conn, tenant, candidates, now=now, channels=channels)
        runs.set_watermark(conn, tenant, STATE_SOURCE, STATE_KEY, state, now=now)
    log.info("insights %s: %d findings (%d new, %d updated)", tenant, len(candidates), saved.inserted, saved.updated)
    return DetectionResult(tenant, candidates, saved)
