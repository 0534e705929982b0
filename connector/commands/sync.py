"""``smtpauth sync``: pull every source of every tenant into the database."""

import sys

import click

from connector.commands.common import EXIT_FAILED, EXIT_OK, Ctx, expected_errors
from connector.sync.sources import SOURCE_NAMES

__all__ = ["sync"]


@click.command("sync")
@click.option("--tenant", "-t", "tenants", multiple=True, help="Only this tenant (repeatable). Default: all.")
@click.option(
    "--source",
    "-s",
    "sources",
    multiple=True,
    type=click.Choice(SOURCE_NAMES),
    help="Only this source (repeatable).",
)
@click.option("--plain", is_flag=True, help="Plain log lines instead of the live display.")
@click.pass_obj
@expected_errors
def sync(obj: Ctx, tenants: tuple[str, ...], sources: tuple[str, ...], plain: bool) -> None:
    """Sync usage reports, sign-ins and message trace into the database.

    Tenants (those of the configuration and of the tenant registry) run in parallel; one tenant's or source's
    failure does not stop the others; a tenant another process is syncing is skipped (busy). Exit code 0 when every
    source succeeded or is unavailable for a stated reason, 1 when a source failed, 2 for a configuration error.
    """
    from connector.commands.summary import print_sync_summary
    from connector.sync.progress import make_progress
    from jobs.sync import run_sync_job

    settings, store = obj.settings_and_store()
    try:
        results = run_sync_job(
            settings,
            tenants=tenants or None,
            sources=sources or None,
            progress=make_progress(force_plain=plain),
            store=store,
        )
    finally:
        store.close()
    print_sync_summary(results)
    sys.exit(EXIT_OK if all(r.ok for r in results) else EXIT_FAILED)
