"""``SmtpCSReport`` historical searches across runs (API notes section 4): submit, poll, download, load.

Each run (1) polls the searches still open, downloads and loads each finished file (once: a loaded file is never
downloaded again), abandons searches older than ``smtp_cs_job_timeout_hours``; (2) searches again the ranges
whose search failed (halved after a size failure, up to ``smtp_cs_max_retries``); (3) submits searches for the
time not searched yet, from the ``submitted_until`` watermark (at most 90 days back) to ``smtp_cs_latency_hours``
before now, sized to stay under the row cap. Submissions respect the 250-per-24-h quota, counted from our own
job table; a quota refusal ends submitting for this run (coverage "throttled") and the next run resumes.

Every job is recorded before anything else happens to it, each in its own short transaction; a file's rows and
its "loaded" mark are written in one transaction, so a crash never leaves a file half-loaded or loaded twice.
"""

import logging
import tempfile
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, BinaryIO, cast

from connector.config import TenantSettings
from connector.errors import BadRequestError, DownloadError, ExpiredLinkError, NotFoundError, RetryableError
from connector.http.families import EXCHANGE
from connector.sources.smtp_cs_report import SMTP_CS_REPORT, normalize_smtp_cs_report
from connector.store import history, runs
from connector.store.history import JobRecord
from connector.sync.context import SourceRun, TenantContext
from connector.sync.sources.exchange_admin import PERMISSION, exchange_errors, require_anchor
from connector.sync.sources.smtp_cs_plan import FAILED, Range, estimate_days, plan_retries, split_range
from models import SmtpCsReportRow

__all__ = ["SmtpCsReportSource"]

log = logging.getLogger("smtpauth.sync")

WATERMARK = "submitted_until"
SPOOL_BYTES = 8 * 1024 * 1024
#: searches start this far inside the 90-day limit, so a slow request is not refused for being too old
_EDGE = timedelta(hours=1)
_STATUSES = {s.lower(): s for s in ("NotStarted", "InProgress", "Done", "Failed", "Cancelled")}


@dataclass
class _Outcome:
    loaded: int = 0
    submitted: int = 0
    quota_hit: str | None = None
    problems: list[str] = field(default_factory=list)


