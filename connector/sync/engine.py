"""Run sources for tenants: one sync-run record per (tenant, source, run), coverage, and failure isolation.

A source's failure never stops the other sources of the tenant, and a tenant's failure never stops the other
tenants. Expected failures become a run status and a coverage reason an admin can act on:

==============================  ===============  ==========================================================
error                           run status       coverage
==============================  ===============  ==========================================================
SourceUnavailable               unavailable      unavailable: the reason (cloud, concealed names, opt-in)
LicenceRequiredError            unavailable      unavailable: Entra ID P1/P2 licence required
PermissionDeniedError           unavailable      unavailable: missing permission X (grant + admin consent)
UnauthorizedError (trace)       unavailable      unavailable: message-trace service principal missing
ThrottleCapExceeded             throttled        throttled: resumes on the next run, watermark untouched
AuthError                       failed           failed: what to fix in the app registration
any other error                 failed           failed: the error's message (class name if not ours)
==============================  ===============  ==========================================================
"""

import logging
import uuid
from collections.abc import Callable, Collection, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field

from connector.clock import Clock
from connector.errors import (
    AuthError,
    LicenceRequiredError,
    PermissionDeniedError,
    SmtpAuthError,
    SourceUnavailable,
    ThrottleCapExceeded,
    UnauthorizedError,
)
from connector.http.responses import MESSAGE_TRACE_APP_ID
from connector.store import runs
from connector.sync.context import SourceRun, TenantContext
from connector.sync.progress import Progress, SourceOutcome
from connector.sync.sources import SOURCES, SyncSource
from connector.sync.tenant_lock import TenantBusyError, tenant_lock

__all__ = ["TenantResult", "classify_error", "new_run_id", "run_sync", "sync_tenant"]

log = logging.getLogger("smtpauth.sync")


@dataclass
class TenantResult:
    tenant: str
    outcomes: list[SourceOutcome] = field(default_factory=list)
    error: str | None = None
    #: not synced: another process was syncing the tenant (connector.sync.tenant_lock)
    busy: bool = False
    #: sources not run again: an earlier attempt of this run id ran them to their end (runs.resume_point)
    resumed: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        return self.error is None and all(o.status in ("succeeded", "unavailable") for o in self.outcomes)


def classify_error(exc: BaseException, source: str, permission: str) -> tuple[str, str, str, str | None]:
    """(run status, coverage status, reason, fix) for an error that ended a source's run."""
    if isinstance(exc, SourceUnavailable):
        return "unavailable", "unavailable", exc.reason, exc.fix
    if isinstance(exc, LicenceRequiredError):
        return (
            "unavailable",
            "unavailable",
            "unavailable: Entra ID P1/P2 licence required",
            "sign-in logs need Microsoft Entra ID P1 or P2 in the tenant; without it this section stays empty",
        )
    if isinstance(exc, PermissionDeniedError):
        perm = exc.permission or permission
        return (
            "unavailable",
            "unavailable",
            f"unavailable: the app lacks {perm}",
            f"grant the application permission {perm} to the app registration and grant admin consent",
        )
    if isinstance(exc, UnauthorizedError) and source == "message_trace":
        return (
            "unavailable",
            "unavailable",
            "unavailable: message trace refused the token (service principal missing?)",
            f"create the service principal of app {MESSAGE_TRACE_APP_ID} in the tenant "
            f"(New-MgServicePrincipal -AppId {MESSAGE_TRACE_APP_ID}) and grant ExchangeMessageTrace.Read.All",
        )
    if isinstance(exc, ThrottleCapExceeded):
        return (
            "throttled",
            "throttled",
            f"throttled: Microsoft asked to wait {exc.retry_after:.0f} s, more than the configured cap",
            "nothing to do: the next run resumes where this one stopped",
        )
    if isinstance(exc, AuthError):
        return "failed", "failed", str(exc), None
    if isinstance(exc, SmtpAuthError):
        return "failed", "failed", str(exc), None
    return "failed", "failed", f"unexpected error ({type(exc).__name__}); run with -vv for details", None


