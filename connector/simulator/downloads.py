"""The pre-authenticated download host (usage report CSVs and SmtpCSReport files), and the protection portal's
``/ExtendedReport/Download`` address of historical search files.

The signature in the query string is the credential. Like Azure Blob storage behind a SAS URL, the host refuses a
request that also carries an ``Authorization`` header (400) and counts it in ``stats["download_auth_violations"]``:
a client must never send its Graph token here.

The portal address wants an admin's browser session (a ``SimAdminSession`` cookie, see
:func:`connector.simulator.exchange.admin_session`): without one it redirects to the sign-in page, as the real
portal does for an app (API notes section 9). A historical search file downloaded too often answers 503 "server
busy" (Microsoft support's description).
"""

from typing import TYPE_CHECKING
from urllib.parse import quote
from xml.sax.saxutils import escape

from connector.simulator.messages import SimRequest, SimResponse

if TYPE_CHECKING:
    from connector.simulator.app import Download, Simulator
    from connector.simulator.faults import Fault

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
    if request.path == "/ExtendedReport/Download":
        return _portal(sim, request)
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
            return _server_busy()
        download.remaining -= 1
    return _file(sim, request, download, fired)


def _server_busy() -> SimResponse:
    # what Microsoft support shows after ~20 downloads of a historical search file: it says "try again later",
    # but it will not serve the file again
    body = (
        b"<html><head><title>503 Server Busy</title></head><body><h1>Server Busy</h1>"
        b"<p>The service is busy. Please try again later.</p></body></html>"
    )
    return SimResponse(503, {"Content-Type": "text/html; charset=utf-8"}, body)


def _portal(sim: "Simulator", request: SimRequest) -> SimResponse:
    from connector.simulator.exchange import portal_file

    session = _cookie(request.header("Cookie") or "", "SimAdminSession")
    job_id = request.query.get("RequestID", "")
    found = portal_file(sim, session, job_id) if session else None
    if found is None:
        sim.stats.incr("portal_sign_in_redirects")
        back = quote(request.url, safe="")
        location = (
            f"{sim.endpoints.login}/common/oauth2/v2.0/authorize?client_id=00000002-0000-0ff1-ce00-000000000000"
            f"&response_type=code&redirect_uri={back}"
        )
        return SimResponse(302, {"Location": location, "Content-Type": "text/html; charset=utf-8"}, b"")
    if isinstance(found, str):
        return SimResponse(404, {"Content-Type": "text/html; charset=utf-8"}, b"<html><body>Not found</body></html>")
    if found.remaining is not None:
        if found.remaining <= 0:
            return _server_busy()
        found.remaining -= 1
    return _file(sim, request, found, [])


def _cookie(header: str, name: str) -> str:
    for part in header.split(";"):
        key, _, value = part.strip().partition("=")
        if key == name:
            return value
    return ""


def _file(sim: "Simulator", request: SimRequest, download: "Download", fired: list["Fault"]) -> SimResponse:
    if download.body is None:
        download.body = download.make_body()
    body = download.body
    response = SimResponse(
        200,
        {"Content-Type": download.content_type, "Content-Length": str(len(body))},
        b"" if request.method == "HEAD" else body,
    )
    return sim.alter_response(response, fired)
