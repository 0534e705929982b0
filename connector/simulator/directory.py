"""The tenants, app registrations, credentials, licences and permissions the simulator hosts.

Ids and secrets are derived from a seed, so the same seed always gives the same directory. Certificates are
real
RSA key pairs (cached per process: key generation is the slow part).
"""

import base64
import functools
import hashlib
import uuid
from dataclasses import dataclass, field
from datetime import datetime

from connector.simulator.certs import KeyPair, make_self_signed

__all__ = [
    "ALL_ROLES",
    "EXCHANGE_VIEW_ONLY_ROLE",
    "MESSAGE_TRACE_APP_ID",
    "SimApp",
    "SimDirectory",
    "SimSecret",
    "SimTenant",
    "derived_guid",
]

#  the first-party app whose service principal must exist before Graph message trace answers (API notes
# section 3)
MESSAGE_TRACE_APP_ID = "8bd644d1-64a1-4d4b-ae52-2e0cbf64e373"
EXCHANGE_VIEW_ONLY_ROLE = "View-Only Organization Management"

ALL_ROLES: frozenset[str] = frozenset(
    {
        "Reports.Read.All",
        "ReportSettings.Read.All",
        "AuditLog.Read.All",
        "Directory.Read.All",
        "ExchangeMessageTrace.Read.All",
        "Exchange.ManageAsApp",
    }
)


def derived_guid(*parts: object) -> str:
    """A stable GUID from ``parts`` (version 4 layout so it looks like Entra's)."""
    digest = hashlib.sha256(":".join(str(p) for p in parts).encode()).digest()[:16]
    return str(uuid.UUID(bytes=digest, version=4))


def _derived_secret(*parts: object) -> str:
    raw = hashlib.sha256(("secret:" + ":".join(str(p) for p in parts)).encode()).digest()
    text = base64.urlsafe_b64encode(raw).decode().rstrip("=").replace("-", "x").replace("_", "z")
    # Entra secrets look like "abc8Q~" followed by 34 characters
    return f"{text[:3]}8Q~{text[3:37]}"


@functools.cache
def _app_certificate(label: str) -> KeyPair:
    return make_self_signed(label)


@dataclass(frozen=True, slots=True)
class SimSecret:
    value: str
    #: None never expires; a past datetime makes the token endpoint answer AADSTS7000222
    expires_at: datetime | None = None


@dataclass(slots=True)
class SimApp:
    """An app registration with its service principal in one tenant."""

    name: str
    client_id: str
    roles: frozenset[str] = ALL_ROLES
    secrets: list[SimSecret] = field(default_factory=list)
    certificates: list[KeyPair] = field(default_factory=list)
    #: Exchange RBAC role assigned to the service principal (None: Exchange answers 403)
    exchange_role: str | None = EXCHANGE_VIEW_ONLY_ROLE

    @property
    def secret(self) -> str | None:
        """The first secret's value, or None for certificate-only apps."""
        return self.secrets[0].value if self.secrets else None

    @property
    def certificate(self) -> KeyPair | None:
        return self.certificates[0] if self.certificates else None


@dataclass(slots=True)
class SimTenant:
    """A Microsoft 365 tenant: licences, report settings and its apps. ``users``/``seed`` drive its population."""

    name: str
    tenant_id: str
    primary_domain: str
    extra_domains: tuple[str, ...] = ()
    entra_p1: bool = True
    #  the admin setting; Graph's reportSettings field ``displayConcealedNames`` true means names ARE
    # concealed
    concealed_names: bool = False
    message_trace_sp: bool = True
    #: Get-TransportConfig SmtpClientAuthenticationDisabled (org-wide)
    smtp_auth_disabled: bool = False
    apps: list[SimApp] = field(default_factory=list)
    users: int = 200
    seed: int = 0

    @property
    def initial_domain(self) -> str:
        return f"{self.name}.onmicrosoft.com"

    @property
    def domains(self) -> tuple[str, ...]:
        return (self.primary_domain, *self.extra_domains, self.initial_domain)

    def app(self, name_or_client_id: str) -> SimApp:
        for a in self.apps:
            if name_or_client_id in (a.name, a.client_id):
                return a
        raise KeyError(f"tenant {self.name} has no app {name_or_client_id!r}")

    def find_app(self, client_id: str) -> SimApp | None:
        low = client_id.lower()
        return next((a for a in self.apps if a.client_id == low), None)


