"""``smtpauth findings`` (list, ``ack``) and ``smtpauth readiness``: insights from the stored data only."""

import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click
from rich import box
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from connector.commands.common import EXIT_FAILED, Ctx, cli_console, expected_errors

__all__ = ["findings", "readiness"]


def _console() -> Console:
    return cli_console()


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
    for col in ("id", "severity", "tenant", "kind", "account", "window (UTC)", "summary", "action", "ack"):
        table.add_column(col, overflow="fold")
    for r in rows:
        window = f"{r.window_start:%Y-%m-%d %H:%M} → {r.window_end:%Y-%m-%d %H:%M}"
        ack = f"{r.acknowledged_at:%Y-%m-%d}" if r.acknowledged_at else ""
        table.add_row(
            str(r.id), r.severity, r.tenant, r.kind, escape(r.account), window, escape(r.summary), escape(r.action), ack
        )
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


#: readiness statuses not listed unless asked for (--status or --all): nothing urgent, and many of them
_QUIET = ("enabled_but_unused", "no_activity_in_range", "oauth_only")


def _width() -> int | None:
    """Columns to wrap at: the terminal's (or $COLUMNS); None (no wrapping) for a pipe or a file."""
    import os
    import shutil

    if sys.stdout.isatty() or os.environ.get("COLUMNS", "").isdigit():
        return max(shutil.get_terminal_size().columns, 40)
    return None


def _words(text: str, width: int | None, indent: str, first: str | None = None) -> list[str]:
    """``text`` wrapped at ``width`` between words only (an address or a command is never cut)."""
    import textwrap

    lead = indent if first is None else first
    if width is None:
        return [lead + text]
    return textwrap.wrap(
        text,
        width,
        initial_indent=lead,
        subsequent_indent=indent,
        break_long_words=False,
        break_on_hyphens=False,
    ) or [lead]


def _facts(row: tuple[object, ...]) -> list[str]:
    """The short facts of one readiness row, each kept whole when lines are wrapped."""
    _account, _status, protocol, last_seen, messages, basic, failed, legacy, ips = row[:9]
    enabled, snapshot, last_active = row[9], row[11], row[12]
    facts = [f"auth {protocol}", f"{messages:,} msgs"]
    if legacy:
        facts.append(f"{legacy:,} over TLS 1.0/1.1")
    if basic or failed:
        facts.append(f"sign-ins {basic:,} ok / {failed:,} failed")
    if last_active or last_seen:
        facts.append(f"last used {last_active}" if last_active else f"last seen {str(last_seen)[:10]}")
    if enabled is not None:
        facts.append(f"SMTP AUTH {'on' if enabled else 'off'} (as of {snapshot})")
    if ips:
        facts.append(f"IPs {ips}")
    return facts


def _print_readiness(
    tenant: str,
    rows: list[tuple[Any, ...]],
    burn: list[tuple[Any, ...]],
    shown: set[str],
    width: int | None,
    days_left: int,
) -> None:
    """One tenant's readiness: the summary first, then the shown statuses' accounts with their next step."""
    from connector.insights.readiness import READINESS_STATUSES

    out = click.echo
    counts: dict[str, int] = {}
    for r in rows:
        counts[r[1]] = counts.get(r[1], 0) + 1
    busiest = max((b[2] for b in burn[-7:]), default=0)
    action = sum(n for s, n in counts.items() if s not in _QUIET)
    head = (
        f"{tenant}: {action:,} of {len(rows):,} accounts need action before Basic SMTP AUTH is switched off "
        f"by default (end of December 2026, {days_left} days left; removal date to be announced in 2H "
        f"2027). Basic SMTP AUTH: {busiest:,} accounts on the busiest day of the last 7 days."
    )
    for line in _words(head, width, "  ", ""):
        out(line)
    ordered = [s for s in READINESS_STATUSES if counts.get(s)]
    tally = [f"{s} {counts[s]:,}" + ("" if s in shown else " (hidden)") for s in ordered]
    for line in _words("; ".join(tally) or "no accounts in the data yet", width, "  ", "  "):
        out(line)
    hidden = [s for s in ordered if s not in shown]
    if hidden:
        hint = f"hidden: {', '.join(hidden)}; list them with --status NAME or --all (all are in readiness.csv)"
        for line in _words(hint, width, "  ", "  "):
            out(line)
    for status in ordered:
        if status not in shown:
            continue
        out()
        out(f"{status} ({counts[status]:,}):")
        for r in rows:
            if r[1] != status:
                continue
            out(f"  {r[0]}")
            for line in _words("; ".join(_facts(r)), width, "      ", "    "):
                out(line)
            for line in _words(str(r[10]), width, "      ", "    next: "):
                out(line)


@click.command("readiness")
@click.option("--tenant", "-t", default=None, help="Only this tenant (default: every tenant).")
@click.option(
    "--status",
    "statuses",
    multiple=True,
    help="Only accounts with this status (repeatable). Default: every status that needs action.",
)
@click.option("--all", "show_all", is_flag=True, help="List every status, also enabled_but_unused and oauth_only.")
@click.option(
    "--out",
    "out_dir",
    type=click.Path(path_type=Path, file_okay=False),
    default=None,
    help="Folder for readiness.csv and burndown.csv (default: output dir/readiness/<tenant>).",
)
@click.pass_obj
@expected_errors
def readiness(obj: Ctx, tenant: str | None, statuses: tuple[str, ...], show_all: bool, out_dir: Path | None) -> None:
    """Per-account readiness for the Basic auth switch-off (end of December 2026) and the burndown.

    Prints the summary first (accounts per status, the burndown's latest figure, days left), then the accounts
    that need action grouped by status with their next step; every account is in readiness.csv.
    """
    from connector.errors import ConfigError
    from connector.insights.export import write_csv
    from connector.insights.readiness import (
        BASIC_OFF_BY_DEFAULT,
        BURNDOWN_COLUMNS,
        READINESS_COLUMNS,
        READINESS_STATUSES,
        burndown,
    )
    from connector.insights.readiness import readiness as readiness_rows
    from connector.sync.factory import open_settings_store

    unknown = [s for s in statuses if s not in READINESS_STATUSES]
    if unknown:
        raise ConfigError(f"unknown status {unknown[0]!r}: one of {', '.join(READINESS_STATUSES)}", key="--status")
    settings = obj.settings()
    cfg = settings.insights
    today = datetime.now(UTC).date()
    width = _width()
    shown = set(statuses) if statuses else set(READINESS_STATUSES) - (set() if show_all else set(_QUIET))

    store = open_settings_store(settings)
    try:
        for t in settings.select_tenants([tenant] if tenant else None):
            rows = readiness_rows(store, t.name, today=today, days=cfg.readiness_days)
            burn = burndown(store, t.name, today=today, days=cfg.burndown_days)
            _print_readiness(t.name, rows, burn, shown, width, (BASIC_OFF_BY_DEFAULT - today).days)
            folder = (
                out_dir / t.name if out_dir and not tenant else out_dir or settings.output_dir / "readiness" / t.name
            )
            write_csv(folder / "readiness.csv", READINESS_COLUMNS, rows)
            write_csv(folder / "burndown.csv", BURNDOWN_COLUMNS, burn)
            click.echo()
            click.echo("wrote readiness.csv (every account) and burndown.csv in")
            click.echo(f"  {folder}")
    finally:
        store.close()
