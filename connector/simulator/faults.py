"""Scripted and random faults injected in front of (or into) the simulator's answers.

A :class:`Fault` names a route (``"signins"``, ``"reports"``, ``"*"``...) and a kind; it fires ``count``
times (or
forever with ``count=None``), optionally after letting ``skip`` matching requests through. :class:`FaultPlan`
holds the scripted faults plus an optional :class:`Chaos` mode drawing faults from a seeded RNG.

Kinds that replace the answer: ``429`` (``retry_after`` None means no Retry-After header), ``503``, ``504``,
``reset`` (the connection drops), ``expired_token`` (401 InvalidAuthenticationToken for a valid token).
Kinds that alter the answer: ``truncate`` (body cut short under a full Content-Length), ``expired_download``,
``expired_skiptoken`` (only on requests carrying a ``$skiptoken``), ``csv_reorder``, ``csv_extra_column``,
``mixed_case`` (enum values in unusual case), ``history_failed`` (a historical search job ends Failed),
``schema_drift`` (Microsoft changed a shape: a usage CSV renames an optional column and adds one, a sign-in gains a
field and a new ``conditionalAccessStatus`` value, cmdlet output loses an optional property).
"""

import random
import threading
from dataclasses import dataclass, field

__all__ = ["ROUTES", "Chaos", "Fault", "FaultKind", "FaultPlan"]

ROUTES = (
    "discovery",
    "token",
    "reports",
    "reports_json",
    "report_settings",
    "download",
    "signins",
    "message_trace",
    "exchange",
    "historical_download",
)

FaultKind = str
_REPLACING = frozenset({"429", "503", "504", "reset", "expired_token"})
_ALTERING = frozenset(
    {
        "truncate",
        "expired_download",
        "expired_skiptoken",
        "csv_reorder",
        "csv_extra_column",
        "mixed_case",
        "history_failed",
        "schema_drift",
    }
)


@dataclass(slots=True)
class Fault:
    route: str
    kind: FaultKind
    #: how many times it fires; None = every matching request
    count: int | None = 1
    #: matching requests let through before it starts firing
    skip: int = 0
    #: Retry-After seconds for 429/503 (None: no header)
    retry_after: float | None = None
    #: restrict to one tenant (GUID) when set
    tenant_id: str | None = None
    fired: int = 0

    def __post_init__(self) -> None:
        if self.kind not in _REPLACING | _ALTERING:
            raise ValueError(f"unknown fault kind {self.kind!r}")
        if self.route != "*" and self.route not in ROUTES:
            raise ValueError(f"unknown route {self.route!r} (one of {', '.join(ROUTES)} or '*')")

    @property
    def replaces(self) -> bool:
        return self.kind in _REPLACING

    @property
    def exhausted(self) -> bool:
        return self.count is not None and self.fired >= self.count


@dataclass(slots=True)
class Chaos:
    """Random faults on Graph routes: e.g. 30% 429 (half without Retry-After) and 5% 503/504."""

    rate_429: float = 0.3
    share_without_retry_after: float = 0.5
    rate_5xx: float = 0.05
    retry_after: float = 1.0
    seed: int = 0
    routes: tuple[str, ...] = ("reports", "reports_json", "download", "signins", "message_trace", "exchange")
    rng: random.Random = field(init=False)

    def __post_init__(self) -> None:
        self.rng = random.Random(self.seed)


class FaultPlan:
    """Thread-safe fault script consulted once per request."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._faults: list[Fault] = []
        self.chaos: Chaos | None = None

    def add(self, fault: Fault) -> Fault:
        with self._lock:
            self._faults.append(fault)
        return fault

    def clear(self) -> None:
        with self._lock:
            self._faults.clear()
            self.chaos = None

    def pending(self) -> list[Fault]:
        with self._lock:
            return [f for f in self._faults if not f.exhausted]

    def draw(self, route: str, tenant_id: str | None, *, has_skiptoken: bool = False) -> list[Fault]:
        """The faults that fire on this request: at most one replacing fault, first, then altering ones."""
        fired: list[Fault] = []
        with self._lock:
            replacing_seen = False
            for f in self._faults:
                if f.exhausted or f.route not in ("*", route):
                    continue
                if f.tenant_id is not None and f.tenant_id != tenant_id:
                    continue
                if f.kind == "expired_skiptoken" and not has_skiptoken:
                    continue
                if f.replaces and replacing_seen:
                    continue
                if f.skip > 0:
                    f.skip -= 1
                    continue
                f.fired += 1
                replacing_seen = replacing_seen or f.replaces
                fired.append(f)
            if not replacing_seen and self.chaos is not None and route in self.chaos.routes:
                c = self.chaos
                u = c.rng.random()
                if u < c.rate_429:
                    ra = None if c.rng.random() < c.share_without_retry_after else c.retry_after
                    fired.append(Fault(route, "429", retry_after=ra, fired=1))
                elif u < c.rate_429 + c.rate_5xx:
                    fired.append(Fault(route, c.rng.choice(("503", "504")), fired=1))
        fired.sort(key=lambda f: not f.replaces)
        return fired
