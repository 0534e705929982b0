"""Distributed mode (``service.executor = "procrastinate"``): jobs in PostgreSQL, run by ``smtpauth worker``.

- :mod:`~connector.distributed.queue`: the queue's tables, task names, deferring jobs;
- :mod:`~connector.distributed.tasks`: what workers run (syncs, reports, notifications, scheduler tick, recovery);
- :mod:`~connector.distributed.schedule`: nightly runs spread over the night window;
- :mod:`~connector.distributed.worker`: the worker process; :mod:`~connector.distributed.executor`: what
  ``smtpauth serve`` uses instead of the local scheduler; :mod:`~connector.distributed.status`: what the API shows.

Procrastinate is an optional dependency (``pip install 'smtpauth[distributed]'``): nothing here is imported by the
single-process install.
"""

from importlib.util import find_spec

from connector.errors import ConfigError

__all__ = ["require_queue"]


def require_queue() -> None:
    """Raise ConfigError when the distributed extra (Procrastinate) is not installed."""
    if find_spec("procrastinate") is None:
        raise ConfigError(
            "service.executor = \"procrastinate\" needs the distributed extra: pip install 'smtpauth[distributed]' "
            "(or scripts/setup distributed)",
            key="service.executor",
        )
