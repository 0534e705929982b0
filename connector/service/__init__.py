"""``smtpauth serve``: the HTTP API, the web dashboard and the scheduler in one process (docs/service.md)."""

from connector.service.app import create_app
from connector.service.auth import TokenVerifier, hash_token
from connector.service.runtime import JobRunner

__all__ = ["JobRunner", "TokenVerifier", "create_app", "hash_token"]
