"""The sync side of each source: what to request, in which slices, and where the watermark moves.

Sources run in this order because later ones read what earlier ones stored: report settings decide whether user
names are concealed; message trace asks for the senders that usage reports and sign-ins showed using SMTP AUTH.
The Exchange sources (opt-in per tenant with ``exchange_admin``) come last.
"""

from connector.sync.sources.base import SyncSource
from connector.sync.sources.exchange_posture import ExchangePostureSource
from connector.sync.sources.message_trace import MessageTraceSource
from connector.sync.sources.report_settings import ReportSettingsSource
from connector.sync.sources.signins import SignInsSource
from connector.sync.sources.smtp_cs_report import SmtpCsReportSource
from connector.sync.sources.usage import UsageAppsKpiSource, UsageCountsSource, UsageDetailSource

__all__ = ["SOURCES", "SOURCE_NAMES", "SyncSource"]

SOURCES: tuple[SyncSource, ...] = (
    ReportSettingsSource(),
    UsageDetailSource(),
    UsageCountsSource(),
    UsageAppsKpiSource(),
    SignInsSource(),
    MessageTraceSource(),
    ExchangePostureSource(),
    SmtpCsReportSource(),
)
SOURCE_NAMES: tuple[str, ...] = tuple(s.name for s in SOURCES)
