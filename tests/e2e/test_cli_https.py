"""The command line over real HTTPS: `smtpauth simulate` in one process, `smtpauth check` / `sync` in another.

Real MSAL (no patching), real TLS verified against the simulator's CA through ``ca_bundle``.
"""

import os
import queue
import re
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from connector.simulator import SimDirectory

pytestmark = pytest.mark.https

SEED = 0


def smtpauth(*args: str, env: dict[str, str] | None = None, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "connector", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **(env or {})},
        check=False,
    )


@pytest.fixture(scope="module")
def simulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, str]]:
    """`smtpauth simulate` running; yields its state folder and the configuration it printed."""
    state = tmp_path_factory.mktemp("sim")
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "connector",
            "simulate",
            "--state-dir",
            str(state),
            "--users",
            "60",
            "--seed",
            str(SEED),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    lines: queue.Queue[str] = queue.Queue()
    reader = threading.Thread(target=lambda: [lines.put(ln) for ln in proc.stdout or ()], daemon=True)
    reader.start()
    seen: list[str] = []
    try:
        while not seen or not seen[-1].startswith("# ready"):
            seen.append(lines.get(timeout=60))
    except queue.Empty:
        proc.kill()
        proc.communicate()
        pytest.fail("the simulator did not start within 60 s")
    try:
        yield state, "".join(seen)
    finally:
        proc.terminate()
        _, err = proc.communicate(timeout=20)
        reader.join(timeout=5)
        assert proc.returncode == 0, err


def tenant_table(snippet: str, name: str) -> str:
    match = re.search(rf'\[\[tenants\]\]\nname = "{name}"\n(?:.+\n)+', snippet)
    assert match, name
    return match.group(0)


def write_config(tmp_path: Path, *tables: str, sync: str = "") -> Path:
    path = tmp_path / "smtpauth.toml"
    path.write_text(f'data_dir = "{tmp_path / "data"}"\n{sync}\n' + "\n".join(tables))
    return path


def test_check_passes_for_secret_and_certificate_tenants(simulator: tuple[Path, str], tmp_path: Path) -> None:
    state, snippet = simulator
    contoso = tenant_table(snippet, "contoso")
    cert_app = SimDirectory.default(seed=SEED, users=60).tenant("contoso").app("cert")
    cert_table = (
        re.sub(r'client_id = ".*"', f'client_id = "{cert_app.client_id}"', contoso)
        .replace('name = "contoso"', 'name = "contoso-cert"')
        .replace(f'client_secret_file = "{state / "contoso-reader.secret"}"', "")
        .rstrip()
        + f'\ncertificate_path = "{state / "contoso-cert.pem"}"\nprivate_key_path = "{state / "contoso-cert.key"}"\n'
    )
    config = write_config(tmp_path, contoso, cert_table)
    result = smtpauth("-c", str(config), "check")
    assert result.returncode == 0, result.stdout + result.stderr
    for name in ("contoso", "contoso-cert"):
        assert re.search(rf"{name} \(.*\): token ok", result.stdout)
    for source in ("report_settings", "usage_user_detail", "signins", "message_trace"):
        assert len(re.findall(rf"ok\s+{source}\s", result.stdout)) == 2, result.stdout
    assert "Traceback" not in result.stderr


def test_check_wrong_secret(simulator: tuple[Path, str], tmp_path: Path) -> None:
    _, snippet = simulator
    bad = tmp_path / "bad.secret"
    bad.write_text("not-the-secret-value-1234\n")
    bad.chmod(0o600)
    table = re.sub(r'client_secret_file = ".*"', f'client_secret_file = "{bad}"', tenant_table(snippet, "contoso"))
    result = smtpauth("-c", str(write_config(tmp_path, table)), "check")
    assert result.returncode == 1
    assert "token FAILED" in result.stdout
    assert "7000215" in result.stdout
    assert "client secret is wrong" in result.stdout.replace("\n", " ")
    assert "not-the-secret-value-1234" not in result.stdout + result.stderr
    assert "Traceback" not in result.stderr


