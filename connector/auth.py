"""App-only tokens for Graph and Exchange, from MSAL (client credentials; API notes section 7).

One :class:`msal.ConfidentialClientApplication` per tenant, built on first use and reused so its token cache
works. MSAL fails three ways: a returned error dict, a ``ValueError`` from the constructor (OIDC discovery of
an unknown tenant, or a discovery outage) and transport exceptions. All three become :class:`AuthError` with a
message that says what to fix, the AADSTS code and the correlation id, and never the secret or the client
assertion.
"""

import logging
import os
import re
import tempfile
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlsplit

import httpx
import msal

from connector.config import TenantCredential, TenantSettings
from connector.errors import AuthError
from connector.http.redact import redact_text

__all__ = [
    "MsalTokenProvider",
    "StaticTokenProvider",
    "TokenProvider",
    "auth_error_from_result",
    "exchange_scope",
    "graph_scope",
]

log = logging.getLogger(__name__)


def graph_scope(graph_endpoint: str) -> str:
    """``https://graph.microsoft.com/.default`` for a Graph endpoint."""
    return f"{graph_endpoint.rstrip('/')}/.default"


def exchange_scope(exchange_endpoint: str) -> str:
    """``https://outlook.office365.com/.default`` for an Exchange endpoint."""
    return f"{exchange_endpoint.rstrip('/')}/.default"


class TokenProvider(Protocol):
    def token(self, scope: str) -> str:
        """A valid access token for ``scope``. Raises AuthError."""

    def invalidate(self, scope: str) -> None:
        """Forget the cached token for ``scope`` so the next :meth:`token` fetches a new one."""


class StaticTokenProvider:
    """Hands out fixed tokens (tests, replays against a simulator). ``tokens`` maps scope to token."""

    def __init__(self, tokens: Mapping[str, str]) -> None:
        self._tokens = dict(tokens)
        self.invalidated: list[str] = []

    def token(self, scope: str) -> str:
        try:
            return self._tokens[scope]
        except KeyError:
            raise AuthError(f"no token configured for scope {scope}") from None

    def invalidate(self, scope: str) -> None:
        self.invalidated.append(scope)


_AADSTS = re.compile(r"AADSTS(\d{4,8})")
_CORRELATION = re.compile(r"[\"']?correlation[_ ]id[\"']?\s*[:=]?\s*[\"']?([0-9a-fA-F-]{36})", re.IGNORECASE)


def _advice(code: str | None, error: str | None, tenant: TenantSettings, scope: str | None) -> str | None:
    keys = "client_secret_env or client_secret_file"
    app, tid = tenant.client_id, tenant.tenant_id
    invalid_scope = f"the scope {scope} is invalid: check graph_endpoint / exchange_endpoint and cloud"
    messages = {
        "7000215": "the client secret is wrong: create a new secret under App registrations > "
        f"Certificates & secrets and update {keys} (copy the secret's Value, not its Secret ID)",
        "7000222": "the client secret has expired: create a new secret under App registrations > "
        f"Certificates & secrets and update {keys}",
        "700016": f"application {app} was not found in tenant {tid}: check client_id, or have an "
        "administrator of this tenant grant admin consent to the app",
        "7000229": f"application {app} has no service principal in tenant {tid}: an administrator of that tenant "
        "must grant admin consent to the app (smtpauth tenants consent-url prints the link)",
        "90002": f"tenant {tid} was not found: check tenant_id and cloud (now {tenant.cloud.value}; "
        "GCC High and DoD tenants need usgov / usgovdod, 21Vianet china)",
        "900023": f"tenant {tid} is not a valid directory id or domain: check tenant_id",
        "700027": "the certificate assertion was rejected: upload certificate_path to the app registration "
        "(Certificates & secrets > Certificates) and check private_key_path is its key",
        "700024": "the client assertion is outside its validity window: check this machine's clock",
        "7000112": "the application is disabled in this tenant: enable it under Enterprise applications > "
        "Properties > Enabled for users to sign in",
        "500011": f"the resource of scope {scope} is not in this tenant (for example Exchange Online is "
        "not provisioned, or the cloud setting is wrong)",
        "50034": "the account does not exist in this directory: check tenant_id and client_id",
        "1002012": invalid_scope,
        "70011": invalid_scope,
        "7000218": f"no credential was sent: configure {keys} or a certificate",
        "53003": "a Conditional Access policy for workload identities blocked the app: exclude this app",
        "700025": "the app registration is a public client: turn off 'Allow public client flows'",
    }
    if code and code in messages:
        return messages[code]
    by_error = {
        "invalid_client": "the credential was rejected: check client_id and the secret or certificate",
        "invalid_scope": invalid_scope,
        "unauthorized_client": f"application {app} is not allowed in tenant {tid}: check client_id and admin consent",
    }
    return by_error.get(error or "")


