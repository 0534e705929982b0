"""API tokens: SHA-256 digests compared in constant time; the tokens themselves are never stored.

Tokens come from environment variables named by ``service.token_envs`` (hashed when the service starts) and from
``service.token_hashes_file`` (one hex digest per line, ``#`` comments allowed; the file must not be readable by
other users). A request carries ``Authorization: Bearer <token>``; anything else is a 401.
"""

import hashlib
import hmac
import os
import re
from collections.abc import Mapping
from typing import Annotated

from fastapi import Depends, HTTPException, Request, status

from connector.config import ServiceSettings, _read_private, is_placeholder
from connector.errors import ConfigError

__all__ = ["MIN_TOKEN_CHARS", "TokenVerifier", "hash_token", "require_token"]

MIN_TOKEN_CHARS = 32
_HEX = re.compile(r"^[0-9a-f]{64}$")


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


class TokenVerifier:
    """Holds the digests of the accepted tokens."""

    def __init__(self, digests: list[str]) -> None:
        self._digests = [bytes.fromhex(d) for d in digests]

    @classmethod
    def from_settings(cls, service: ServiceSettings, environ: Mapping[str, str] | None = None) -> "TokenVerifier":
        """Raises ConfigError naming the key: a variable unset, too short or a placeholder; a bad hashes file;
        no token at all."""
        env = os.environ if environ is None else environ
        digests: list[str] = []
        for name in service.token_envs:
            value = env.get(name, "").strip()
            if not value:
                raise ConfigError(
                    f"environment variable {name} is not set: export an API token", key="service.token_envs"
                )
            if len(value) < MIN_TOKEN_CHARS or is_placeholder(value):
                raise ConfigError(
                    f"the token in {name} is too weak: use at least {MIN_TOKEN_CHARS} random characters "
                    '(python -c "import secrets; print(secrets.token_urlsafe(32))")',
                    key="service.token_envs",
                )
            digests.append(hash_token(value))
        if service.token_hashes_file is not None:
            text = _read_private(service.token_hashes_file, "service.token_hashes_file")
            for n, line in enumerate(text.splitlines(), 1):
                entry = line.split("#", 1)[0].strip().lower().split(" ")[0]
                if not entry:
                    continue
                if not _HEX.match(entry):
                    raise ConfigError(
                        f"line {n} of {service.token_hashes_file} is not a SHA-256 hex digest "
                        '(printf %s "$TOKEN" | sha256sum)',
                        key="service.token_hashes_file",
                    )
                digests.append(entry)
        if not digests:
            raise ConfigError(
                "no API token: set service.token_envs or service.token_hashes_file", key="service.token_envs"
            )
        return cls(digests)

    def verify(self, token: str) -> bool:
        presented = hashlib.sha256(token.encode("utf-8")).digest()
        ok = False
        for digest in self._digests:  # every digest is compared: the time does not tell which one matched
            ok |= hmac.compare_digest(presented, digest)
        return ok


def require_token(request: Request) -> None:
    """FastAPI dependency: 401 unless the request carries an accepted bearer token."""
    verifier: TokenVerifier = request.app.state.verifier
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip() or not verifier.verify(token.strip()):
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            detail="missing or invalid API token: send Authorization: Bearer <token>",
            headers={"WWW-Authenticate": "Bearer"},
        )


Authorized = Annotated[None, Depends(require_token)]
