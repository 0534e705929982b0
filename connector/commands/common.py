"""Shared pieces of the CLI commands: the context object, exit codes and expected-error handling."""

import sys
from collections.abc import Callable
from functools import wraps
from pathlib import Path
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar

import click

from connector.config import Settings, load_settings
from connector.errors import ConfigError, SmtpAuthError

if TYPE_CHECKING:
    from rich.console import Console

    from connector.store.store import Store

__all__ = [
    "EXIT_CONFIG",
    "EXIT_FAILED",
    "EXIT_OK",
    "Ctx",
    "cli_console",
    "expected_errors",
    "population_options",
]

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_CONFIG = 2

P = ParamSpec("P")
R = TypeVar("R")


class Ctx:
    """What the top-level group hands to every command."""

    def __init__(self, config: Path | None, verbose: int) -> None:
        self.config_path = config
        self.verbose = verbose

    def settings(self, *, require_tenants: bool = True) -> Settings:
        """The configuration, with the tenant registry's tenants merged in when there are tenants to serve.

        Raises ConfigError (with ``require_tenants``) when neither the configuration nor the registry has one.
        """
        if not require_tenants:
            return load_settings(self.config_path, require_tenants=False)
        settings, store = self.settings_and_store()
        store.close()
        return settings

    def settings_and_store(self) -> "tuple[Settings, Store]":
        """The configuration with the tenant registry's tenants merged in, and the opened database.

        Raises ConfigError when neither the configuration nor the registry has a tenant.
        """
        from connector.sync.factory import open_settings_store
        from connector.tenants import with_registry

        base = load_settings(self.config_path, require_tenants=False)
        store = open_settings_store(base)
        try:
            merged = with_registry(base, store)
        except BaseException:
            store.close()
            raise
        if not merged.tenants:
            store.close()
            raise ConfigError(
                "no [[tenants]] table: add one per Microsoft 365 tenant, or add tenants to the registry "
                "(smtpauth tenants add / import)",
                key="tenants",
            )
        return merged, store


def expected_errors(fn: Callable[P, R]) -> Callable[P, R]:
    """Turn expected errors into one line on stderr and the documented exit code (no traceback)."""

    @wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return fn(*args, **kwargs)
        except ConfigError as exc:
            if exc.names_an_argument:  # bad input on the command line: say which argument and what is wrong
                click.echo(f"invalid {exc.key}: {exc.detail}", err=True)
            else:
                click.echo(f"configuration error: {exc}", err=True)
            sys.exit(EXIT_CONFIG)
        except SmtpAuthError as exc:
            click.echo(f"error: {exc}", err=True)
            sys.exit(EXIT_FAILED)

    return wrapper


def cli_console(*, stderr: bool = False) -> "Console":
    """A rich console for command output: on a terminal it fits the terminal; otherwise (a pipe, a log file, CI)
    lines are never wrapped, so paths and ``file://`` links stay whole and can be copied or grepped."""
    from rich.console import Console

    stream = sys.stderr if stderr else sys.stdout
    if stream.isatty():
        return Console(stderr=stderr)
    return Console(stderr=stderr, soft_wrap=True, width=1000)


def pass_ctx(fn: Callable[..., Any]) -> Callable[..., Any]:
    return click.pass_obj(fn)


def population_options(fn: Callable[P, R]) -> Callable[P, R]:
    """``--seed`` and ``--users`` of the simulated tenants (the simulator needs at least 20 users)."""
    fn = click.option(
        "--users",
        type=click.IntRange(20, 1_000_000),
        default=2000,
        show_default=True,
        help="Users per simulated tenant.",
    )(fn)
    return click.option("--seed", type=int, default=0, show_default=True, help="Seed of the synthetic tenants.")(fn)