def _first_line(text: str, limit: int = 300) -> str:
    line = text.strip().splitlines()[0] if text.strip() else ""
    return redact_text(line)[:limit]


def auth_error_from_result(result: Mapping[str, Any], tenant: TenantSettings, scope: str | None = None) -> AuthError:
    """An AuthError for an MSAL error dict (``error``, ``error_description``, ``error_codes``,
    ``correlation_id``)."""
    error = result.get("error")
    error = error if isinstance(error, str) else "unknown_error"
    description = result.get("error_description")
    description = description if isinstance(description, str) else ""
    codes = result.get("error_codes")
    code: str | None = None
    if isinstance(codes, list) and codes:
        code = str(codes[0])
    elif m := _AADSTS.search(description):
        code = m.group(1)
    correlation = result.get("correlation_id")
    correlation = correlation if isinstance(correlation, str) else None
    message = _advice(code, error, tenant, scope) or f"token request failed ({error}): {_first_line(description)}"
    return AuthError(message, tenant=tenant.name, error=error, aadsts=code, correlation_id=correlation)


def _auth_error_from_exception(exc: BaseException, tenant: TenantSettings, scope: str | None) -> AuthError:
    host = urlsplit(tenant.effective_authority_host).hostname or tenant.effective_authority_host
    if isinstance(exc, httpx.HTTPStatusError):
        return AuthError(
            f"the identity platform at {host} answered HTTP {exc.response.status_code}: try again later",
            tenant=tenant.name,
            error="http_error",
        )
    if isinstance(exc, msal.exceptions.MsalServiceError):
        return AuthError(
            f"the identity platform at {host} failed ({_first_line(str(exc))}): try again later",
            tenant=tenant.name,
            error="http_error",
        )
    if isinstance(exc, httpx.HTTPError | OSError):
        return AuthError(
            f"cannot reach {host} ({type(exc).__name__}): check network/proxy/ca_bundle",
            tenant=tenant.name,
            error="transport",
        )
    # MSAL re-raises a failed discovery as a generic ValueError; the AADSTS text is on the chained original
    chain: list[BaseException] = []
    link: BaseException | None = exc
    while link is not None and link not in chain:
        chain.append(link)
        link = link.__cause__ or link.__context__
    text = " ".join(str(e) for e in chain)
    code_m = _AADSTS.search(text)
    code = code_m.group(1) if code_m else None
    corr_m = _CORRELATION.search(text)
    correlation = corr_m.group(1) if corr_m else None
    advice = _advice(code, None, tenant, scope)
    if advice is None:
        if any(m in text for m in _DISCOVERY_FAILURES):
            advice = (
                f"OIDC discovery for tenant {tenant.tenant_id} at {host} failed: check tenant_id, cloud and "
                "authority_host"
            )
        else:
            stage = "the token request" if scope else "MSAL set-up"
            advice = f"{stage} failed: {_first_line(text)}"
    return AuthError(advice, tenant=tenant.name, error="configuration", aadsts=code, correlation_id=correlation)


class _MsalHttp:
    """The ``http_client`` MSAL gets: the tenant's httpx.Client with form values MSAL passes as bytes decoded.

    MSAL builds the client assertion as ``bytes``; requests form-encodes bytes as their text, httpx as
    ``str(b"...")`` (``b'eyJ...'``), which Entra rejects as a malformed assertion.
    """

    def __init__(self, http: httpx.Client) -> None:
        self._http = http

    @staticmethod
    def _form(data: Any) -> Any:
        if isinstance(data, dict):
            return {k: v.decode("ascii") if isinstance(v, bytes) else v for k, v in data.items()}
        return data

    def post(self, url: str, **kwargs: Any) -> httpx.Response:
        if "data" in kwargs:
            kwargs["data"] = self._form(kwargs["data"])
        return self._http.post(url, **kwargs)

    def get(self, url: str, **kwargs: Any) -> httpx.Response:
        return self._http.get(url, **kwargs)

    def close(self) -> None:
        """The client belongs to the caller: MSAL must not close it."""


#: how MSAL words a failed OIDC discovery (unknown tenant, wrong authority host)
_DISCOVERY_FAILURES = ("OIDC Discovery failed", "openid-configuration", "authority configuration")

# the errors MSAL lets out of its constructor and acquire call (besides the returned dict)
_MSAL_FAILURES = (ValueError, RuntimeError, KeyError, OSError, httpx.HTTPError, msal.exceptions.MsalError)


