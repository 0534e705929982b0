"""``smtpauth report``, ``smtpauth request-report`` and ``smtpauth reports list / show / download``."""

import shutil
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

from connector.commands.common import EXIT_FAILED, EXIT_OK, Ctx, expected_errors

if TYPE_CHECKING:
    from connector.artifacts import ReportParams
    from connector.config import Settings

__all__ = ["report", "reports", "request_report"]

_FORMATS_HELP = "Comma-separated formats: html, csv, xlsx, parquet (default: report.formats)."


def _range_options(fn: click.decorators.FC) -> click.decorators.FC:
    for option in reversed(
        (
            click.option("--tenant", "-t", required=True, help="Tenant name from the configuration."),
            click.option("--from", "date_from", required=True, help="First day (UTC), YYYY-MM-DD."),
            click.option("--to", "date_to", required=True, help="Last day (UTC, included), YYYY-MM-DD."),
            click.option("--domain", "domains", multiple=True, help="Only this sender domain (repeatable)."),
            click.option("--sender", "senders", multiple=True, help="Only this sender address (repeatable)."),
            click.option("--format", "formats", multiple=True, help=_FORMATS_HELP),
            click.option(
                "--signin-ip-only/--all-trace-rows",
                "signin_ip_only",
                default=None,
                help="Message-trace volume: only rows from the sender's SMTP sign-in IPs (default: "
                "report.trace_signin_ip_only).",
            ),
            click.option(
                "--granularity",
                type=click.Choice(["auto", "day", "week", "month"], case_sensitive=False),
                default=None,
                help="Period of a sending_volume_by_sender row: day, week, month, or auto: per day up to 92 days, "
                "per calendar month beyond (default: report.granularity).",
            ),
        )
    ):
        fn = option(fn)
    return fn


def _params(
    obj: Ctx,
    tenant: str,
    date_from: str,
    date_to: str,
    domains: tuple[str, ...],
    senders: tuple[str, ...],
    formats: tuple[str, ...],
    signin_ip_only: bool | None,
    granularity: str | None,
) -> "tuple[Settings, ReportParams]":
    from connector.artifacts import ReportParams, parse_date, parse_formats

    settings = obj.settings()
    params = ReportParams.build(
        settings,
        tenant=tenant,
        date_from=parse_date(date_from, "--from"),
        date_to=parse_date(date_to, "--to"),
        domains=domains,
        senders=senders,
        formats=parse_formats(formats) if formats else None,
        trace_signin_ip_only=signin_ip_only,
        granularity=granularity,
    )
    if params.domains:
        _refuse_unknown_domains(settings, params)
    return settings, params


def _refuse_unknown_domains(settings: "Settings", params: "ReportParams") -> None:
    """A ``--domain`` no data of the tenant has ever shown gives only empty tables: refuse it, naming the known
    ones (a tenant without any data yet is not checked)."""
    from connector.store.readside.domains import known_domains, refuse_unknown_domains
    from connector.store.readside.sql import Dialect
    from connector.sync.factory import open_settings_store

    store = open_settings_store(settings)
    try:
        with store.read() as conn:
            known = known_domains(conn, Dialect(store.dialect), params.tenant)
    finally:
        store.close()
    refuse_unknown_domains(known, params.tenant, params.domains)


@click.command("report")
@_range_options
@click.option("--out", "out_dir", required=True, type=click.Path(path_type=Path, file_okay=False), help="Folder.")
@click.pass_obj
@expected_errors
def report(
    obj: Ctx,
    tenant: str,
    date_from: str,
    date_to: str,
    domains: tuple[str, ...],
    senders: tuple[str, ...],
    formats: tuple[str, ...],
    signin_ip_only: bool | None,
    granularity: str | None,
    out_dir: Path,
) -> None:
    """Build the SMTP AUTH clients report from the database (no call to Microsoft)."""
    from connector.artifacts import build_report
    from connector.sync.factory import open_settings_store

    settings, params = _params(obj, tenant, date_from, date_to, domains, senders, formats, signin_ip_only, granularity)
    store = open_settings_store(settings)
    try:
        result = build_report(store, params, out_dir)
    finally:
        store.close()
    for path in result.paths:
        click.echo(f"wrote {path}")
    for name, section in result.summary["sections"].items():
        if section["empty_reason"]:
            click.echo(f"note: {name} is empty: {section['empty_reason']}")
    if result.html is not None:
        click.echo(f"open {result.html.resolve().as_uri()}")


