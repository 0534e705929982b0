"""Entra ID: OIDC discovery, the client-credentials token endpoint with AADSTS errors, and issued tokens.

Tokens are opaque random strings mapped to a :class:`TokenGrant`. Error bodies follow the token endpoint's
shape:
``{"error", "error_description": "AADSTSnnn: ...", "error_codes", "timestamp", "trace_id", "correlation_id",
"error_uri"}``.
"""

import secrets
import threading
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

import jwt
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey

from connector.simulator.certs import b64url_thumbprint
from connector.simulator.directory import SimApp, SimTenant
from connector.simulator.messages import SimRequest, SimResponse, json_response

if TYPE_CHECKING:
    from connector.simulator.app import Simulator

__all__ = ["TokenGrant", "TokenStore", "handle_login"]

_JWT_BEARER = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"


@dataclass(frozen=True, slots=True)
class TokenGrant:
    tenant_id: str
    client_id: str
    #: "graph" or "exchange"
    audience: str
    roles: frozenset[str]
    expires_at: datetime


class TokenStore:
    """Issued access tokens (thread-safe)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._grants: dict[str, TokenGrant] = {}

    def issue(self, grant: TokenGrant) -> str:
        token = secrets.token_urlsafe(48)
        with self._lock:
            self._grants[token] = grant
        return token

    def get(self, token: str) -> TokenGrant | None:
        with self._lock:
            return self._grants.get(token)

    def issued(self) -> list[str]:
        """Every token issued so far (tests scan logs for them)."""
        with self._lock:
            return list(self._grants)

    def revoke_all(self) -> None:
        with self._lock:
            self._grants.clear()

    def __len__(self) -> int:
        with self._lock:
            return len(self._grants)


def _aad_error(sim: "Simulator", status: int, error: str, code: int, text: str, *, extra: str = "") -> SimResponse:
    now = sim.clock.now()
    trace_id, correlation_id = str(uuid.uuid4()), str(uuid.uuid4())
    stamp = now.strftime("%Y-%m-%d %H:%M:%SZ")
    description = (
        f"AADSTS{code}: {text}{extra} Trace ID: {trace_id} Correlation ID: {correlation_id} Timestamp: {stamp}"
    )
    return json_response(
        status,
        {
            "error": error,
            "error_description": description,
            "error_codes": [code],
            "timestamp": stamp,
            "trace_id": trace_id,
            "correlation_id": correlation_id,
            "error_uri": f"{sim.endpoints.login}/error?code={code}",
        },
    )


def handle_login(sim: "Simulator", request: SimRequest) -> SimResponse:
    parts = [p for p in request.path.split("/") if p]
    if request.method == "GET" and len(parts) == 4 and parts[1:] == ["v2.0", ".well-known", "openid-configuration"]:
        return _discovery(sim, parts[0])
    if request.method == "POST" and len(parts) == 4 and parts[1:] == ["oauth2", "v2.0", "token"]:
        return _token(sim, parts[0], request)
    if request.method == "GET" and len(parts) == 4 and parts[1:] == ["oauth2", "v2.0", "authorize"]:
        # the interactive sign-in page a browser is sent to; an app cannot get past it
        page = (
            b"<!DOCTYPE html><html><head><title>Sign in to your account</title></head><body>"
            b"<form method='post'><input type='email' name='loginfmt' placeholder='Email, phone, or Skype'>"
            b"<input type='submit' value='Next'></form></body></html>"
        )
        return SimResponse(200, {"Content-Type": "text/html; charset=utf-8"}, page)
    return json_response(404, {"error": "not_found", "error_description": "No such endpoint."})


def _tenant_not_found(sim: "Simulator", ref: str) -> SimResponse:
    return _aad_error(
        sim,
        400,
        "invalid_request",
        90002,
        f"Tenant '{ref}' not found. Check to make sure you have the correct tenant ID and are signing into "
        "the correct cloud.",
    )


def _discovery(sim: "Simulator", ref: str) -> SimResponse:
    tenant = sim.directory.resolve(ref)
    if tenant is None:
        return _tenant_not_found(sim, ref)
    base = f"{sim.endpoints.login}/{tenant.tenant_id}"
    return json_response(
        200,
        {
            "token_endpoint": f"{sim.endpoints.login}/{ref}/oauth2/v2.0/token",
            "token_endpoint_auth_methods_supported": [
                "client_secret_post",
                "private_key_jwt",
                "client_secret_basic",
            ],
            "jwks_uri": f"{sim.endpoints.login}/{tenant.tenant_id}/discovery/v2.0/keys",
            "response_modes_supported": ["query", "fragment", "form_post"],
            "subject_types_supported": ["pairwise"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "response_types_supported": ["code", "id_token", "code id_token", "id_token token"],
            "scopes_supported": ["openid", "profile", "email", "offline_access"],
            "issuer": f"{base}/v2.0",
            "request_uri_parameter_supported": False,
            "authorization_endpoint": f"{sim.endpoints.login}/{ref}/oauth2/v2.0/authorize",
            "device_authorization_endpoint": f"{sim.endpoints.login}/{ref}/oauth2/v2.0/devicecode",
            "end_session_endpoint": f"{sim.endpoints.login}/{ref}/oauth2/v2.0/logout",
            "tenant_region_scope": "EU",
            "cloud_instance_name": "sim.test",
            "msgraph_host": sim.endpoints.graph.split("://", 1)[1],
        },
    )


def _token(sim: "Simulator", ref: str, request: SimRequest) -> SimResponse:
    form = request.form()
    tenant = sim.directory.resolve(ref)
    if tenant is None:
        return _tenant_not_found(sim, ref)
    if form.get("grant_type") != "client_credentials":
        return _aad_error(sim, 400, "unsupported_grant_type", 70003, "The app requested an unsupported grant type.")
    client_id = form.get("client_id", "")
    app = tenant.find_app(client_id)
    registered = sim.directory.multi_tenant_app(client_id) if app is None else None
    if registered is not None:
        # a multi-tenant app that was never consented here: Entra checks the credential against the app
        # registration, then finds no service principal in this tenant
        failure = _authenticate_client(sim, tenant, registered, form, ref)
        if failure is not None:
            return failure
        return _aad_error(
            sim,
            401,
            "invalid_client",
            7000229,
            f"The client application {registered.client_id} is missing service principal in the tenant "
            f"{tenant.tenant_id}. See instructions here: https://go.microsoft.com/fwlink/?linkid=2225119",
        )
    if app is None:
        return _aad_error(
            sim,
            400,
            "unauthorized_client",
            700016,
            f"Application with identifier '{client_id}' was not found in the directory '{tenant.name}'. This can "
            "happen if the application has not been installed by the administrator of the tenant or consented "
            "to by any user in the tenant. You may have sent your authentication request to the wrong tenant.",
        )
    failure = _authenticate_client(sim, tenant, app, form, ref)
    if failure is not None:
        return failure
    scope = form.get("scope", "").strip()
    if not scope:
        return _aad_error(
            sim,
            400,
            "invalid_request",
            900144,
            "The request body must contain the following parameter: 'scope'.",
        )
    if len(scope.split()) != 1 or not scope.endswith("/.default"):
        return _aad_error(
            sim,
            400,
            "invalid_scope",
            1002012,
            f"The provided value for scope {scope} is not valid. Client credential flows must have a scope value "
            "with /.default suffixed to the resource identifier (application ID URI).",
        )
    resource = scope.removesuffix("/.default").rstrip("/").lower()
    audiences = {sim.endpoints.graph.lower(): "graph", sim.endpoints.exchange.lower(): "exchange"}
    audience = audiences.get(resource)
    if audience is None:
        return _aad_error(
            sim,
            400,
            "invalid_scope",
            70011,
            f"The provided value for the input parameter 'scope' is not valid. The scope {scope} is not valid.",
        )
    lifetime = sim.settings.token_lifetime_seconds
    grant = TokenGrant(
        tenant_id=tenant.tenant_id,
        client_id=app.client_id,
        audience=audience,
        roles=app.roles,
        expires_at=sim.clock.now() + timedelta(seconds=lifetime),
    )
    sim.stats.incr("tokens.issued")
    return json_response(
        200,
        {
            "token_type": "Bearer",
            "expires_in": lifetime,
            "ext_expires_in": lifetime,
            "access_token": sim.tokens.issue(grant),
        },
        {"Cache-Control": "no-store, no-cache", "Pragma": "no-cache"},
    )


def _authenticate_client(
    sim: "Simulator", tenant: SimTenant, app: SimApp, form: dict[str, str], ref: str
) -> SimResponse | None:
    secret = form.get("client_secret")
    assertion = form.get("client_assertion")
    if secret is not None:
        match = next((s for s in app.secrets if secrets.compare_digest(s.value, secret)), None)
        if match is None:
            return _aad_error(
                sim,
                401,
                "invalid_client",
                7000215,
                "Invalid client secret provided. Ensure the secret being sent in the request is the client "
                f"secret value, not the client secret ID, for a secret added to app '{app.client_id}'.",
            )
        if match.expires_at is not None and match.expires_at <= sim.clock.now():
            return _aad_error(
                sim,
                401,
                "invalid_client",
                7000222,
                f"The provided client secret keys for app '{app.client_id}' are expired. Visit the Azure portal "
                "to create new keys for your app.",
            )
        return None
    if assertion is not None:
        if form.get("client_assertion_type") != _JWT_BEARER:
            return _aad_error(sim, 400, "invalid_request", 700025, "Client assertion type is missing or not supported.")
        return _verify_assertion(sim, app, assertion, f"{sim.endpoints.login}/{ref}/oauth2/v2.0/token")
    return _aad_error(
        sim,
        401,
        "invalid_client",
        7000218,
        "The request body must contain the following parameter: 'client_assertion' or 'client_secret'.",
    )


def _verify_assertion(sim: "Simulator", app: SimApp, assertion: str, token_endpoint: str) -> SimResponse | None:
    def bad(reason: str) -> SimResponse:
        return _aad_error(
            sim,
            401,
            "invalid_client",
            700027,
            f"Client assertion failed signature validation. [Reason - {reason}]",
        )

    try:
        header = jwt.get_unverified_header(assertion)
    except jwt.PyJWTError:
        return bad("The assertion is not a well-formed JWT.")
    x5t_s256 = str(header.get("x5t#S256", "")).rstrip("=")
    x5t = str(header.get("x5t", "")).rstrip("=")
    cert = next(
        (
            pair
            for pair in app.certificates
            if x5t_s256 == b64url_thumbprint(pair.sha256_thumbprint) or x5t == b64url_thumbprint(pair.sha1_thumbprint)
        ),
        None,
    )
    if cert is None:
        return bad(f"The key was not found., Thumbprint of key used by client: '{header.get('x5t', '')}'")
    key = cert.certificate.public_key()
    assert isinstance(key, RSAPublicKey)  # noqa: S101 (the directory only registers RSA certificates)
    try:
        claims = jwt.decode(
            assertion,
            key,
            algorithms=["RS256", "PS256"],
            audience=[token_endpoint, token_endpoint.lower()],
            # the client signs with its own wall clock, so exp/nbf are checked against real time, not the
            # sim's
            options={"require": ["exp", "aud", "iss", "sub"]},
            leeway=timedelta(minutes=5),
        )
    except jwt.ExpiredSignatureError:
        return bad("The assertion has expired.")
    except jwt.InvalidAudienceError:
        return bad(f"The audience of the assertion is not '{token_endpoint}'.")
    except jwt.PyJWTError as exc:
        return bad(f"The signature or claims are invalid ({type(exc).__name__}).")
    if claims.get("iss") != app.client_id or claims.get("sub") != app.client_id:
        return bad("The issuer and subject must be the client id.")
    return None
