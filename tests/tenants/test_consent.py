"""A multi-tenant app: consent is per tenant. The simulator answers AADSTS7000229 where the app was never consented,
and `smtpauth check` says so, per tenant, with the admin-consent link to send."""

from pathlib import Path

import pytest
from click.testing import CliRunner

from connector.cli import cli
from connector.simulator import SimDirectory, Simulator
from connector.simulator.messages import SimRequest
from tests.distributed.cluster import Cluster

pytestmark = pytest.mark.https


def _token_request(sim: Simulator, tenant_id: str, client_id: str) -> dict[str, object]:
    import json

    body = (
        f"grant_type=client_credentials&client_id={client_id}&client_secret=wrong&scope=https://graph.sim.test/.default"
    )
    response = sim.handle(
        SimRequest(
            method="POST",
            url=f"https://login.sim.test/{tenant_id}/oauth2/v2.0/token",
            headers={"Content-Type": "application/x-www-form-urlencoded"},
            body=body.encode(),
        )
    )
    result: dict[str, object] = {"status": response.status, **json.loads(response.body)}
    return result


def test_the_simulator_refuses_a_tenant_without_the_apps_service_principal() -> None:
    directory = SimDirectory.estate(2, unconsented=(2,))
    sim = Simulator(directory)
    app = directory.multi_tenant_apps[0]
    assert app in directory.tenant("cust001").apps
    assert directory.tenant("cust002").apps == []
    # a wrong credential is refused for what it is, consented or not (Entra checks it against the registration)
    bad = _token_request(sim, directory.tenant("cust002").tenant_id, app.client_id)
    assert bad["status"] == 401
    assert bad["error_codes"] == [7000215]
    unknown = _token_request(sim, directory.tenant("cust002").tenant_id, "00000000-1111-4222-8333-444444444444")
    assert unknown["error_codes"] == [700016]


def test_check_reports_consent_per_tenant_with_the_link(tmp_path: Path, pg_url: str) -> None:
    cluster = Cluster(tmp_path, pg_url, tenants=2, unconsented=(2,))
    cluster.start_simulator()
    try:
        config = cluster.write_config()
        runner = CliRunner()
        imported = runner.invoke(cli, ["-c", str(config), "tenants", "import", str(cluster.registry_csv())])
        assert imported.exit_code == 0, imported.output
        result = runner.invoke(cli, ["-c", str(config), "check"])
        assert result.exit_code == 1, result.output
        blocks = result.output.split("cust002", 1)
        consented, missing = blocks[0], blocks[1]
        assert "token ok" in consented
        assert "consented in this tenant" not in missing
        assert "AADSTS7000229" in missing
        assert "admin consent: missing" in missing
        tenant_id = cluster.sim.directory.tenant("cust002").tenant_id
        client_id = cluster.sim.directory.multi_tenant_apps[0].client_id
        assert f"{cluster.server.endpoints.login}/{tenant_id}/adminconsent?client_id={client_id}" in missing.replace(
            "\n", ""
        )
        url = runner.invoke(cli, ["-c", str(config), "tenants", "consent-url", "cust002"])
        assert url.output.strip() == f"{cluster.server.endpoints.login}/{tenant_id}/adminconsent?client_id={client_id}"
    finally:
        cluster.close()
