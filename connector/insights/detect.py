"""Run every rule for one tenant over the stored data and save the findings (docs/insights.md)."""

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.engine import Connection

from connector.config import InsightsSettings
from connector.insights import queries as q
from connector.insights.model import Candidate, day_start
from connector.insights.rules_behaviour import external_domain_candidates, off_hours_candidates, tls_candidates
from connector.insights.rules_signins import brute_force_candidates, origin_candidates, spray_candidates
from connector.insights.rules_volume import volume_candidates
from connector.insights.store import SaveResult, save_findings
from connector.store.readside.sql import Dialect
from connector.store.store import Store

__all__ = ["DetectionResult", "correlate", "detect", "run_detection"]

log = logging.getLogger(__name__)


@dataclass
class DetectionResult:
    tenant: str
    candidates: list[Candidate]
    saved: SaveResult


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


def run_detection(
    store: Store, cfg: InsightsSettings, tenant: str, now: datetime, *, channels: tuple[str, ...] = ()
) -> DetectionResult:
    """Detect and save; returns what was found and what changed. Raises StorageError."""
    candidates = detect(store, cfg, tenant, now)
    with store.transaction() as conn:
        saved = save_findings(conn, tenant, candidates, now=now, channels=channels)
    log.info("insights %s: %d findings (%d new, %d updated)", tenant, len(candidates), saved.inserted, saved.updated)
    return DetectionResult(tenant, candidates, saved)
