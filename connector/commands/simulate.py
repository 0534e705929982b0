"""``smtpauth simulate``: serve the simulated Microsoft 365 tenant over HTTPS on loopback."""

import sys
from pathlib import Path

import click

from connector.commands.common import Ctx, expected_errors, population_options

__all__ = ["simulate"]


@click.command("simulate")
@click.option(
    "--state-dir",
    type=click.Path(path_type=Path, file_okay=False),
    default=Path("smtpauth-simulator"),
    show_default=True,
    help="Where the CA certificate, app credentials and the config snippet go.",
)
@population_options
@click.option("--host", default="127.0.0.1", show_default=True, help="Loopback address to listen on.")
@click.option(
    "--port-base",
    type=click.IntRange(0, 65532),
    default=0,
    show_default=True,
    help="First of four ports (login, graph, download, exchange); 0 picks free ports.",
)
@click.option(
    "--time-scale",
    type=float,
    default=1.0,
    show_default=True,
    help="Run throttling windows and job durations this many times faster than real time.",
)
@click.option("--no-throttle", is_flag=True, help="Do not enforce Microsoft's request limits.")
@click.option(
    "--cloud",
    type=click.Choice(["global", "usgov", "usgovdod", "china"]),
    default="global",
    show_default=True,
    help="National cloud to simulate: its global-only APIs are refused as Microsoft documents.",
)
@click.option(
    "--permissive",
    is_flag=True,
    help="Let the app download Request report files (the real portal wants an admin's browser session).",
)
@click.pass_obj
@expected_errors
def simulate(
    obj: Ctx,
    state_dir: Path,
    seed: int,
    users: int,
    host: str,
    port_base: int,
    time_scale: float,
    no_throttle: bool,
    cloud: str,
    permissive: bool,
) -> None:
    """Serve Entra ID, Graph and the Exchange admin API of simulated tenants until Ctrl-C.

    Prints [[tenants]] tables ready to paste into a configuration (they trust the simulator's CA through
    ca_bundle; TLS is verified as with Microsoft). Synthetic data only: nothing leaves this machine.
    """
    import signal
    import threading

    from connector.errors import ConfigError
    from connector.simulator.app import Simulator, SimulatorSettings
    from connector.simulator.directory import SimDirectory
    from connector.simulator.server import SimulatorServer
    from connector.simulator.throttle import ThrottleConfig

    if host not in ("127.0.0.1", "localhost", "::1"):
        raise ConfigError("the simulator listens on loopback only (127.0.0.1, ::1 or localhost)", key="--host")
    simulator = Simulator(
        SimDirectory.default(seed=seed, users=users),
        throttle=ThrottleConfig(enabled=not no_throttle, time_scale=time_scale),
        settings=SimulatorSettings(strict=not permissive),
        cloud=cloud,
    )
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda _signum, _frame: stop.set())
    with SimulatorServer(simulator, state_dir, host=host, port_base=port_base) as server:
        click.echo(
            f"# smtpauth simulator: {users} users per tenant, seed {seed}, {cloud} cloud"
            f"{', permissive file downloads' if permissive else ''}; state in {state_dir}"
        )
        click.echo("# paste these tables into a configuration file (secrets are in mode-600 files)")
        click.echo(server.config_snippet())
        click.echo("# ready: press Ctrl-C to stop", err=False)
        sys.stdout.flush()
        stop.wait()
