"""After a sync in the service's process (and at start-up) the dashboard's first view is computed into the read
cache in the background: the first reader of the default range gets the cached answer, equal to a fresh read."""

from datetime import timedelta

from connector.service.inputs import report_params
from connector.service.queries import DATA_TABLES
from connector.service.readcache import Answer, ReadCache
from connector.service.routes_data import data_answer, summary_answer, summary_key
from connector.service.warm import DASHBOARD_TABLES, CacheWarmer
from tests.service.conftest import AUTH, Served, wait_for


def _never() -> Answer:
    raise AssertionError("the warmed answer was computed again")


def test_after_a_sync_the_default_range_is_answered_from_the_cache(served: Served) -> None:
    warmer: CacheWarmer = served.app.state.cache_warmer
    cache: ReadCache = served.app.state.read_cache
    assert warmer.enabled
    # the service shared by this package's tests: no sync of an earlier test still running or being warmed, so
    # the warming counted below is this sync's and no later commit changes the database under the reads
    wait_for(lambda: not served.runner.syncing() and warmer.idle(0.1), 120)
    warmed = warmer.warmed
    r = served.client.post("/api/v1/sync", json={"tenants": ["contoso"]}, headers=AUTH)
    assert r.status_code == 202, r.text
    wait_for(lambda: warmer.warmed > warmed and not served.runner.syncing(), 120)
    assert warmer.idle(60)
    assert served.get("/api/v1/health").json()["read_cache"] == {"enabled": True, "warming": False}

    today = served.runner.clock.now().date()
    yesterday = today - timedelta(days=1)
    default = {"tenant": "contoso", "from": (yesterday - timedelta(days=29)).isoformat(), "to": yesterday.isoformat()}
    params = report_params(served.settings, tenant="contoso", date_from=None, date_to=None, today=today)
    limit = served.settings.service.max_page_rows
    hits, misses = cache.hits, cache.misses
    # as the dashboard asks (explicit range) and as a script asks (the default range)
    summary = served.get("/api/v1/summary", **default)
    assert summary.status_code == 200, summary.text
    assert served.get("/api/v1/summary", tenant="contoso").content == summary.content
    assert summary.content == summary_answer(served.env.store, params).body, "the cached answer is a fresh read's"
    assert summary.json()["flyout"]["messages"] > 0
    for name in DASHBOARD_TABLES:
        page = served.get(f"/api/v1/data/{name}", **default)
        assert page.status_code == 200, page.text
        fresh = data_answer(served.env.store, DATA_TABLES[name], params, fmt="json", limit=limit, offset=0)
        assert page.content == fresh.body, name
        assert page.headers["X-Total-Count"] == dict(fresh.headers)["X-Total-Count"]
    assert cache.misses == misses, "nothing of the first view was read from the database on request"
    assert cache.hits == hits + 2 + len(DASHBOARD_TABLES)


def test_start_up_warming_covers_every_tenant_and_nothing_is_warmed_with_the_cache_off(served: Served) -> None:
    store, settings = served.env.store, served.settings
    cache = ReadCache(store, 64 * 1024 * 1024)
    warmer = CacheWarmer(cache, store, lambda: settings, served.runner.clock)
    try:
        warmer.request_all()
        assert warmer.warming, "the tenants are queued as soon as they are asked for"
        wait_for(lambda: warmer.warmed == len(settings.tenants), 120)
        assert warmer.idle(60)
        assert not warmer.warming
        today = served.runner.clock.now().date()
        params = report_params(settings, tenant="contoso", date_from=None, date_to=None, today=today)
        assert cache.get(summary_key(params), _never).body == summary_answer(store, params).body
    finally:
        warmer.stop()
        cache.close()
    off = ReadCache(store, 0)
    idle = CacheWarmer(off, store, lambda: settings, served.runner.clock)
    idle.request_all()
    assert not idle.enabled
    assert idle.warmed == 0
    assert not idle.warming
    assert idle._thread is None, "no warming thread without a cache"
    idle.stop()
