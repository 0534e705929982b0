"""Behaviour rules from message trace and SmtpCSReport: off-hours sending, a device account mailing many external
domains, a TLS downgrade."""

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from datetime import date

from connector.config import InsightsSettings
from connector.insights.actions import action_for
from connector.insights.model import Candidate, day_end, day_start
from connector.insights.stats import longest_quiet_block

__all__ = ["HourProfile", "external_domain_candidates", "hour_profiles", "off_hours_candidates", "tls_candidates"]


def _candidate(kind: str, severity: str, account: str, d: date, *, summary: str, facts: dict[str, object]) -> Candidate:
    return Candidate(
        kind=kind,
        severity=severity,
        account=account,
        window_start=day_start(d),
        window_end=day_end(d),
        summary=summary,
        action=action_for(kind, account),
        evidence={
            "days": {d.isoformat(): facts},
            "report": {"sender": account, "from": d.isoformat(), "to": d.isoformat()},
        },
    )


#: a sender's baseline hours: the UTC hours it sent in, its messages, its messages on Saturdays and Sundays
HourProfile = tuple[frozenset[int], int, int]


def hour_profiles(rows: Iterable[tuple[str, int, int, int]]) -> dict[str, HourProfile]:
    """Hour profiles from (sender, hour, weekend, messages) rows."""
    hours: dict[str, set[int]] = defaultdict(set)
    total: dict[str, int] = defaultdict(int)
    weekend: dict[str, int] = defaultdict(int)
    for sender, hour, we, n in rows:
        hours[sender].add(hour)
        total[sender] += n
        weekend[sender] += n if we else 0
    return {s: (frozenset(h), total[s], weekend[s]) for s, h in hours.items()}


def off_hours_candidates(
    cfg: InsightsSettings,
    baseline: Mapping[str, HourProfile],
    judged: Sequence[tuple[str, date, int, int, int]],
) -> list[Candidate]:
    """Messages in an account's quiet hours (a block of UTC hours it never sent in), or on a weekend when its
    baseline has no weekend message."""
    total = {s: p[1] for s, p in baseline.items()}
    weekend = {s: p[2] for s, p in baseline.items()}
    quiet = {
        s: longest_quiet_block(set(p[0])) for s, p in baseline.items() if p[1] >= cfg.off_hours_min_baseline_messages
    }
    quiet = {s: q for s, q in quiet.items() if len(q) >= cfg.off_hours_quiet_hours}
    off: dict[tuple[str, date], int] = defaultdict(int)
    for sender, d, hour, we, n in judged:
        q = quiet.get(sender)
        if q is not None and (hour in q or (we and weekend[sender] == 0)):
            off[(sender, d)] += n
    out = []
    for (sender, d), n in sorted(off.items()):
        if n < cfg.off_hours_min_messages:
            continue
        hrs = quiet[sender]
        span = f"{hrs[0]:02d}:00-{(hrs[-1] + 1) % 24:02d}:00 UTC"
        weekends = " or on weekends" if weekend[sender] == 0 else ""
        summary = f"{sender} sent {n} messages outside its usual hours (it never sends {span}{weekends})"
        facts: dict[str, object] = {"off_hours_messages": n, "quiet_hours_utc": hrs, "baseline_messages": total[sender]}
        out.append(
            _candidate(
                "off_hours_sending",
                "medium" if n >= 3 * cfg.off_hours_min_messages else "low",
                sender,
                d,
                summary=summary,
                facts=facts,
            )
        )
    return out


def external_domain_candidates(
    cfg: InsightsSettings, baseline: dict[str, tuple[int, int]], judged: Sequence[tuple[str, date, int]]
) -> list[Candidate]:
    """An account that mailed at most a couple of external domains (a device) mailing many in one day."""
    out = []
    for sender, d, n in sorted(judged):
        base = baseline.get(sender)
        if base is None or base[0] == 0 or base[1] > cfg.device_max_baseline_domains or n < cfg.external_domains_min:
            continue
        summary = f"{sender} mailed {n} distinct external domains in a day (at most {base[1]} in its baseline)"
        facts: dict[str, object] = {
            "external_domains": n,
            "baseline_external_domains": base[1],
            "baseline_messages": base[0],
        }
        out.append(_candidate("external_domains", "medium", sender, d, summary=summary, facts=facts))
    return out


def tls_candidates(
    cfg: InsightsSettings, rows: Sequence[tuple[str, date, int, int, str | None]], judged: list[date]
) -> list[Candidate]:
    """A sender whose baseline was (nearly) all TLS 1.2+ with a day mostly on TLS 1.0/1.1 (SmtpCSReport)."""
    judged_set = set(judged)
    base: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for sender, d, n, legacy, _ in rows:
        if d not in judged_set:
            base[sender][0] += n
            base[sender][1] += legacy
    out = []
    for sender, d, n, legacy, ip in sorted(rows, key=lambda r: (r[0], r[1])):
        b = base.get(sender)
        if d not in judged_set or b is None or b[0] == 0 or n < cfg.tls_min_messages:
            continue
        if b[1] / b[0] > cfg.tls_baseline_legacy_max_share or legacy / n < cfg.tls_legacy_share:
            continue
        summary = (
            f"{sender}: {legacy} of {n} messages over TLS 1.0/1.1 in a day, against "
            f"{100 * b[1] / b[0]:.0f}% of {b[0]} in its baseline"
        )
        facts: dict[str, object] = {
            "messages": n,
            "legacy_tls_messages": legacy,
            "baseline_messages": b[0],
            "baseline_legacy_tls_messages": b[1],
            "legacy_client_ip": ip,
        }
        out.append(_candidate("tls_downgrade", "medium", sender, d, summary=summary, facts=facts))
    return out
