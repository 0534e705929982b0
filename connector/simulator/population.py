"""Seeded synthetic mail population of one tenant, and the ground truth every endpoint is derived from.

Nothing is stored in bulk: every record is regenerated on demand from ``Random(f"{seed}:{account}:{day}")``,
so
the same seed gives the same data across endpoints and runs, and a tenant of 300,000 users with millions of
messages fits in a few megabytes. A few small caches keep hot days cheap.

Definitions the endpoints share:

- An **SMTP AUTH message** is a :class:`Message` with ``smtp_auth`` true; its ``auth_method`` is Basic or
OAuth.
- **Sign-ins**: every Basic SMTP AUTH submission opens its own SMTP session and produces exactly one
successful
  "Authenticated SMTP" sign-in (``Message.signin_id``). OAuth submissions produce none (they are not legacy
  auth).
  Failed sign-ins come from disabled accounts that keep trying and from a password spray.
- **Usage report**: an account's ``SMTP App`` cell is non-empty when it sent at least one SMTP AUTH message
  (Basic or OAuth) in the period; the daily SMTP user count is the number of accounts that did so that day.
- **Message trace**: one row per (message, recipient), SMTP AUTH and other mail alike (the senders also send
from
  Outlook, from other IP addresses), plus background mail of ordinary users.
"""

import functools
import hashlib
import random
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum

__all__ = ["Account", "AccountKind", "Message", "Population", "SignIn", "Site"]


class AccountKind(StrEnum):
    MAILBOX = "mailbox"
    PRINTER = "printer"
    SCANNER = "scanner"
    LOB_BASIC = "lob_basic"
    LOB_OAUTH = "lob_oauth"
    OAUTH_APP = "oauth_app"
    COMPROMISED = "compromised"
    DISABLED = "disabled"
    UNUSED = "unused"


@dataclass(frozen=True, slots=True)
class Site:
    ip: str
    city: str
    state: str
    country: str
    lat: float
    lon: float


_OFFICES = (
    Site("198.51.100.10", "Seattle", "Washington", "US", 47.61, -122.33),
    Site("198.51.100.20", "Chicago", "Illinois", "US", 41.88, -87.63),
    Site("198.51.100.30", "London", "England", "GB", 51.51, -0.13),
    Site("198.51.100.40", "Berlin", "Berlin", "DE", 52.52, 13.40),
    Site("198.51.100.50", "Sydney", "New South Wales", "AU", -33.87, 151.21),
)
_ATTACKERS = (
    Site("203.0.113.201", "Lagos", "Lagos", "NG", 6.45, 3.39),
    Site("203.0.113.202", "Sao Paulo", "Sao Paulo", "BR", -23.55, -46.63),
    Site("203.0.113.203", "Hanoi", "Hanoi", "VN", 21.03, 105.85),
)
_SPRAY = Site("203.0.113.250", "Moscow", "Moscow", "RU", 55.76, 37.62)

_FIRST = [
    "adele",
    "alex",
    "allan",
    "bianca",
    "christie",
    "debra",
    "diego",
    "emily",
    "enrico",
    "grady",
    "henrietta",
    "irvin",
    "isaiah",
    "johanna",
    "joni",
    "lee",
    "lidia",
    "lynne",
    "megan",
    "miriam",
    "nestor",
    "patti",
    "pradeep",
    "raul",
    "sofia",
    "tomas",
    "uma",
    "victor",
    "wendy",
    "yolanda",
]
_LAST = [
    "vance",
    "wilber",
    "deyoung",
    "pincher",
    "cline",
    "berger",
    "siciliani",
    "braun",
    "cattaneo",
    "archie",
    "mueller",
    "sauer",
    "langer",
    "lambert",
    "sherman",
    "gu",
    "holt",
    "zrinyi",
    "bowen",
    "graham",
    "wilke",
    "fernandez",
    "gupta",
    "carter",
    "ramos",
    "novak",
    "king",
    "chen",
    "wright",
    "ortiz",
]

