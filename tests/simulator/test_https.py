import os
import ssl
import stat
import tomllib
from pathlib import Path

import httpx
import msal
import pytest

from connector.config import Settings
from connector.simulator import SimDirectory, Simulator, SimulatorServer

from .conftest import MsalHttp


@pytest.mark.https
def test_over_real_https_with_msal_and_generated_config(directory: SimDirectory, tmp_path: Path) -> None:
    sim = Simulator(directory)
    with SimulatorServer(sim, tmp_path) as server:
        endpoints = server.endpoints
        assert endpoints is not None
        assert len({endpoints.login, endpoints.graph, endpoints.download, endpoints.exchange}) == 4
        snippet = server.config_snippet()
        settings = Settings(**tomllib.loads(snippet), data_dir=tmp_path)
        contoso = settings.tenant("contoso")
        secret_file = contoso.client_secret_file
        assert secret_file is not None
        assert stat.S_IMODE(os.stat(secret_file).st_mode) == 0o600
        assert settings.tenant("fabrikam").load_credential().kind == "certificate"
        with httpx.Client(verify=ssl.create_default_context(cafile=server.ca_path)) as http:
            app = msal.ConfidentialClientApplication(
                contoso.client_id,
                client_credential=contoso.load_credential().secret.get_secret_value(),  # type: ignore[union-attr]
                authority=f"{contoso.effective_authority_host}/{contoso.tenant_id}",
                http_client=MsalHttp(http),
                instance_discovery=False,
            )
            result = app.acquire_token_for_client([f"{contoso.effective_graph_endpoint}/.default"])
            assert "access_token" in result, result
            auth = {"Authorization": f"Bearer {result['access_token']}"}
            r = http.get(f"{endpoints.graph}/v1.0/reports/getEmailAppUsageUserDetail(period='D7')", headers=auth)
            assert r.status_code == 302
            location = r.headers["Location"]
            assert location.startswith("https://localhost:")
            d = http.get(location)
            assert d.status_code == 200
            assert d.content.startswith(b"\xef\xbb\xbfReport Refresh Date")
            assert http.get(location, headers=auth).status_code == 400
        assert sim.stats["download_auth_violations"] == 1


@pytest.mark.https
def test_reset_and_truncation_over_https(directory: SimDirectory, tmp_path: Path) -> None:
    from connector.simulator import Fault

    sim = Simulator(directory)
    with (
        SimulatorServer(sim, tmp_path) as server,
        httpx.Client(verify=ssl.create_default_context(cafile=server.ca_path)) as http,
    ):
        assert server.endpoints is not None
        url = f"{server.endpoints.login}/{directory.tenant('contoso').tenant_id}/v2.0/.well-known/openid-configuration"
        sim.faults.add(Fault("discovery", "reset"))
        with pytest.raises(httpx.TransportError):
            http.get(url)
        sim.faults.add(Fault("discovery", "truncate"))
        with pytest.raises(httpx.RemoteProtocolError):
            http.get(url)
        assert http.get(url).status_code == 200
