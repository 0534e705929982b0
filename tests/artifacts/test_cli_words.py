"""What the report commands say about bad input: the argument by name and what is wrong with it (exit 2, one line,
no traceback); job ids by a unique prefix; ``reports download JOB_ID DIR``; an unknown ``--domain`` refused."""

from pathlib import Path

from click.testing import CliRunner, Result

from connector.cli import cli
from jobs import report as jobs
from tests.artifacts.conftest import DATE_FROM, DATE_TO, Synced

RANGE = ("--tenant", "contoso", "--from", DATE_FROM.isoformat(), "--to", DATE_TO.isoformat())


def _run(synced: Synced, *args: str) -> Result:
    synced.env.settings()
    config = str(synced.env.tmp / "smtpauth.toml")
    return CliRunner().invoke(cli, ["--config", config, *args], env=synced.env.environ)


def _one_line(result: Result) -> str:
    lines = result.output.strip().splitlines()
    assert len(lines) == 1, result.output
    assert "Traceback" not in result.output
    return lines[0]


def test_bad_report_input_names_the_argument(synced: Synced, tmp_path: Path) -> None:
    out = ("--out", str(tmp_path))
    cases = {
        ("--tenant", "contoso", "--from", "2026-13-01", "--to", "2026-11-02"): "invalid --from: '2026-13-01' is not "
        "a date: use YYYY-MM-DD",
        ("--tenant", "contoso", "--from", "2026-11-05", "--to", "2026-11-02"): "invalid --to: 2026-11-02 is before "
        "--from 2026-11-05: swap them",
        ("--tenant", "nope", "--from", "2026-11-01", "--to", "2026-11-02"): "invalid --tenant: unknown tenant 'nope'",
        (*RANGE, "--format", "pdf"): "invalid --format: unknown format 'pdf'",
    }
    for args, message in cases.items():
        result = _run(synced, "report", *args, *out)
        assert result.exit_code == 2, (args, result.output)
        line = _one_line(result)
        assert line.startswith(message), (args, line)
        assert "configuration error" not in line


def test_an_unknown_domain_is_refused_with_the_known_ones(synced: Synced, tmp_path: Path) -> None:
    refused = _run(synced, "report", *RANGE, "--domain", "no-such-domain.example", "--out", str(tmp_path / "a"))
    assert refused.exit_code == 2
    line = _one_line(refused)
    assert line.startswith("invalid --domain: no sender of tenant contoso has used no-such-domain.example"), line
    assert "contoso.com" in line
    assert not (tmp_path / "a").exists()
    known = _run(synced, "report", *RANGE, "--domain", "contoso.com", "--format", "csv", "--out", str(tmp_path / "b"))
    assert known.exit_code == 0, known.output
    queued = _run(synced, "request-report", *RANGE, "--domain", "nowhere.example", "--wait")
    assert queued.exit_code == 2
    assert _one_line(queued).startswith("invalid --domain: ")


def test_job_ids_by_unique_prefix_and_download_into_a_folder_argument(synced: Synced, tmp_path: Path) -> None:
    settings = synced.env.settings()
    job_id = jobs.request_report(synced.store, synced.params(formats=("csv",)))
    jobs.run_report_job(settings, synced.store, job_id)
    others = [jobs.request_report(synced.store, synced.params(formats=("csv",))) for _ in range(16)]
    every = [job_id, *others]
    # a prefix only this job has, and a prefix several jobs share (17 ids over 16 first characters)
    unique = next(job_id[:n] for n in range(1, 37) if sum(j.startswith(job_id[:n]) for j in every) == 1)
    shared = next(j[0] for j in every if sum(k.startswith(j[0]) for k in every) > 1)

    shown = _run(synced, "reports", "show", unique)
    assert shown.exit_code == 0, shown.output
    assert f"job:        {job_id}" in shown.output

    ambiguous = _run(synced, "reports", "show", shared)
    assert ambiguous.exit_code == 2
    assert _one_line(ambiguous).startswith(f"invalid JOB_ID: '{shared}' is the start of several job ids")

    unknown = _run(synced, "reports", "show", "zzzz")
    assert unknown.exit_code == 2
    assert _one_line(unknown) == "invalid JOB_ID: no report job 'zzzz': see `smtpauth reports list`"

    folder = tmp_path / "dl"
    downloaded = _run(synced, "reports", "download", unique, str(folder))
    assert downloaded.exit_code == 0, downloaded.output
    assert (folder / "summary.json").is_file()
    assert (folder / "accounts.csv").is_file()

    no_folder = _run(synced, "reports", "download", unique)
    assert no_folder.exit_code == 2
    assert _one_line(no_folder).startswith("invalid DIR: give the folder")

    queued = next(j for j in others if j[: len(shared)] != shared)
    not_done = _run(synced, "reports", "download", queued, str(tmp_path / "q"))
    assert not_done.exit_code == 1
    assert _one_line(not_done).startswith(f"error: report {queued} is queued, nothing to download yet")


def test_request_report_mails_its_recipients_when_it_ends(synced: Synced) -> None:
    """--notify needs a relay and real addresses (one line naming the option); with a relay, the recipients get one
    e-mail when the job ends: its outcome, its files and how to download them (no file, no link)."""
    from tests.insights.servers import smtp_server

    bad = _run(synced, "request-report", *RANGE, "--notify", "not-an-address", "--wait")
    assert bad.exit_code == 2
    assert _one_line(bad).startswith("invalid --notify: 'not-an-address' is not an e-mail address")
    no_relay = _run(synced, "request-report", *RANGE, "--notify", "admin@contoso.example", "--wait")
    assert no_relay.exit_code == 2
    assert _one_line(no_relay).startswith("invalid --notify: no e-mail relay")
    before = synced.env.http_toml
    with smtp_server() as (port, inbox):
        synced.env.http_toml = before + (
            f'\n[notify]\nsmtp_host = "127.0.0.1"\nsmtp_port = {port}\nsmtp_security = "none"\n'
            'mail_from = "smtpauth@contoso.example"\nmail_to = ["secops@contoso.example"]\n'
        )
        try:
            done = _run(
                synced, "request-report", *RANGE, "--format", "csv", "--notify", "Admin@Contoso.example", "--wait"
            )
        finally:
            synced.env.http_toml = before
            synced.env.settings()
    assert done.exit_code == 0, done.output
    job_id = done.output.split()[0]
    assert len(inbox.messages) == 1
    mail = inbox.messages[0]
    assert "To: admin@contoso.example" in mail
    assert f"Subject: smtpauth: report for contoso {RANGE[3]}..{RANGE[5]} succeeded" in mail
    assert f"Job: {job_id}" in mail
    assert "accounts.csv" in mail
    assert f"smtpauth reports download {job_id[:8]} DIR" in mail
    assert jobs.get_report_job(synced.store, job_id).parameters["recipients"] == ["admin@contoso.example"]


def test_report_granularity_is_an_option(synced: Synced, tmp_path: Path) -> None:
    bad = _run(synced, "report", *RANGE, "--granularity", "daily", "--out", str(tmp_path))
    assert bad.exit_code == 2
    assert "'daily' is not one of 'auto', 'day', 'week', 'month'" in bad.output
    assert "Traceback" not in bad.output
    ok = _run(synced, "report", *RANGE, "--format", "csv", "--granularity", "Week", "--out", str(tmp_path))
    assert ok.exit_code == 0, ok.output
    header, *rows = (tmp_path / "sending_volume_by_sender.csv").read_text(encoding="utf-8").splitlines()
    assert header.endswith(",period_end,period,active_days")
    assert rows
    assert {r.split(",")[5] for r in rows} == {"week"}
