"""The contract every sync source meets."""

from datetime import datetime
from typing import TYPE_CHECKING, Protocol

from connector.config import TenantSettings

if TYPE_CHECKING:
    from connector.sync.context import SourceRun, TenantContext

__all__ = ["SyncSource", "odata_datetime"]


class SyncSource(Protocol):
    #: stable name: used on the command line (--source), in sync_run, watermark and coverage
    name: str
    #: the least-privilege permission the source needs (named in coverage when a 403 says it is missing)
    permission: str
    #: opt-in sources run only when :meth:`enabled` says so
    opt_in: bool

    def enabled(self, tenant: TenantSettings) -> bool: ...

    def run(self, ctx: "TenantContext", run: "SourceRun") -> None:
        """Fetch and store. Raises the connector.errors tree; the engine turns errors into run status and
        coverage."""
        ...


def odata_datetime(moment: datetime) -> str:
    """A UTC instant as an OData ``$filter`` literal (``2026-11-20T08:15:30Z``)."""
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")
