"""The summary table printed at the end of a sync: per tenant, one row per source, then the notes."""

from collections.abc import Sequence

from rich import box
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from connector.commands.common import cli_console
from connector.sync.engine import TenantResult

__all__ = ["print_sync_summary"]

_STYLE = {"succeeded": "green", "unavailable": "yellow", "throttled": "yellow", "failed": "red"}
#: rows seen, inserted, updated, skipped; requests; 429 answers
_COLUMNS = ("source", "status", "rows", "new", "upd", "skip", "req", "429")


def print_sync_summary(results: Sequence[TenantResult], console: Console | None = None) -> None:
    # a log file or pipe gets whole lines rather than a table squeezed into 80 columns
    console = console or cli_console()
    table = Table(title="smtpauth sync", box=box.SIMPLE_HEAD, pad_edge=False, collapse_padding=True)
    for i, col in enumerate(_COLUMNS):
        table.add_column(col, justify="left" if i < 2 else "right", no_wrap=True)
    notes: list[str] = []
    for result in results:
        state = "[yellow]busy[/yellow]" if result.busy else "[red]failed[/red]" if result.error else ""
        table.add_row(f"[bold]{escape(result.tenant)}[/bold]", state)
        if result.error:
            notes.append(f"{result.tenant}: {result.error}")
        for o in result.outcomes:
            style = _STYLE.get(o.status, "white")
            table.add_row(
                f"  {o.source}",
                f"[{style}]{o.status}[/{style}]",
                *(f"{n:,}" for n in (o.rows_seen, o.inserted, o.updated, o.skipped, o.requests, o.throttled)),
            )
            if o.message:
                notes.append(f"{o.tenant}/{o.source}: {o.message}")
            if o.drift:
                notes.append(f"{o.tenant}/{o.source}: {o.drift} (see smtpauth check)")
        table.add_section()
    console.print(table)
    for note in notes:
        console.print(f"  • {escape(note)}", soft_wrap=True)
