"""``smtpauth tenants add | list | remove | import FILE.csv | consent-url TENANT``: the tenant registry."""

import sys
from datetime import UTC, datetime
from pathlib import Path

import click

from connector.commands.common import EXIT_OK, Ctx, expected_errors

__all__ = ["tenants"]


@click.group("tenants")
def tenants() -> None:
    """Tenants kept in the database (for large estates), listed alongside the [[tenants]] of the configuration.

    A registry tenant names its credential by reference: app:NAME (an [[apps]] table, a multi-tenant app),
    env:VARIABLE or file:/path (a client secret). Secrets themselves are refused.
    """


def _now() -> datetime:
    return datetime.now(UTC)


@tenants.command("add")
@click.argument("name")
@click.option("--tenant-id", required=True, help="Directory (tenant) id: a GUID or a verified domain.")
@click.option("--credential", required=True, help="app:NAME, env:VARIABLE or file:/path (never the secret itself).")
@click.option("--client-id", default=None, help="Application id (with env: and file: credentials).")
@click.option("--cloud", default="global", show_default=True, help="global, usgov, usgovdod or china.")
@click.option("--schedule", default=None, help="Cron expression of the nightly sync (default: service.schedule).")
@click.option("--timezone", default=None, help="IANA time zone of --schedule (default UTC).")
@click.option("--primary-domain", default=None, help="A verified domain (Exchange admin API anchor).")
@click.option("--exchange-admin", is_flag=True, help="Opt in to the Exchange admin API for this tenant.")
@click.option("--replace", is_flag=True, help="Update the tenant if the registry has it already.")
@click.pass_obj
@expected_errors
def add(
    obj: Ctx,
    name: str,
    tenant_id: str,
    credential: str,
    client_id: str | None,
    cloud: str,
    schedule: str | None,
    timezone: str | None,
    primary_domain: str | None,
    exchange_admin: bool,
    replace: bool,
) -> None:
    """Add tenant NAME to the registry."""
    from connector.sync.factory import open_settings_store
    from connector.tenants import TenantEntry, add_tenant

    settings = obj.settings(require_tenants=False)
    entry = TenantEntry.parse(
        {
            "name": name,
            "tenant_id": tenant_id,
            "credential": credential,
            "client_id": client_id,
            "cloud": cloud,
            "schedule": schedule,
            "timezone": timezone,
            "primary_domain": primary_domain,
            "exchange_admin": exchange_admin,
        },
    )
    store = open_settings_store(settings)
    try:
        new = add_tenant(store, settings, entry, now=_now(), replace=replace)
    finally:
        store.close()
    click.echo(f"{'added' if new else 'updated'} {entry.name} ({entry.tenant_id}, {entry.cloud.value})")


@tenants.command("import")
@click.argument("file", type=click.Path(path_type=Path, dir_okay=False, exists=True))
@click.pass_obj
@expected_errors
def import_(obj: Ctx, file: Path) -> None:
    """Add or update every tenant of FILE.csv (all or nothing).

    Columns: name, tenant_id, credential (required); cloud, client_id, schedule, timezone, primary_domain,
    exchange_admin.
    """
    from connector.errors import ConfigError
    from connector.sync.factory import open_settings_store
    from connector.tenants import import_csv

    settings = obj.settings(require_tenants=False)
    try:
        text = file.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError:
        raise ConfigError(f"{file} is not UTF-8 text", key="FILE") from None
    store = open_settings_store(settings)
    try:
        added, updated = import_csv(store, settings, text, now=_now(), source=str(file))
    finally:
        store.close()
    click.echo(f"{file}: {added} tenant(s) added, {updated} updated")


@tenants.command("remove")
@click.argument("name")
@click.pass_obj
@expected_errors
def remove(obj: Ctx, name: str) -> None:
    """Remove tenant NAME from the registry (the data synced for it stays)."""
    from connector.sync.factory import open_settings_store
    from connector.tenants import remove_tenant

    settings = obj.settings(require_tenants=False)
    store = open_settings_store(settings)
    try:
        remove_tenant(store, settings, name)
    finally:
        store.close()
    click.echo(f"removed {name}")


@tenants.command("list")
@click.pass_obj
@expected_errors
def list_cmd(obj: Ctx) -> None:
    """Every tenant: the configuration's and the registry's, with cloud, credential reference and schedule."""
    from rich import box
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    from connector.tenants import list_registry

    settings, store = obj.settings_and_store()
    try:
        registry = {e.name: e for e in list_registry(store)}
    finally:
        store.close()
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False, collapse_padding=True)
    for col in ("tenant", "from", "cloud", "credential", "schedule"):
        table.add_column(col, no_wrap=col != "credential", overflow="fold")
    for t in settings.tenants:
        sched = settings.service.tenant_schedules.get(t.name, settings.service.schedule)
        entry = registry.get(t.name)
        if entry is not None:
            credential = entry.credential
        elif t.client_secret_env:
            credential = f"env:{t.client_secret_env}"
        elif t.client_secret_file:
            credential = f"file:{t.client_secret_file}"
        else:
            credential = f"certificate {t.certificate_path}"
        table.add_row(
            escape(t.name),
            "registry" if entry else "config",
            t.cloud.value,
            escape(credential),
            escape(f"{sched.cron} {sched.timezone}"),
        )
    Console(width=None if sys.stdout.isatty() else 120).print(table)
    click.echo(f"{len(settings.tenants)} tenant(s): {len(registry)} in the registry")
    sys.exit(EXIT_OK)


@tenants.command("consent-url")
@click.argument("name")
@click.option("--redirect-uri", default=None, help="Where the browser lands after consent (a reply URL of the app).")
@click.pass_obj
@expected_errors
def consent_url_cmd(obj: Ctx, name: str, redirect_uri: str | None) -> None:
    """Print the admin-consent link of tenant NAME's app, for an administrator of that tenant to open.

    Consent creates the app's service principal in the tenant and grants its application permissions; run
    `smtpauth check --tenant NAME` afterwards to confirm it.
    """
    from connector.tenants import consent_url

    settings, store = obj.settings_and_store()
    store.close()
    click.echo(consent_url(settings.tenant(name), redirect_uri=redirect_uri))
