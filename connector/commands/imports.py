"""``smtpauth import``: load files an admin hands over (no API access needed)."""

import sys
from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from connector.commands.common import EXIT_FAILED, Ctx, expected_errors
from connector.errors import ConfigError

if TYPE_CHECKING:
    from connector.imports.batch import FileOutcome

__all__ = ["import_"]

_PATH = click.Path(exists=True, path_type=Path)


def _day(value: datetime | None) -> date | None:
    return value.date() if value else None


class _Display:
    """One progress display for the whole call: files done of all, bytes, rows read (on a terminal only)."""

    def __init__(self, total_bytes: int) -> None:
        from rich.console import Console
        from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeElapsedColumn

        console = Console(stderr=True)
        self.bar = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            DownloadColumn(),
            TextColumn("{task.fields[rows]:,} rows"),
            TimeElapsedColumn(),
            console=console,
            transient=True,
            disable=not console.is_terminal,
        )
        self.task = self.bar.add_task("import", total=total_bytes or None, rows=0)
        self.read = 0

    def file_started(self, index: int, total: int, path: Path) -> None:
        self.bar.update(self.task, description=f"file {index}/{total} {path.name}")

    def rows(self, count: int) -> None:
        self.read += count
        self.bar.update(self.task, rows=self.read)

    def file_done(self, outcome: "FileOutcome", size: int) -> None:
        self.bar.advance(self.task, size)


def _import_inbox(obj: Ctx, tenant: str | None) -> None:
    from connector.clock import SystemClock
    from connector.imports.inbox import process_inbox
    from connector.sync.factory import open_settings_store

    settings = obj.settings(require_tenants=False)
    names = [t.name for t in settings.tenants] if tenant is None else [settings.tenant(tenant).name]
    store = open_settings_store(settings)
    try:
        outcomes = process_inbox(settings.inbox_dir, store, SystemClock(), names)
    finally:
        store.close()
    for done in outcomes:
        click.echo(f"{done.path.name}: {done.detail}", err=not done.ok)
    if not outcomes:
        click.echo(f"nothing waiting in {settings.inbox_dir}")
    if any(not o.ok for o in outcomes):
        sys.exit(EXIT_FAILED)


@click.command("import")
@click.argument("files", nargs=-1, type=_PATH)
@click.option("--tenant", "-t", help="Tenant the data belongs to (default: the only configured tenant).")
@click.option("--from", "period_from", type=click.DateTime(["%Y-%m-%d"]), help="Export: first day it covers.")
@click.option("--to", "period_to", type=click.DateTime(["%Y-%m-%d"]), help="Export: last day it covers.")
@click.option("--as-of", type=click.DateTime(["%Y-%m-%d"]), help="Get-CASMailbox export: the snapshot's day.")
@click.option(
    "--load", "payloads", type=_PATH, multiple=True, help="Saved Graph payload(s), with --source (FILES too)."
)
@click.option("--source", help="What --load holds: usage_user_detail, usage_user_counts, usage_apps_kpi, ...")
@click.option("--view", default="D7", show_default=True, help="--load of usage reports: the period or date.")
@click.option("--search", "search", help="SmtpCSReport file: the search (job id) it answers (default: matched).")
@click.option("--inbox", is_flag=True, help="Import the files waiting in the data directory's inbox/ now.")
@click.pass_obj
@expected_errors
def import_(
    obj: Ctx,
    files: tuple[Path, ...],
    tenant: str | None,
    period_from: datetime | None,
    period_to: datetime | None,
    as_of: datetime | None,
    payloads: tuple[Path, ...],
    source: str | None,
    view: str,
    search: str | None,
    inbox: bool,
) -> None:
    """Import FILES (or the files in a FOLDER): SMTP AUTH clients Export CSVs, saved SmtpCSReport files,
    Get-CASMailbox CSVs.

    The kind is recognized from each file's header. An Export's period comes from --from/--to or from two dates
    in the file name. A file missing required columns is refused (nothing of it loaded; the others are, exit 1);
    the same file imported twice changes nothing. A SmtpCSReport file an admin downloaded is matched to the search
    it answers (--search, a job id in the file name, or its rows), which then counts as loaded. With
    --load FILE... --source NAME, saved Graph payloads (or samples written by `smtpauth check --capture`) are
    loaded instead. With --inbox, the files waiting in inbox/ are imported (as the sync job does first).
    Files loaded by one call share transactions (group commit); each file is loaded whole or not at all.
    """
    from connector.clock import SystemClock
    from connector.imports import LOADABLE_SOURCES, ImportOptions, import_files
    from connector.imports.batch import expand_paths
    from connector.sync.factory import open_settings_store

    if inbox:
        if files or payloads:
            raise click.UsageError("--inbox takes no files")
        _import_inbox(obj, tenant)
        return
    paths = [*payloads, *files]
    # --source alone also means payloads: `smtpauth import --source signins pages/`
    as_payloads = bool(payloads) or source is not None
    if not paths:
        raise click.UsageError("give FILE(s), --load FILE(s) or --inbox")
    if as_payloads and source not in LOADABLE_SOURCES:
        raise click.UsageError(f"--load needs --source, one of: {', '.join(LOADABLE_SOURCES)}")
    if (period_from is None) != (period_to is None):
        raise click.UsageError("--from and --to go together")
    settings = obj.settings(require_tenants=False)
    if tenant is None:
        if len(settings.tenants) != 1:
            raise ConfigError("several (or no) tenants are configured: name one with --tenant", key="tenants")
        tenant = settings.tenants[0].name
    elif settings.tenants:
        settings.tenant(tenant)  # raises ConfigError for an unknown name
    listed = expand_paths(paths)
    options = ImportOptions(_day(period_from), _day(period_to), _day(as_of), search=search)
    display = _Display(sum(p.stat().st_size for p in listed))
    store = open_settings_store(settings)
    kwargs: dict[str, Any] = {"source": source, "view": view} if as_payloads else {"options": options}
    try:
        with display.bar:
            batch = import_files(store, SystemClock(), listed, tenant=tenant, progress=display, **kwargs)
    finally:
        store.close()
    for outcome in batch.outcomes:
        failed = outcome.result is None
        click.echo(f"error: {outcome.error}" if failed else outcome.summary(), err=failed)
    if len(batch.outcomes) > 1:
        click.echo(batch.totals())
    if batch.refused:
        sys.exit(EXIT_FAILED)
