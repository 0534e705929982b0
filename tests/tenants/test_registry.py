"""The tenant registry: validation (never a secret), CSV import all or nothing, merging with [[tenants]], the CLI."""

from datetime import UTC, datetime
from pathlib import Path

import pytest
from click.testing import CliRunner

from connector.cli import cli
from connector.clouds import Cloud
from connector.config import Settings, load_settings
from connector.errors import ConfigError
from connector.store.store import Store, open_store
from connector.tenants import (
    TenantEntry,
    add_tenant,
    consent_url,
    import_csv,
    list_registry,
    looks_like_secret,
    remove_tenant,
    with_registry,
)

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
APP_ID = "0a0b0c0d-1111-4222-8333-444455556666"
TENANT_GUID = "9f8e7d6c-5b4a-4321-8fed-cba987654321"
ENTRA_SECRET = "Abc8Q~x7Gh2kLm9PqR4sTv8WxY1zAb3CdEfGhIjK"


def config(tmp_path: Path, db_url: str, *, toml_tenant: bool = True) -> Path:
    key = tmp_path / "msp.key"
    cert = tmp_path / "msp.pem"
    from connector.simulator.certs import make_self_signed

    pair = make_self_signed("registry-test")
    cert.write_text(pair.cert_pem)
    key.write_text(pair.key_pem)
    key.chmod(0o600)
    text = f'data_dir = "{tmp_path / "data"}"\n[database]\nurl = "{db_url}"\n'
    if toml_tenant:
        text += (
            '[[tenants]]\nname = "contoso"\ntenant_id = "contoso.onmicrosoft.com"\n'
            f'client_id = "{APP_ID}"\nclient_secret_env = "CONTOSO_SECRET"\n'
        )
    text += (
        f'[[apps]]\nname = "msp"\nclient_id = "{APP_ID}"\ncertificate_path = "{cert}"\nprivate_key_path = "{key}"\n'
        'authority_host = "https://login.example.test"\n'
    )
    path = tmp_path / "smtpauth.toml"
    path.write_text(text)
    return path


@pytest.fixture
def setup(tmp_path: Path, db_url: str) -> tuple[Settings, Store, Path]:
    path = config(tmp_path, db_url)
    settings = load_settings(path, environ={"CONTOSO_SECRET": "a-secret-of-the-toml-tenant-123"})
    store = open_store(db_url)
    yield settings, store, path
    store.close()


def entry(**fields: object) -> TenantEntry:
    base: dict[str, object] = {"name": "fabrikam", "tenant_id": TENANT_GUID, "credential": "app:msp"}
    return TenantEntry.parse({**base, **fields})


def test_registry_tenants_are_merged_with_the_configuration(setup: tuple[Settings, Store, Path]) -> None:
    settings, store, _ = setup
    assert add_tenant(store, settings, entry(schedule="15 1 * * *", timezone="Europe/Berlin"), now=NOW)
    add_tenant(
        store,
        settings,
        entry(name="northwind", credential="env:NORTHWIND_SECRET", client_id=APP_ID, cloud="usgov"),
        now=NOW,
    )
    merged = with_registry(settings, store)
    assert [t.name for t in merged.tenants] == ["contoso", "fabrikam", "northwind"]
    fabrikam = merged.tenant("fabrikam")
    # an app: credential takes the app's client id, certificate and host overrides
    assert fabrikam.client_id == APP_ID
    assert fabrikam.certificate_path is not None
    assert fabrikam.effective_authority_host == "https://login.example.test"
    assert merged.service.tenant_schedules["fabrikam"].timezone == "Europe/Berlin"
    northwind = merged.tenant("northwind")
    assert northwind.client_secret_env == "NORTHWIND_SECRET"
    assert northwind.effective_graph_endpoint == "https://graph.microsoft.us"
    assert [e.name for e in list_registry(store)] == ["fabrikam", "northwind"]


