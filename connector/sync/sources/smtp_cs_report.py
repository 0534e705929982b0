"""``SmtpCSReport`` historical searches across runs (API notes sections 4 and 9): submit, poll, fetch, load.

What Exchange allows: a search names at least one address (we send ``SenderAddress``: the accounts known to use
SMTP AUTH, at most 100 per search, so several searches per range), 250 searches per 24 hours, 100,000 rows per file,
data 1-4 hours to 90 days old. ``NotifyAddress`` (the tenant's ``notify_address``) makes Exchange e-mail the admin
a link when a file is ready.

Each run (1) polls the searches still open and fetches each finished file once (a loaded file is never fetched
again). A file the app can download is loaded at once. A ``FileUrl`` that wants an admin's browser session (401, a
redirect to a sign-in page: what public tools report of the real portal) leaves the search *ready, waiting for an
admin download* (``WaitingForAdmin``): not a failure; coverage and ``smtpauth reports waiting`` say where the admin
gets the file, and the file handed back (import, ``inbox/``, dashboard upload) is matched to its search
(:mod:`connector.imports.searches`). A 503 "server busy" means the file was downloaded too often: the range is
searched again instead of asking the same file again. (2) Searches again the ranges whose search failed (halved
after a size failure, up to ``smtp_cs_max_retries``), with the same senders. (3) Submits searches for the time not
searched yet: each sender has its own frontier (``sender:<address>`` watermark; a newly seen sender starts 90 days
back), senders sharing a frontier are searched together, the ranges sized to stay under the row cap. Submissions
respect the quota, counted from our own job table; reaching it ends submitting for this run (coverage
"throttled"): the rest waits for the next day.

Every job is recorded before anything else happens to it, each in its own short transaction; a file's rows and
its "loaded" mark are written in one transaction, so a crash never leaves a file half-loaded or loaded twice.
"""

import logging
import tempfile
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, BinaryIO, cast

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from connector.config import TenantSettings
from connector.errors import (
    BadRequestError,
    BrowserSessionRequired,
    DownloadError,
    ExpiredLinkError,
    FileBusyError,
    NotFoundError,
    RetryableError,
)
from connector.http.families import EXCHANGE
from connector.sources.smtp_cs_report import SMTP_CS_REPORT, normalize_smtp_cs_report
from connector.store import history, runs
from connector.store.history import WAITING_FOR_ADMIN, JobRecord
from connector.sync.context import SourceRun, TenantContext
from connector.sync.sources.exchange_admin import PERMISSION, exchange_errors
from connector.sync.sources.message_trace import known_smtp_senders
from connector.sync.sources.smtp_cs_plan import (
    FAILED,
    Range,
    estimate_days,
    plan_retries,
    sender_chunks,
    split_range,
)
from models import ImportedTlsAggregate, SmtpCsReportRow

__all__ = ["SEARCH_PROPERTIES", "SmtpCsReportSource", "admin_fetch_hint", "smtp_cs_senders"]

log = logging.getLogger("smtpauth.sync")

SPOOL_BYTES = 8 * 1024 * 1024
#: searches start this far inside the 90-day limit, so a slow request is not refused for being too old
_EDGE = timedelta(hours=1)
_STATUSES = {s.lower(): s for s in ("NotStarted", "InProgress", "Done", "Failed", "Cancelled")}
#: what Get-HistoricalSearch objects carry as production tools read them (the drift guard compares against it)
SEARCH_PROPERTIES = (
    "JobId",
    "ReportTitle",
    "ReportType",
    "Status",
    "JobProgress",
    "Rows",
    "FileRows",
    "ErrorDescription",
    "FileUrl",
    "SubmitDate",
    "CompletionDate",
    "StartDate",
    "EndDate",
    "SenderAddress",
    "RecipientAddress",
    "NotifyAddress",
)
#: Get-HistoricalSearch statuses we know
SEARCH_STATUSES = ("NotStarted", "InProgress", "Done", "Failed", "Cancelled")
WHERE_IN_EAC = "Exchange admin center > Mail flow > Message trace > Downloadable reports"
#: the protection portal's own download address of a search's file, per cloud (public tools, API notes section 9)
_PORTAL = {"global": "https://admin.protection.outlook.com", "usgov": "https://admin.protection.outlook.us"}