@dataclass(slots=True)
class SimDirectory:
    """All tenants the simulator hosts, and the multi-tenant apps registered in it.

    A multi-tenant app is registered once (``multi_tenant_apps``) and has a service principal only in the tenants
    whose administrator consented: those list the same :class:`SimApp` in their ``apps``. A token request in any
    other tenant answers AADSTS7000229 (missing service principal), as Entra does.
    """

    tenants: list[SimTenant] = field(default_factory=list)
    multi_tenant_apps: list[SimApp] = field(default_factory=list)

    def multi_tenant_app(self, client_id: str) -> SimApp | None:
        low = client_id.lower()
        return next((a for a in self.multi_tenant_apps if a.client_id == low), None)

    def tenant(self, name: str) -> SimTenant:
        for t in self.tenants:
            if t.name == name:
                return t
        raise KeyError(f"no simulated tenant {name!r}")

    def resolve(self, tenant_ref: str) -> SimTenant | None:
        """The tenant a path segment names: its GUID or one of its verified domains (case-insensitive)."""
        ref = tenant_ref.lower()
        for t in self.tenants:
            if ref == t.tenant_id or ref in t.domains:
                return t
        return None

    @classmethod
    def default(cls, *, seed: int = 0, users: int = 200) -> "SimDirectory":
        """The standard tenants used by tests and the demo.

        - ``contoso``: Entra P1, every permission; apps ``reader`` (secret), ``cert`` (certificate),
          ``no-reports`` (lacks Reports.Read.All), ``expired`` (an expired secret); message-trace service
          principal provisioned; Exchange role assigned.
        - ``fabrikam``: no Entra P1 licence (sign-ins answer 403); app ``cert`` (certificate).
        - ``northwind``: concealed names in usage reports; app ``reader`` (secret).
        """

        def secret_app(tenant: str, name: str, **kw: object) -> SimApp:
            return SimApp(
                name=name,
                client_id=derived_guid(seed, tenant, name, "client"),
                secrets=[SimSecret(_derived_secret(seed, tenant, name))],
                **kw,  # type: ignore[arg-type]
            )

        def cert_app(tenant: str, name: str) -> SimApp:
            return SimApp(
                name=name,
                client_id=derived_guid(seed, tenant, name, "client"),
                certificates=[_app_certificate(f"smtpauth-{tenant}-{name}")],
            )

        contoso = SimTenant(
            name="contoso",
            tenant_id=derived_guid(seed, "contoso", "tenant"),
            primary_domain="contoso.com",
            extra_domains=("mail.contoso.com", "contoso-alerts.com"),
            apps=[
                secret_app("contoso", "reader"),
                cert_app("contoso", "cert"),
                secret_app("contoso", "no-reports", roles=ALL_ROLES - {"Reports.Read.All"}, exchange_role=None),
                SimApp(
                    name="expired",
                    client_id=derived_guid(seed, "contoso", "expired", "client"),
                    secrets=[SimSecret(_derived_secret(seed, "contoso", "expired"), datetime(2020, 1, 1).astimezone())],
                ),
            ],
            users=users,
            seed=seed,
        )
        fabrikam = SimTenant(
            name="fabrikam",
            tenant_id=derived_guid(seed, "fabrikam", "tenant"),
            primary_domain="fabrikam.com",
            extra_domains=("fabrikam-mail.com",),
            entra_p1=False,
            apps=[cert_app("fabrikam", "cert")],
            users=max(20, users // 2),
            seed=seed + 1,
        )
        northwind = SimTenant(
            name="northwind",
            tenant_id=derived_guid(seed, "northwind", "tenant"),
            primary_domain="northwindtraders.com",
            concealed_names=True,
            smtp_auth_disabled=True,
            apps=[secret_app("northwind", "reader")],
            users=max(20, users // 2),
            seed=seed + 2,
        )
        return cls([contoso, fabrikam, northwind])

    @classmethod
    def estate(
        cls, count: int, *, seed: int = 0, users: int = 40, unconsented: tuple[int, ...] = (), prefix: str = "cust"
    ) -> "SimDirectory":
        """``count`` customer tenants (``cust001``, ...) served by one multi-tenant app ``msp`` (a certificate).

        The tenants numbered in ``unconsented`` (1-based) never granted admin consent: no service principal.
        Every tenant has Entra P1, every permission, the message-trace service principal and its own population.
        """
        app = SimApp(
            name="msp",
            client_id=derived_guid(seed, "msp", "client"),
            certificates=[_app_certificate(f"smtpauth-msp-{seed}")],
        )
        tenants = []
        for i in range(1, count + 1):
            name = f"{prefix}{i:03d}"
            tenants.append(
                SimTenant(
                    name=name,
                    tenant_id=derived_guid(seed, name, "tenant"),
                    primary_domain=f"{name}.example.com",
                    apps=[] if i in unconsented else [app],
                    users=users,
                    seed=seed * 1000 + i,
                )
            )
        return cls(tenants, [app])
