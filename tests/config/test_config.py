"""Configuration: every error path gives one message naming the key; the example documents and loads every field."""

import datetime as dt
import os
import re
import tomllib
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
from pydantic import BaseModel

from connector.config import AppSettings, Settings, TenantSettings, load_settings
from connector.errors import ConfigError

ROOT = Path(__file__).resolve().parents[2]
GUID = "11111111-2222-3333-4444-555555555555"
SECRET = "s3cr3t-value-that-is-long-enough"


def tenant_block(name: str = "contoso", **extra: str) -> str:
    lines = [
        "[[tenants]]",
        f'name = "{name}"',
        'tenant_id = "contoso.onmicrosoft.com"',
        f'client_id = "{GUID}"',
    ]
    if not any(k in extra for k in ("client_secret_file", "certificate_path", "private_key_path")):
        extra.setdefault("client_secret_env", "CONTOSO_SECRET")
    lines += [
        f'{k} = "{v}"' if not v.startswith(("[", "{", "true", "false")) else f"{k} = {v}" for k, v in extra.items()
    ]
    return "\n".join(lines) + "\n"


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "smtpauth.toml"
    path.write_text(text, encoding="utf-8")
    return path


def load(path: Path, **env: str) -> Settings:
    environ = {"CONTOSO_SECRET": SECRET, **env}
    return load_settings(path, environ=environ)


def make_cert(tmp_path: Path, *, encrypted: bytes | None = None, stem: str = "app") -> tuple[Path, Path]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "smtpauth test")])
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
    cert_path = tmp_path / f"{stem}.crt"
    key_path = tmp_path / f"{stem}.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    algo = serialization.BestAvailableEncryption(encrypted) if encrypted else serialization.NoEncryption()
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, algo))
    key_path.chmod(0o600)
    return cert_path, key_path


def expect_error(path: Path, key_fragment: str, message_fragment: str, **env: str) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        load(path, **env)
    err = info.value
    text = str(err)
    assert "\n" not in text
    assert key_fragment in text, text
    assert re.search(message_fragment, text, re.IGNORECASE), text
    assert SECRET not in text
    return err


def test_minimal_config_loads_with_defaults(tmp_path: Path) -> None:
    settings = load(write(tmp_path, tenant_block()))
    tenant = settings.tenants[0]
    assert tenant.name == "contoso"
    assert tenant.effective_graph_endpoint == "https://graph.microsoft.com"
    assert settings.database_url.startswith("sqlite:///")
    assert tenant.load_credential({"CONTOSO_SECRET": SECRET}).secret is not None


def test_secret_is_never_in_repr(tmp_path: Path) -> None:
    settings = load(write(tmp_path, tenant_block()))
    cred = settings.tenants[0].load_credential({"CONTOSO_SECRET": SECRET})
    assert SECRET not in repr(cred)
    assert SECRET not in str(cred)


def test_environment_overrides_file(tmp_path: Path) -> None:
    path = write(tmp_path, '[database]\nurl = "sqlite:///a.db"\n' + tenant_block())
    settings = load(path, SMTPAUTH_DATABASE__URL="sqlite:///b.db", SMTPAUTH_HTTP__TIMEOUT_SECONDS="5")
    assert settings.database.url == "sqlite:///b.db"
    assert settings.http.timeout_seconds == 5
    assert "SMTPAUTH_DATABASE__URL" not in os.environ


def test_sovereign_cloud_endpoints(tmp_path: Path) -> None:
    settings = load(write(tmp_path, tenant_block(cloud="usgovdod")))
    t = settings.tenants[0]
    assert t.effective_authority_host == "https://login.microsoftonline.us"
    assert t.effective_graph_endpoint == "https://dod-graph.microsoft.us"


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"--config: configuration file .* does not exist"):
        load_settings(tmp_path / "nope.toml", environ={})


def test_not_toml(tmp_path: Path) -> None:
    expect_error(write(tmp_path, "[[tenants]\nname=1"), "--config", "not valid TOML")


def test_unknown_key(tmp_path: Path) -> None:
    expect_error(write(tmp_path, tenant_block(client_secrets="X")), "tenants[contoso].client_secrets", "unknown key")


def test_unknown_top_level_key(tmp_path: Path) -> None:
    expect_error(write(tmp_path, "databse = 1\n" + tenant_block()), "databse", "unknown key")