_trace_imports: sa.Table = ImportedTlsAggregate.__table__  # type: ignore[attr-defined]
_cs_rows: sa.Table = SmtpCsReportRow.__table__  # type: ignore[attr-defined]


def smtp_cs_senders(conn: Connection, tenant: str) -> list[str]:
    """Addresses known to use SMTP AUTH: the usage report and sign-ins (as message trace uses them), the admin
    center Exports imported, and the senders of report files already loaded. Sorted, lower-case."""
    found = set(known_smtp_senders(conn, tenant))
    for table in (_trace_imports, _cs_rows):
        query = sa.select(table.c.sender_address).where(table.c.tenant == tenant).distinct()
        found.update(a.lower() for a in conn.execute(query).scalars() if a and "@" in a)
    return sorted(found)


def admin_fetch_hint(job: JobRecord, cloud: str) -> str:
    """Where an admin gets a waiting search's file."""
    parts = [f"{WHERE_IN_EAC} (report '{job.title or job.job_id}')"]
    if job.notify:
        parts.append(f"the link in the e-mail sent to {', '.join(job.notify)}")
    if cloud in _PORTAL:
        parts.append(f"{_PORTAL[cloud]}/ExtendedReport/Download?Type=OnDemandReport&RequestID={job.job_id}")
    return "; or ".join(parts)


@dataclass
class _Outcome:
    loaded: int = 0
    submitted: int = 0
    waiting_now: int = 0
    quota_hit: str | None = None
    problems: list[str] = field(default_factory=list)


