"""``smtpauth serve``: the HTTP API, the web dashboard and the nightly scheduler (docs/service.md)."""

import logging
import os
from collections.abc import Callable
from typing import TYPE_CHECKING

import click

from connector.commands.common import EXIT_OK, Ctx, expected_errors

if TYPE_CHECKING:
    from connector.config import Settings

__all__ = ["announce", "run_service", "serve"]

log = logging.getLogger("smtpauth.service")


@click.command()
@click.option("--host", default=None, help="Address to listen on (default: service.host, 127.0.0.1).")
@click.option("--port", type=int, default=None, help="Port to listen on (default: service.port).")
@click.option("--no-scheduler", is_flag=True, help="Serve the API and dashboard only; run no job.")
@click.pass_obj
@expected_errors
def serve(obj: Ctx, host: str | None, port: int | None, no_scheduler: bool) -> None:
    """Serve the API and dashboard and run the nightly syncs and report jobs.

    One process per database runs the scheduler; another one serves the API and takes over when it stops.
    SIGTERM lets running jobs finish (service.shutdown_grace_seconds), then marks them interrupted. With
    service.executor = "procrastinate" it only queues jobs: `smtpauth worker` processes run them.
    """
    settings = obj.settings(require_tenants=False)
    if no_scheduler:
        settings = settings.model_copy(update={"service": settings.service.model_copy(update={"scheduler": False})})
    run_service(settings, host=host, port=port, verbose=obj.verbose, on_listening=announce)


def announce(url: str) -> None:
    """The one line ``serve`` always prints once it listens: where the dashboard and the API are."""
    click.echo(f"smtpauth serve: dashboard and API on {url} (Ctrl-C stops)", err=True)


def run_service(
    settings: "Settings",
    *,
    host: str | None,
    port: int | None,
    verbose: int,
    on_listening: Callable[[str], None] = announce,
) -> None:
    """Serve the API and dashboard (and the scheduler, if configured) until SIGINT/SIGTERM.

    Raises ConfigError before listening when no API token is configured."""
    import uvicorn

    from connector.http.redact import install_log_redaction
    from connector.service import JobRunner, TokenVerifier, create_app
    from connector.service.executor import Executor
    from connector.service.server import ServiceServer
    from connector.sync.factory import open_settings_store

    verifier = TokenVerifier.from_settings(settings.service)
    install_log_redaction()
    store = open_settings_store(settings)
    runner: Executor
    if settings.service.executor == "procrastinate":
        from connector.distributed import require_queue

        require_queue()
        from connector.distributed.executor import QueueExecutor

        runner = QueueExecutor(settings, store)
    else:
        runner = JobRunner(settings, store)
    runner.start()
    app = create_app(settings, store, runner, verifier)
    app.state.cache_warmer.request_all()  # the dashboard's first view, in the background
    config = uvicorn.Config(
        app,
        host=host or settings.service.host,
        port=settings.service.port if port is None else port,
        proxy_headers=True,
        forwarded_allow_ips="127.0.0.1",
        server_header=False,
        log_level="info" if verbose else "warning",
        timeout_graceful_shutdown=10,
    )
    server = ServiceServer(config, on_listening=on_listening)
    try:
        server.run()
    finally:
        app.state.cache_warmer.stop()
        finished = runner.stop()
        store.close()
    if not finished:
        # worker threads of abandoned jobs would keep the interpreter alive: they are marked interrupted already
        logging.shutdown()
        os._exit(EXIT_OK)