def test_bad_type(tmp_path: Path) -> None:
    expect_error(
        write(tmp_path, '[http]\ntimeout_seconds = "soon"\n' + tenant_block()),
        "http.timeout_seconds",
        "invalid value",
    )


def test_bad_cloud(tmp_path: Path) -> None:
    expect_error(write(tmp_path, tenant_block(cloud="mars")), "tenants[contoso].cloud", "global")


def test_missing_required_key(tmp_path: Path) -> None:
    text = tenant_block().replace(f'client_id = "{GUID}"\n', "")
    expect_error(write(tmp_path, text), "tenants[contoso].client_id", "required key is missing")


def test_missing_secret_variable(tmp_path: Path) -> None:
    path = write(tmp_path, tenant_block())
    with pytest.raises(ConfigError, match=r"client_secret_env: environment variable CONTOSO_SECRET is not set"):
        load_settings(path, environ={})


@pytest.mark.parametrize("value", ["changeme", "<client-secret>", "xxxxxxxx", "your-secret-here", "TODO"])
def test_placeholder_secret(tmp_path: Path, value: str) -> None:
    expect_error(write(tmp_path, tenant_block()), "client_secret_env", "placeholder", CONTOSO_SECRET=value)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("client_id", "<application-client-id>"),
        ("client_id", "00000000-0000-0000-0000-000000000000"),
        ("tenant_id", "<tenant-id>"),
    ],
)
def test_placeholder_ids(tmp_path: Path, field: str, value: str) -> None:
    text = tenant_block()
    text = re.sub(rf'^{field} = ".*"$', f'{field} = "{value}"', text, flags=re.MULTILINE)
    expect_error(write(tmp_path, text), f"tenants[contoso].{field}", "placeholder")


def test_duplicate_tenant_name(tmp_path: Path) -> None:
    expect_error(write(tmp_path, tenant_block() + tenant_block()), "config", "duplicate tenant name 'contoso'")


def test_no_credential(tmp_path: Path) -> None:
    text = tenant_block().replace('client_secret_env = "CONTOSO_SECRET"\n', "")
    expect_error(write(tmp_path, text), "tenants[contoso]", "no credential")


def test_two_credentials(tmp_path: Path) -> None:
    expect_error(
        write(tmp_path, tenant_block(client_secret_env="CONTOSO_SECRET", client_secret_file="/x")),
        "tenants[contoso]",
        "more than one",
    )


def test_http_endpoint_override_must_be_https(tmp_path: Path) -> None:
    expect_error(
        write(tmp_path, tenant_block(graph_endpoint="http://graph.example")),
        "tenants[contoso].graph_endpoint",
        "https",
    )


def test_secret_file_loads_and_world_readable_is_refused(tmp_path: Path) -> None:
    secret = tmp_path / "contoso.secret"
    secret.write_text(SECRET + "\n")
    secret.chmod(0o600)
    path = write(tmp_path, tenant_block(client_secret_file=str(secret)))
    cred = load(path).tenants[0].load_credential({})
    assert cred.secret is not None
    assert cred.secret.get_secret_value() == SECRET
    secret.chmod(0o644)
    expect_error(path, "client_secret_file", "readable by other users.*chmod 600")


def test_certificate_loads(tmp_path: Path) -> None:
    cert, key = make_cert(tmp_path)
    path = write(tmp_path, tenant_block(certificate_path=str(cert), private_key_path=str(key)))
    cred = load(path).tenants[0].load_credential({})
    assert cred.kind == "certificate"
    assert cred.certificate_pem is not None
    assert "BEGIN CERTIFICATE" in cred.certificate_pem


def test_certificate_without_key(tmp_path: Path) -> None:
    cert, _ = make_cert(tmp_path)
    expect_error(
        write(tmp_path, tenant_block(certificate_path=str(cert))),
        "tenants[contoso]",
        "needs both certificate_path and private_key_path",
    )


def test_unreadable_certificate(tmp_path: Path) -> None:
    _, key = make_cert(tmp_path)
    path = write(tmp_path, tenant_block(certificate_path=str(tmp_path / "missing.crt"), private_key_path=str(key)))
    expect_error(path, "certificate_path", "does not exist")


def test_unreadable_key(tmp_path: Path) -> None:
    cert, _ = make_cert(tmp_path)
    key = tmp_path / "keydir"
    key.mkdir()
    path = write(tmp_path, tenant_block(certificate_path=str(cert), private_key_path=str(key)))
    expect_error(path, "private_key_path", "cannot read")


