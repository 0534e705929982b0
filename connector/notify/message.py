"""What a notification says: tenant, kind, account, window, counts and the suggested action. Never a secret, an
IP address, a subject, a recipient or a message id."""

import json
from dataclasses import dataclass
from typing import Any

__all__ = ["Notice", "notice_from_row", "webhook_payload"]

#: evidence keys whose numbers may be sent (counts only)
_COUNT_KEYS = ("messages", "signins", "failed_signins", "accounts_count", "baseline_signins")


@dataclass(frozen=True)
class Notice:
    finding_id: int
    tenant: str
    kind: str
    severity: str
    account: str
    window_start: str
    window_end: str
    counts: dict[str, int]
    action: str

    @property
    def title(self) -> str:
        return f"smtpauth: {self.severity} {self.kind.replace('_', ' ')} in {self.tenant} ({self.account})"

    def text(self) -> str:
        counts = ", ".join(f"{k.replace('_', ' ')}: {v}" for k, v in self.counts.items()) or "none"
        return (
            f"{self.title}\n\nFinding #{self.finding_id}\nTenant: {self.tenant}\nKind: {self.kind}\n"
            f"Account: {self.account}\nWindow (UTC): {self.window_start} to {self.window_end}\nCounts: {counts}\n"
            f"Suggested action: {self.action}\n\nDetails: smtpauth findings --tenant {self.tenant} --all\n"
        )


def notice_from_row(row: Any) -> Notice:
    evidence = json.loads(row.evidence)
    counts = {k: int(evidence[k]) for k in _COUNT_KEYS if isinstance(evidence.get(k), int)}
    account = row.account
    if row.kind == "password_spray":
        # the source IP is the spray's subject; say how many accounts rather than which
        account = "source IP (see smtpauth findings)"
    return Notice(
        finding_id=int(row.id),
        tenant=row.tenant,
        kind=row.kind,
        severity=row.severity,
        account=account,
        window_start=row.window_start.isoformat(timespec="minutes"),
        window_end=row.window_end.isoformat(timespec="minutes"),
        counts=counts,
        action=row.action.replace(row.account, account) if row.kind == "password_spray" else row.action,
    )


def webhook_payload(n: Notice) -> dict[str, Any]:
    """JSON both Slack (``text``) and Teams incoming webhooks (``text``, ``title``) accept."""
    return {"title": n.title, "text": n.text()}
