"""The ``smtpauth`` command line.

Exit codes: 0 success; 1 some tenant or source failed (the others still ran); 2 configuration error. Expected errors
(:class:`~connector.errors.SmtpAuthError`) print one line without a traceback; ``-v`` adds logging, always redacted.
"""

import logging
import sys
from pathlib import Path

import click

from connector import __version__
from connector.commands import COMMANDS
from connector.commands.common import Ctx

__all__ = ["cli", "main"]


def _setup_logging(verbose: int) -> None:
    from connector.http.redact import install_log_redaction

    level = logging.DEBUG if verbose > 1 else logging.INFO if verbose == 1 else logging.WARNING
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    install_log_redaction()


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--config",
    "-c",
    type=click.Path(path_type=Path, dir_okay=False),
    default=None,
    help="Configuration file (default: $SMTPAUTH_CONFIG, ./smtpauth.toml, ./config.toml).",
)
@click.option("-v", "--verbose", count=True, help="More logging (-v info, -vv debug). Secrets are always redacted.")
@click.version_option(__version__, prog_name="smtpauth")
@click.pass_context
def cli(ctx: click.Context, config: Path | None, verbose: int) -> None:
    """Automate Microsoft 365's SMTP AUTH clients report: sync, keep history, build artifacts."""
    _setup_logging(verbose)
    ctx.obj = Ctx(config, verbose)


for _command in COMMANDS:
    cli.add_command(_command)


def main(argv: list[str] | None = None) -> None:
    """Console-script entry point."""
    cli.main(args=argv, prog_name="smtpauth")
