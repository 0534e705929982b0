"""Every SQL table of smtpauth, one module per domain.

Importing this package registers every table on ``SQLModel.metadata``. Table names and natural keys are part
of the product (BI tools query them): change them only through a migration in ``connector.store.migrations``.
"""

from sqlmodel import SQLModel

from models._types import UTCDateTime
from models.exchange import (
    HistoricalSearchJob,
    ImportedTlsAggregate,
    MailboxSmtpPosture,
    SmtpCsReportRow,
    TransportConfigSnapshot,
)
from models.findings import FINDING_KINDS, NOTIFICATION_STATUSES, SEVERITIES, Finding, FindingNotification
from models.message_trace import MessageTrace
from models.ops import (
    COVERAGE_STATUSES,
    DRIFT_KINDS,
    RUN_STATUSES,
    Coverage,
    SchemaDrift,
    SkippedRecord,
    StoreChange,
    SyncRun,
    Watermark,
)
from models.report_jobs import REPORT_JOB_STATUSES, ReportJob
from models.rollups import (
    DayRollup,
    DomainDayRollup,
    RecipientDomainRollup,
    SenderDayRollup,
    SenderDayTlsRollup,
    SenderHourRollup,
    SenderMonthRollup,
    SenderRollup,
    SenderWeekRollup,
    SigninOriginRollup,
)
from models.signins import SignIn
from models.tenants import QueueWorker, TenantRecord, TenantSchedule
from models.usage import ReportSettingsSnapshot, UsageAppsKpi, UsageUserCounts, UsageUserDetail

__all__ = [
    "ALL_MODELS",
    "COVERAGE_STATUSES",
    "DRIFT_KINDS",
    "FINDING_KINDS",
    "NOTIFICATION_STATUSES",
    "REPORT_JOB_STATUSES",
    "RUN_STATUSES",
    "SEVERITIES",
    "Coverage",
    "DayRollup",
    "DomainDayRollup",
    "Finding",
    "FindingNotification",
    "HistoricalSearchJob",
    "ImportedTlsAggregate",
    "MailboxSmtpPosture",
    "MessageTrace",
    "QueueWorker",
    "RecipientDomainRollup",
    "ReportJob",
    "ReportSettingsSnapshot",
    "SQLModel",
    "SchemaDrift",
    "SenderDayRollup",
    "SenderDayTlsRollup",
    "SenderHourRollup",
    "SenderMonthRollup",
    "SenderRollup",
    "SenderWeekRollup",
    "SignIn",
    "SigninOriginRollup",
    "SkippedRecord",
    "SmtpCsReportRow",
    "StoreChange",
    "SyncRun",
    "TenantRecord",
    "TenantSchedule",
    "TransportConfigSnapshot",
    "UTCDateTime",
    "UsageAppsKpi",
    "UsageUserCounts",
    "UsageUserDetail",
    "Watermark",
]

#: every table model, in foreign-key order
ALL_MODELS: tuple[type[SQLModel], ...] = (
    UsageUserDetail,
    UsageUserCounts,
    UsageAppsKpi,
    ReportSettingsSnapshot,
    SignIn,
    MessageTrace,
    SmtpCsReportRow,
    HistoricalSearchJob,
    MailboxSmtpPosture,
    TransportConfigSnapshot,
    ImportedTlsAggregate,
    SyncRun,
    Watermark,
    Coverage,
    SkippedRecord,
    SchemaDrift,
    StoreChange,
    ReportJob,
    Finding,
    FindingNotification,
    TenantRecord,
    TenantSchedule,
    QueueWorker,
    SenderDayRollup,
    SenderDayTlsRollup,
    DayRollup,
    DomainDayRollup,
    SenderRollup,
    SenderHourRollup,
    SenderMonthRollup,
    SenderWeekRollup,
    RecipientDomainRollup,
    SigninOriginRollup,
)