def test_check_unknown_tenant(simulator: tuple[Path, str], tmp_path: Path) -> None:
    _, snippet = simulator
    table = re.sub(
        r'tenant_id = ".*"', 'tenant_id = "0badc0de-0000-4000-8000-000000000001"', tenant_table(snippet, "contoso")
    )
    result = smtpauth("-c", str(write_config(tmp_path, table)), "check")
    assert result.returncode == 1
    out = result.stdout.replace("\n", " ")
    assert "90002" in out
    assert "tenant_id" in out
    assert "Traceback" not in result.stderr


def test_check_tenant_without_p1(simulator: tuple[Path, str], tmp_path: Path) -> None:
    _, snippet = simulator
    result = smtpauth("-c", str(write_config(tmp_path, tenant_table(snippet, "fabrikam"))), "check")
    assert result.returncode == 1
    assert "token ok" in result.stdout
    line = next(ln for ln in result.stdout.splitlines() if "signins" in ln)
    assert "missing" in line
    assert "Entra ID P1/P2 licence required" in line
    assert re.search(r"ok\s+usage_user_detail", result.stdout)


def test_check_warns_about_concealed_names_and_ends_with_a_summary(simulator: tuple[Path, str], tmp_path: Path) -> None:
    """northwind conceals user names: readable, but a warning with the fix, not "ok"; the last line sums up every
    tenant (fabrikam lacks Entra P1: exit 1, and the summary says so)."""
    _, snippet = simulator
    config = write_config(tmp_path, tenant_table(snippet, "northwind"), tenant_table(snippet, "fabrikam"))
    result = smtpauth("-c", str(config), "check")
    assert result.returncode == 1, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    concealed = next(i for i, ln in enumerate(lines) if "report_settings" in ln and "northwind" not in ln)
    assert lines[concealed].split()[0] == "warning", lines[concealed]
    assert "user names are concealed" in lines[concealed]
    assert "fix:" in lines[concealed + 1]
    assert "Org settings > Reports" in lines[concealed + 1]
    last = lines[-1]
    assert last.startswith("check: 1 of 2 tenant(s) ready; sources: "), last
    assert "1 with a warning" in last
    assert "1 missing" in last
    assert "exit 1" in last
    alone = smtpauth("-c", str(write_config(tmp_path, tenant_table(snippet, "northwind"))), "check")
    assert alone.returncode == 0, alone.stdout
    assert alone.stdout.splitlines()[-1].startswith("check: 1 of 1 tenant(s) ready")
    assert "exit 0" in alone.stdout.splitlines()[-1]


def test_sync_over_https_exit_codes_and_summary(simulator: tuple[Path, str], tmp_path: Path) -> None:
    _, snippet = simulator
    # one sign-in slice: the simulator enforces the 5-requests-per-10-seconds limit over HTTPS too
    config = write_config(
        tmp_path,
        tenant_table(snippet, "contoso"),
        tenant_table(snippet, "fabrikam"),
        sync="[sync]\nsignin_slice_hours = 720.0\n",
    )
    result = smtpauth("-c", str(config), "sync", "--plain", "--source", "report_settings", "--source", "signins")
    # fabrikam's sign-ins are unavailable for a stated reason, not a failure
    assert result.returncode == 0, result.stdout + result.stderr
    assert "fabrikam/signins: unavailable: Entra ID P1/P2 licence required" in result.stdout
    assert re.search(r"^\s+signins\s+succeeded\s+[\d,]+", result.stdout, re.MULTILINE)
    assert re.search(r"^\s+signins\s+unavailable\s+0\s", result.stdout, re.MULTILINE)


def test_config_error_exits_2_with_one_line(tmp_path: Path) -> None:
    config = write_config(tmp_path, '[[tenants]]\nname = "x"\ntenant_id = "contoso.com"\n')
    result = smtpauth("-c", str(config), "sync")
    assert result.returncode == 2
    assert result.stderr.strip().count("\n") == 0
    assert result.stderr.startswith("configuration error: tenants[x].client_id: required key is missing")
