"""Debug logs of a whole sync, with retries, renewals and expired links, hold no credential of any kind."""

import logging
import re

import pytest

from connector.simulator import Fault
from tests.e2e.conftest import SimEnv


def everything_logged(caplog: pytest.LogCaptureFixture) -> str:
    """Every record as a handler would format it, plus its raw args (a formatter could print those too)."""
    formatter = logging.Formatter("%(name)s %(levelname)s %(message)s")
    parts = []
    for record in caplog.records:
        parts.append(formatter.format(record))
        parts.append(repr(record.args))
    return "\n".join(parts)


def test_sync_logs_contain_no_secret_token_assertion_or_download_url(
    sqlite_env: SimEnv, debug_logs: pytest.LogCaptureFixture
) -> None:
    sqlite_env.tenants = [("contoso", "contoso", "reader"), ("contoso-cert", "contoso", "cert")]
    for fault in (
        Fault("signins", "expired_token", skip=1),
        Fault("download", "expired_download"),
        Fault("download", "truncate"),
        Fault("signins", "429", retry_after=1),
        Fault("message_trace", "503"),
    ):
        sqlite_env.sim.faults.add(fault)
    results = sqlite_env.sync()
    assert all(r.ok for r in results)
    text = everything_logged(debug_logs)
    assert len(debug_logs.records) > 50  # the scan covered a real, chatty run

    secret = sqlite_env.sim.directory.tenant("contoso").app("reader").secret
    assert secret
    assert secret not in text
    cert = sqlite_env.sim.directory.tenant("contoso").app("cert").certificate
    assert cert is not None
    key_body = cert.key_pem.splitlines()[1]
    assert key_body not in text
    tokens = sqlite_env.sim.tokens.issued()
    assert len(tokens) >= 3
    for token in tokens:
        assert token not in text
    links = sqlite_env.sim.download_tokens()
    assert links
    for link in links:
        assert link not in text
    assert "client_assertion=" not in text
    assert "eyJ" not in text  # no JWT (the certificate assertion) in any form
    # the download host may be named, never the path or query of a pre-authenticated link
    host = re.escape(sqlite_env.sim.endpoints.download)
    assert re.search(host + r"/(?!\[REDACTED\])[^\s\]]+", text) is None
