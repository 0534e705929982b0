from collections.abc import Iterator
from typing import Any

import httpx
import msal
import pytest

from connector.clock import FakeClock
from connector.simulator import SimDirectory, SimTransport, Simulator, ThrottleConfig


class MsalHttp:
    """MSAL's http_client contract over httpx: MSAL passes the client assertion as bytes in ``data``, which
    httpx
    would form-encode as ``b'...'``; decode such values first."""

    def __init__(self, client: httpx.Client) -> None:
        self.client = client

    def get(self, url: str, **kw: Any) -> httpx.Response:
        return self.client.get(url, **kw)

    def post(self, url: str, data: Any = None, **kw: Any) -> httpx.Response:
        if isinstance(data, dict):
            data = {k: v.decode() if isinstance(v, bytes) else v for k, v in data.items()}
        return self.client.post(url, data=data, **kw)

    def close(self) -> None:
        self.client.close()


@pytest.fixture(scope="session")
def directory() -> SimDirectory:
    return SimDirectory.default(seed=7, users=120)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def sim(directory: SimDirectory, clock: FakeClock) -> Simulator:
    return Simulator(directory, clock=clock, throttle=ThrottleConfig(enabled=False))


@pytest.fixture
def http(sim: Simulator) -> Iterator[httpx.Client]:
    with httpx.Client(transport=SimTransport(sim)) as client:
        yield client


def msal_app(sim: Simulator, http: httpx.Client, tenant: str, app: str) -> msal.ConfidentialClientApplication:
    t = sim.directory.tenant(tenant)
    a = t.app(app)
    credential: Any = a.secret
    if credential is None:
        assert a.certificate is not None
        credential = {"private_key": a.certificate.key_pem, "public_certificate": a.certificate.cert_pem}
    return msal.ConfidentialClientApplication(
        a.client_id,
        client_credential=credential,
        authority=f"{sim.endpoints.login}/{t.tenant_id}",
        http_client=MsalHttp(http),
        instance_discovery=False,
    )


def token(
    sim: Simulator, http: httpx.Client, tenant: str = "contoso", app: str = "reader", *, exchange: bool = False
) -> str:
    resource = sim.endpoints.exchange if exchange else sim.endpoints.graph
    result = msal_app(sim, http, tenant, app).acquire_token_for_client([f"{resource}/.default"])
    assert "access_token" in result, result
    return str(result["access_token"])


def graph(sim: Simulator, http: httpx.Client, tenant: str = "contoso", app: str = "reader") -> httpx.Client:
    """A client carrying a Graph token, on the same transport."""
    return httpx.Client(
        transport=SimTransport(sim),
        base_url=sim.endpoints.graph,
        headers={"Authorization": f"Bearer {token(sim, http, tenant, app)}"},
    )
