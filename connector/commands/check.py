"""``smtpauth check``: validate the configuration, get a token per tenant, probe every source."""

import sys

import click

from connector.commands.common import EXIT_FAILED, EXIT_OK, Ctx, expected_errors

__all__ = ["check"]


@click.command("check")
@click.option("--tenant", "-t", "tenants", multiple=True, help="Only this tenant (repeatable). Default: all.")
@click.pass_obj
@expected_errors
def check(obj: Ctx, tenants: tuple[str, ...]) -> None:
    """Check the configuration and what each tenant's app registration can read.

    Prints, per tenant (configuration and registry), whether the app is consented there, which sources work and,
    for the others, why not and how to fix it. Exit code 0 when
    every probe passed, 1 otherwise, 2 for a configuration error.
    """
    from rich.console import Console
    from rich.markup import escape

    from connector.clock import SystemClock
    from connector.probe import check_tenant
    from connector.sync.factory import build_client, make_limiter
    from connector.tenants import consent_url

    settings, store = obj.settings_and_store()
    store.close()
    clock = SystemClock()
    limiter = make_limiter(settings, clock)
    console = Console(soft_wrap=True)
    all_ok = True
    for tenant in settings.select_tenants(list(tenants) or None):
        client, tokens, http = build_client(settings, tenant, clock=clock, limiter=limiter)
        try:
            result = check_tenant(tenant, tokens, client, clock)
        finally:
            http.close()
        all_ok &= result.ok
        mark = "[green]ok[/green]" if result.token_ok else "[red]FAILED[/red]"
        console.print(f"[bold]{escape(tenant.name)}[/bold] ({escape(tenant.tenant_id)}): token {mark}")
        if not result.token_ok:
            console.print(f"  {escape(result.token_detail)}")
            if result.consent_missing:
                console.print("  admin consent: [red]missing[/red]; send this link to the tenant's administrator:")
                console.print(f"  {escape(consent_url(tenant))}", soft_wrap=True)
        for probe in result.probes:
            mark = "[green]ok[/green]    " if probe.ok else "[red]missing[/red]"
            console.print(f"  {mark} {probe.source:<16} {escape(probe.detail)}")
            if probe.fix:
                console.print(f"          fix: {escape(probe.fix)}")
    sys.exit(EXIT_OK if all_ok else EXIT_FAILED)
