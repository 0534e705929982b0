"""Graph email-app usage reports (``getEmailAppUsage*``) and the tenant's report-concealment setting.

Tables:

``usage_user_detail``
    One row per (tenant, report_view, user_principal_name). ``report_view`` is the period asked for (``D7``,
    ``D30``, ``D90``, ``D180``) or, for the per-date view, the ISO date (``2026-11-20``). A period row is a
    *snapshot*: each refresh overwrites it, and a user who disappears from the report keeps an older
    ``report_refresh_date`` (read the latest refresh only). Per-date rows are the *history*: Graph serves each
    date for only ~28 days, so we keep our own copy until retention purges it.
``usage_user_counts``
    Users per app per day (``getEmailAppUsageUserCounts``), one row per (tenant, report_date); a later refresh
    of the same day overwrites it.
``usage_apps_kpi``
    Users per app over a period (``getEmailAppUsageAppsUserCounts``), one row per (tenant,
    report_refresh_date, period): the "accounts that used SMTP AUTH in the last 7 days" figure, kept per
    refresh date.
``report_settings_snapshot``
    ``displayConcealedNames`` as observed, one row per (tenant, observed_on).
"""

from datetime import date, datetime

from sqlalchemy import Index, UniqueConstraint
from sqlmodel import Field, SQLModel

from models._types import UTCDateTime

__all__ = ["ReportSettingsSnapshot", "UsageAppsKpi", "UsageUserCounts", "UsageUserDetail"]


class UsageUserDetail(SQLModel, table=True):
    """Per-user email app usage (``getEmailAppUsageUserDetail``). App flags are None for absent columns."""

    __tablename__ = "usage_user_detail"
    __table_args__ = (
        UniqueConstraint("tenant", "report_view", "user_principal_name", name="uq_usage_user_detail_key"),
        Index("ix_usage_user_detail_smtp", "tenant", "smtp_app", "report_refresh_date"),
    )

    id: int | None = Field(default=None, primary_key=True)
    tenant: str
    #: ``D7``/``D30``/``D90``/``D180``, or the ISO date of a per-date request
    report_view: str
    report_refresh_date: date
    #: days covered, from the ``Report Period`` column (1 for a per-date view)
    report_period: int | None = None
    #: the date of a per-date view, None for a period view
    report_date: date | None = None
    #: lower-cased; a 32-hex hash or a value without '@' when the tenant conceals names
    user_principal_name: str
    display_name: str | None = None
    is_deleted: bool = False
    deleted_date: date | None = None
    last_activity_date: date | None = None
    smtp_app: bool
    #: the non-empty SMTP App cell or JSON array as received (its meaning is undocumented)
    smtp_app_detail: str | None = None
    pop3_app: bool | None = None
    imap4_app: bool | None = None
    mail_for_mac: bool | None = None
    outlook_for_mac: bool | None = None
    outlook_for_windows: bool | None = None
    outlook_for_mobile: bool | None = None
    other_for_mobile: bool | None = None
    outlook_for_web: bool | None = None
    #: the identifier is a concealed (hashed) name: never join it to sign-ins or message trace
    concealed: bool = False


class UsageUserCounts(SQLModel, table=True):
    """Distinct users per app on one day (``getEmailAppUsageUserCounts``). Counts are None when absent."""

    __tablename__ = "usage_user_counts"
    __table_args__ = (UniqueConstraint("tenant", "report_date", name="uq_usage_user_counts_key"),)

    id: int | None = Field(default=None, primary_key=True)
    tenant: str
    report_date: date
    report_refresh_date: date
    report_period: int | None = None
    smtp_app: int | None = None
    pop3_app: int | None = None
    imap4_app: int | None = None
    mail_for_mac: int | None = None
    outlook_for_mac: int | None = None
    outlook_for_windows: int | None = None
    outlook_for_mobile: int | None = None
    other_for_mobile: int | None = None
    outlook_for_web: int | None = None


class UsageAppsKpi(SQLModel, table=True):
    """Distinct users per app over a period (``getEmailAppUsageAppsUserCounts``), per refresh date."""

    __tablename__ = "usage_apps_kpi"
    __table_args__ = (UniqueConstraint("tenant", "report_refresh_date", "period", name="uq_usage_apps_kpi_key"),)

    id: int | None = Field(default=None, primary_key=True)
    tenant: str
    report_refresh_date: date
    #: ``D7``/``D30``/``D90``/``D180``
    period: str
    report_period: int | None = None
    smtp_app: int | None = None
    pop3_app: int | None = None
    imap4_app: int | None = None
    mail_for_mac: int | None = None
    outlook_for_mac: int | None = None
    outlook_for_windows: int | None = None
    outlook_for_mobile: int | None = None
    other_for_mobile: int | None = None
    outlook_for_web: int | None = None


class ReportSettingsSnapshot(SQLModel, table=True):
    """``GET /admin/reportSettings`` as seen on one day."""

    __tablename__ = "report_settings_snapshot"
    __table_args__ = (UniqueConstraint("tenant", "observed_on", name="uq_report_settings_snapshot_key"),)

    id: int | None = Field(default=None, primary_key=True)
    tenant: str
    observed_on: date
    observed_at: datetime = Field(sa_type=UTCDateTime)
    display_concealed_names: bool
