"""Ground truth: what a correct sync of the simulated tenant must end up with.

Computed from the same generator the endpoints serve from, with the same visibility rules (usage lag, sign-in
retention, message-trace retention, SmtpCSReport latency), so a test can compare a database to it exactly.
``python -m connector.simulator.truth --tenant contoso`` prints a JSON summary.
"""

import argparse
import json
from collections import Counter, defaultdict
from datetime import date, datetime, timedelta
from typing import Any

from connector.clock import FakeClock
from connector.simulator.app import Simulator
from connector.simulator.directory import SimDirectory, SimTenant
from connector.simulator.population import AccountKind, Message, Population

__all__ = ["GroundTruth", "main"]


class GroundTruth:
    """Facts about one simulated tenant as of the simulator's current time."""

    def __init__(self, simulator: Simulator, tenant: str | SimTenant) -> None:
        self.sim = simulator
        self.tenant = simulator.directory.tenant(tenant) if isinstance(tenant, str) else tenant
        self.pop: Population = simulator.population(self.tenant)

    @property
    def now(self) -> datetime:
        return self.sim.clock.now()

    @property
    def refresh_date(self) -> date:
        return self.now.date() - timedelta(days=self.sim.settings.usage_lag_days)

    def _days(self, first: date, last: date) -> list[date]:
        first = max(first, self.pop.start)
        return [first + timedelta(days=k) for k in range((last - first).days + 1)]

    def smtp_messages(self, start: datetime, end: datetime) -> list[Message]:
        """Every SMTP AUTH message received in ``[start, min(end, now)]``."""
        end = min(end, self.now)
        out: list[Message] = []
        for day in self._days(start.date(), end.date()):
            for a in self.pop.senders:
                if self.pop.smtp_count(a.index, day):
                    out.extend(
                        m for m in self.pop.account_day(a.index, day)[0] if m.smtp_auth and start <= m.received <= end
                    )
        return out

    def messages_per_sender_day(self, first: date, last: date) -> dict[str, dict[date, int]]:
        """SMTP AUTH messages per sender per UTC day (days up to yesterday are complete)."""
        out: dict[str, dict[date, int]] = defaultdict(dict)
        today = self.now.date()
        for day in self._days(first, min(last, today)):
            for a in self.pop.senders:
                if day < today:
                    n = self.pop.smtp_count(a.index, day)
                else:
                    n = sum(1 for m in self.pop.account_day(a.index, day)[0] if m.smtp_auth and m.received <= self.now)
                if n:
                    out[a.upn][day] = n
        return dict(out)

    def tls_counts(self, start: datetime, end: datetime) -> dict[str, dict[str, int]]:
        counts: dict[str, Counter[str]] = defaultdict(Counter)
        for m in self.smtp_messages(start, end):
            counts[m.sender][m.tls_version or ""] += 1
        return {k: dict(v) for k, v in counts.items()}

    def auth_methods(self) -> dict[str, str]:
        return {a.upn: a.auth_method for a in self.pop.senders if a.auth_method is not None}

    def signin_ids(self, start: datetime | None = None, end: datetime | None = None) -> dict[str, list[str]]:
        """Authenticated SMTP sign-in ids per UPN, as served (retention applied)."""
        lower = self.now - timedelta(days=self.sim.settings.signin_retention_days)
        lower = max(lower, start) if start else lower
        upper = min(self.now, end) if end else self.now
        out: dict[str, list[str]] = defaultdict(list)
        for day in self._days(lower.date(), upper.date()):
            for s in self.pop.day_signins(day):
                if lower <= s.created <= upper:
                    out[s.account.upn].append(s.id)
        return dict(out)

    def trace_message_ids(self, start: datetime, end: datetime) -> dict[str, set[str]]:
        """Distinct messageIds per sender in message trace (all mail, SMTP AUTH or not)."""
        end = min(end, self.now)
        out: dict[str, set[str]] = defaultdict(set)
        for day in self._days(start.date(), end.date()):
            for m in self.pop.day_messages(day):
                if start <= m.received <= end:
                    out[m.sender].add(m.message_id)
        return dict(out)

    def trace_row_count(self, start: datetime, end: datetime) -> int:
        end = min(end, self.now)
        return sum(
            len(m.recipients)
            for day in self._days(start.date(), end.date())
            for m in self.pop.day_messages(day)
            if start <= m.received <= end
        )

    def daily_smtp_users(self, first: date, last: date) -> dict[date, int]:
        """The usage report's daily SMTP App user counts."""
        return {
            d: sum(1 for a in self.pop.senders if self.pop.smtp_count(a.index, d))
            for d in self._days(first, min(last, self.refresh_date))
        }

    def smtp_users(self, period_days: int = 7) -> set[str]:
        """UPNs with a non-empty SMTP App cell in the usage report for the period ending at the refresh date."""
        first = self.refresh_date - timedelta(days=period_days - 1)
        return {a.upn for a in self.pop.senders if self.pop.smtp_days(a.index, first, self.refresh_date)}

    def d7_count(self) -> int:
        return len(self.smtp_users(7))

    def compromised_accounts(self) -> dict[str, date]:
        """UPN of each account behaving like a compromised one, and the first day of its volume spike (none
        when the population runs without attack scenarios)."""
        if not self.pop.scenarios:
            return {}
        return {a.upn: self.pop._spike_from for a in self.pop.senders if a.kind is AccountKind.COMPROMISED}

    def spray_window(self) -> tuple[datetime, datetime] | None:
        """First and last failed sign-in of the password spray (None without attack scenarios)."""
        if not self.pop.scenarios:
            return None
        times = [s.created for day in self.pop._spray_days for s in self.pop._spray(day)]
        return min(times), max(times)

    def spray_targets(self) -> set[str]:
        """UPNs the password spray tried."""
        if not self.pop.scenarios:
            return set()
        return {s.account.upn for day in self.pop._spray_days for s in self.pop._spray(day)}

    def summary(self) -> dict[str, Any]:
        now = self.now
        week = now - timedelta(days=7)
        per_day = self.messages_per_sender_day(week.date(), now.date())
        return {
            "tenant": self.tenant.name,
            "tenant_id": self.tenant.tenant_id,
            "now": now.isoformat(),
            "users": self.pop.users,
            "report_refresh_date": self.refresh_date.isoformat(),
            "d7_smtp_users": self.d7_count(),
            "daily_smtp_users": {d.isoformat(): n for d, n in self.daily_smtp_users(week.date(), now.date()).items()},
            "auth_methods": self.auth_methods(),
            "messages_per_sender_day_last_7_days": {
                s: {d.isoformat(): n for d, n in days.items()} for s, days in sorted(per_day.items())
            },
            "tls_counts_last_7_days": self.tls_counts(week, now),
            "signins_per_user": {u: len(ids) for u, ids in sorted(self.signin_ids().items())},
        }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m connector.simulator.truth", description=__doc__)
    parser.add_argument("--tenant", default="contoso")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--users", type=int, default=200)
    parser.add_argument("--now", help="ISO 8601 instant the simulator starts at (default: now)")
    args = parser.parse_args(argv)
    clock = FakeClock(datetime.fromisoformat(args.now)) if args.now else None
    sim = Simulator(SimDirectory.default(seed=args.seed, users=args.users), clock=clock)
    print(json.dumps(GroundTruth(sim, args.tenant).summary(), indent=2, sort_keys=True))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
