"""``smtpauth import``: load files an admin hands over (no API access needed)."""

from datetime import date, datetime
from pathlib import Path

import click

from connector.commands.common import Ctx, expected_errors
from connector.errors import ConfigError

__all__ = ["import_"]

_FILE = click.Path(exists=True, dir_okay=False, path_type=Path)


def _day(value: datetime | None) -> date | None:
    return value.date() if value else None


@click.command("import")
@click.argument("file", required=False, type=_FILE)
@click.option("--tenant", "-t", help="Tenant the data belongs to (default: the only configured tenant).")
@click.option("--from", "period_from", type=click.DateTime(["%Y-%m-%d"]), help="Export: first day it covers.")
@click.option("--to", "period_to", type=click.DateTime(["%Y-%m-%d"]), help="Export: last day it covers.")
@click.option("--as-of", type=click.DateTime(["%Y-%m-%d"]), help="Get-CASMailbox export: the snapshot's day.")
@click.option("--load", "payload", type=_FILE, help="A saved Graph payload (with --source).")
@click.option("--source", help="What --load holds: usage_user_detail, usage_user_counts, usage_apps_kpi, ...")
@click.option("--view", default="D7", show_default=True, help="--load of usage reports: the period or date.")
@click.option("--search", "search", help="SmtpCSReport file: the search (job id) it answers (default: matched).")
@click.pass_obj
@expected_errors
def import_(
    obj: Ctx,
    file: Path | None,
    tenant: str | None,
    period_from: datetime | None,
    period_to: datetime | None,
    as_of: datetime | None,
    payload: Path | None,
    source: str | None,
    view: str,
    search: str | None,
) -> None:
    """Import FILE: an SMTP AUTH clients Export CSV, a saved SmtpCSReport file or a Get-CASMailbox CSV.

    The kind is recognized from the header. An Export's period comes from --from/--to or from two dates in the
    file name. A file missing required columns is refused (nothing loaded, exit 1); the same file imported
    twice changes nothing. A SmtpCSReport file an admin downloaded is matched to the search it answers (--search,
    a job id in the file name, or its rows), which then counts as loaded. With --load FILE --source NAME, a saved
    Graph payload (or a sample written by `smtpauth check --capture`) is loaded instead.
    """
    from connector.clock import SystemClock
    from connector.imports import LOADABLE_SOURCES, ImportOptions, import_file, load_payload
    from connector.sync.factory import open_settings_store

    if (file is None) == (payload is None):
        raise click.UsageError("give either FILE or --load FILE")
    if payload is not None and source not in LOADABLE_SOURCES:
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
    store = open_settings_store(settings)
    try:
        if payload is not None:
            assert source is not None  # noqa: S101 (checked above)
            result = load_payload(store, SystemClock(), payload, tenant=tenant, source=source, view=view)
        else:
            assert file is not None  # noqa: S101 (checked above)
            options = ImportOptions(_day(period_from), _day(period_to), _day(as_of), search=search)
            result = import_file(store, SystemClock(), file, tenant=tenant, options=options)
    finally:
        store.close()
    click.echo(result.summary())
