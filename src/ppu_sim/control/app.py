"""The control API as an ASGI app: its own contract, its own errors, its own access rule."""

from __future__ import annotations

import hmac
import re
from typing import Any

import connexion
from connexion.datastructures import MediaTypeDict
from connexion.exceptions import ProblemException
from connexion.options import SwaggerUIOptions
from connexion.resolver import Resolver
from starlette.exceptions import HTTPException

from ppu_sim.control import errors
from ppu_sim.control.errors import CONTROL_SPEC
from ppu_sim.control.validation import ControlBodyValidator, ControlParameterValidator
from ppu_sim.paths import bundled
from ppu_sim.runtime import simulator_of

_BEARER = re.compile(r"bearer\s+(.+)", re.IGNORECASE)
# The document and its Swagger UI: no secrets there, and a browser cannot send the token to reach them.
_OPEN = ("/sim/ui", "/sim/openapi.")


def control_api(resolver: Resolver) -> connexion.AsyncApp:
    """The control document served under /sim, its handlers found by ``resolver``."""
    api = connexion.AsyncApp(
        __name__,
        validator_map={
            "parameter": ControlParameterValidator,
            "body": MediaTypeDict({"*/*json": ControlBodyValidator}),
        },
    )
    api.add_api(
        bundled("openapi") / CONTROL_SPEC,
        resolver=resolver,
        pythonic_params=True,
        strict_validation=True,
        swagger_ui_options=SwaggerUIOptions(swagger_ui_path="/ui"),
    )
    api.add_error_handler(errors.ControlError, errors.control_error)
    api.add_error_handler(ProblemException, errors.problem)
    api.add_error_handler(HTTPException, errors.http_exception)
    api.add_error_handler(Exception, errors.unexpected)
    return api


class AdminGuard:
    """With --admin-token set, /sim/ answers only ``Authorization: Bearer <token>``; PoS credentials never do."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        token = simulator_of(scope).settings.admin_token
        if token and not scope["path"].startswith(_OPEN) and not _holds(scope, token):
            content = errors.body("unauthorized", "the control API needs Authorization: Bearer <admin token>")
            headers = [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(content)).encode()),
                (b"www-authenticate", b'Bearer realm="ppu-sim control"'),
            ]
            await send({"type": "http.response.start", "status": 401, "headers": headers})
            await send({"type": "http.response.body", "body": content})
            return
        await self.app(scope, receive, send)


def _holds(scope: dict[str, Any], token: str) -> bool:
    sent = dict(scope["headers"]).get(b"authorization", b"").decode("latin-1")
    found = _BEARER.fullmatch(sent.strip())
    return bool(found) and hmac.compare_digest(found.group(1).strip().encode(), token.encode())
