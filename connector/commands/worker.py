"""``smtpauth worker``: run queued jobs (tenant syncs, report jobs, notification deliveries) until stopped."""

import click

from connector.commands.common import Ctx, expected_errors

__all__ = ["worker"]


@click.command("worker")
@click.option(
    "--concurrency",
    "-n",
    type=click.IntRange(1, 64),
    default=None,
    help="Jobs run at the same time (default: service.queue.worker_concurrency).",
)
@click.option(
    "--queues",
    "-q",
    default=None,
    help="Comma-separated queues to take jobs from: schedule, sync, reports, notify (default: all).",
)
@click.pass_obj
@expected_errors
def worker(obj: Ctx, concurrency: int | None, queues: str | None) -> None:
    """Run jobs of the PostgreSQL job queue (service.executor = "procrastinate"; docs/deployment.md).

    Start as many workers on as many machines as you like: at most one sync of a tenant runs anywhere, the nightly
    schedule is kept by whichever worker takes each scheduler tick, and the jobs of a worker that dies are taken
    up again by the others. SIGTERM stops taking jobs and lets the running ones finish.
    """
    from connector.distributed import require_queue
    from connector.errors import ConfigError
    from connector.http.redact import install_log_redaction

    settings = obj.settings(require_tenants=False)
    require_queue()
    from connector.distributed.queue import QUEUES
    from connector.distributed.worker import run_worker

    if settings.service.executor != "procrastinate":
        raise ConfigError(
            'workers take jobs from the PostgreSQL queue: set service.executor = "procrastinate" (and a postgresql:// '
            "database.url); the local executor runs jobs inside smtpauth serve",
            key="service.executor",
        )
    chosen = [q.strip() for q in queues.split(",") if q.strip()] if queues else None
    unknown = sorted(set(chosen or ()) - set(QUEUES))
    if unknown:
        raise ConfigError(f"unknown queue(s) {', '.join(unknown)}: use {', '.join(QUEUES)}", key="--queues")
    install_log_redaction()
    from connector.store.store import open_store

    # each running job uses up to two connections (its sync and its prefetching reader) plus the scheduler tick's
    jobs = concurrency or settings.service.queue.worker_concurrency
    settings.data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)  # token caches
    store = open_store(settings.database_url, settings.database.busy_timeout_seconds, pool_size=2 * jobs + 2)
    try:
        run_worker(settings, store, concurrency=concurrency, queues=chosen)
    finally:
        store.close()
