"""``smtpauth demo``: the main job end to end against the simulated tenants, on the embedded defaults."""

import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

from connector.commands.common import EXIT_FAILED, EXIT_OK, Ctx, expected_errors, population_options

if TYPE_CHECKING:
    from connector.config import Settings

__all__ = ["demo"]


def _build_reports(settings: "Settings") -> list[Path]:
    """The last 7 days' report of every demo tenant, in ``output_dir/<tenant>``; the HTML paths."""
    from datetime import UTC, datetime, timedelta

    from connector.artifacts import ReportParams, build_report
    from connector.sync.factory import open_settings_store

    today = datetime.now(UTC).date()
    store = open_settings_store(settings)
    try:
        paths = []
        for tenant in settings.tenants:
            params = ReportParams.build(
                settings, tenant=tenant.name, date_from=today - timedelta(days=6), date_to=today
            )
            html = build_report(store, params, settings.output_dir / tenant.name).html
            if html is not None:
                paths.append(html)
        return paths
    finally:
        store.close()


@click.command("demo")
@click.option(
    "--data-dir",
    type=click.Path(path_type=Path, file_okay=False),
    default=Path("smtpauth-demo"),
    show_default=True,
    help="Where the demo's configuration, SQLite database and artifacts go.",
)
@population_options
@click.pass_obj
@expected_errors
def demo(obj: Ctx, data_dir: Path, seed: int, users: int) -> None:
    """Start the simulator, point a configuration at it, check, sync, and show where everything is."""
    from rich.console import Console

    from connector.commands.summary import print_sync_summary
    from connector.sync.factory import open_settings_store
    from connector.sync.progress import LogProgress, make_progress
    from jobs.demo import AUTOMATIC_TENANT, demo_environment, hand_back_as_admin, wait_for_request_reports
    from jobs.sync import run_sync_job

    console = Console()
    with demo_environment(data_dir, seed=seed, users=users, out=console.print) as env:
        results = run_sync_job(env.settings, progress=make_progress())
        print_sync_summary(results, console)
        settings = env.settings
        console.print("waiting for the simulated 'Request report' searches (hours at Microsoft, seconds here) ...")
        store = open_settings_store(settings)
        try:
            left = wait_for_request_reports(settings, store, LogProgress())
            console.print(
                f"{AUTOMATIC_TENANT}: Request report files downloaded by the app (the simulator's permissive "
                "option); the other tenants' files wait for an admin, as on a real tenant"
            )
            dropped = hand_back_as_admin(settings, store, env.server)
            if dropped:
                for tenant, count in dropped.items():
                    console.print(
                        f"{tenant}: playing the admin: {count} file(s) downloaded from the portal while signed in "
                        f"and dropped in {settings.inbox_dir / tenant}"
                    )
                run_sync_job(settings, sources=["smtp_cs_report"], progress=LogProgress(), store=store)
                console.print("the next sync matched each file to its search and loaded it")
        finally:
            store.close()
        if left:
            console.print(f"{left} search(es) still running: the next sync picks them up")
        html_paths = _build_reports(settings)
    console.print()
    console.print(f"configuration: {env.config_path}")
    console.print(f"database:      {settings.database_url}")
    console.print(f"artifacts:     {settings.output_dir}")
    for path in html_paths:
        console.print(f"open the report: {path.resolve().as_uri()}")
    # the tenants without an Entra P1 licence or with concealed names are there on purpose: their coverage
    # rows say why a section is empty, and the exit code stays 0 for them
    sys.exit(EXIT_OK if all(r.ok for r in results) else EXIT_FAILED)
