"""``smtpauth rollups rebuild``: recompute the rollups from the raw rows (after a repair, a restore, a bug fix)."""

from datetime import date

import click

from connector.commands.common import Ctx, expected_errors

__all__ = ["rollups"]


@click.group("rollups")
def rollups() -> None:
    """The per-day totals the reports, the API and the dashboard read (kept by every sync and import)."""


@rollups.command("rebuild")
@click.option("--tenant", "-t", default=None, help="Only this tenant (default: every tenant in the database).")
@click.option("--from", "date_from", default=None, help="First day (UTC), YYYY-MM-DD (default: the oldest stored).")
@click.option("--to", "date_to", default=None, help="Last day (UTC, included), YYYY-MM-DD (default: the newest).")
@click.pass_obj
@expected_errors
def rebuild(obj: Ctx, tenant: str | None, date_from: str | None, date_to: str | None) -> None:
    """Recompute the rollups from the raw rows, one day at a time (bounded memory; readers are never blocked)."""
    from connector.artifacts import parse_date
    from connector.errors import ConfigError
    from connector.store import rollups as store_rollups
    from connector.sync.factory import open_settings_store

    settings = obj.settings()
    if tenant is not None:
        settings.tenant(tenant)
    first: date | None = parse_date(date_from, "--from") if date_from else None
    last: date | None = parse_date(date_to, "--to") if date_to else None
    if first and last and last < first:
        raise ConfigError(f"{last.isoformat()} is before --from {first.isoformat()}: swap them", key="--to")
    store = open_settings_store(settings)
    try:
        result = store_rollups.rebuild(store.engine, tenant=tenant, date_from=first, date_to=last)
    finally:
        store.close()
    if not result.tenants:
        click.echo("nothing to rebuild: no stored rows" + (f" for {tenant}" if tenant else ""))
        return
    click.echo(f"rebuilt {result.days} day(s), {result.sender_days} sender-day(s) for {', '.join(result.tenants)}")