def _run_source(ctx: TenantContext, source: SyncSource, run_id: str, progress: Progress) -> SourceOutcome:
    tenant = ctx.tenant.name
    now = ctx.clock.now()
    with ctx.store.transaction() as tx:
        run_pk = runs.start_run(tx, tenant=tenant, source=source.name, run_id=run_id, now=now)
    run = SourceRun(ctx=ctx, source=source.name, run_pk=run_pk, progress=progress)
    progress.started(tenant, source.name)
    stats_before = ctx.client.stats.snapshot()
    error: BaseException | None = None
    try:
        source.run(ctx, run)
    except Exception as exc:  # one source's failure must not stop the others
        error = exc
        if not isinstance(exc, SmtpAuthError):
            log.debug("%s/%s failed", tenant, source.name, exc_info=True)
    stats = ctx.client.stats.snapshot()
    run.counts.retries = int(stats.get("retries", 0) - stats_before.get("retries", 0))
    run.counts.throttled_count = int(stats.get("throttled", 0) - stats_before.get("throttled", 0))
    requests = int(stats.get("requests", 0) - stats_before.get("requests", 0))
    now = ctx.clock.now()
    if error is None:
        status, cov_status, reason, fix = "succeeded", run.coverage_status, run.coverage_reason, None
    else:
        status, cov_status, reason, fix = classify_error(error, source.name, source.permission)
    if run.drift.found:
        # what Microsoft changed is kept per source, whatever became of the run (a run fails only on a needed field)
        with ctx.store.transaction() as tx:
            runs.record_drift(tx, tenant=tenant, source=source.name, drift=run.drift, run_id=run_id, now=now)
        log.warning("%s/%s: %s", tenant, source.name, run.drift.summary())
    with ctx.store.transaction() as tx:
        runs.finish_run(
            tx,
            run_pk,
            status=status,
            now=now,
            counts=run.counts,
            error=error,
            request_ids=run.request_ids[-20:],
        )
        # a failed or throttled run keeps the data_as_of of the data we already have
        runs.set_coverage(
            tx,
            tenant,
            source.name,
            status=cov_status,
            now=now,
            reason=reason,
            fix=fix,
            data_as_of=run.data_as_of if error is None else None,
        )
    outcome = SourceOutcome(
        tenant=tenant,
        source=source.name,
        status=status,
        rows_seen=run.counts.rows_seen,
        inserted=run.counts.rows_inserted,
        updated=run.counts.rows_updated,
        skipped=run.counts.rows_skipped,
        requests=requests,
        throttled=run.counts.throttled_count,
        message=reason or "",
        request_ids=run.request_ids[-5:],
        drift=run.drift.summary() if run.drift.found else "",
    )
    progress.finished(outcome)
    return outcome


def sync_tenant(
    ctx: TenantContext,
    sources: Sequence[str] | None,
    progress: Progress,
    *,
    run_id: str | None = None,
    done: Collection[str] = (),
) -> TenantResult:
    """Run the chosen sources (all by default, in dependency order) for one tenant, except those in ``done``."""
    run_id = run_id or uuid.uuid4().hex
    chosen = [s for s in SOURCES if not sources or s.name in sources]
    result = TenantResult(ctx.tenant.name)
    for source in chosen:
        if source.opt_in and not source.enabled(ctx.tenant):
            continue
        if source.name in done:
            result.resumed += (source.name,)
            continue
        result.outcomes.append(_run_source(ctx, source, run_id, progress))
    if result.resumed:
        log.info(
            "%s: %s already run by an earlier attempt of this sync, not run again",
            ctx.tenant.name,
            ", ".join(result.resumed),
        )
    return result


def new_run_id(clock: Clock) -> str:
    """A sync run id: UTC start time and a random suffix (sorts by time, unique)."""
    return f"{clock.now():%Y%m%dT%H%M%SZ}-{uuid.uuid4().hex[:8]}"


def run_sync(
    contexts: Sequence[Callable[[], TenantContext]],
    names: Sequence[str],
    sources: Sequence[str] | None,
    progress: Progress,
    *,
    max_parallel: int,
    clock: Clock,
    run_id: str | None = None,
) -> list[TenantResult]:
    """Sync tenants in parallel (bounded). ``contexts[i]()`` builds tenant ``names[i]``'s context in its worker.

    A tenant whose context cannot be built (auth, TLS) is reported as failed; the others carry on. Each tenant
    is synced under its lock (:mod:`connector.sync.tenant_lock`): a tenant another process is syncing is
    reported busy and not synced.

    ``run_id`` given (a queued job's): when the tenant already has runs under it, this is another attempt of the
    same job and the sources an earlier attempt ran to their end are not run again (:func:`runs.resume_point`).
    """
    resume = run_id is not None
    run_id = run_id or new_run_id(clock)
    results: list[TenantResult] = []

    def work(i: int) -> TenantResult:
        try:
            ctx = contexts[i]()
        except SmtpAuthError as exc:
            return TenantResult(names[i], error=str(exc))
        try:
            with tenant_lock(ctx.store, names[i], now=clock.now()):
                attempt, done = run_id, frozenset[str]()
                if resume:
                    with ctx.store.read() as conn:
                        attempt, done = runs.resume_point(conn, tenant=names[i], run_id=run_id)
                return sync_tenant(ctx, sources, progress, run_id=attempt, done=done)
        except TenantBusyError as exc:
            log.warning("%s", exc)
            return TenantResult(names[i], error=str(exc), busy=True)
        finally:
            ctx.close()

    with ThreadPoolExecutor(max_workers=max(1, min(max_parallel, len(contexts))), thread_name_prefix="sync") as pool:
        futures = {pool.submit(work, i): i for i in range(len(contexts))}
        for future in as_completed(futures):
            results.append(future.result())
    order = {n: i for i, n in enumerate(names)}
    return sorted(results, key=lambda r: order[r.tenant])
