import httpx
import msal
import pytest

from connector.clock import FakeClock
from connector.simulator import SimDirectory, Simulator

from .conftest import MsalHttp, msal_app


@pytest.mark.parametrize(("tenant", "app"), [("contoso", "reader"), ("contoso", "cert"), ("fabrikam", "cert")])
def test_msal_gets_a_token_with_secret_and_certificate(
    sim: Simulator, http: httpx.Client, tenant: str, app: str
) -> None:
    result = msal_app(sim, http, tenant, app).acquire_token_for_client([f"{sim.endpoints.graph}/.default"])
    assert result["token_type"] == "Bearer"
    assert result["expires_in"] == 3599
    grant = sim.tokens.get(result["access_token"])
    assert grant is not None
    assert grant.audience == "graph"
    assert grant.tenant_id == sim.directory.tenant(tenant).tenant_id


def test_legacy_sha1_thumbprint_assertion_is_accepted(sim: Simulator, http: httpx.Client) -> None:
    t = sim.directory.tenant("contoso")
    a = t.app("cert")
    assert a.certificate is not None
    app = msal.ConfidentialClientApplication(
        a.client_id,
        client_credential={"private_key": a.certificate.key_pem, "thumbprint": a.certificate.sha1_thumbprint},
        authority=f"{sim.endpoints.login}/{t.tenant_id}",
        http_client=MsalHttp(http),
        instance_discovery=False,
    )
    assert "access_token" in app.acquire_token_for_client([f"{sim.endpoints.exchange}/.default"])


def test_discovery_accepts_domain_and_guid(sim: Simulator, http: httpx.Client) -> None:
    t = sim.directory.tenant("contoso")
    for ref in (t.tenant_id, t.initial_domain, "CONTOSO.COM"):
        r = http.get(f"{sim.endpoints.login}/{ref}/v2.0/.well-known/openid-configuration")
        assert r.status_code == 200
        assert r.json()["token_endpoint"] == f"{sim.endpoints.login}/{ref}/oauth2/v2.0/token"


def test_unknown_tenant_fails_msal_constructor_with_aadsts90002(sim: Simulator, http: httpx.Client) -> None:
    with pytest.raises(ValueError, match="authority configuration") as caught:
        msal.ConfidentialClientApplication(
            "11111111-1111-4111-8111-111111111111",
            client_credential="x",
            authority=f"{sim.endpoints.login}/nowhere.onmicrosoft.com",
            http_client=MsalHttp(http),
            instance_discovery=False,
        )
    assert "AADSTS90002" in str(caught.value.__cause__ or caught.value.__context__)


def _token_error(sim: Simulator, http: httpx.Client, **form: str) -> dict[str, object]:
    t = sim.directory.tenant("contoso")
    data = {"grant_type": "client_credentials", "scope": f"{sim.endpoints.graph}/.default", **form}
    r = http.post(f"{sim.endpoints.login}/{t.tenant_id}/oauth2/v2.0/token", data=data)
    assert r.status_code in (400, 401)
    body: dict[str, object] = r.json()
    return body


def test_wrong_secret_is_aadsts7000215(sim: Simulator, http: httpx.Client) -> None:
    app = sim.directory.tenant("contoso").app("reader")
    body = _token_error(sim, http, client_id=app.client_id, client_secret="wrong")
    assert body["error"] == "invalid_client"
    assert body["error_codes"] == [7000215]


def test_wrong_secret_through_msal_returns_error_dict(sim: Simulator, http: httpx.Client) -> None:
    t = sim.directory.tenant("contoso")
    app = msal.ConfidentialClientApplication(
        t.app("reader").client_id,
        client_credential="not-the-secret",
        authority=f"{sim.endpoints.login}/{t.tenant_id}",
        http_client=MsalHttp(http),
        instance_discovery=False,
    )
    result = app.acquire_token_for_client([f"{sim.endpoints.graph}/.default"])
    assert "AADSTS7000215" in result["error_description"]


def test_expired_secret_unknown_client_and_bad_scope(sim: Simulator, http: httpx.Client) -> None:
    expired = sim.directory.tenant("contoso").app("expired")
    assert expired.secret is not None
    assert _token_error(sim, http, client_id=expired.client_id, client_secret=expired.secret)["error_codes"] == [
        7000222
    ]
    unknown = _token_error(sim, http, client_id="22222222-2222-4222-8222-222222222222", client_secret="x")
    assert unknown["error_codes"] == [700016]
    reader = sim.directory.tenant("contoso").app("reader")
    assert reader.secret is not None
    no_default = _token_error(sim, http, client_id=reader.client_id, client_secret=reader.secret, scope="User.Read")
    assert no_default["error_codes"] == [1002012]
    other = _token_error(
        sim, http, client_id=reader.client_id, client_secret=reader.secret, scope="https://elsewhere.test/.default"
    )
    assert other["error_codes"] == [70011]


def test_certificate_of_another_app_is_aadsts700027(sim: Simulator, http: httpx.Client) -> None:
    contoso = sim.directory.tenant("contoso")
    other = sim.directory.tenant("fabrikam").app("cert").certificate
    assert other is not None
    app = msal.ConfidentialClientApplication(
        contoso.app("cert").client_id,
        client_credential={"private_key": other.key_pem, "public_certificate": other.cert_pem},
        authority=f"{sim.endpoints.login}/{contoso.tenant_id}",
        http_client=MsalHttp(http),
        instance_discovery=False,
    )
    result = app.acquire_token_for_client([f"{sim.endpoints.graph}/.default"])
    assert "AADSTS700027" in result["error_description"]


def test_graph_rejects_missing_expired_and_wrong_audience_tokens(directory: SimDirectory) -> None:
    clock = FakeClock()
    sim = Simulator(directory, clock=clock)
    from connector.simulator import SimTransport

    http = httpx.Client(transport=SimTransport(sim))
    url = f"{sim.endpoints.graph}/v1.0/admin/reportSettings"
    missing = http.get(url)
    assert missing.status_code == 401
    assert missing.json()["error"]["code"] == "InvalidAuthenticationToken"
    assert missing.headers["request-id"]
    from .conftest import token

    exchange_token = token(sim, http, exchange=True)
    assert http.get(url, headers={"Authorization": f"Bearer {exchange_token}"}).status_code == 401
    graph_token = token(sim, http)
    assert http.get(url, headers={"Authorization": f"Bearer {graph_token}"}).status_code == 200
    clock.advance(3600)
    expired = http.get(url, headers={"Authorization": f"Bearer {graph_token}"})
    assert expired.status_code == 401
    assert "expired" in expired.json()["error"]["message"]