_CIPHERS = {
    "TLS1.0": "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA",
    "TLS1.1": "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA",
    "TLS1.2": "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384",
    "TLS1.3": "TLS_AES_256_GCM_SHA384",
}
_DEVICE_NAMES = {
    AccountKind.PRINTER: "printer",
    AccountKind.SCANNER: "scanner",
    AccountKind.LOB_BASIC: "erp-notify",
    AccountKind.LOB_OAUTH: "crm-alerts",
    AccountKind.OAUTH_APP: "noreply",
    AccountKind.COMPROMISED: "",
    AccountKind.DISABLED: "old-copier",
    AccountKind.UNUSED: "fax-relay",
}
#: the mix of SMTP AUTH accounts after the fixed special ones (repeats cyclically)
_MIX = (
    AccountKind.PRINTER,
    AccountKind.SCANNER,
    AccountKind.LOB_BASIC,
    AccountKind.PRINTER,
    AccountKind.LOB_OAUTH,
    AccountKind.SCANNER,
    AccountKind.OAUTH_APP,
    AccountKind.PRINTER,
)
_SPECIAL = (
    AccountKind.COMPROMISED,
    AccountKind.COMPROMISED,
    AccountKind.DISABLED,
    AccountKind.UNUSED,
    AccountKind.UNUSED,
)
_SMTP_KINDS = frozenset(
    {
        AccountKind.PRINTER,
        AccountKind.SCANNER,
        AccountKind.LOB_BASIC,
        AccountKind.LOB_OAUTH,
        AccountKind.OAUTH_APP,
        AccountKind.COMPROMISED,
    }
)


@dataclass(frozen=True, slots=True)
class Account:
    index: int
    upn: str
    display_name: str
    user_id: str
    kind: AccountKind
    domain: str
    enabled: bool
    #: Basic or OAuth for SMTP AUTH senders, None for everyone else
    auth_method: str | None
    site: Site
    #: ((version, weight), ...) for the TLS versions this client negotiates
    tls: tuple[tuple[str, float], ...]
    #: mean SMTP AUTH messages per active day
    rate: float
    #: mean messages per day sent from Outlook (not SMTP AUTH)
    other_rate: float
    weekdays_only: bool
    recipients: tuple[str, ...]
    #: Get-CASMailbox SmtpClientAuthenticationDisabled: True off, False on, None inherits the org setting
    smtp_auth_disabled: bool | None

    @property
    def is_smtp_sender(self) -> bool:
        return self.kind in _SMTP_KINDS


@dataclass(frozen=True, slots=True)
class Message:
    received: datetime
    sender: str
    message_id: str
    recipients: tuple[str, ...]
    smtp_auth: bool
    auth_method: str | None
    client_ip: str
    tls_version: str | None
    tls_cipher: str | None
    size: int
    subject: str
    #: the Authenticated SMTP sign-in this submission produced (Basic only)
    signin_id: str | None
    status: str = "Delivered"

    @property
    def domain(self) -> str:
        return self.sender.rsplit("@", 1)[1]

    def trace_id(self, recipient: str) -> str:
        digest = hashlib.md5(f"{self.message_id}|{recipient}".encode(), usedforsecurity=False).digest()
        return str(uuid.UUID(bytes=digest, version=4))


@dataclass(frozen=True, slots=True)
class SignIn:
    id: str
    created: datetime
    account: Account
    site: Site
    error_code: int
    failure_reason: str
    correlation_id: str


_FAILURES = {
    0: "Other.",
    50126: "Error validating credentials due to invalid username or password.",
    50057: "User account is disabled. The account has been disabled by an administrator.",
}