def test_a_secret_is_refused_wherever_it_appears_and_never_repeated(setup: tuple[Settings, Store, Path]) -> None:
    for field in ("credential", "client_id", "primary_domain", "name"):
        with pytest.raises(ConfigError, match="looks like a secret") as err:
            entry(**{field: ENTRA_SECRET})
        assert ENTRA_SECRET not in str(err.value)
    for value in (
        ENTRA_SECRET,
        "-----BEGIN PRIVATE KEY-----\nMIIE",
        "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0",
    ):
        assert looks_like_secret(value)
    for value in ("env:SMTPAUTH_FABRIKAM_SECRET", "file:/etc/smtpauth/fabrikam.secret", "app:msp", TENANT_GUID):
        assert not looks_like_secret(value)
    assert list_registry(setup[1]) == []


@pytest.mark.parametrize(
    ("fields", "key", "message"),
    [
        ({"credential": "env:X"}, "client_id", "needs client_id"),
        ({"credential": "file:relative.txt", "client_id": APP_ID}, "credential", "absolute path"),
        ({"credential": "vault:thing"}, "credential", "app:NAME"),
        ({"client_id": APP_ID}, "client_id", "leave client_id empty"),
        ({"tenant_id": "not a tenant"}, "tenant_id", "GUID or a domain"),
        ({"schedule": "every night"}, "schedule", "cron expression"),
        ({"cloud": "mars"}, "cloud", "global"),
        ({"name": "Bad Name"}, "name", "lower-case"),
        ({"exchange_admin": "perhaps"}, "exchange_admin", "true or false"),
    ],
)
def test_bad_rows_name_the_field(fields: dict[str, object], key: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message) as err:
        entry(**fields)
    assert err.value.key is not None
    assert key in err.value.key


def test_names_of_the_configuration_and_unknown_apps_are_refused(setup: tuple[Settings, Store, Path]) -> None:
    settings, store, _ = setup
    with pytest.raises(ConfigError, match="already a \\[\\[tenants\\]\\] table"):
        add_tenant(store, settings, entry(name="contoso"), now=NOW)
    with pytest.raises(ConfigError, match="no \\[\\[apps\\]\\] table named 'other'"):
        add_tenant(store, settings, entry(credential="app:other"), now=NOW)
    add_tenant(store, settings, entry(), now=NOW)
    with pytest.raises(ConfigError, match="already in the registry"):
        add_tenant(store, settings, entry(), now=NOW)
    assert not add_tenant(store, settings, entry(primary_domain="fabrikam.com"), now=NOW, replace=True)
    with pytest.raises(ConfigError, match="remove it there"):
        remove_tenant(store, settings, "contoso")
    remove_tenant(store, settings, "fabrikam")
    with pytest.raises(ConfigError, match="not in the registry"):
        remove_tenant(store, settings, "fabrikam")


def test_a_name_in_both_places_is_refused_when_merging(tmp_path: Path, db_url: str) -> None:
    path = config(tmp_path, db_url, toml_tenant=False)
    store = open_store(db_url)
    try:
        settings = load_settings(path, require_tenants=False)
        add_tenant(store, settings, entry(name="contoso"), now=NOW)
        (tmp_path / "smtpauth.toml").write_text(
            path.read_text() + f'[[tenants]]\nname = "contoso"\ntenant_id = "contoso.com"\nclient_id = "{APP_ID}"\n'
            'client_secret_env = "CONTOSO_SECRET"\n'
        )
        later = load_settings(path, environ={"CONTOSO_SECRET": "a-secret-of-the-toml-tenant-123"})
        with pytest.raises(ConfigError, match="both a \\[\\[tenants\\]\\] table and a registry row"):
            with_registry(later, store)
    finally:
        store.close()


