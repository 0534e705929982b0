"""What one report covers: tenant, date range, filters, formats, and how sending volume is counted."""

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from connector.config import ARTIFACT_FORMATS, GRANULARITIES, Settings
from connector.errors import ConfigError

__all__ = [
    "DAILY_MAX_DAYS",
    "GRANULARITIES",
    "MAX_DATE",
    "MIN_DATE",
    "ReportParams",
    "check_date",
    "parse_date",
    "parse_formats",
    "parse_granularity",
]

_DOMAIN = re.compile(r"^[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)+$")


#: the dates a report or a query may name: far enough apart for any real mail data, near enough that date
#: arithmetic (a default range, a day's end, a week's start) never leaves Python's or the databases' range
MIN_DATE, MAX_DATE = date(2000, 1, 1), date(2999, 12, 31)


def check_date(value: date, option: str) -> date:
    """``value`` if within MIN_DATE..MAX_DATE. Raises ConfigError naming the option."""
    if not MIN_DATE <= value <= MAX_DATE:
        raise ConfigError(
            f"{value.isoformat()} is out of range: use a date from {MIN_DATE.isoformat()} to {MAX_DATE.isoformat()}",
            key=option,
        )
    return value


def parse_date(value: str, option: str) -> date:
    """An ISO date (``2026-11-20``) from MIN_DATE to MAX_DATE. Raises ConfigError naming the option."""
    try:
        parsed = date.fromisoformat(value.strip())
    except ValueError:
        raise ConfigError(f"{value[:40]!r} is not a date: use YYYY-MM-DD, e.g. 2026-11-20", key=option) from None
    return check_date(parsed, option)


#: ``granularity = "auto"``: a range of up to this many days gets a row per sender per day, a longer one a row per
#: sender per calendar month
DAILY_MAX_DAYS = 92


def parse_granularity(value: str, option: str = "--granularity") -> str:
    """``day``, ``week``, ``month`` or ``auto`` (any case). Raises ConfigError naming the option."""
    name = value.strip().lower()
    if name not in GRANULARITIES:
        raise ConfigError(f"unknown granularity {value[:20]!r}: choose from {', '.join(GRANULARITIES)}", key=option)
    return name


def parse_formats(values: Iterable[str]) -> tuple[str, ...]:
    """``html,csv`` (comma-separated and/or repeated) → ordered distinct formats. Raises ConfigError."""
    out: list[str] = []
    for value in values:
        for part in value.split(","):
            name = part.strip().lower()
            if not name:
                continue
            if name not in ARTIFACT_FORMATS:
                raise ConfigError(f"unknown format {name!r}: choose from {', '.join(ARTIFACT_FORMATS)}", key="--format")
            if name not in out:
                out.append(name)
    if not out:
        raise ConfigError(f"no format given: choose from {', '.join(ARTIFACT_FORMATS)}", key="--format")
    return tuple(out)


@dataclass(frozen=True)
class ReportParams:
    """A validated report request. Dates are UTC days, both ends included."""

    tenant: str
    date_from: date
    date_to: date
    domains: tuple[str, ...] = ()
    senders: tuple[str, ...] = ()
    formats: tuple[str, ...] = ARTIFACT_FORMATS
    #: message-trace volume counts only rows from the sender's Authenticated SMTP sign-in IPs
    trace_signin_ip_only: bool = False
    html_max_rows: int = 5000
    #: the period of a ``sending_volume_by_sender`` row: day, week, month, or auto (day up to DAILY_MAX_DAYS days)
    granularity: str = "auto"

    @classmethod
    def build(
        cls,
        settings: Settings,
        *,
        tenant: str,
        date_from: date,
        date_to: date,
        domains: Sequence[str] = (),
        senders: Sequence[str] = (),
        formats: Sequence[str] | None = None,
        trace_signin_ip_only: bool | None = None,
        granularity: str | None = None,
        today: date | None = None,
    ) -> "ReportParams":
        """Check the request against the configuration. Raises ConfigError (unknown tenant, bad range, filter)."""
        settings.tenant(tenant)
        check_date(date_from, "--from")
        check_date(date_to, "--to")
        if date_to < date_from:
            raise ConfigError(f"{date_to.isoformat()} is before --from {date_from.isoformat()}: swap them", key="--to")
        days = (date_to - date_from).days + 1
        if days > settings.report.max_range_days:
            raise ConfigError(
                f"the range covers {days} days, more than report.max_range_days = {settings.report.max_range_days}: "
                "narrow it or raise the setting",
                key="--from",
            )
        today = today or datetime.now(UTC).date()
        if date_from > today:
            raise ConfigError(f"{date_from.isoformat()} is in the future (today is {today})", key="--from")
        clean_domains = tuple(sorted({d.strip().lower().lstrip("@") for d in domains if d.strip()}))
        for d in clean_domains:
            if not _DOMAIN.match(d):
                raise ConfigError(f"{d!r} is not a domain name (e.g. contoso.com)", key="--domain")
        clean_senders = tuple(sorted({s.strip().lower() for s in senders if s.strip()}))
        for s in clean_senders:
            if "@" not in s:
                raise ConfigError(f"{s!r} is not a sender address (e.g. printer@contoso.com)", key="--sender")
        return cls(
            tenant=tenant,
            date_from=date_from,
            date_to=date_to,
            domains=clean_domains,
            senders=clean_senders,
            formats=tuple(formats) if formats else tuple(settings.report.formats),
            trace_signin_ip_only=(
                settings.report.trace_signin_ip_only if trace_signin_ip_only is None else trace_signin_ip_only
            ),
            html_max_rows=settings.report.html_max_rows,
            granularity=parse_granularity(granularity) if granularity is not None else settings.report.granularity,
        )

    @property
    def days(self) -> int:
        """Days of the range, both ends included."""
        return (self.date_to - self.date_from).days + 1

    @property
    def sender_period(self) -> str:
        """The period of a ``sending_volume_by_sender`` row for this range: ``day``, ``week`` or ``month``."""
        if self.granularity != "auto":
            return self.granularity
        return "day" if self.days <= DAILY_MAX_DAYS else "month"

    @property
    def start(self) -> datetime:
        """First instant of the range (UTC midnight of ``date_from``)."""
        return datetime.combine(self.date_from, time(), UTC)

    @property
    def end(self) -> datetime:
        """First instant after the range (UTC midnight after ``date_to``)."""
        return datetime.combine(self.date_to + timedelta(days=1), time(), UTC)

    def with_range(self, date_from: date, date_to: date) -> "ReportParams":
        return ReportParams(
            tenant=self.tenant,
            date_from=date_from,
            date_to=date_to,
            domains=self.domains,
            senders=self.senders,
            formats=self.formats,
            trace_signin_ip_only=self.trace_signin_ip_only,
            html_max_rows=self.html_max_rows,
            granularity=self.granularity,
        )

    def as_json(self) -> dict[str, object]:
        return {
            "tenant": self.tenant,
            "from": self.date_from.isoformat(),
            "to": self.date_to.isoformat(),
            "domains": list(self.domains),
            "senders": list(self.senders),
            "formats": list(self.formats),
            "trace_signin_ip_only": self.trace_signin_ip_only,
            "granularity": self.granularity,
        }
