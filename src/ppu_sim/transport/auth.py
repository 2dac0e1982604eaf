"""Credential checks named by the contract's security schemes (x-basicInfoFunc, x-tokenInfoFunc).

With no --users, any user and password are accepted (as by Electrum's test server) but some must
be sent. Once users are configured, bearer tokens must be configured too to be accepted.
"""

from __future__ import annotations

import base64
import hmac
import inspect
from collections.abc import Collection
from typing import Any

from ppu_sim.config import Settings
from ppu_sim.runtime import simulator_of

# The schemes a fast-path operation may name, as the Authorization header spells them.
BASIC, BEARER = "basic", "bearer"


def basic_info(username: str, password: str, request: Any) -> dict[str, Any] | None:
    return {"sub": username} if basic_accepted(simulator_of(request.scope).settings, username, password) else None


def token_info(token: str, request: Any) -> dict[str, Any] | None:
    return {"sub": "bearer", "scope": []} if token_accepted(simulator_of(request.scope).settings, token) else None


def basic_accepted(settings: Settings, username: str, password: str) -> bool:
    if not settings.users:
        return True
    expected = settings.users.get(username)
    return expected is not None and hmac.compare_digest(expected.encode(), password.encode())


def token_accepted(settings: Settings, token: str) -> bool:
    if not settings.auth_configured:
        return True
    return any(hmac.compare_digest(token.encode(), known.encode()) for known in settings.tokens)


def authorised(settings: Settings, authorization: str, schemes: Collection[str]) -> bool:
    """Whether Connexion's security check lets a request with this Authorization header through,
    when each of the operation's alternatives names one of ``schemes``: the header read exactly as
    Connexion reads it (split at the first whitespace, type case-insensitive, lenient base64, user
    and password split at the first colon). The fast path takes only what this accepts; Connexion
    words every refusal."""
    parts = authorization.split(maxsplit=1)
    if len(parts) != 2:
        return False
    kind, value = parts[0].lower(), parts[1]
    if kind == BASIC and BASIC in schemes:
        try:
            username, password = base64.b64decode(value).decode("latin1").split(":", 1)
        except ValueError:  # bad base64 (binascii.Error) or no colon
            return False
        return basic_accepted(settings, username, password)
    return kind == BEARER and BEARER in schemes and token_accepted(settings, value)


# Connexion reads a check's signature on every request to see whether it takes ``request``;
# a signature set on the function is returned at once instead of being worked out each time.
for _check in (basic_info, token_info):
    _check.__signature__ = inspect.signature(_check)  # type: ignore[attr-defined]
