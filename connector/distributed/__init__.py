"""Distributed mode (``service.executor = "procrastinate"``): jobs in PostgreSQL, run by ``smtpauth worker``.

- :mod:`~connector.distributed.queue`: the queue's tables, task names, deferring jobs;
- :mod:`~connector.distributed.tasks`: what workers run (syncs, reports, notifications, scheduler tick, recovery);
- :mod:`~connector.distributed.schedule`: nightly runs spread over the night window;
- :mod:`~connector.distributed.worker`: the worker process; :mod:`~connector.distributed.executor`: what
  ``smtpauth serve`` uses instead of the local scheduler; :mod:`~connector.distributed.status`: what the API shows.

Procrastinate is an optional dependency (``pip install 'smtpauth[distributed]'``): nothing here is imported by the
single-process install.
"""
