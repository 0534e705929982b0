"""Sources: one module per input we pull, each a :class:`SourceSpec` declaration plus pure normalizers.

Normalizers take a raw page (JSON) or file (bytes, streamed) and yield model rows as dicts, or an
:class:`InvalidRecordError` in place of a record that cannot be used (count it as skipped; never drop it
silently). They do no I/O: fetching lives in ``connector.http``, saving in ``connector.store``.
"""

from connector.sources._base import InvalidRecordError, Normalized, SourceSpec
from connector.sources.cas_mailbox import CAS_MAILBOX
from connector.sources.message_trace import MESSAGE_TRACE
from connector.sources.report_settings import REPORT_SETTINGS
from connector.sources.signins import SIGNINS
from connector.sources.smtp_cs_report import SMTP_CS_REPORT
from connector.sources.transport_config import TRANSPORT_CONFIG
from connector.sources.usage_reports import APPS_USER_COUNTS, USER_COUNTS, USER_DETAIL

__all__ = ["SOURCES", "InvalidRecordError", "Normalized", "SourceSpec", "source"]

#: every source, by name
SOURCES: dict[str, SourceSpec] = {
    spec.name: spec
    for spec in (
        USER_DETAIL,
        USER_COUNTS,
        APPS_USER_COUNTS,
        REPORT_SETTINGS,
        SIGNINS,
        MESSAGE_TRACE,
        SMTP_CS_REPORT,
        CAS_MAILBOX,
        TRANSPORT_CONFIG,
    )
}


def source(name: str) -> SourceSpec:
    """The declaration of ``name``. Raises KeyError naming the known sources."""
    try:
        return SOURCES[name]
    except KeyError:
        raise KeyError(f"unknown source {name!r} (known: {', '.join(SOURCES)})") from None
