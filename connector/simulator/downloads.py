"""The pre-authenticated download host (usage report CSVs and SmtpCSReport files).

The signature in the query string is the credential. Like Azure Blob storage behind a SAS URL, the host
refuses a
request that also carries an ``Authorization`` header (400) and counts it in
``stats["download_auth_violations"]``:
a client must never send its Graph token here.
"""

from typing import TYPE_CHECKING
from xml.sax.saxutils import escape

from connector.simulator.messages import SimRequest, SimResponse

if TYPE_CHECKING:
    from connector.simulator.app import Simulator

__all__ = ["handle_download"]


def _storage_error(status: int, code: str, message: str) -> SimResponse:
    body = (
        '<?xml version="1.0" encoding="utf-8"?>'
        f"<Error><Code>{escape(code)}</Code><Message>{escape(message)}</Message></Error>"
    ).encode()
    return SimResponse(status, {"Content-Type": "application/xml", "x-ms-error-code": code}, body)


def handle_download(sim: "Simulator", request: SimRequest) -> SimResponse:
    sim.stats.incr("requests.download")
    if request.header("Authorization") is not None:
        sim.stats.incr("download_auth_violations")
        return _storage_error(
            400,
            "InvalidAuthenticationInfo",
            "Authentication information is not given in the correct format. A pre-authenticated URL must not "
            "carry an Authorization header.",
        )
    if request.method not in ("GET", "HEAD"):
        return _storage_error(405, "UnsupportedHttpVerb", "The resource doesn't support the specified verb.")
    token = request.query.get("sig", "")
    download = sim.take_download(token) if token else None
    if download is None:
        return _storage_error(403, "AuthenticationFailed", "Server failed to authenticate the request.")
    route = "historical_download" if request.path.startswith("/historical/") else "download"
    fired = sim.faults.draw(route, download.tenant_id)
    if fired and fired[0].replaces:
        return sim.fault_response(fired[0], route, download.tenant_id, request)
    kinds = {f.kind for f in fired}
    if "expired_download" in kinds or (download.expires_at is not None and download.expires_at <= sim.clock.now()):
        return _storage_error(403, "AuthenticationFailed", "Signed expiry time has passed: request the report again.")
    if download.remaining is not None:
        if download.remaining <= 0:
            return _storage_error(
                403, "AuthenticationFailed", "This file has been downloaded the maximum number of times."
            )
        download.remaining -= 1
    if download.body is None:
        download.body = download.make_body()
    body = download.body
    response = SimResponse(
        200,
        {"Content-Type": download.content_type, "Content-Length": str(len(body))},
        b"" if request.method == "HEAD" else body,
    )
    return sim.alter_response(response, fired)
