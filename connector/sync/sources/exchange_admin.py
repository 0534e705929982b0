"""What the Exchange admin REST endpoint's refusals mean for an admin (API notes section 4).

The endpoint is the one the ExchangeOnlineManagement module uses; it is not formally documented, so its
refusals are mapped from what it answers: 401 without ``Exchange.ManageAsApp``, 403 without an Exchange role,
400 for a bad ``X-AnchorMailbox``. The anchor is built from ``primary_domain`` or, without one, the tenant id
(:func:`connector.http.client.exchange_anchor_mailbox`).
"""

from collections.abc import Iterator
from contextlib import contextmanager

from connector.errors import BadRequestError, PermissionDeniedError, SourceUnavailable, UnauthorizedError

__all__ = ["PERMISSION", "exchange_errors"]

PERMISSION = "Exchange.ManageAsApp + View-Only Organization Management (or Global Reader)"
_MANAGE_AS_APP_FIX = (
    "add the application permission Office 365 Exchange Online > Exchange.ManageAsApp to the app registration "
    "and grant admin consent"
)
_ROLE_FIX = (
    "assign the Exchange role View-Only Organization Management (or the Entra role Global Reader) to the app's "
    "service principal"
)
_ANCHOR_FIX = "set primary_domain to a verified domain of the tenant (e.g. contoso.onmicrosoft.com)"


@contextmanager
def exchange_errors() -> Iterator[None]:
    """Turn the refusals that mean "not set up" into SourceUnavailable naming the fix."""
    try:
        yield
    except UnauthorizedError:
        raise SourceUnavailable(
            "unavailable: the Exchange admin API refused the app (Exchange.ManageAsApp missing?)",
            fix=_MANAGE_AS_APP_FIX,
        ) from None
    except PermissionDeniedError:
        raise SourceUnavailable(
            "unavailable: the app has no Exchange role (View-Only Organization Management or Global Reader)",
            fix=_ROLE_FIX,
        ) from None
    except BadRequestError as exc:
        if "anchormailbox" in str(exc).lower():
            raise SourceUnavailable(
                "unavailable: Exchange rejected the X-AnchorMailbox header", fix=_ANCHOR_FIX
            ) from None
        raise
