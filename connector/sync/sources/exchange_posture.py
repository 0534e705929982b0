"""``Get-TransportConfig`` and ``Get-CASMailbox``: who may use SMTP AUTH, as a daily snapshot (section 4).

One snapshot per UTC day: the org value, each mailbox's own value (true/false/inherit) and the effective value
(the mailbox wins). A second run on the same day rewrites the same keys, so it changes nothing unless the
settings changed in between (then the day's snapshot shows the latest values).
"""

from collections.abc import Iterator
from itertools import islice
from typing import Any

from connector.config import TenantSettings
from connector.sources._base import InvalidRecordError, Normalized
from connector.sources.cas_mailbox import normalize_cas_mailbox
from connector.sources.transport_config import normalize_transport_config
from connector.sync.context import BATCH_ROWS, SourceRun, TenantContext
from connector.sync.sources.exchange_admin import PERMISSION, exchange_errors
from models import MailboxSmtpPosture, TransportConfigSnapshot

__all__ = ["CAS_PROPERTIES", "TRANSPORT_PROPERTIES", "ExchangePostureSource"]

#: the cmdlet output properties we read (cmdlets return many more: only missing ones are drift)
TRANSPORT_PROPERTIES = ("SmtpClientAuthenticationDisabled", "AllowLegacyTLSClients")
CAS_PROPERTIES = ("SmtpClientAuthenticationDisabled", "UserPrincipalName", "PrimarySmtpAddress")


def _watched(mailboxes: Iterator[dict[str, Any]], run: SourceRun) -> Iterator[dict[str, Any]]:
    for item in mailboxes:
        run.drift.keys("Get-CASMailbox", item.keys(), CAS_PROPERTIES, required=CAS_PROPERTIES[:1], unexpected=False)
        yield item


class ExchangePostureSource:
    name = "exchange_posture"
    permission = PERMISSION
    opt_in = True

    def enabled(self, tenant: TenantSettings) -> bool:
        return tenant.exchange_admin

    def run(self, ctx: TenantContext, run: SourceRun) -> None:
        with exchange_errors():
            self._snapshot(ctx, run)

    def _snapshot(self, ctx: TenantContext, run: SourceRun) -> None:
        tenant = ctx.tenant.name
        now = ctx.clock.now()
        today = now.date()
        config = list(ctx.client.invoke_command("Get-TransportConfig"))
        try:
            org = normalize_transport_config({"value": config}, tenant=tenant, snapshot_date=today)
        except InvalidRecordError as exc:
            with ctx.store.transaction() as tx:
                run.skipped(tx, exc)
            org = None
        org_disabled = None if org is None else bool(org["smtp_client_auth_disabled"])
        for item in config[:1]:
            run.drift.keys(
                "Get-TransportConfig",
                item.keys(),
                TRANSPORT_PROPERTIES,
                required=TRANSPORT_PROPERTIES[:1],
                unexpected=False,
            )
        mailboxes = ctx.client.invoke_command("Get-CASMailbox", {"ResultSize": "Unlimited"})
        rows = self._rows(_watched(mailboxes, run), tenant=tenant, today=today, org_disabled=org_disabled)
        # pages are fetched while a batch fills, outside any write transaction
        while batch := list(islice(rows, BATCH_ROWS)):
            with ctx.store.transaction() as tx:
                run.load(tx, MailboxSmtpPosture, ("tenant", "snapshot_date", "user_principal_name"), batch)
        if org is not None:
            with ctx.store.transaction() as tx:
                run.load(tx, TransportConfigSnapshot, ("tenant", "snapshot_date"), [org])
        else:
            run.coverage_reason = (
                "Get-TransportConfig had no SmtpClientAuthenticationDisabled: mailboxes that inherit the org "
                "setting have an unknown effective value"
            )
        run.data_as_of = now

    @staticmethod
    def _rows(
        mailboxes: Iterator[dict[str, Any]], *, tenant: str, today: Any, org_disabled: bool | None
    ) -> Iterator[Normalized]:
        for i, item in enumerate(mailboxes):
            try:
                yield normalize_cas_mailbox(
                    f"mailbox {i}", item, tenant=tenant, snapshot_date=today, org_smtp_client_auth_disabled=org_disabled
                )
            except InvalidRecordError as exc:
                yield exc
