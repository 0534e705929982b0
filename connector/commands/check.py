"""``smtpauth check``: validate the configuration, get a token per tenant, probe every source."""

import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

from connector.commands.common import EXIT_FAILED, EXIT_OK, Ctx, cli_console, expected_errors

if TYPE_CHECKING:
    from rich.console import Console

    from connector.probe import TenantCheck
    from connector.store.store import Store

__all__ = ["check"]

#: a probe's state as printed (same width)
_MARKS = {
    "ok": "[green]ok[/green]     ",
    "warning": "[yellow]warning[/yellow]",
    "missing": "[red]missing[/red]",
    "not_in_cloud": "[yellow]n/a[/yellow]    ",
}


@click.command("check")
@click.option("--tenant", "-t", "tenants", multiple=True, help="Only this tenant (repeatable). Default: all.")
@click.option(
    "--capture",
    "capture_dir",
    type=click.Path(path_type=Path, file_okay=False),
    default=None,
    help="Also write one redacted sample per endpoint into DIR/<tenant>/ (for a bug report).",
)
@click.pass_obj
@expected_errors
def check(obj: Ctx, tenants: tuple[str, ...], capture_dir: Path | None) -> None:
    """Check the configuration and what each tenant's app registration can read.

    Prints, per tenant (configuration and registry), whether the app is consented there, which sources work,
    which the tenant's cloud does not offer, and for the others why not and how to fix it; then the schema drift
    recent syncs recorded. Exit code 0 when every probe passed (or its source does not exist in the cloud), 1
    otherwise, 2 for a configuration error.
    """
    from rich.markup import escape

    from connector.capture import capture_tenant
    from connector.clock import SystemClock
    from connector.probe import check_tenant
    from connector.sync.factory import build_client, make_limiter
    from connector.tenants import consent_url

    settings, store = obj.settings_and_store()
    clock = SystemClock()
    limiter = make_limiter(settings, clock)
    console = cli_console()
    all_ok = True
    tenants_ok = tenants_checked = 0
    counts: dict[str, int] = {}
    for tenant in settings.select_tenants(list(tenants) or None):
        client, tokens, http = build_client(settings, tenant, clock=clock, limiter=limiter)
        captured: dict[str, str] = {}
        try:
            result = check_tenant(tenant, tokens, client, clock)
            if capture_dir is not None and result.token_ok:
                captured = capture_tenant(client, capture_dir / tenant.name, exchange=tenant.exchange_admin)
        finally:
            http.close()
        all_ok &= result.ok
        tenants_checked += 1
        tenants_ok += result.ok
        _tally(counts, result)
        mark = "[green]ok[/green]" if result.token_ok else "[red]FAILED[/red]"
        cloud = f", {tenant.cloud.value} cloud" if tenant.cloud.value != "global" else ""
        console.print(f"[bold]{escape(tenant.name)}[/bold] ({escape(tenant.tenant_id)}{cloud}): token {mark}")
        if not result.token_ok:
            console.print(f"  {escape(result.token_detail)}")
            if result.consent_missing:
                console.print("  admin consent: [red]missing[/red]; send this link to the tenant's administrator:")
                console.print(f"  {escape(consent_url(tenant))}", soft_wrap=True)
        for probe in result.probes:
            console.print(f"  {_MARKS[probe.state]} {probe.source:<17} {escape(probe.detail)}")
            if probe.fix:
                console.print(f"          fix: {escape(probe.fix)}")
        _print_drift(console, store, tenant.name)
        for name, outcome in captured.items():
            console.print(f"  sample  {escape(name):<24} {escape(outcome)}")
    store.close()
    if capture_dir is not None:
        console.print(f"samples in {capture_dir} (redacted; replay with: smtpauth import --load FILE --source NAME)")
    console.print(_summary(tenants_ok, tenants_checked, counts), highlight=False)
    sys.exit(EXIT_OK if all_ok else EXIT_FAILED)


def _tally(counts: dict[str, int], result: "TenantCheck") -> None:
    if not result.token_ok:
        counts["no token"] = counts.get("no token", 0) + 1
    for p in result.probes:
        counts[p.state] = counts.get(p.state, 0) + 1


def _print_drift(console: "Console", store: "Store", tenant: str) -> None:
    """The schema drift recent syncs of ``tenant`` recorded (the 20 newest)."""
    from rich.markup import escape

    from connector.store.runs import drift_rows

    with store.read() as conn:
        drift = drift_rows(conn, tenant)
    for d in drift[:20]:
        what = f"{d.kind.replace('_', ' ')} {d.name} ({d.subject})"
        console.print(f"  [yellow]drift[/yellow]   {d.source:<17} {escape(what)}, last seen {d.last_seen_at:%Y-%m-%d}")
    if len(drift) > 20:
        console.print(f"          ... {len(drift) - 20} more in the schema_drift table")


def _summary(tenants_ok: int, tenants: int, counts: dict[str, int]) -> str:
    """The last line: how many tenants are ready, the probes per state, and what the exit code says."""
    labels = (("ok", "ok"), ("warning", "with a warning"), ("missing", "missing"), ("not_in_cloud", "not in the cloud"))
    parts = [f"{counts[k]} {label}" for k, label in labels if counts.get(k)]
    if counts.get("no token"):
        parts.append(f"{counts['no token']} tenant(s) without a token")
    verdict = (
        "exit 0: every source works or is not offered in its cloud"
        if tenants_ok == tenants
        else "exit 1: fix what is marked missing above"
    )
    return f"check: {tenants_ok} of {tenants} tenant(s) ready; sources: {', '.join(parts) or 'none'} ({verdict})"
