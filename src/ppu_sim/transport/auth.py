"""Credential checks named by the contract's security schemes (x-basicInfoFunc, x-tokenInfoFunc).

With no --users, any user and password are accepted (as by Electrum's test server) but some must
be sent. Once users are configured, bearer tokens must be configured too to be accepted.
"""

from __future__ import annotations

import hmac
import inspect
from typing import Any

from ppu_sim.runtime import simulator_of


def basic_info(username: str, password: str, request: Any) -> dict[str, Any] | None:
    settings = simulator_of(request.scope).settings
    if not settings.users:
        return {"sub": username}
    expected = settings.users.get(username)
    if expected is not None and hmac.compare_digest(expected.encode(), password.encode()):
        return {"sub": username}
    return None


def token_info(token: str, request: Any) -> dict[str, Any] | None:
    settings = simulator_of(request.scope).settings
    if not settings.auth_configured:
        return {"sub": "bearer", "scope": []}
    if any(hmac.compare_digest(token.encode(), known.encode()) for known in settings.tokens):
        return {"sub": "bearer", "scope": []}
    return None


# Connexion reads a check's signature on every request to see whether it takes ``request``;
# a signature set on the function is returned at once instead of being worked out each time.
for _check in (basic_info, token_info):
    _check.__signature__ = inspect.signature(_check)  # type: ignore[attr-defined]
