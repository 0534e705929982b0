"""Notifications of new high-severity findings: e-mail through an SMTP relay, or a webhook (Teams, Slack).

Optional (``[notify]``). A notification holds no secret and no message data. A failed delivery never fails the
sync: it is recorded on its ``finding_notification`` row and retried by the next run.
"""

from connector.notify.channels import NotifyError
from connector.notify.dispatch import DispatchResult, channels_of, dispatch

__all__ = ["DispatchResult", "NotifyError", "channels_of", "dispatch"]
