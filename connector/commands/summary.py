"""The summary table printed at the end of a sync: one row per tenant and source, then the notes."""

import sys
from collections.abc import Sequence

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from connector.sync.engine import TenantResult

__all__ = ["print_sync_summary"]

_STYLE = {"succeeded": "green", "unavailable": "yellow", "throttled": "yellow", "failed": "red"}
_COLUMNS = ("tenant", "source", "status", "seen", "inserted", "updated", "skipped", "requests", "429s")


def print_sync_summary(results: Sequence[TenantResult], console: Console | None = None) -> None:
    # a log file or pipe gets wide lines rather than a table squeezed into 80 columns
    console = console or Console(width=None if sys.stdout.isatty() else 140)
    table = Table(title="smtpauth sync")
    for i, col in enumerate(_COLUMNS):
        table.add_column(col, justify="left" if i < 3 else "right", no_wrap=True)
    notes: list[str] = []
    for result in results:
        if result.error:
            table.add_row(result.tenant, "-", "[red]failed[/red]", *[""] * 6)
            notes.append(f"{result.tenant}: {result.error}")
        for o in result.outcomes:
            style = _STYLE.get(o.status, "white")
            table.add_row(
                o.tenant,
                o.source,
                f"[{style}]{o.status}[/{style}]",
                *(f"{n:,}" for n in (o.rows_seen, o.inserted, o.updated, o.skipped, o.requests, o.throttled)),
            )
            if o.message:
                notes.append(f"{o.tenant}/{o.source}: {o.message}")
    console.print(table)
    for note in notes:
        console.print(f"  • {escape(note)}", soft_wrap=True)
