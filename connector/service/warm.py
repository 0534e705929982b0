"""Warming the read cache for the dashboard's first view, so the first reader after a sync does not pay for it.

After each successful sync in this process, and once at start-up, the answers the dashboard asks for first (the
summary and its tables, the default range: the 30 days ending yesterday, all domains) are computed into the read
cache (``connector.service.readcache``), one tenant at a time on one background thread. A request never waits for
the warmer (an identical request arriving while the warmer computes that answer shares it, as any two requests
do), and the warmer leaves the CPU to requests: before each answer it waits until no request's answer is being
computed (up to :data:`YIELD_SECONDS`, so a service that is never idle still gets warmed). Nothing is warmed when
the cache is off.
"""

import logging
import threading
from collections.abc import Callable, Iterable

from connector.clock import Clock
from connector.config import Settings
from connector.service.inputs import report_params
from connector.service.queries import DATA_TABLES
from connector.service.readcache import ReadCache
from connector.service.routes_data import cached_data, summary_answer, summary_key
from connector.store.store import Store

__all__ = ["DASHBOARD_TABLES", "CacheWarmer"]

log = logging.getLogger("smtpauth.service")

#: the longest the warmer waits for requests' reads to end before computing its next answer anyway
YIELD_SECONDS = 10.0

#: the /data tables the dashboard reads for a range, the ones on its first view first
DASHBOARD_TABLES = (
    "sending_volume_by_domain",
    "sending_volume_sender_totals",
    "tls_usage_by_sender",
    "accounts",
    "findings",
)


class CacheWarmer:
    def __init__(self, cache: ReadCache, store: Store, settings: Callable[[], Settings], clock: Clock) -> None:
        self._cache = cache
        self._store = store
        self._settings = settings
        self._clock = clock
        self._pending: list[str] = []
        self._cond = threading.Condition()
        self._stopping = False
        self._thread: threading.Thread | None = None
        self._busy = False
        #: tenants warmed since start (a tenant once per warming)
        self.warmed = 0

    @property
    def enabled(self) -> bool:
        return self._cache.enabled

    @property
    def warming(self) -> bool:
        """A tenant is waiting to be warmed or being warmed."""
        with self._cond:
            return bool(self._pending) or self._busy

    def request(self, tenants: Iterable[str]) -> None:
        """Warm ``tenants`` in the background (a tenant already waiting is not queued twice)."""
        if not self.enabled:
            return
        with self._cond:
            if self._stopping:
                return
            for tenant in tenants:
                if tenant not in self._pending:
                    self._pending.append(tenant)
            if self._thread is None:
                self._thread = threading.Thread(target=self._loop, name="smtpauth-cache-warmer", daemon=True)
                self._thread.start()
            self._cond.notify()

    def request_all(self) -> None:
        """Warm every tenant (configuration and registry): at start-up."""
        self.request(t.name for t in self._settings().tenants)

    def idle(self, timeout: float) -> bool:
        """Wait until nothing is pending or being warmed; False on timeout."""
        with self._cond:
            return self._cond.wait_for(lambda: not self._pending and not self._busy, timeout)

    def stop(self) -> None:
        with self._cond:
            self._stopping = True
            self._pending.clear()
            self._cond.notify_all()
        if self._thread is not None:
            self._thread.join(timeout=30)

    def _loop(self) -> None:
        while True:
            with self._cond:
                self._busy = False
                self._cond.notify_all()
                self._cond.wait_for(lambda: self._pending or self._stopping)
                if self._stopping:
                    return
                tenant = self._pending.pop(0)
                self._busy = True
            try:
                self.warm(tenant)
            except Exception:  # a tenant that cannot be read now is read by its first request
                log.exception("read cache: could not warm %s", tenant)

    def warm(self, tenant: str) -> None:
        """Compute the default-range answers of ``tenant`` into the cache (those already cached are kept)."""
        settings = self._settings()
        if tenant not in {t.name for t in settings.tenants}:
            return
        params = report_params(settings, tenant=tenant, date_from=None, date_to=None, today=self._clock.now().date())
        limit = settings.service.max_page_rows
        with self._cache.background():
            self._cache.wait_for_requests(YIELD_SECONDS)
            self._cache.get(summary_key(params), lambda: summary_answer(self._store, params))
            for name in DASHBOARD_TABLES:
                if self._stopping:
                    return
                self._cache.wait_for_requests(YIELD_SECONDS)
                cached_data(self._cache, self._store, DATA_TABLES[name], params, fmt="json", limit=limit, offset=0)
        self.warmed += 1
