"""The admin-consent link of a multi-tenant app: an administrator of the customer's tenant opens it once.

``{login host}/{tenant}/adminconsent?client_id={app}`` (Microsoft identity platform, "Request the permissions from
a directory admin"). The login host is the tenant's cloud's (``login.microsoftonline.com``, ``.us`` for GCC High
and DoD, ``login.partner.microsoftonline.cn`` for 21Vianet) or the app's ``authority_host`` override. Consent
creates the app's service principal in the tenant and grants its application permissions; until then a token
request answers AADSTS7000229 (missing service principal).
"""

from urllib.parse import urlencode

from connector.config import TenantSettings

__all__ = ["consent_url"]


def consent_url(tenant: TenantSettings, *, redirect_uri: str | None = None) -> str:
    """The link that asks ``tenant``'s administrator to consent to the app ``tenant.client_id``."""
    query = {"client_id": tenant.client_id}
    if redirect_uri:
        query["redirect_uri"] = redirect_uri
    return f"{tenant.effective_authority_host}/{tenant.tenant_id}/adminconsent?{urlencode(query)}"
