"""The tenant registry over the API (local executor): add, list with the configuration's, import, remove, consent."""

from tests.service.conftest import AUTH, Served

APP = "0a0b0c0d-1111-4222-8333-444455556666"
GUID = "9f8e7d6c-5b4a-4321-8fed-cba987654321"
SECRET = "Abc8Q~x7Gh2kLm9PqR4sTv8WxY1zAb3CdEfGhIjK"


def test_registry_tenants_through_the_api(served: Served) -> None:
    c = served.client
    body = {"name": "fabrikam", "tenant_id": GUID, "credential": "env:FABRIKAM_SECRET", "client_id": APP}
    assert c.post("/api/v1/tenants", json=body).status_code == 401
    refused = c.post("/api/v1/tenants", json={**body, "credential": SECRET}, headers=AUTH)
    assert refused.status_code == 400
    assert "looks like a secret" in refused.json()["detail"]["error"]
    assert SECRET not in refused.text
    added = c.post("/api/v1/tenants", json=body, headers=AUTH)
    assert added.status_code == 201, added.text
    assert c.post("/api/v1/tenants", json=body, headers=AUTH).status_code == 409
    clash = c.post("/api/v1/tenants", json={**body, "name": "contoso"}, headers=AUTH)
    assert clash.status_code == 400
    assert "[[tenants]]" in clash.json()["detail"]["error"]
    try:
        listed = {t["name"]: t for t in served.get("/api/v1/tenants").json()["tenants"]}
        assert listed["contoso"]["origin"] == "config"
        assert listed["fabrikam"]["origin"] == "registry"
        assert listed["fabrikam"]["next_sync_at"] is None  # the local scheduler schedules it at its next start
        consent = served.get("/api/v1/tenants/fabrikam/consent-url").json()
        assert consent["url"] == f"https://login.microsoftonline.com/{GUID}/adminconsent?client_id={APP}"
        imported = c.post(
            "/api/v1/tenants/import",
            content=f"name,tenant_id,credential,client_id\nt9,{GUID},env:T9_SECRET,{APP}\n",
            headers={**AUTH, "Content-Type": "text/csv"},
        )
        assert imported.json() == {"added": 1, "updated": 0}
        bad = c.post(
            "/api/v1/tenants/import",
            content=f"name,tenant_id,credential\nt8,{GUID},{SECRET}\n",
            headers={**AUTH, "Content-Type": "text/csv"},
        )
        assert bad.status_code == 400
        assert "line 2: credential: looks like a secret" in bad.json()["detail"]["error"]
        names = [t["name"] for t in served.get("/api/v1/tenants/registry").json()["tenants"]]
        assert names == ["fabrikam", "t9"]
    finally:
        assert c.delete("/api/v1/tenants/fabrikam", headers=AUTH).status_code == 204
        assert c.delete("/api/v1/tenants/t9", headers=AUTH).status_code == 204
    assert c.delete("/api/v1/tenants/fabrikam", headers=AUTH).status_code == 404
    assert c.delete("/api/v1/tenants/contoso", headers=AUTH).status_code == 409
    assert [t["name"] for t in served.get("/api/v1/tenants").json()["tenants"]] == ["contoso"]


def test_queue_endpoint_of_the_local_executor(served: Served) -> None:
    queue = served.get("/api/v1/queue").json()
    assert queue["executor"] == "local"
    assert queue["workers"] == []
    assert served.get("/api/v1/health").json()["executor"] == "local"
