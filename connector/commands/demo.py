"""``smtpauth demo``: the main job end to end against the simulated tenants, on the embedded defaults; with
``--serve``, then the dashboard on the demo's data, the simulated tenants still up."""

import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import click

from connector.commands.common import EXIT_FAILED, EXIT_OK, Ctx, cli_console, expected_errors, population_options

if TYPE_CHECKING:
    from connector.config import Settings
    from connector.sync.progress import Progress
    from jobs.demo import DemoEnvironment

__all__ = ["demo"]

#: the demo's phases, as printed
_PHASES = (
    "starting the simulated tenants",
    "first sync of every tenant",
    "waiting for the simulated 'Request report' searches (hours at Microsoft, seconds here)",
    "building the last 7 days' reports (ending yesterday: today is not over)",
    "starting the dashboard",
)


def _build_reports(settings: "Settings", say: Callable[[str], None]) -> list[Path]:
    """The report of the last 7 complete days of every demo tenant, in ``output_dir/<tenant>``; the HTML paths."""
    from datetime import UTC, datetime, timedelta

    from connector.artifacts import ReportParams, build_report
    from connector.sync.factory import open_settings_store

    yesterday = datetime.now(UTC).date() - timedelta(days=1)
    store = open_settings_store(settings)
    try:
        paths = []
        for tenant in settings.tenants:
            params = ReportParams.build(
                settings, tenant=tenant.name, date_from=yesterday - timedelta(days=6), date_to=yesterday
            )
            say(f"  {tenant.name}: {params.date_from} to {params.date_to} ...")
            html = build_report(store, params, settings.output_dir / tenant.name).html
            if html is not None:
                paths.append(html)
        return paths
    finally:
        store.close()


def _request_reports(env: "DemoEnvironment", say: Callable[[str], None], lines: Callable[[], "Progress"]) -> None:
    """Wait for the simulated Request report searches, play the admin for the files that need one, load them,
    and say how many rows each tenant now has."""
    from connector.sync.factory import open_settings_store
    from jobs.demo import AUTOMATIC_TENANT, hand_back_as_admin, loaded_request_reports, wait_for_request_reports
    from jobs.sync import run_sync_job

    settings = env.settings
    store = open_settings_store(settings)
    try:
        left = wait_for_request_reports(settings, store, lines(), say=say)
        say(
            f"  {AUTOMATIC_TENANT}: Request report files downloaded by the app (the simulator's permissive "
            "option); the other tenants' files wait for an admin, as on a real tenant"
        )
        dropped = hand_back_as_admin(settings, store, env.server)
        for tenant, count in dropped.items():
            say(
                f"  {tenant}: playing the admin: {count} file(s) downloaded from the portal while signed in "
                f"and dropped in {settings.inbox_dir / tenant}"
            )
        if dropped:
            run_sync_job(settings, sources=["smtp_cs_report"], progress=lines(), store=store)
            say("  the next sync matched each file to its search and loaded it")
        loaded = loaded_request_reports(store)
    finally:
        store.close()
    for t in settings.tenants:
        say(f"  {t.name}: {loaded.get(t.name, 0):,} Request report rows (per message: TLS, Basic/OAuth)")
    if left:
        say(f"  {left} search(es) still running: the next sync picks them up")


@click.command("demo")
@click.option(
    "--data-dir",
    type=click.Path(path_type=Path, file_okay=False),
    default=Path("smtpauth-demo"),
    show_default=True,
    help="Where the demo's configuration, SQLite database and artifacts go.",
)
@population_options
@click.option(
    "--serve",
    "serve_after",
    is_flag=True,
    help="Then serve the dashboard on the demo's data, the simulated tenants still up, until Ctrl-C.",
)
@click.option("--port", type=click.IntRange(0, 65535), default=None, help="Dashboard port (default: service.port).")
@click.pass_obj
@expected_errors
def demo(obj: Ctx, data_dir: Path, seed: int, users: int, serve_after: bool, port: int | None) -> None:
    """Start the simulator, point a configuration at it, check, sync, and show where everything is."""
    from rich.markup import escape

    from connector.commands.summary import print_sync_summary
    from connector.sync.progress import LinesProgress, Progress, make_progress
    from jobs.demo import demo_environment, new_api_token
    from jobs.sync import run_sync_job

    console = cli_console()
    steps = len(_PHASES) if serve_after else len(_PHASES) - 1

    def say(text: str) -> None:
        console.print(escape(text), highlight=False)

    def phase(n: int) -> None:
        console.print(f"[bold]{escape(f'[{n}/{steps}] {_PHASES[n - 1]}')}[/bold]", highlight=False)

    def lines() -> Progress:
        return LinesProgress(say)

    phase(1)
    data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    token = new_api_token(data_dir)
    with demo_environment(data_dir, seed=seed, users=users, out=say) as env:
        settings = env.settings
        phase(2)
        results = run_sync_job(settings, progress=make_progress() if sys.stderr.isatty() else lines())
        print_sync_summary(results, console)
        phase(3)
        _request_reports(env, say, lines)
        phase(4)
        html_paths = _build_reports(settings, say)
        say("")
        say(f"configuration: {env.config_path}")
        say(f"database:      {settings.database_url}")
        say(f"artifacts:     {settings.output_dir}")
        for path in html_paths:
            say(f"open the report: {path.resolve().as_uri()}")
        ok = all(r.ok for r in results)
        if not serve_after:
            say(f"dashboard:     smtpauth --config {env.config_path} serve, then sign in with the token {token}")
            sys.exit(EXIT_OK if ok else EXIT_FAILED)
        phase(5)
        from connector.commands.serve import run_service

        def listening(url: str) -> None:
            say(f"dashboard:     {url}")
            say(f"sign-in token: {token}")
            say("the simulated tenants stay up for 'Sync this tenant now'; Ctrl-C stops the dashboard and them")
            sys.stdout.flush()

        run_service(settings, host=None, port=port, verbose=obj.verbose, on_listening=listening)
    say("stopped the dashboard and the simulated tenants")
    # the tenants without an Entra P1 licence or with concealed names are there on purpose: their coverage
    # rows say why a section is empty, and the exit code stays 0 for them
    sys.exit(EXIT_OK if ok else EXIT_FAILED)
