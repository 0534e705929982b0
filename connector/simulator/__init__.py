"""Simulated Microsoft 365 tenant: Entra ID, Graph and Exchange admin endpoints (a test double of Microsoft).

Serve it in-process::

    sim = Simulator(SimDirectory.default(), clock=FakeClock())
    client = httpx.Client(transport=SimTransport(sim))

or over HTTPS on loopback with :class:`SimulatorServer` (``serve_forever`` is ``smtpauth simulate``).
:class:`GroundTruth` tells what a correct sync must find. Faults: ``sim.faults.add(Fault("signins", "429"))``.
"""

from connector.simulator.app import Simulator, SimulatorEndpoints, SimulatorSettings
from connector.simulator.directory import SimApp, SimDirectory, SimSecret, SimTenant
from connector.simulator.faults import Chaos, Fault, FaultPlan
from connector.simulator.messages import SimRequest, SimResponse
from connector.simulator.paging import EXPIRED_SKIPTOKEN_CODE
from connector.simulator.population import Population
from connector.simulator.server import SimulatorServer, serve_forever
from connector.simulator.throttle import Limit, ThrottleConfig
from connector.simulator.transport import SimTransport
from connector.simulator.truth import GroundTruth

__all__ = [
    "EXPIRED_SKIPTOKEN_CODE",
    "Chaos",
    "Fault",
    "FaultPlan",
    "GroundTruth",
    "Limit",
    "Population",
    "SimApp",
    "SimDirectory",
    "SimRequest",
    "SimResponse",
    "SimSecret",
    "SimTenant",
    "SimTransport",
    "Simulator",
    "SimulatorEndpoints",
    "SimulatorServer",
    "SimulatorSettings",
    "ThrottleConfig",
    "serve_forever",
]