def test_key_not_pem(tmp_path: Path) -> None:
    cert, key = make_cert(tmp_path)
    key.write_text("not a key")
    path = write(tmp_path, tenant_block(certificate_path=str(cert), private_key_path=str(key)))
    expect_error(path, "private_key_path", "not a PEM private key")


def test_world_readable_key(tmp_path: Path) -> None:
    cert, key = make_cert(tmp_path)
    key.chmod(0o644)
    path = write(tmp_path, tenant_block(certificate_path=str(cert), private_key_path=str(key)))
    expect_error(path, "private_key_path", "chmod 600")


def test_key_of_another_certificate(tmp_path: Path) -> None:
    cert, _ = make_cert(tmp_path, stem="a")
    _, key = make_cert(tmp_path, stem="b")
    path = write(tmp_path, tenant_block(certificate_path=str(cert), private_key_path=str(key)))
    expect_error(path, "private_key_path", "does not belong to the certificate")


def test_encrypted_key_needs_passphrase(tmp_path: Path) -> None:
    cert, key = make_cert(tmp_path, encrypted=b"pw-1234")
    path = write(tmp_path, tenant_block(certificate_path=str(cert), private_key_path=str(key)))
    expect_error(path, "private_key_passphrase_env", "encrypted")
    path = write(
        tmp_path,
        tenant_block(certificate_path=str(cert), private_key_path=str(key), private_key_passphrase_env="KEY_PW"),
    )
    expect_error(path, "private_key_passphrase_env", "KEY_PW is not set")
    assert load(path, KEY_PW="pw-1234").tenants[0].load_credential({"KEY_PW": "pw-1234"}).passphrase is not None
    expect_error(path, "private_key_path", "cannot be decrypted", KEY_PW="wrong")


def test_missing_ca_bundle(tmp_path: Path) -> None:
    expect_error(write(tmp_path, tenant_block(ca_bundle=str(tmp_path / "ca.pem"))), "ca_bundle", "does not exist")


def test_no_tenants(tmp_path: Path) -> None:
    expect_error(write(tmp_path, "[database]\n"), "tenants", r"no \[\[tenants\]\] table")


def _field_names(model: type[BaseModel], prefix: str = "") -> set[str]:
    names: set[str] = set()
    for name, field in model.model_fields.items():
        ann = field.annotation
        if isinstance(ann, type) and issubclass(ann, BaseModel):
            names |= _field_names(ann, f"{prefix}{name}.")
        else:
            names.add(prefix + name)
    return names


def test_example_documents_every_field() -> None:
    text = (ROOT / "config.example.toml").read_text()
    documented = set(re.findall(r"^#?\s*([a-z_]+)\s*=", text, flags=re.MULTILINE))
    sections = set(re.findall(r"^\[+([a-z_]+)\]+", text, flags=re.MULTILINE))
    for name in _field_names(Settings) - {"tenants", "apps"}:
        leaf = name.split(".")[-1]
        assert leaf in documented, f"{name} is not documented in config.example.toml"
        if "." in name:
            assert name.split(".")[0] in sections
    for name in TenantSettings.model_fields:
        assert name in documented, f"tenants.{name} is not documented in config.example.toml"
    assert "[[apps]]" in text
    for name in AppSettings.model_fields:
        assert name in documented or name in text.split("[[apps]]")[-1], f"apps.{name} is not documented"


def test_example_loads_once_filled_in(tmp_path: Path) -> None:
    text = (ROOT / "config.example.toml").read_text().replace("<application-client-id>", GUID)
    tomllib.loads(text)
    path = write(tmp_path, text)
    settings = load_settings(path, environ={"SMTPAUTH_CONTOSO_CLIENT_SECRET": SECRET})
    assert settings.tenants[0].client_secret_env == "SMTPAUTH_CONTOSO_CLIENT_SECRET"
    assert settings.data_dir == (tmp_path / "data").resolve()


def test_example_as_shipped_is_refused_for_its_placeholder(tmp_path: Path) -> None:
    path = write(tmp_path, (ROOT / "config.example.toml").read_text())
    with pytest.raises(ConfigError, match="client_id: placeholder"):
        load_settings(path, environ={"SMTPAUTH_CONTOSO_CLIENT_SECRET": SECRET})
