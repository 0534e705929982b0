"""``smtpauth findings`` (list, ``ack``) and ``smtpauth readiness``: insights from the stored data only."""

import sys
from datetime import UTC, datetime
from pathlib import Path

import click
from rich import box
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from connector.commands.common import EXIT_FAILED, Ctx, expected_errors

__all__ = ["findings", "readiness"]


def _console() -> Console:
    return Console(width=None if sys.stdout.isatty() else 160)


@click.group("findings", invoke_without_command=True)
@click.option("--tenant", "-t", default=None, help="Only this tenant.")
@click.option("--severity", type=click.Choice(["low", "medium", "high"]), default=None, help="At least this.")
@click.option("--all", "show_all", is_flag=True, help="Include acknowledged findings.")
@click.option(
    "--csv", "csv_path", type=click.Path(path_type=Path, dir_okay=False), help="Also write findings.csv here."
)
@click.pass_context
@expected_errors
def findings(
    ctx: click.Context, tenant: str | None, severity: str | None, show_all: bool, csv_path: Path | None
) -> None:
    """List unusual SMTP AUTH activity found after each sync (most severe first)."""
    if ctx.invoked_subcommand is not None:
        return
    from connector.insights.export import FINDINGS_COLUMNS, finding_rows, write_csv
    from connector.insights.store import list_findings
    from connector.sync.factory import open_settings_store

    obj: Ctx = ctx.obj
    settings = obj.settings()
    if tenant:
        settings.tenant(tenant)
    store = open_settings_store(settings)
    try:
        with store.read() as conn:
            rows = list_findings(conn, tenant=tenant, min_severity=severity, include_acknowledged=show_all)
    finally:
        store.close()
    table = Table(title="smtpauth findings", box=box.SIMPLE_HEAD, pad_edge=False)
    for col in ("id", "severity", "tenant", "kind", "account", "window (UTC)", "summary", "ack"):
        table.add_column(col, overflow="fold")
    for r in rows:
        window = f"{r.window_start:%Y-%m-%d %H:%M} → {r.window_end:%Y-%m-%d %H:%M}"
        ack = f"{r.acknowledged_at:%Y-%m-%d}" if r.acknowledged_at else ""
        table.add_row(str(r.id), r.severity, r.tenant, r.kind, escape(r.account), window, escape(r.summary), ack)
    console = _console()
    console.print(table)
    if not rows:
        console.print("no findings" + ("" if show_all else " (acknowledged ones are hidden: --all)"))
    if csv_path is not None:
        write_csv(csv_path, FINDINGS_COLUMNS, finding_rows(rows))
        console.print(f"wrote {escape(str(csv_path))}")


@findings.command("ack")
@click.argument("finding_id", type=click.IntRange(1, 2**63 - 1))
@click.option("--note", default=None, help="Why (kept with the finding).")
@click.pass_obj
@expected_errors
def ack(obj: Ctx, finding_id: int, note: str | None) -> None:
    """Acknowledge a finding: hidden from the default list, kept acknowledged across re-runs."""
    from connector.insights.store import acknowledge
    from connector.sync.factory import open_settings_store

    store = open_settings_store(obj.settings())
    try:
        with store.transaction() as conn:
            done = acknowledge(conn, finding_id, note=note, now=datetime.now(UTC))
    finally:
        store.close()
    if not done:
        click.echo(f"error: no finding #{finding_id} (see smtpauth findings --all)", err=True)
        sys.exit(EXIT_FAILED)
    click.echo(f"finding #{finding_id} acknowledged")


@click.command("readiness")
@click.option("--tenant", "-t", default=None, help="Only this tenant (default: every tenant).")
@click.option(
    "--out",
    "out_dir",
    type=click.Path(path_type=Path, file_okay=False),
    default=None,
    help="Folder for readiness.csv and burndown.csv (default: output dir/readiness/<tenant>).",
)
@click.pass_obj
@expected_errors
def readiness(obj: Ctx, tenant: str | None, out_dir: Path | None) -> None:
    """Per-account readiness for the Basic auth switch-off (end of December 2026) and the burndown."""
    from connector.insights.export import write_csv
    from connector.insights.readiness import BASIC_OFF_BY_DEFAULT, BURNDOWN_COLUMNS, READINESS_COLUMNS, burndown
    from connector.insights.readiness import readiness as readiness_rows
    from connector.sync.factory import open_settings_store

    settings = obj.settings()
    cfg = settings.insights
    today = datetime.now(UTC).date()
    console = _console()
    store = open_settings_store(settings)
    try:
        for t in settings.select_tenants([tenant] if tenant else None):
            rows = readiness_rows(store, t.name, today=today, days=cfg.readiness_days)
            burn = burndown(store, t.name, today=today, days=cfg.burndown_days)
            table = Table(title=f"{t.name}: readiness ({cfg.readiness_days} days)", box=box.SIMPLE_HEAD)
            for col in ("account", "status", "last seen", "msgs", "client IPs", "next step"):
                table.add_column(col, overflow="fold")
            for r in rows:
                table.add_row(*(escape(str(v or "")) for v in (r[0], r[1], r[3], r[4], r[8], r[10])))
            console.print(table)
            days_left = (BASIC_OFF_BY_DEFAULT - today).days
            last_week = burn[-7:]
            console.print(
                f"Basic SMTP AUTH: {max((b[2] for b in last_week), default=0)} accounts on the busiest day of the last "
                f"7 days; {days_left} days to the default switch-off (end of December 2026; removal date to be "
                "announced in 2H 2027)."
            )
            folder = (
                out_dir / t.name if out_dir and not tenant else out_dir or settings.output_dir / "readiness" / t.name
            )
            write_csv(folder / "readiness.csv", READINESS_COLUMNS, rows)
            write_csv(folder / "burndown.csv", BURNDOWN_COLUMNS, burn)
            console.print(f"wrote {escape(str(folder / 'readiness.csv'))} and burndown.csv")
    finally:
        store.close()
