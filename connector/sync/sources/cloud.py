"""APIs a national cloud does not list (:mod:`connector.clouds`): tried once, a refusal is a coverage state.

Microsoft's documentation of some Graph APIs lists the global service only. We do not take the documentation's
word for it in either direction: the request is made, and when the tenant's cloud is one the documentation leaves
out, Microsoft's refusal (a 400/404/403/401/501 answer) becomes :class:`CloudUnavailable` (run status
``unavailable``, coverage *unavailable in this cloud*, Microsoft's error kept in the run record), never a failed
run. In a cloud that does list the API the same error stays an error.
"""

from collections.abc import Iterator
from contextlib import contextmanager

from connector.clouds import CLOUDS
from connector.config import TenantSettings
from connector.errors import (
    CloudUnavailable,
    ExpiredLinkError,
    GraphError,
    PagingLoopError,
    RetryableError,
    ThrottleCapExceeded,
)

__all__ = ["cloud_refusals", "offered"]

#: what the fix says per API when a cloud refuses it
_FIXES = {
    "usage_user_counts": 'the beta usage reports are listed for every cloud: set [sync] usage_format = "json"',
    "usage_apps_kpi": 'the beta usage reports are listed for every cloud: set [sync] usage_format = "json"',
    "report_settings": "usage rows are still flagged concealed by their hashed names",
    "message_trace": "sending volume comes from the SmtpCSReport (exchange_admin = true) or imported files",
}


def offered(tenant: TenantSettings, api: str) -> bool:
    """Does Microsoft's documentation list ``api`` in the tenant's cloud?"""
    return CLOUDS[tenant.cloud].offers(api)


@contextmanager
def cloud_refusals(tenant: TenantSettings, api: str, *, fix: str | None = None) -> Iterator[None]:
    """Turn Microsoft's refusal of an API the tenant's cloud does not list into CloudUnavailable."""
    if offered(tenant, api):
        yield
        return
    try:
        yield
    except (RetryableError, ThrottleCapExceeded, ExpiredLinkError, PagingLoopError):
        raise
    except GraphError as exc:
        if exc.status not in (400, 401, 403, 404, 501):
            raise
        raise CloudUnavailable(tenant.cloud.value, api, exc, fix=fix or _FIXES.get(api)) from None
