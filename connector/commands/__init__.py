"""The commands of the ``smtpauth`` CLI, one module each."""

from connector.commands.check import check
from connector.commands.demo import demo
from connector.commands.findings import findings, readiness
from connector.commands.imports import import_
from connector.commands.report import report, reports, request_report
from connector.commands.rollups import rollups
from connector.commands.serve import serve
from connector.commands.simulate import simulate
from connector.commands.sync import sync
from connector.commands.tenants import tenants
from connector.commands.worker import worker

__all__ = ["COMMANDS"]

COMMANDS = (
    check,
    sync,
    import_,
    report,
    request_report,
    reports,
    findings,
    readiness,
    rollups,
    serve,
    worker,
    tenants,
    simulate,
    demo,
)
