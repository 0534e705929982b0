"""Volume spike and first-time sender: a day's messages against the sender's own robust baseline."""

from collections import defaultdict
from collections.abc import Iterable
from datetime import date, timedelta

from connector.config import InsightsSettings
from connector.insights.actions import action_for
from connector.insights.model import Candidate, day_end, day_start
from connector.insights.stats import MAD_SCALE, median_mad

__all__ = ["volume_candidates"]

#: a spike this many times the median and this many times spike_min_excess above it is high on its own
_HIGH_RATIO = 10.0
_HIGH_EXCESS_FACTOR = 5


def _series(days: dict[date, int], first: date, last: date) -> list[int]:
    return [days.get(first + timedelta(days=k), 0) for k in range((last - first).days + 1)]


def _judge(
    cfg: InsightsSettings, history_from: date, sender: str, days: dict[date, int], judged: list[date]
) -> list[tuple[date, str, dict[str, float]]]:
    hits: list[tuple[date, str, dict[str, float]]] = []
    for d in judged:
        x = days.get(d, 0)
        first = max(history_from, d - timedelta(days=cfg.baseline_days))
        if (d - history_from).days < cfg.min_history_days or x == 0:
            continue
        base = _series(days, first, d - timedelta(days=1))
        med, mad = median_mad(base)
        facts = {"messages": x, "baseline_median": med, "baseline_mad": mad, "baseline_days": len(base)}
        if sum(base) == 0:
            if x >= cfg.first_time_min_messages:
                hits.append((d, "first_time_sender", facts))
            continue
        excess = x - med
        if (
            excess > cfg.spike_mad_factor * MAD_SCALE * mad
            and excess >= cfg.spike_min_excess
            and x >= cfg.spike_min_ratio * med
        ):
            hits.append((d, "volume_spike", facts))
    return hits


def _episodes(hits: list[tuple[date, str, dict[str, float]]]) -> list[list[tuple[date, str, dict[str, float]]]]:
    out: list[list[tuple[date, str, dict[str, float]]]] = []
    for hit in sorted(hits, key=lambda h: h[0]):
        if out and out[-1][-1][1] == hit[1] and (hit[0] - out[-1][-1][0]).days <= 1:
            out[-1].append(hit)
        else:
            out.append([hit])
    return out


def volume_candidates(
    cfg: InsightsSettings, rows: Iterable[tuple[str, date, int]], history_from: date, judged: list[date]
) -> list[Candidate]:
    """One candidate per sender and run of consecutive anomalous days."""
    per_sender: dict[str, dict[date, int]] = defaultdict(dict)
    for sender, d, n in rows:
        per_sender[sender][d] = n
    out: list[Candidate] = []
    for sender, days in sorted(per_sender.items()):
        for ep in _episodes(_judge(cfg, history_from, sender, days, judged)):
            kind = ep[0][1]
            peak = max(ep, key=lambda h: h[2]["messages"])[2]
            med = peak["baseline_median"]
            ratio = peak["messages"] / med if med else None
            high = (
                ratio is not None
                and ratio >= _HIGH_RATIO
                and peak["messages"] - med >= _HIGH_EXCESS_FACTOR * cfg.spike_min_excess
            )
            total = int(sum(h[2]["messages"] for h in ep))
            if kind == "volume_spike":
                summary = (
                    f"{sender} sent {int(peak['messages'])} messages in a day against a baseline median of "
                    f"{med:g} (MAD {peak['baseline_mad']:g}); {total} messages over {len(ep)} day(s)"
                )
            else:
                summary = (
                    f"{sender} sent {int(peak['messages'])} messages in a day without any in the previous "
                    f"{int(peak['baseline_days'])} days"
                )
            out.append(
                Candidate(
                    kind=kind,
                    severity="high" if high else "medium",
                    account=sender,
                    window_start=day_start(ep[0][0]),
                    window_end=day_end(ep[-1][0]),
                    summary=summary,
                    action=action_for(kind, sender),
                    evidence={
                        "messages": total,
                        "days": {h[0].isoformat(): h[2] for h in ep},
                        "report": {"sender": sender, "from": ep[0][0].isoformat(), "to": ep[-1][0].isoformat()},
                    },
                )
            )
    return out
