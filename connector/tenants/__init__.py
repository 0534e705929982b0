"""Tenants kept in the database (the registry) next to the ``[[tenants]]`` tables of the configuration.

:mod:`connector.tenants.registry` validates, stores and lists registry rows and merges them into the settings;
:mod:`connector.tenants.consent` builds the admin-consent link of a multi-tenant app.
"""

from connector.tenants.consent import consent_url
from connector.tenants.registry import (
    TenantEntry,
    add_tenant,
    import_csv,
    list_registry,
    looks_like_secret,
    remove_tenant,
    with_registry,
)

__all__ = [
    "TenantEntry",
    "add_tenant",
    "consent_url",
    "import_csv",
    "list_registry",
    "looks_like_secret",
    "remove_tenant",
    "with_registry",
]