class SmtpCsReportSource:
    name = SMTP_CS_REPORT.name
    permission = PERMISSION
    opt_in = True

    def enabled(self, tenant: TenantSettings) -> bool:
        return tenant.exchange_admin

    def run(self, ctx: TenantContext, run: SourceRun) -> None:
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
            if job.loaded_at is None and job.status not in FAILED and job.status != WAITING_FOR_ADMIN:
                self._advance(ctx, run, job, outcome)
        with ctx.store.read() as conn:
            jobs = history.jobs_since(conn, tenant, now - timedelta(days=91))
            senders = smtp_cs_senders(conn, tenant)
            marks = {s: runs.get_watermark(conn, tenant, self.name, f"sender:{s}") for s in senders}
        # a failed range is searched again even if it is older than our own backfill, until Exchange's 90 days
        limit = now - timedelta(days=90) + _EDGE
        plan = plan_retries(jobs, max_retries=opts.smtp_cs_max_retries, oldest=limit)
        days = estimate_days(jobs, max_rows=opts.smtp_cs_max_rows, default_days=opts.smtp_cs_search_days)
        latest = now - timedelta(hours=opts.smtp_cs_latency_hours)
        fresh = self._fresh(marks, oldest=oldest, latest=latest, days=days, outcome=outcome)
        if not senders:
            outcome.problems.append(
                "no account has been seen using SMTP AUTH yet (usage report, sign-ins, imports): Exchange needs "
                "sender addresses to search, nothing submitted"
            )
        self._submit(ctx, plan.retries, fresh, outcome, now=now)
        self._report(ctx, run, plan.given_up, outcome)

    @staticmethod
    def _fresh(
        marks: dict[str, str | None], *, oldest: datetime, latest: datetime, days: float, outcome: _Outcome
    ) -> list[Range]:
        """The ranges not searched yet: senders grouped by frontier, each group cut into ranges and chunks."""
        groups: dict[datetime, list[str]] = defaultdict(list)
        too_old: set[str] = set()
        for sender, mark in marks.items():
            frontier = datetime.fromisoformat(mark) if mark else oldest
            if frontier < oldest:
                too_old.add(f"{frontier:%Y-%m-%d}")
                frontier = oldest
            groups[frontier].append(sender)
        if too_old:
            outcome.problems.append(f"time since {min(too_old)} was never searched and is now too old")
        fresh: list[Range] = []
        for frontier, members in groups.items():
            if latest - frontier < timedelta(hours=1):
                continue
            for rng in split_range(frontier, latest, days):
                fresh.extend(Range(rng.start, rng.end, chunk) for chunk in sender_chunks(members))
        fresh.sort(key=lambda r: (r.start, r.senders))
        return fresh

    # ---- polling, fetching, loading --------------------------------------------------------------------------

    def _advance(self, ctx: TenantContext, run: SourceRun, job: JobRecord, outcome: _Outcome) -> None:
        tenant, now = ctx.tenant.name, ctx.clock.now()
        try:
            info = next(iter(ctx.client.invoke_command("Get-HistoricalSearch", {"JobId": job.job_id})), None)
        except NotFoundError:
            info = None
        if info is None:
            # Get-HistoricalSearch lists the searches of the last ten days only
            self._update(ctx, job, status="Unavailable", checked_at=now, error="Exchange no longer knows the search")
            return
        run.drift.keys("Get-HistoricalSearch", info.keys(), SEARCH_PROPERTIES, required=("Status",))
        raw = str(info.get("Status") or "")
        run.drift.value("Get-HistoricalSearch", "Status", raw, SEARCH_STATUSES)
        status = _STATUSES.get(raw.lower(), raw)
        # production tools read the error from ErrorDescription; ErrorMessage is accepted too
        error = info.get("ErrorDescription") or info.get("ErrorMessage")
        if status == "Done":
            self._update(ctx, job, status="Done", checked_at=now, file_rows=_int(info.get("Rows")))
            url = info.get("FileUrl")
            if not isinstance(url, str) or not url:
                self._update(ctx, job, status="Unavailable", error="the search is Done but has no FileUrl")
                return
            self._fetch_and_load(ctx, run, job, url, outcome)
        elif status in FAILED:
            self._update(ctx, job, status=status, checked_at=now, error=str(error or status))
            outcome.problems.append(f"search {_range(job)} failed: {error or status}")
        elif now - job.submitted_at > timedelta(hours=ctx.options.smtp_cs_job_timeout_hours):
            hours = ctx.options.smtp_cs_job_timeout_hours
            why = f"not finished after {hours:g} h (last status {raw or 'unknown'})"
            self._update(ctx, job, status="TimedOut", checked_at=now, error=why)
            outcome.problems.append(f"search {_range(job)} {why}")
            log.info("%s/smtp_cs_report: search %s timed out", tenant, job.job_id)
        else:
            self._update(ctx, job, status=status or "Unknown", checked_at=now)

    def _fetch_and_load(self, ctx: TenantContext, run: SourceRun, job: JobRecord, url: str, outcome: _Outcome) -> None:
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
            except BrowserSessionRequired:
                self._update(ctx, job, status=WAITING_FOR_ADMIN, error=None, checked_at=ctx.clock.now())
                outcome.waiting_now += 1
                log.info("%s/smtp_cs_report: search %s is ready for an admin download", ctx.tenant.name, job.job_id)
                return
            except FileBusyError:
                self._unavailable(ctx, job, "Exchange answered 503 server busy (downloaded too many times)", outcome)
                return
            except ExpiredLinkError:
                self._unavailable(
                    ctx, job, "Exchange refused its file (downloaded too many times, or the link expired)", outcome
                )
                return
            except RetryableError as exc:
                self._update(ctx, job, error=f"download failed, retried next run: {exc}")
                outcome.problems.append(f"search {_range(job)}: download failed ({exc})")
                return
            downloaded = ctx.clock.now()
            spool.seek(0)
            counter = _Counter()
            try:
                with ctx.store.transaction() as tx:
                    rows = normalize_smtp_cs_report(spool, tenant=ctx.tenant.name, job_id=job.job_id, drift=run.drift)
                    run.load(tx, SmtpCsReportRow, SMTP_CS_REPORT.key, rows, transform=counter)
                    history.update_job(
                        tx,
                        ctx.tenant.name,
                        job.job_id,
                        status="Done",
                        downloaded_at=downloaded,
                        loaded_at=ctx.clock.now(),
                        file_rows=counter.rows,
                        loaded_via="download",
                        error=None,
                    )
            except DownloadError as exc:
                self._unavailable(ctx, job, f"its file could not be read ({exc})", outcome)
                return
        outcome.loaded += 1

    def _unavailable(self, ctx: TenantContext, job: JobRecord, why: str, outcome: _Outcome) -> None:
        self._update(ctx, job, status="Unavailable", error=why)
        outcome.problems.append(f"search {_range(job)}: {why}; the range is searched again")

    @staticmethod
    def _update(ctx: TenantContext, job: JobRecord, **values: Any) -> None:
        with ctx.store.transaction() as tx:
            history.update_job(tx, ctx.tenant.name, job.job_id, **values)

    # ---- submitting -----------------------------------------------------------------------------------------

    def _submit(
        self,
        ctx: TenantContext,
        retries: Sequence[Range],
        fresh: Sequence[Range],
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
                per_day = used + outcome.submitted >= opts.smtp_cs_quota_per_day
                when = "the next day" if per_day else "the next run"
                outcome.quota_hit = (
                    f"{waiting} search(es) wait for {when} ({used + outcome.submitted} submitted in 24 h, "
                    f"quota {opts.smtp_cs_quota_per_day}, at most {opts.smtp_cs_max_searches_per_run} per run)"
                )
                return
            title = f"smtpauth {tenant} {rng.start:%Y%m%d%H%M}-{rng.end:%Y%m%d%H%M}"
            if len(queue) > 1 and rng.senders:
                title += f" {rng.senders[0].split('@')[0][:20]}+{len(rng.senders) - 1}"
            params: dict[str, Any] = {
                "ReportType": "SmtpCSReport",
                "StartDate": rng.start.isoformat(),
                "EndDate": rng.end.isoformat(),
                "ReportTitle": title,
                "SenderAddress": list(rng.senders),
            }
            if ctx.tenant.notify_address:
                params["NotifyAddress"] = list(ctx.tenant.notify_address)
            try:
                info = next(iter(ctx.client.invoke_command("Start-HistoricalSearch", params, idempotent=False)))
            except BadRequestError as exc:
                if (exc.code or "").lower() != "quotaexceeded" and "quota" not in str(exc).lower():
                    raise
                outcome.quota_hit = f"Exchange refused more searches ({exc.code}); the next day resumes"
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
                    senders=rng.senders,
                    notify=ctx.tenant.notify_address,
                )
                if moves_frontier:
                    for sender in rng.senders:
                        runs.set_watermark(tx, tenant, self.name, f"sender:{sender}", rng.end.isoformat(), now=now)
            outcome.submitted += 1
            budget -= 1

    # ---- coverage -------------------------------------------------------------------------------------------

    def _report(self, ctx: TenantContext, run: SourceRun, given_up: list[tuple[Range, str]], outcome: _Outcome) -> None:
        with ctx.store.read() as conn:
            jobs = history.jobs_since(conn, ctx.tenant.name, ctx.clock.now() - timedelta(days=91))
        loaded = [j.end for j in jobs if j.loaded_at is not None]
        run.data_as_of = max(loaded) if loaded else None
        admin = [j for j in jobs if j.status == WAITING_FOR_ADMIN and j.loaded_at is None]
        open_ = sum(1 for j in jobs if j.loaded_at is None and j.status not in FAILED and j.status != WAITING_FOR_ADMIN)
        busy = outcome.loaded or outcome.submitted or open_ or admin or given_up or outcome.quota_hit
        if not busy and not outcome.problems:
            # nothing was due: no reason to show, as for any other source that is up to date
            run.coverage_reason = None
            return
        parts = [f"{outcome.loaded} file(s) loaded, {outcome.submitted} search(es) submitted, {open_} waiting"]
        if admin:
            run.coverage_status = "stale"
            parts.append(
                f"{len(admin)} search(es) ready, waiting for an admin download ({WHERE_IN_EAC}, or the link in the "
                "notification e-mail): hand the files back with `smtpauth import`, the inbox/ folder or the "
                "dashboard; `smtpauth reports waiting` lists them"
            )
        if given_up:
            run.coverage_status = "failed"
            parts.append("given up: " + "; ".join(f"{r}: {why}" for r, why in given_up[:5]))
        if outcome.quota_hit:
            run.coverage_status = "throttled"
            parts.append(f"throttled: historical search quota: {outcome.quota_hit}")
        parts.extend(outcome.problems[:5])
        run.coverage_reason = "; ".join(parts)


def _range(job: JobRecord) -> Range:
    return Range(job.start, job.end, job.senders)


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
