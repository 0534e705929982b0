"""`smtpauth worker` and the executor setting refuse what cannot work, in one line with exit code 2."""

from pathlib import Path

from click.testing import CliRunner

from connector.cli import cli


def run(tmp_path: Path, text: str, *args: str) -> tuple[int, str]:
    path = tmp_path / "smtpauth.toml"
    path.write_text(f'data_dir = "{tmp_path / "data"}"\n' + text)
    result = CliRunner().invoke(cli, ["-c", str(path), *args])
    return result.exit_code, result.output


def test_worker_needs_the_queue_executor(tmp_path: Path) -> None:
    code, out = run(tmp_path, "", "worker")
    assert code == 2
    assert 'set service.executor = "procrastinate"' in out
    assert "Traceback" not in out


def test_the_queue_executor_needs_postgresql(tmp_path: Path) -> None:
    code, out = run(tmp_path, '[service]\nexecutor = "procrastinate"\n', "worker")
    assert code == 2
    assert "keeps its jobs in PostgreSQL" in out


def test_unknown_queues_are_named(tmp_path: Path) -> None:
    text = '[database]\nurl = "postgresql://localhost/x"\n[service]\nexecutor = "procrastinate"\n'
    code, out = run(tmp_path, text, "worker", "--queues", "sync,nightly")
    assert code == 2
    assert "unknown queue(s) nightly" in out
