"""MsalTokenProvider against a mock identity platform: real MSAL, an httpx.MockTransport behind it."""

import base64
import datetime as dt
import json
import stat
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
from pydantic import SecretStr

from connector.auth import MsalTokenProvider, exchange_scope, graph_scope
from connector.config import TenantCredential, TenantSettings
from connector.errors import AuthError

AUTHORITY = "https://login.sim.test"
TENANT_ID = "11111111-2222-3333-4444-555555555555"
CLIENT_ID = "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee"
SECRET = "Zq8~verysecretvalue.Xy"
SCOPE = graph_scope("https://graph.sim.test")
CORRELATION = "c0ffee00-1111-2222-3333-444455556666"


def tenant(**kw: Any) -> TenantSettings:
    values: dict[str, Any] = {
        "name": "contoso",
        "tenant_id": TENANT_ID,
        "client_id": CLIENT_ID,
        "client_secret_env": "SMTPAUTH_TEST_SECRET",
        "authority_host": AUTHORITY,
    }
    values.update(kw)
    return TenantSettings(**values)


def secret_credential() -> TenantCredential:
    return TenantCredential(kind="secret", secret=SecretStr(SECRET))


def aad_error(code: int, error: str, description: str, status: int = 400) -> httpx.Response:
    return httpx.Response(
        status,
        json={
            "error": error,
            "error_description": f"AADSTS{code}: {description} Trace ID: x Correlation ID: {CORRELATION}",
            "error_codes": [code],
            "correlation_id": CORRELATION,
        },
    )


class IdentityPlatform:
    """OIDC discovery and a token endpoint; records token requests."""

    def __init__(self, token_reply: Callable[[dict[str, list[str]]], httpx.Response] | None = None) -> None:
        self.token_requests: list[dict[str, list[str]]] = []
        self.discoveries = 0
        self.issued = 0
        self.reply = token_reply
        self.discovery_reply: httpx.Response | None = None

    def __call__(self, request: httpx.Request) -> httpx.Response:
        base = f"{request.url.scheme}://{request.url.host}/{TENANT_ID}"
        if request.url.path.endswith("/.well-known/openid-configuration"):
            self.discoveries += 1
            if self.discovery_reply is not None:
                return self.discovery_reply
            return httpx.Response(
                200,
                json={
                    "token_endpoint": f"{base}/oauth2/v2.0/token",
                    "authorization_endpoint": f"{base}/oauth2/v2.0/authorize",
                    "issuer": f"{base}/v2.0",
                    "jwks_uri": f"{base}/discovery/v2.0/keys",
                },
            )
        if request.url.path.endswith("/oauth2/v2.0/token"):
            form = parse_qs(request.content.decode())
            self.token_requests.append(form)
            if self.reply is not None:
                return self.reply(form)
            self.issued += 1
            return httpx.Response(
                200, json={"token_type": "Bearer", "expires_in": 3599, "access_token": f"at-{self.issued}"}
            )
        return httpx.Response(404)


@pytest.fixture
def http_factory() -> Iterator[Callable[[IdentityPlatform], httpx.Client]]:
    clients: list[httpx.Client] = []

    def make(idp: IdentityPlatform) -> httpx.Client:
        client = httpx.Client(transport=httpx.MockTransport(idp))
        clients.append(client)
        return client

    yield make
    for c in clients:
        c.close()


def test_scopes() -> None:
    assert graph_scope("https://graph.microsoft.com") == "https://graph.microsoft.com/.default"
    assert exchange_scope("https://outlook.office365.com/") == "https://outlook.office365.com/.default"


def test_secret_token_is_acquired_and_cached(http_factory) -> None:
    idp = IdentityPlatform()
    provider = MsalTokenProvider(tenant(), secret_credential(), http_client=http_factory(idp))
    assert provider.token(SCOPE) == "at-1"
    assert provider.token(SCOPE) == "at-1"
    assert len(idp.token_requests) == 1
    assert idp.discoveries == 1
    form = idp.token_requests[0]
    assert form["grant_type"] == ["client_credentials"]
    assert form["scope"] == [SCOPE]


def test_invalidate_forces_a_new_token(http_factory) -> None:
    idp = IdentityPlatform()
    provider = MsalTokenProvider(tenant(), secret_credential(), http_client=http_factory(idp))
    other = exchange_scope("https://outlook.sim.test")
    assert provider.token(SCOPE) == "at-1"
    assert provider.token(other) == "at-2"
    provider.invalidate(SCOPE)
    assert provider.token(SCOPE) == "at-3"
    assert provider.token(other) == "at-2"  # other scopes keep their token
    assert len(idp.token_requests) == 3


@pytest.mark.parametrize(
    ("code", "error", "expected"),
    [
        (7000215, "invalid_client", "client secret is wrong"),
        (7000222, "invalid_client", "client secret has expired"),
        (700016, "unauthorized_client", "was not found in tenant"),
        (700027, "invalid_client", "certificate assertion was rejected"),
        (7000112, "unauthorized_client", "disabled"),
        (500011, "invalid_resource", "not in this tenant"),
        (1002012, "invalid_scope", "is invalid"),
        (70011, "invalid_scope", "is invalid"),
    ],
)
def test_aadsts_errors_become_actionable_auth_errors(http_factory, code: int, error: str, expected: str) -> None:
    idp = IdentityPlatform(lambda form: aad_error(code, error, "Something failed."))
    provider = MsalTokenProvider(tenant(), secret_credential(), http_client=http_factory(idp))
    with pytest.raises(AuthError) as info:
        provider.token(SCOPE)
    err = info.value
    assert expected in str(err)
    assert err.aadsts == str(code)
    assert err.correlation_id == CORRELATION
    assert f"AADSTS{code}" in str(err)
    assert CORRELATION in str(err)
    assert err.tenant == "contoso"
    assert SECRET not in str(err)
    assert SECRET not in repr(err.__dict__)