class SmtpCsReportSource:
    name = SMTP_CS_REPORT.name
    permission = PERMISSION
    opt_in = True

    def enabled(self, tenant: TenantSettings) -> bool:
        return tenant.exchange_admin

    def run(self, ctx: TenantContext, run: SourceRun) -> None:
        require_anchor(ctx.tenant)
        with exchange_errors():
            self._run(ctx, run)

    def _run(self, ctx: TenantContext, run: SourceRun) -> None:
        opts, tenant = ctx.options, ctx.tenant.name
        now = ctx.clock.now().replace(microsecond=0)
        oldest = now - timedelta(days=opts.smtp_cs_backfill_days) + _EDGE
        outcome = _Outcome()
        with ctx.store.read() as conn:
            jobs = history.jobs_since(conn, tenant, now - timedelta(days=91))
        for job in jobs:
            if job.loaded_at is None and job.status not in FAILED:
                self._advance(ctx, run, job, outcome)
        with ctx.store.read() as conn:
            jobs = history.jobs_since(conn, tenant, now - timedelta(days=91))
            mark = runs.get_watermark(conn, tenant, self.name, WATERMARK)
        # a failed range is searched again even if it is older than our own backfill, until Exchange's 90 days
        limit = now - timedelta(days=90) + _EDGE
        plan = plan_retries(jobs, max_retries=opts.smtp_cs_max_retries, oldest=limit)
        days = estimate_days(jobs, max_rows=opts.smtp_cs_max_rows, default_days=opts.smtp_cs_search_days)
        # a retry repeats its range exactly (or its halves after a size failure): that is how it is recognized
        retries = plan.retries
        frontier = datetime.fromisoformat(mark) if mark else oldest
        if frontier < oldest:
            outcome.problems.append(f"{frontier:%Y-%m-%d}..{oldest:%Y-%m-%d} was never searched and is now too old")
            frontier = oldest
        latest = now - timedelta(hours=opts.smtp_cs_latency_hours)
        fresh = split_range(frontier, latest, days) if latest - frontier >= timedelta(hours=1) else []
        self._submit(ctx, retries, fresh, outcome, now=now)
        self._report(ctx, run, plan.given_up, outcome)

    # ---- polling, downloading, loading -----------------------------------------------------------------------

    def _advance(self, ctx: TenantContext, run: SourceRun, job: JobRecord, outcome: _Outcome) -> None:
        tenant, now = ctx.tenant.name, ctx.clock.now()
        try:
            info = next(iter(ctx.client.invoke_command("Get-HistoricalSearch", {"JobId": job.job_id})), None)
        except NotFoundError:
            info = None
        if info is None:
            self._update(ctx, job, status="Unavailable", checked_at=now, error="Exchange no longer knows the search")
            return
        raw = str(info.get("Status") or "")
        status = _STATUSES.get(raw.lower(), raw)
        if status == "Done":
            self._update(ctx, job, status="Done", checked_at=now, file_rows=_int(info.get("Rows")))
            url = info.get("FileUrl")
            if not isinstance(url, str) or not url:
                self._update(ctx, job, status="Unavailable", error="the search is Done but has no FileUrl")
                return
            self._download_and_load(ctx, run, job, url, outcome)
        elif status in FAILED:
            self._update(ctx, job, status=status, checked_at=now, error=str(info.get("ErrorMessage") or status))
            outcome.problems.append(f"search {Range(job.start, job.end)} failed: {info.get('ErrorMessage') or status}")
        elif now - job.submitted_at > timedelta(hours=ctx.options.smtp_cs_job_timeout_hours):
            hours = ctx.options.smtp_cs_job_timeout_hours
            error = f"not finished after {hours:g} h (last status {raw or 'unknown'})"
            self._update(ctx, job, status="TimedOut", checked_at=now, error=error)
            outcome.problems.append(f"search {Range(job.start, job.end)} {error}")
            log.info("%s/smtp_cs_report: search %s timed out", tenant, job.job_id)
        else:
            self._update(ctx, job, status=status or "Unknown", checked_at=now)

    def _download_and_load(
        self, ctx: TenantContext, run: SourceRun, job: JobRecord, url: str, outcome: _Outcome
    ) -> None:
        limit = ctx.options.smtp_cs_download_limit
        if job.attempts >= limit:
            why = f"its file was already downloaded {job.attempts} times (limit {limit})"
            self._unavailable(ctx, job, why, outcome)
            return
        # counted before the request: a download we cannot confirm still used up one of the ~20 allowed
        self._update(ctx, job, attempts=job.attempts + 1)
        with tempfile.SpooledTemporaryFile(max_size=SPOOL_BYTES) as spool:
            try:
                ctx.client.download_file(url, family=EXCHANGE, dest=cast(BinaryIO, spool))
            except ExpiredLinkError:
                self._unavailable(
                    ctx, job, "Exchange refused its file (downloaded too many times, or the link expired)", outcome
                )
                return
            except RetryableError as exc:
                self._update(ctx, job, error=f"download failed, retried next run: {exc}")
                outcome.problems.append(f"search {Range(job.start, job.end)}: download failed ({exc})")
                return
            downloaded = ctx.clock.now()
            spool.seek(0)
            counter = _Counter()
            try:
                with ctx.store.transaction() as tx:
                    rows = normalize_smtp_cs_report(spool, tenant=ctx.tenant.name, job_id=job.job_id)
                    run.load(tx, SmtpCsReportRow, SMTP_CS_REPORT.key, rows, transform=counter)
                    history.update_job(
                        tx,
                        ctx.tenant.name,
                        job.job_id,
                        status="Done",
                        downloaded_at=downloaded,
                        loaded_at=ctx.clock.now(),
                        file_rows=counter.rows,
                        error=None,
                    )
            except DownloadError as exc:
                self._unavailable(ctx, job, f"its file could not be read ({exc})", outcome)
                return
        outcome.loaded += 1

    def _unavailable(self, ctx: TenantContext, job: JobRecord, why: str, outcome: _Outcome) -> None:
        self._update(ctx, job, status="Unavailable", error=why)
        outcome.problems.append(f"search {Range(job.start, job.end)}: {why}; the range is searched again")

    @staticmethod
    def _update(ctx: TenantContext, job: JobRecord, **values: Any) -> None:
        with ctx.store.transaction() as tx:
            history.update_job(tx, ctx.tenant.name, job.job_id, **values)

    # ---- submitting -----------------------------------------------------------------------------------------

    def _submit(
        self,
        ctx: TenantContext,
        retries: list[Range],
        fresh: list[Range],
        outcome: _Outcome,
        *,
        now: datetime,
    ) -> None:
        opts, tenant = ctx.options, ctx.tenant.name
        with ctx.store.read() as conn:
            used = history.submissions_since(conn, tenant, now - timedelta(hours=24))
        budget = min(opts.smtp_cs_quota_per_day - used, opts.smtp_cs_max_searches_per_run)
        queue = [(r, False) for r in retries] + [(r, True) for r in fresh]
        for rng, moves_frontier in queue:
            if budget <= 0:
                waiting = len(queue) - outcome.submitted
                outcome.quota_hit = (
                    f"{waiting} search(es) wait for the next run ({used + outcome.submitted} submitted in 24 h, "
                    f"quota {opts.smtp_cs_quota_per_day}, at most {opts.smtp_cs_max_searches_per_run} per run)"
                )
                return
            title = f"smtpauth {tenant} {rng.start:%Y%m%d%H%M}-{rng.end:%Y%m%d%H%M}"
            params = {
                "ReportType": "SmtpCSReport",
                "StartDate": rng.start.isoformat(),
                "EndDate": rng.end.isoformat(),
                "ReportTitle": title,
            }
            try:
                info = next(iter(ctx.client.invoke_command("Start-HistoricalSearch", params, idempotent=False)))
            except BadRequestError as exc:
                if (exc.code or "").lower() != "quotaexceeded" and "quota" not in str(exc).lower():
                    raise
                outcome.quota_hit = f"Exchange refused more searches ({exc.code}); the next run resumes"
                return
            job_id = str(info.get("JobId") or info.get("Identity") or "")
            if not job_id:
                raise DownloadError("Start-HistoricalSearch answered without a JobId")
            with ctx.store.transaction() as tx:
                history.insert_job(
                    tx,
                    tenant,
                    job_id,
                    title=title,
                    start=rng.start,
                    end=rng.end,
                    status=str(info.get("Status") or "NotStarted"),
                    now=ctx.clock.now(),
                )
                if moves_frontier:
                    runs.set_watermark(tx, tenant, self.name, WATERMARK, rng.end.isoformat(), now=ctx.clock.now())
            outcome.submitted += 1
            budget -= 1

    # ---- coverage -------------------------------------------------------------------------------------------

    def _report(self, ctx: TenantContext, run: SourceRun, given_up: list[tuple[Range, str]], outcome: _Outcome) -> None:
        with ctx.store.read() as conn:
            jobs = history.jobs_since(conn, ctx.tenant.name, ctx.clock.now() - timedelta(days=91))
        loaded = [j.end for j in jobs if j.loaded_at is not None]
        run.data_as_of = max(loaded) if loaded else None
        waiting = sum(1 for j in jobs if j.loaded_at is None and j.status not in FAILED)
        parts = [f"{outcome.loaded} file(s) loaded, {outcome.submitted} search(es) submitted, {waiting} waiting"]
        if given_up:
            run.coverage_status = "failed"
            parts.append("given up: " + "; ".join(f"{r}: {why}" for r, why in given_up[:5]))
        if outcome.quota_hit:
            run.coverage_status = "throttled"
            parts.append(f"throttled: historical search quota: {outcome.quota_hit}")
        parts.extend(outcome.problems[:5])
        run.coverage_reason = "; ".join(parts)


class _Counter:
    """Counts the rows of a file as they stream into the store."""

    def __init__(self) -> None:
        self.rows = 0

    def __call__(self, row: dict[str, Any]) -> dict[str, Any]:
        self.rows += 1
        return row


def _int(value: Any) -> int | None:
    try:
        return int(value) if value is not None else None
    except (TypeError, ValueError):
        return None