def _guid(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def _unit(*parts: object) -> float:
    digest = hashlib.blake2b(":".join(str(p) for p in parts).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64


class Population:
    """The synthetic accounts and mail of one tenant.

    ``users`` accounts in total, of which ``smtp_share`` (at least a dozen) send through SMTP AUTH; history
    starts
    ``days`` before ``now``. ``volume`` scales every sender's message rate (benchmarks raise it). ``scenarios``
    False leaves out the attacks (the compromised accounts' spike and the password spray): a quiet tenant.
    """

    def __init__(
        self,
        seed: int,
        *,
        users: int = 200,
        days: int = 90,
        now: datetime | None = None,
        domains: tuple[str, ...] = ("contoso.com",),
        smtp_share: float = 0.04,
        volume: float = 1.0,
        background_rate: float = 0.05,
        spray_targets: int = 60,
        scenarios: bool = True,
    ) -> None:
        if users < 20:
            raise ValueError("a population needs at least 20 users")
        self.seed = seed
        self.users = users
        self.days = days
        self.anchor = (now or datetime.now(UTC)).astimezone(UTC)
        self.start = self.anchor.date() - timedelta(days=days)
        self.domains = domains
        self.volume = volume
        self.background_rate = background_rate
        self.n_senders = min(users // 2, max(12, round(users * smtp_share)))
        self._spray_targets = min(spray_targets, users)
        self._spray_days = (self.anchor.date() - timedelta(days=6), self.anchor.date() - timedelta(days=5))
        self._spike_from = self.anchor.date() - timedelta(days=2)
        self.scenarios = scenarios
        self._senders = [self._make_account(i) for i in range(self.n_senders)]

    # ----------------------------------------------------------------- accounts

    def account(self, index: int) -> Account:
        if index < self.n_senders:
            return self._senders[index]
        if not 0 <= index < self.users:
            raise IndexError(index)
        return self._make_account(index)

    def accounts(self) -> Iterator[Account]:
        for i in range(self.users):
            yield self.account(i)

    @property
    def senders(self) -> list[Account]:
        """Accounts that have SMTP AUTH turned on (senders, plus disabled and unused ones)."""
        return list(self._senders)

    @functools.cached_property
    def _by_upn(self) -> dict[str, Account]:
        return {a.upn: a for a in self._senders}

    def find(self, upn: str) -> Account | None:
        """An SMTP AUTH account by UPN (ordinary mailboxes are not indexed)."""
        return self._by_upn.get(upn.lower())

    def _kind(self, index: int) -> AccountKind:
        if index >= self.n_senders:
            return AccountKind.MAILBOX
        if index < len(_SPECIAL):
            return _SPECIAL[index]
        return _MIX[(index - len(_SPECIAL)) % len(_MIX)]

    def _make_account(self, index: int) -> Account:
        rng = random.Random(f"{self.seed}:account:{index}")
        kind = self._kind(index)
        domain = self.domains[index % len(self.domains)] if kind is not AccountKind.MAILBOX else self.domains[0]
        first, last = rng.choice(_FIRST), rng.choice(_LAST)
        if kind in (AccountKind.MAILBOX, AccountKind.COMPROMISED):
            local = f"{first}.{last}{index}"
            display = f"{first.title()} {last.title()}"
        else:
            local = f"{_DEVICE_NAMES[kind]}-{index:03d}"
            display = f"{_DEVICE_NAMES[kind].replace('-', ' ').title()} {index:03d}"
        site = _OFFICES[index % len(_OFFICES)]
        tls: tuple[tuple[str, float], ...] = (("TLS1.2", 1.0),)
        rate, other, weekdays = 0.0, 0.0, False
        auth: str | None = "Basic"
        if kind in (AccountKind.PRINTER, AccountKind.SCANNER):
            legacy = rng.random() < 0.3
            tls = (("TLS1.0", 0.7), ("TLS1.1", 0.3)) if legacy else (("TLS1.2", 0.95), ("TLS1.1", 0.05))
            rate, weekdays = rng.uniform(3, 25), True
        elif kind is AccountKind.LOB_BASIC:
            rate, other = rng.uniform(10, 60), rng.uniform(0.5, 3)
        elif kind in (AccountKind.LOB_OAUTH, AccountKind.OAUTH_APP):
            auth = "OAuth"
            tls = (("TLS1.2", 0.6), ("TLS1.3", 0.4))
            rate, other = rng.uniform(10, 60), (rng.uniform(0.5, 2) if kind is AccountKind.LOB_OAUTH else 0.0)
            site = Site(f"203.0.113.{10 + index % 150}", site.city, site.state, site.country, site.lat, site.lon)
        elif kind is AccountKind.COMPROMISED:
            rate, other = rng.uniform(1, 4), rng.uniform(3, 8)
        elif kind in (AccountKind.DISABLED, AccountKind.UNUSED):
            auth = None
        else:
            auth = None
        pool = self._recipient_pool(rng, kind)
        if kind is AccountKind.MAILBOX:
            smtp_disabled: bool | None = True if rng.random() < 0.05 else None
        elif kind is AccountKind.DISABLED:
            smtp_disabled = None
        else:
            smtp_disabled = False
        return Account(
            index=index,
            upn=f"{local}@{domain}".lower(),
            display_name=display,
            user_id=str(uuid.UUID(int=rng.getrandbits(128), version=4)),
            kind=kind,
            domain=domain,
            enabled=kind is not AccountKind.DISABLED,
            auth_method=auth if kind in _SMTP_KINDS else None,
            site=site,
            tls=tls,
            rate=rate * self.volume,
            other_rate=other * self.volume,
            weekdays_only=weekdays,
            recipients=tuple(dict.fromkeys(pool)),
            smtp_auth_disabled=smtp_disabled,
        )

    def _recipient_pool(self, rng: random.Random, kind: AccountKind) -> list[str]:
        """Printers and scanners mail a few colleagues; applications mail customers and a couple of colleagues.
        Ordinary mailboxes get none: their background mail picks recipients per message."""
        if kind is AccountKind.MAILBOX:
            return [f"customer{rng.randrange(10_000)}@example.net", f"partner{rng.randrange(1_000)}@example.net"]
        colleagues = [self._mailbox_upn(rng.randrange(self.n_senders, self.users)) for _ in range(rng.randint(1, 6))]
        if kind in (AccountKind.PRINTER, AccountKind.SCANNER):
            return colleagues
        return [f"customer{rng.randrange(10_000)}@example.net" for _ in range(rng.randint(3, 12))] + colleagues[:2]

    def _mailbox_upn(self, index: int) -> str:
        rng = random.Random(f"{self.seed}:account:{index}")
        first, last = rng.choice(_FIRST), rng.choice(_LAST)
        return f"{first}.{last}{index}@{self.domains[0]}".lower()

    # ----------------------------------------------------------------- per (account, day)

    def _active(self, account: Account, day: date) -> bool:
        return day >= self.start and not (account.weekdays_only and day.weekday() >= 5)

    @functools.lru_cache(maxsize=200_000)  # noqa: B019 (bounded; the population lives as long as its simulator)
    def smtp_count(self, index: int, day: date) -> int:
        """SMTP AUTH messages account ``index`` submitted on ``day`` (the whole UTC day)."""
        account = self.account(index)
        if not account.is_smtp_sender or not self._active(account, day):
            return 0
        rng = random.Random(f"{self.seed}:{account.upn}:{day.isoformat()}")
        n = max(0, round(rng.gauss(account.rate, account.rate * 0.3)))
        if account.kind is AccountKind.COMPROMISED and self.scenarios and day >= self._spike_from:
            n += round(40 * max(1.0, self.volume) * (1 + rng.random()))
        return n

    def account_day(self, index: int, day: date) -> tuple[list[Message], list[SignIn]]:
        """Every message account ``index`` sent on ``day`` (sorted by time) and its failed sign-ins."""
        account = self.account(index)
        if account.kind is AccountKind.MAILBOX or not self._active(account, day):
            return [], []
        n_smtp = self.smtp_count(index, day)
        rng = random.Random(f"{self.seed}:{account.upn}:{day.isoformat()}:detail")
        base = datetime.combine(day, time(), UTC)
        business = account.kind in (AccountKind.PRINTER, AccountKind.SCANNER)
        messages: list[Message] = []
        for k in range(n_smtp):
            offset = rng.uniform(7 * 3600, 18 * 3600) if business else rng.uniform(0, 86_399)
            site = account.site
            if (
                account.kind is AccountKind.COMPROMISED
                and self.scenarios
                and day >= self._spike_from
                and k >= n_smtp // 4
            ):
                site = _ATTACKERS[account.index % len(_ATTACKERS)]
            versions, weights = zip(*account.tls, strict=True)
            tls = rng.choices(versions, weights)[0]
            messages.append(
                self._message(
                    rng, account=account, at=base + timedelta(seconds=offset), smtp=True, ip=site.ip, tls=tls, seq=k
                )
            )
        for k in range(self._poisson(rng, account.other_rate)):
            offset = rng.uniform(8 * 3600, 19 * 3600)
            ip = f"192.0.2.{1 + account.index % 250}"
            messages.append(
                self._message(
                    rng, account=account, at=base + timedelta(seconds=offset), smtp=False, ip=ip, tls=None, seq=k
                )
            )
        messages.sort(key=lambda m: (m.received, m.message_id))
        failures: list[SignIn] = []
        if account.kind is AccountKind.DISABLED:
            for _ in range(rng.randint(2, 12)):
                at = base + timedelta(seconds=rng.uniform(7 * 3600, 18 * 3600))
                failures.append(self._signin(rng, account, at, account.site, 50057))
        return messages, failures

    @staticmethod
    def _poisson(rng: random.Random, mean: float) -> int:
        if mean <= 0:
            return 0
        return max(0, round(rng.gauss(mean, max(0.5, mean**0.5))))

    def _message(
        self,
        rng: random.Random,
        *,
        account: Account,
        at: datetime,
        smtp: bool,
        ip: str,
        tls: str | None,
        seq: int,
    ) -> Message:
        at = at.replace(microsecond=rng.randrange(0, 1_000_000, 1000))
        host = account.domain.replace(".", "-")
        message_id = f"<{rng.getrandbits(64):016x}.{seq}@{host}.{'smtp' if smtp else 'outlook'}.example>"
        pool = account.recipients
        recipients = tuple(dict.fromkeys(rng.choice(pool) for _ in range(1 if rng.random() < 0.7 else 3)))
        subject = (
            f"Scanned document {rng.randrange(10_000):04d}"
            if account.kind in (AccountKind.PRINTER, AccountKind.SCANNER)
            else f"Notification {rng.randrange(100_000)}"
        )
        basic = smtp and account.auth_method == "Basic"
        status = "Delivered" if rng.random() < 0.97 else rng.choice(("Failed", "FilteredAsSpam", "Quarantined"))
        if status == "Failed" and seq % 3 == 0:
            # a third of the failures were recalled by their sender (no random draw: the stream stays the same)
            status = "Recalled"
        return Message(
            received=at,
            sender=account.upn,
            message_id=message_id,
            recipients=recipients,
            smtp_auth=smtp,
            auth_method=account.auth_method if smtp else None,
            client_ip=ip,
            tls_version=tls,
            tls_cipher=_CIPHERS[tls] if tls else None,
            size=rng.randrange(2_000, 900_000),
            subject=subject,
            signin_id=_guid(rng) if basic else None,
            status=status,
        )

    @staticmethod
    def _signin(rng: random.Random, account: Account, at: datetime, site: Site, code: int) -> SignIn:
        return SignIn(
            id=_guid(rng),
            created=at.replace(microsecond=rng.randrange(0, 1_000_000, 1000)),
            account=account,
            site=site,
            error_code=code,
            failure_reason=_FAILURES.get(code, "Other."),
            correlation_id=_guid(rng),
        )

    # ----------------------------------------------------------------- per day, tenant-wide

    @functools.lru_cache(maxsize=4)  # noqa: B019
    def day_messages(self, day: date) -> tuple[Message, ...]:
        """All messages of ``day`` (SMTP AUTH, other mail of senders, background mail), oldest first."""
        out: list[Message] = []
        for a in self._senders:
            out.extend(self.account_day(a.index, day)[0])
        out.extend(self._background(day))
        out.sort(key=lambda m: (m.received, m.message_id))
        return tuple(out)

    def _background(self, day: date) -> list[Message]:
        if day < self.start or self.users <= self.n_senders:
            return []
        rng = random.Random(f"{self.seed}:background:{day.isoformat()}")
        n = round((self.users - self.n_senders) * self.background_rate)
        base = datetime.combine(day, time(), UTC)
        out = []
        for k in range(n):
            index = rng.randrange(self.n_senders, self.users)
            account = self._make_account(index)
            at = base + timedelta(seconds=rng.uniform(6 * 3600, 20 * 3600))
            msg = self._message(
                rng, account=account, at=at, smtp=False, ip=f"192.0.2.{1 + index % 250}", tls=None, seq=k
            )
            out.append(msg)
        return out

    @functools.lru_cache(maxsize=4)  # noqa: B019
    def day_signins(self, day: date) -> tuple[SignIn, ...]:
        """All Authenticated SMTP sign-ins of ``day``, newest first (ties broken by id, descending)."""
        out: list[SignIn] = []
        for a in self._senders:
            messages, failures = self.account_day(a.index, day)
            out.extend(failures)
            for m in messages:
                if m.signin_id is not None:
                    site = self._site_of(a, m.client_ip)
                    rng = random.Random(m.signin_id)
                    out.append(
                        SignIn(m.signin_id, m.received - timedelta(milliseconds=800), a, site, 0, "", _guid(rng))
                    )
        if self.scenarios and day in self._spray_days:
            out.extend(self._spray(day))
        out.sort(key=lambda s: (s.created, s.id), reverse=True)
        return tuple(out)

    def _site_of(self, account: Account, ip: str) -> Site:
        if ip == account.site.ip:
            return account.site
        return next((s for s in _ATTACKERS if s.ip == ip), account.site)

    def _spray(self, day: date) -> list[SignIn]:
        rng = random.Random(f"{self.seed}:spray:{day.isoformat()}")
        base = datetime.combine(day, time(2), UTC)
        targets = rng.sample(range(self.users), self._spray_targets)
        out = []
        for i in targets:
            for _ in range(rng.randint(1, 3)):
                at = base + timedelta(seconds=rng.uniform(0, 3600))
                out.append(self._signin(rng, self.account(i), at, _SPRAY, 50126))
        return out

    # ----------------------------------------------------------------- usage-report facts

    def smtp_days(self, index: int, first: date, last: date) -> list[date]:
        """Days in ``[first, last]`` on which the account submitted SMTP AUTH mail."""
        if not self.account(index).is_smtp_sender:
            return []
        out, d = [], max(first, self.start)
        while d <= last:
            if self.smtp_count(index, d):
                out.append(d)
            d += timedelta(days=1)
        return out

    def mailbox_apps(self, index: int) -> dict[str, bool]:
        """Which non-SMTP email apps an account uses (stable per account)."""
        u = [_unit(self.seed, "apps", index, k) for k in range(7)]
        device = self.account(index).kind not in (AccountKind.MAILBOX, AccountKind.COMPROMISED)
        if device:
            return dict.fromkeys(_APP_KEYS, False)
        return {
            "Mail For Mac": u[0] < 0.04,
            "Outlook For Mac": u[1] < 0.08,
            "Outlook For Windows": u[2] < 0.7,
            "Outlook For Mobile": u[3] < 0.45,
            "Other For Mobile": u[4] < 0.05,
            "Outlook For Web": u[5] < 0.5,
            "POP3 App": u[6] < 0.01,
            "IMAP4 App": u[6] > 0.98,
        }

    def mailbox_last_activity(self, index: int, refresh: date) -> date | None:
        """Last day the account used a non-SMTP app (None: never within the report's reach)."""
        u = _unit(self.seed, "activity", index)
        if not any(self.mailbox_apps(index).values()) or u < 0.08:
            return None
        return refresh - timedelta(days=int(u * 40) % 35)

    def deleted_on(self, index: int, refresh: date) -> date | None:
        """Deleted accounts are listed for 30 days after deletion (API notes section 1)."""
        if index < self.n_senders or _unit(self.seed, "deleted", index) >= 0.01:
            return None
        return refresh - timedelta(days=int(_unit(self.seed, "deleted-on", index) * 29))


_APP_KEYS = (
    "Mail For Mac",
    "Outlook For Mac",
    "Outlook For Windows",
    "Outlook For Mobile",
    "Other For Mobile",
    "Outlook For Web",
    "POP3 App",
    "IMAP4 App",
)