@click.command("request-report")
@_range_options
@click.option("--wait", is_flag=True, help="Run the job in this process and wait for it.")
@click.option(
    "--notify",
    "recipients",
    multiple=True,
    help="E-mail this address when the job ends (repeatable; needs [notify] smtp_host).",
)
@click.pass_obj
@expected_errors
def request_report(
    obj: Ctx,
    tenant: str,
    date_from: str,
    date_to: str,
    domains: tuple[str, ...],
    senders: tuple[str, ...],
    formats: tuple[str, ...],
    signin_ip_only: bool | None,
    granularity: str | None,
    wait: bool,
    recipients: tuple[str, ...],
) -> None:
    """Queue a report and build it in the background; follow it with `smtpauth reports show JOB_ID`."""
    from connector.sync.factory import open_settings_store
    from jobs import report as jobs

    settings, params = _params(obj, tenant, date_from, date_to, domains, senders, formats, signin_ip_only, granularity)
    to = jobs.check_recipients(settings, recipients)
    store = open_settings_store(settings)
    try:
        jobs.recover_report_jobs(settings, store)
        job_id = jobs.request_report(store, params, recipients=to)
        if wait:
            job = jobs.run_report_job(settings, store, job_id)
            click.echo(f"{job_id} {job.status}" + (f": {job.error}" if job.error else ""))
            sys.exit(EXIT_OK if job.status == "succeeded" else EXIT_FAILED)
        pid = jobs.spawn_worker(obj.config_path, job_id, settings.report_jobs_dir / "logs")
    finally:
        store.close()
    click.echo(f"{job_id} queued (worker pid {pid}); see: smtpauth reports show {job_id}")


@click.group("reports")
def reports() -> None:
    """Requested reports: list, show, download."""


@reports.command("list")
@click.option("--tenant", "-t", default=None, help="Only this tenant.")
@click.option("--limit", type=click.IntRange(1, 1000), default=50, show_default=True)
@click.pass_obj
@expected_errors
def list_cmd(obj: Ctx, tenant: str | None, limit: int) -> None:
    """Newest requested reports first."""
    from connector.sync.factory import open_settings_store
    from jobs import report as jobs

    settings = obj.settings()
    store = open_settings_store(settings)
    try:
        jobs.recover_report_jobs(settings, store)
        rows = jobs.list_report_jobs(store, tenant=tenant, limit=limit)
    finally:
        store.close()
    if not rows:
        click.echo("no requested reports")
    for j in rows:
        state = "purged" if j.purged_at else j.status
        click.echo(f"{j.job_id}  {j.tenant}  {j.date_from}..{j.date_to}  {state}  {j.requested_at:%Y-%m-%d %H:%M}Z")


@reports.command("show")
@click.argument("job_id", metavar="JOB_ID")
@click.pass_obj
@expected_errors
def show(obj: Ctx, job_id: str) -> None:
    """Status, parameters and artifacts of one requested report."""
    import json

    from connector.sync.factory import open_settings_store
    from jobs import report as jobs

    settings = obj.settings()
    store = open_settings_store(settings)
    try:
        jobs.recover_report_jobs(settings, store)
        j = jobs.find_report_job(store, job_id)
    finally:
        store.close()
    click.echo(f"job:        {j.job_id}\ntenant:     {j.tenant}\nrange:      {j.date_from} .. {j.date_to}")
    click.echo(f"parameters: {json.dumps(j.parameters)}\nstatus:     {j.status}")
    for label, value in (("requested", j.requested_at), ("started", j.started_at), ("finished", j.finished_at)):
        if value is not None:
            click.echo(f"{label + ':':<12}{value.isoformat()}")
    if j.error:
        click.echo(f"error:      {j.error}")
    if j.purged_at:
        click.echo(f"artifacts removed by the retention policy on {j.purged_at:%Y-%m-%d}")
    elif j.artifact_dir:
        click.echo(f"folder:     {j.artifact_dir}")
        for name in j.artifacts:
            click.echo(f"  {name}")