class MsalTokenProvider:
    """Client-credentials tokens for one tenant; thread-safe.

    ``http_client`` is the tenant's ``httpx.Client`` (see :func:`connector.http.client.build_http_client`), so
    MSAL verifies TLS with the tenant's ``ca_bundle``. With ``cache_path`` the token cache survives restarts
    in a file readable by the owner only.
    """

    def __init__(
        self,
        tenant: TenantSettings,
        credential: TenantCredential,
        *,
        http_client: httpx.Client,
        cache_path: Path | None = None,
    ) -> None:
        self._tenant = tenant
        self._credential = credential
        self._http = http_client
        self._cache_path = cache_path
        self._cache = msal.SerializableTokenCache()
        self._app: Any = None
        self._lock = threading.RLock()
        self._load_cache()

    @property
    def authority(self) -> str:
        return f"{self._tenant.effective_authority_host.rstrip('/')}/{self._tenant.tenant_id}"

    def _client_credential(self) -> str | dict[str, str]:
        cred = self._credential
        if cred.kind == "secret":
            if cred.secret is None:
                raise AuthError("the secret credential is empty", tenant=self._tenant.name)
            return cred.secret.get_secret_value()
        if cred.private_key_pem is None or cred.certificate_pem is None:
            raise AuthError("the certificate credential lacks its key or certificate", tenant=self._tenant.name)
        # public_certificate lets MSAL sign with PS256 and an x5t#S256 thumbprint (SHA-256), not SHA-1
        value = {
            "private_key": cred.private_key_pem.get_secret_value(),
            "public_certificate": cred.certificate_pem,
        }
        if cred.passphrase is not None:
            value["passphrase"] = cred.passphrase.get_secret_value()
        return value

    def _application(self) -> Any:
        if self._app is None:
            host = urlsplit(self._tenant.effective_authority_host).hostname or ""
            known = host in msal.authority.WELL_KNOWN_AUTHORITY_HOSTS
            try:
                self._app = msal.ConfidentialClientApplication(
                    self._tenant.client_id,
                    client_credential=self._client_credential(),
                    authority=self.authority,
                    http_client=_MsalHttp(self._http),
                    token_cache=self._cache,
                    # a proxy or simulator authority is not in Microsoft's instance list: skip that lookup
                    instance_discovery=None if known else False,
                )
            except _MSAL_FAILURES as exc:
                raise _auth_error_from_exception(exc, self._tenant, None) from None
        return self._app

    def reset(self) -> None:
        """Drop the MSAL application (and its in-memory state); the next call builds a new one.

        Use after permissions were granted, so tokens carrying the new roles are fetched (sharp edge 6).
        """
        with self._lock:
            self._app = None
            self._cache = msal.SerializableTokenCache()
            self._save_cache(force=True)

    def token(self, scope: str) -> str:
        """An access token for ``scope`` (cached until close to expiry). Raises AuthError."""
        with self._lock:
            app = self._application()
            try:
                result = app.acquire_token_for_client(scopes=[scope])
            except _MSAL_FAILURES as exc:
                raise _auth_error_from_exception(exc, self._tenant, scope) from None
            self._save_cache()
        if not isinstance(result, dict):
            raise AuthError("MSAL returned no result", tenant=self._tenant.name)
        token = result.get("access_token")
        if isinstance(token, str) and token:
            return token
        raise auth_error_from_result(result, self._tenant, scope)

    def invalidate(self, scope: str) -> None:
        """Remove cached access tokens for ``scope``; MSAL has no force_refresh for client credentials."""
        with self._lock:
            at_type = msal.TokenCache.CredentialType.ACCESS_TOKEN
            wanted = scope.lower()
            stale = [
                item
                for item in self._cache.search(at_type, query={"client_id": self._tenant.client_id})
                if wanted in str(item.get("target", "")).lower().split()
            ]
            for item in stale:
                self._cache.remove_at(item)
            if stale:
                self._save_cache()

    # ---- persistence
    # --------------------------------------------------------------------------------------------

    def _load_cache(self) -> None:
        path = self._cache_path
        if path is None or not path.exists():
            return
        try:
            self._cache.deserialize(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            log.warning(
                "tenant %s: ignoring unreadable token cache %s (%s)",
                self._tenant.name,
                path,
                type(exc).__name__,
            )
            self._cache = msal.SerializableTokenCache()

    def _save_cache(self, *, force: bool = False) -> None:
        path = self._cache_path
        if path is None or not (force or self._cache.has_state_changed):
            return
        path.parent.mkdir(parents=True, exist_ok=True)
        data = self._cache.serialize()
        # write a private temporary file and rename it: never a moment where the cache is world-readable or
        # half
        fd, tmp = tempfile.mkstemp(prefix=".tokencache-", dir=path.parent)
        try:
            os.fchmod(fd, 0o600)
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, path)
        except OSError:
            Path(tmp).unlink(missing_ok=True)
            raise
