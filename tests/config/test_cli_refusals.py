"""Command-line refusals exit with the documented code and one line: an unsupported database URL is a
configuration error (2), an impossible finding id is a usage error (2); the README points at the real OpenAPI
path."""

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _run(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "connector", *args], capture_output=True, text=True, cwd=cwd, check=False, timeout=120
    )


def test_an_unsupported_database_url_exits_2(tmp_path: Path) -> None:
    config = tmp_path / "smtpauth.toml"
    config.write_text(f'data_dir = "{tmp_path / "data"}"\n[database]\nurl = "mysql://u@h/db"\n')
    done = _run("-c", str(config), "reports", "list", cwd=tmp_path)
    assert done.returncode == 2, done.stdout + done.stderr
    assert done.stderr.strip() == (
        "configuration error: database.url: mysql:// is not supported: use sqlite:/// or postgresql://"
    )


def test_a_finding_id_beyond_64_bits_exits_2_without_a_traceback(tmp_path: Path) -> None:
    config = tmp_path / "smtpauth.toml"
    config.write_text(f'data_dir = "{tmp_path / "data"}"\n')
    done = _run("-c", str(config), "findings", "ack", "999999999999999999999999", cwd=tmp_path)
    assert done.returncode == 2
    assert "Traceback" not in done.stderr
    assert "is not in the range 1<=x<=9223372036854775807" in done.stderr


def test_the_readme_names_the_openapi_path_that_exists() -> None:
    readme = (ROOT / "README.md").read_text()
    assert "/api/v1/openapi.json" in readme
    assert not re.search(r"OpenAPI at `/docs`", readme)
