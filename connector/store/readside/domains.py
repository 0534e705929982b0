"""Which sender domains a tenant's data knows: to refuse a ``--domain`` filter that can only give empty tables."""

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from connector.errors import ConfigError
from connector.store.readside.sql import Dialect, ia, mp, rsd

__all__ = ["known_domains", "refuse_unknown_domains"]


def known_domains(conn: Connection, d: Dialect, tenant: str) -> set[str]:
    """Every sender domain seen for ``tenant`` on any day (sending volume, SmtpCSReport, sign-ins), in an imported
    admin center export, or in a mailbox's address of the SMTP AUTH posture; lower case. Empty when the tenant has
    no data yet (nothing to compare a filter with)."""
    parts = [
        sa.select(sa.func.lower(rsd.c.sender_domain)).where(rsd.c.tenant == tenant, rsd.c.sender_domain.is_not(None)),
        sa.select(d.domain(sa.func.lower(ia.c.sender_address))).where(ia.c.tenant == tenant),
        sa.select(d.domain(sa.func.lower(mp.c.user_principal_name))).where(mp.c.tenant == tenant),
    ]
    query = sa.union(*parts)
    return {str(v) for (v,) in conn.execute(query) if v}


def refuse_unknown_domains(known: set[str], tenant: str, domains: tuple[str, ...]) -> None:
    """ConfigError (key ``--domain``) naming the tenant's known domains when a filter domain is not one of them.
    A tenant without any data yet (``known`` empty) is not checked."""
    unknown = [d for d in domains if known and d not in known]
    if unknown:
        listed = ", ".join(sorted(known)[:10]) + (", ..." if len(known) > 10 else "")
        raise ConfigError(
            f"no sender of tenant {tenant} has used {', '.join(unknown)} (its domains: {listed})", key="--domain"
        )
