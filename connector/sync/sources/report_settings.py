"""``GET /v1.0/admin/reportSettings``: are user names concealed in usage reports (API notes section 1)?"""

from connector.config import TenantSettings
from connector.http.families import REPORT_SETTINGS
from connector.sources.report_settings import REPORT_SETTINGS as REPORT_SETTINGS_SPEC
from connector.sources.report_settings import normalize_report_settings
from connector.sync.context import SourceRun, TenantContext
from connector.sync.sources.cloud import cloud_refusals
from models import ReportSettingsSnapshot

__all__ = ["ReportSettingsSource"]


class ReportSettingsSource:
    name = REPORT_SETTINGS_SPEC.name
    permission = REPORT_SETTINGS_SPEC.permission
    opt_in = False

    def enabled(self, tenant: TenantSettings) -> bool:
        return True

    def run(self, ctx: TenantContext, run: SourceRun) -> None:
        now = ctx.clock.now()
        with cloud_refusals(ctx.tenant, self.name):
            response = ctx.client.get_json("v1.0/admin/reportSettings", family=REPORT_SETTINGS)
        run.note_request(response.request_id)
        row = normalize_report_settings(response.json, tenant=ctx.tenant.name, observed_at=now)
        with ctx.store.transaction() as tx:
            run.load(tx, ReportSettingsSnapshot, ("tenant", "observed_on"), [row])
        ctx.concealed = bool(row["display_concealed_names"])
        run.data_as_of = now
        if ctx.concealed:
            run.coverage_reason = (
                "user names are concealed in usage reports: usage rows are kept but cannot be joined to sign-ins "
                "or message trace (Microsoft 365 admin center > Settings > Org settings > Reports)"
            )
