"""Details of Microsoft's APIs the connector must get right (API notes section 9), each against the simulator."""

import tomllib
from datetime import timedelta
from pathlib import Path

import httpx
from packaging.requirements import Requirement
from packaging.version import Version

from connector.simulator import SimTransport
from tests.e2e.conftest import SimEnv
from tests.simulator.conftest import token


def test_message_trace_asks_for_the_newer_statuses(sqlite_env: SimEnv) -> None:
    env = sqlite_env
    (result,) = env.sync(sources=["usage_user_detail", "signins", "message_trace"])
    assert result.ok
    statuses = {s for (s,) in env.rows("SELECT DISTINCT status FROM message_trace")}
    assert "recalled" in statuses
    assert "unknownfuturevalue" not in statuses
    # without the Prefer header Graph hides them behind unknownFutureValue
    with httpx.Client(transport=SimTransport(env.sim)) as http:
        bearer = token(env.sim, http)
        now = env.clock.now()
        flt = (
            f"receivedDateTime ge {(now - timedelta(days=9)):%Y-%m-%dT%H:%M:%SZ} and receivedDateTime le "
            f"{now:%Y-%m-%dT%H:%M:%SZ}"
        )
        seen: set[str] = set()
        url: str | None = f"{env.sim.endpoints.graph}/v1.0/admin/exchange/tracing/messageTraces"
        params: dict[str, str] | None = {"$filter": flt, "$top": "5000"}
        while url:
            body = http.get(url, params=params, headers={"Authorization": f"Bearer {bearer}"}).json()
            seen |= {r["status"] for r in body["value"]}
            url, params = body.get("@odata.nextLink"), None
    assert "unknownFutureValue" in seen
    assert "recalled" not in seen


def test_msal_is_at_least_the_version_that_computes_the_sha256_thumbprint() -> None:
    # MSAL computes the SHA-256 thumbprint of public_certificate (x5t#S256) only from 1.35 on
    pyproject = tomllib.loads((Path(__file__).parents[2] / "pyproject.toml").read_text())
    (msal,) = [Requirement(r) for r in pyproject["project"]["dependencies"] if r.startswith("msal")]
    floor = min(Version(s.version) for s in msal.specifier if s.operator == ">=")
    assert floor >= Version("1.35")