def test_unknown_tenant_during_discovery_is_an_auth_error(http_factory) -> None:
    idp = IdentityPlatform()
    idp.discovery_reply = aad_error(90002, "invalid_tenant", f"Tenant '{TENANT_ID}' not found.")
    provider = MsalTokenProvider(tenant(), secret_credential(), http_client=http_factory(idp))
    with pytest.raises(AuthError) as info:
        provider.token(SCOPE)
    assert info.value.aadsts == "90002"
    assert "check tenant_id and cloud" in str(info.value)
    assert info.value.correlation_id == CORRELATION


def test_unreachable_authority_says_where_to_look(http_factory) -> None:
    def down(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed")

    client = httpx.Client(transport=httpx.MockTransport(down))
    try:
        provider = MsalTokenProvider(tenant(), secret_credential(), http_client=client)
        with pytest.raises(AuthError, match=r"cannot reach login\.sim\.test.*network/proxy/ca_bundle"):
            provider.token(SCOPE)
    finally:
        client.close()


def test_token_endpoint_outage_is_an_auth_error(http_factory) -> None:
    idp = IdentityPlatform(lambda form: httpx.Response(503, text="unavailable"))
    provider = MsalTokenProvider(tenant(), secret_credential(), http_client=http_factory(idp))
    with pytest.raises(AuthError, match=r"login\.sim\.test"):
        provider.token(SCOPE)


def test_the_msal_app_is_built_once_and_reused(http_factory) -> None:
    idp = IdentityPlatform()
    provider = MsalTokenProvider(tenant(), secret_credential(), http_client=http_factory(idp))
    provider.token(SCOPE)
    provider.invalidate(SCOPE)
    provider.token(SCOPE)
    assert idp.discoveries == 1


def test_known_microsoft_host_works_through_the_same_client(http_factory) -> None:
    idp = IdentityPlatform()
    provider = MsalTokenProvider(tenant(authority_host=None), secret_credential(), http_client=http_factory(idp))
    assert provider.authority == f"https://login.microsoftonline.com/{TENANT_ID}"
    assert provider.token(SCOPE) == "at-1"


def test_token_cache_is_persisted_owner_only_and_reused(http_factory, tmp_path: Path) -> None:
    cache = tmp_path / "cache" / "contoso.json"
    idp = IdentityPlatform()
    first = MsalTokenProvider(tenant(), secret_credential(), http_client=http_factory(idp), cache_path=cache)
    assert first.token(SCOPE) == "at-1"
    assert stat.S_IMODE(cache.stat().st_mode) == 0o600
    second = MsalTokenProvider(tenant(), secret_credential(), http_client=http_factory(idp), cache_path=cache)
    assert second.token(SCOPE) == "at-1"
    assert len(idp.token_requests) == 1
    second.invalidate(SCOPE)
    assert "at-1" not in cache.read_text()


# ---- certificate credential ----


@pytest.fixture(scope="module")
def certificate() -> tuple[str, str, bytes]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "smtpauth-test")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=30))
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(b"pass-phrase-1"),
    ).decode()
    cert_pem = cert.public_bytes(serialization.Encoding.PEM).decode()
    return key_pem, cert_pem, cert.fingerprint(hashes.SHA256())


def _jwt_part(token: str, index: int) -> dict[str, Any]:
    part = token.split(".")[index]
    decoded: dict[str, Any] = json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))
    return decoded


def test_certificate_assertion_carries_a_sha256_thumbprint(http_factory, certificate) -> None:
    key_pem, cert_pem, sha256 = certificate
    idp = IdentityPlatform()
    credential = TenantCredential(
        kind="certificate",
        private_key_pem=SecretStr(key_pem),
        certificate_pem=cert_pem,
        passphrase=SecretStr("pass-phrase-1"),
    )
    provider = MsalTokenProvider(tenant(), credential, http_client=http_factory(idp))
    assert provider.token(SCOPE) == "at-1"
    form = idp.token_requests[0]
    assert form["client_assertion_type"] == ["urn:ietf:params:oauth:client-assertion-type:jwt-bearer"]
    assertion = form["client_assertion"][0]
    header = _jwt_part(assertion, 0)
    assert not assertion.startswith("b'")  # sent as text, not as the repr of bytes
    assert header["x5t#S256"].rstrip("=") == base64.urlsafe_b64encode(sha256).decode().rstrip("=")
    assert header["alg"] == "PS256"
    claims = _jwt_part(assertion, 1)
    assert claims["iss"] == claims["sub"] == CLIENT_ID
    assert "client_secret" not in form


def test_a_rejected_certificate_never_echoes_the_assertion(http_factory, certificate) -> None:
    key_pem, cert_pem, _ = certificate
    seen: list[str] = []

    def reject(form: dict[str, list[str]]) -> httpx.Response:
        seen.append(form["client_assertion"][0])
        return aad_error(700027, "invalid_client", f"Client assertion failed signature validation. {seen[0]}")

    idp = IdentityPlatform(reject)
    credential = TenantCredential(
        kind="certificate",
        private_key_pem=SecretStr(key_pem),
        certificate_pem=cert_pem,
        passphrase=SecretStr("pass-phrase-1"),
    )
    provider = MsalTokenProvider(tenant(), credential, http_client=http_factory(idp))
    with pytest.raises(AuthError) as info:
        provider.token(SCOPE)
    assert seen[0] not in str(info.value)
    assert "upload certificate_path" in str(info.value)
