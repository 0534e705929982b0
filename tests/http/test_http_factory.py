"""The client factory: TLS always verified, no automatic redirects, our user agent."""

from pathlib import Path

import certifi
import pytest

from connector.config import HttpSettings, TenantSettings
from connector.errors import ConfigError
from connector.http import build_http_client, exchange_anchor_mailbox


def tenant(**kw: object) -> TenantSettings:
    values: dict[str, object] = {
        "name": "contoso",
        "tenant_id": "contoso.onmicrosoft.com",
        "client_id": "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee",
        "client_secret_env": "SMTPAUTH_TEST_SECRET",
    }
    values.update(kw)
    return TenantSettings(**values)  # type: ignore[arg-type]


def test_factory_sets_timeouts_redirects_and_user_agent() -> None:
    with build_http_client(tenant(), HttpSettings(timeout_seconds=12)) as client:
        assert client.timeout.read == 12
        assert client.timeout.connect == 12
        assert client.follow_redirects is False
        assert client.headers["User-Agent"].startswith("smtpauth/")
        assert "authorization" not in client.headers


def test_a_ca_bundle_is_loaded_and_a_missing_one_is_a_config_error(tmp_path: Path) -> None:
    bundle = tmp_path / "ca.pem"
    bundle.write_text(Path(certifi.where()).read_text())
    with build_http_client(tenant(ca_bundle=bundle), HttpSettings()):
        pass
    with pytest.raises(ConfigError) as info:
        build_http_client(tenant(ca_bundle=tmp_path / "missing.pem"), HttpSettings())
    assert info.value.key == "tenants.contoso.ca_bundle"


def test_anchor_mailbox_uses_the_primary_domain_else_the_tenant_id() -> None:
    assert exchange_anchor_mailbox(tenant(primary_domain="contoso.com")) == (
        "APP:SystemMailbox{bb558c35-97f1-4cb9-8ff7-d53741dc928c}@contoso.com"
    )
    # without a domain, the tenant id: what production tools send (API notes section 9)
    guid = tenant(tenant_id="11111111-2222-3333-4444-555555555555")
    assert exchange_anchor_mailbox(guid) == (
        "APP:SystemMailbox{bb558c35-97f1-4cb9-8ff7-d53741dc928c}@11111111-2222-3333-4444-555555555555"
    )