@reports.command("download")
@click.argument("job_id", metavar="JOB_ID")
@click.argument("folder", metavar="[DIR]", required=False, type=click.Path(path_type=Path, file_okay=False))
@click.option("--out", "out_dir", type=click.Path(path_type=Path, file_okay=False), help="Folder (same as DIR).")
@click.pass_obj
@expected_errors
def download(obj: Ctx, job_id: str, folder: Path | None, out_dir: Path | None) -> None:
    """Copy the artifacts of a finished report into a folder: reports download JOB_ID DIR.

    JOB_ID may be the start of the id (as `reports list` shows it) when no other job starts the same way.
    """
    from connector.errors import ConfigError, SmtpAuthError
    from connector.sync.factory import open_settings_store
    from jobs import report as jobs

    if folder is not None and out_dir is not None and folder != out_dir:
        raise ConfigError(f"two folders given ({folder} and --out {out_dir}): give one", key="DIR")
    target_dir = folder or out_dir
    if target_dir is None:
        raise ConfigError("give the folder to copy the artifacts into: smtpauth reports download JOB_ID DIR", key="DIR")
    settings = obj.settings()
    store = open_settings_store(settings)
    try:
        j = jobs.find_report_job(store, job_id)
    finally:
        store.close()
    if j.status != "succeeded":
        detail = f": {j.error}" if j.error else f" (follow it: smtpauth reports show {j.job_id})"
        raise SmtpAuthError(f"report {j.job_id} is {j.status}, nothing to download yet{detail}")
    if j.purged_at or not j.artifact_dir or not Path(j.artifact_dir).is_dir():
        raise SmtpAuthError(f"the artifacts of report {j.job_id} were removed by the retention policy")
    source = Path(j.artifact_dir)
    for name in j.artifacts:
        target = target_dir / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source / name, target)
        click.echo(f"wrote {target}")


@reports.command("waiting")
@click.option("--tenant", "-t", default=None, help="Only this tenant.")
@click.pass_obj
@expected_errors
def waiting(obj: Ctx, tenant: str | None) -> None:
    """Exchange Request report searches whose file waits for an admin download, and where to get each file.

    The Exchange portal serves these files only to a signed-in admin: download each one and hand it back with
    `smtpauth import FILE`, the inbox/ folder or the dashboard's upload.
    """
    from connector.store.history import waiting_jobs
    from connector.sync.factory import open_settings_store
    from connector.sync.sources.smtp_cs_report import admin_fetch_hint

    settings = obj.settings()
    if tenant:
        settings.tenant(tenant)
    clouds = {t.name: t.cloud.value for t in settings.tenants}
    store = open_settings_store(settings)
    try:
        with store.read() as conn:
            jobs = waiting_jobs(conn, tenant)
    finally:
        store.close()
    if not jobs:
        click.echo("no search is waiting for an admin download")
        return
    import textwrap

    several = len(settings.tenants) > 1
    for j in jobs:
        click.echo(f"{j.tenant}  {j.job_id}")
        click.echo(f"  report:   {j.title or ''}")
        click.echo(f"  range:    {j.start:%Y-%m-%d %H:%M} .. {j.end:%Y-%m-%d %H:%M} UTC, {len(j.senders)} sender(s)")
        click.echo(f"  searched: {j.submitted_at:%Y-%m-%d %H:%M} UTC (listed by Exchange for ten days)")
        hint = admin_fetch_hint(j, clouds.get(j.tenant, "global"))
        wrapped = textwrap.fill(
            hint, 80, initial_indent="  get it:   ", subsequent_indent=" " * 12, break_on_hyphens=False
        )
        click.echo(wrapped)
        flag = f" --tenant {j.tenant}" if several else ""
        click.echo(f"  then:     smtpauth import FILE{flag} --search {j.job_id}")