def test_csv_import_is_all_or_nothing_with_line_numbers(setup: tuple[Settings, Store, Path]) -> None:
    settings, store, _ = setup
    good = f"name,tenant_id,credential,schedule\nt1,{TENANT_GUID},app:msp,\nt2,t2.onmicrosoft.com,app:msp,0 3 * * *\n"
    assert import_csv(store, settings, good, now=NOW) == (2, 0)
    assert import_csv(store, settings, good, now=NOW) == (0, 2)
    bad = (
        "name,tenant_id,credential\n"
        f"t3,{TENANT_GUID},app:msp\n"
        f"t4,{TENANT_GUID},{ENTRA_SECRET}\n"
        "t5,nope,app:msp\n"
        f"t3,{TENANT_GUID},app:msp\n"
    )
    with pytest.raises(ConfigError) as err:
        import_csv(store, settings, bad, now=NOW, source="estate.csv")
    text = str(err.value)
    assert "line 3: credential: looks like a secret" in text
    assert "line 4: tenant_id" in text
    assert "line 5: name: 't3' is also on line 2" in text
    assert ENTRA_SECRET not in text
    assert [e.name for e in list_registry(store)] == ["t1", "t2"]  # nothing of the bad file
    with pytest.raises(ConfigError, match=r"unknown column\(s\) client_secret: .*never go in the registry"):
        import_csv(store, settings, "name,tenant_id,credential,client_secret\n", now=NOW)
    with pytest.raises(ConfigError, match=r"missing column\(s\) credential"):
        import_csv(store, settings, "name,tenant_id\n", now=NOW)
    with pytest.raises(ConfigError, match="already a \\[\\[tenants\\]\\] table"):
        import_csv(store, settings, f"name,tenant_id,credential\ncontoso,{TENANT_GUID},app:msp\n", now=NOW)


@pytest.mark.parametrize(
    ("cloud", "host"),
    [
        (Cloud.GLOBAL, "https://login.microsoftonline.com"),
        (Cloud.USGOV, "https://login.microsoftonline.us"),
        (Cloud.USGOVDOD, "https://login.microsoftonline.us"),
        (Cloud.CHINA, "https://login.partner.microsoftonline.cn"),
    ],
)
def test_consent_url_uses_the_clouds_login_host(cloud: Cloud, host: str) -> None:
    tenant = entry(credential="env:S", client_id=APP_ID, cloud=cloud.value).tenant_settings(Settings(tenants=[]))
    assert consent_url(tenant) == f"{host}/{TENANT_GUID}/adminconsent?client_id={APP_ID}"
    assert consent_url(tenant, redirect_uri="https://localhost/").endswith(
        f"client_id={APP_ID}&redirect_uri=https%3A%2F%2Flocalhost%2F"
    )


def test_cli_add_list_import_consent_url_remove(setup: tuple[Settings, Store, Path], tmp_path: Path) -> None:
    _, store, path = setup
    runner = CliRunner(env={"CONTOSO_SECRET": "a-secret-of-the-toml-tenant-123"})
    c = ["-c", str(path), "tenants"]
    added = runner.invoke(cli, [*c, "add", "fabrikam", "--tenant-id", TENANT_GUID, "--credential", "app:msp"])
    assert added.exit_code == 0, added.output
    assert "added fabrikam" in added.output
    refused = runner.invoke(cli, [*c, "add", "x1", "--tenant-id", TENANT_GUID, "--credential", ENTRA_SECRET])
    assert refused.exit_code == 2
    assert "looks like a secret" in refused.output
    assert ENTRA_SECRET not in refused.output
    csv_file = tmp_path / "estate.csv"
    csv_file.write_text(f"name,tenant_id,credential\nt1,{TENANT_GUID},app:msp\n")
    imported = runner.invoke(cli, [*c, "import", str(csv_file)])
    assert imported.exit_code == 0, imported.output
    assert "1 tenant(s) added" in imported.output
    listed = runner.invoke(cli, [*c, "list"])
    assert listed.exit_code == 0, listed.output
    lines = listed.output.splitlines()
    assert any("contoso" in line and "config" in line and "env:CONTOSO_SECRET" in line for line in lines)
    assert any("fabrikam" in line and "registry" in line and "app:msp" in line for line in lines)
    assert "3 tenant(s): 2 in the registry" in listed.output
    url = runner.invoke(cli, [*c, "consent-url", "fabrikam"])
    assert url.output.strip() == f"https://login.example.test/{TENANT_GUID}/adminconsent?client_id={APP_ID}"
    assert runner.invoke(cli, [*c, "remove", "t1"]).exit_code == 0
    gone = runner.invoke(cli, [*c, "remove", "t1"])
    assert gone.exit_code == 2
    assert "not in the registry" in gone.output
    assert [e.name for e in list_registry(store)] == ["fabrikam"]
