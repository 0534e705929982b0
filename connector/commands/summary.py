"""The summary table printed at the end of a sync."""

from collections.abc import Sequence

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from connector.sync.engine import TenantResult

__all__ = ["print_sync_summary"]

_STYLE = {"succeeded": "green", "unavailable": "yellow", "throttled": "yellow", "failed": "red"}


def print_sync_summary(results: Sequence[TenantResult], console: Console | None = None) -> None:
    console = console or Console(soft_wrap=False, width=200)
    table = Table(title="smtpauth sync", show_lines=False)
    for col, justify in (
        ("tenant", "left"),
        ("source", "left"),
        ("status", "left"),
        ("seen", "right"),
        ("inserted", "right"),
        ("updated", "right"),
        ("skipped", "right"),
        ("requests", "right"),
        ("429s", "right"),
        ("note", "left"),
    ):
        table.add_column(col, justify=justify)  # type: ignore[arg-type]
    for result in results:
        if result.error:
            table.add_row(result.tenant, "-", "[red]failed[/red]", "", "", "", "", "", "", escape(result.error))
        for o in result.outcomes:
            style = _STYLE.get(o.status, "")
            table.add_row(
                o.tenant,
                o.source,
                f"[{style}]{o.status}[/{style}]" if style else o.status,
                f"{o.rows_seen:,}",
                f"{o.inserted:,}",
                f"{o.updated:,}",
                f"{o.skipped:,}",
                f"{o.requests:,}",
                f"{o.throttled:,}",
                escape(o.message),
            )
    console.print(table)
