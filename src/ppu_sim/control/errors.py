"""The control API's one error shape: ``{"error": code, "message": text, "field": name}``.

The interface answers with the contract's ErrorDetail; this API is the simulator's own, so its
errors say plainly which input was wrong (``field``), and ``problems`` lists a pack's every fault.
"""

from __future__ import annotations

import json
import logging
import re
from functools import cache
from typing import Any

import yaml
from connexion.exceptions import ProblemException
from connexion.lifecycle import ConnexionRequest, ConnexionResponse
from starlette.exceptions import HTTPException

from ppu_sim.paths import bundled

CONTROL_SPEC = "ppu-sim-control.yaml"
CONTROL_PREFIX = "/sim"

log = logging.getLogger("ppu_sim.control")

_CODES = {400: "bad-request", 401: "unauthorized", 404: "not-found", 405: "method-not-allowed", 415: "unsupported-type"}


class ControlError(Exception):
    def __init__(
        self, status: int, error: str, message: str, field: str | None = None, problems: list[str] | None = None
    ) -> None:
        super().__init__(message)
        self.status, self.error, self.message, self.field, self.problems = status, error, message, field, problems


def body(error: str, message: str, field: str | None = None, problems: list[str] | None = None) -> bytes:
    payload: dict[str, Any] = {"error": error, "message": message}
    if field:
        payload["field"] = field
    if problems:
        payload["problems"] = problems
    return json.dumps(payload).encode()


def response(status: int, content: bytes, headers: dict[str, str] | None = None) -> ConnexionResponse:
    return ConnexionResponse(
        status_code=status, mimetype="application/json", content_type="application/json", body=content, headers=headers
    )


def control_error(_request: ConnexionRequest, exc: ControlError) -> ConnexionResponse:
    return response(exc.status, body(exc.error, exc.message, exc.field, exc.problems))


def problem(_request: ConnexionRequest, exc: ProblemException) -> ConnexionResponse:
    """Connexion's own refusals (content type, a missing body); parameters and bodies are ours (validation.py)."""
    detail = str(exc.detail or exc.title)
    field = "Content-Type" if exc.status == 415 else None
    return response(exc.status, body(_CODES.get(exc.status, "bad-request"), detail, field), dict(exc.headers or {}))


def http_exception(request: ConnexionRequest, exc: HTTPException) -> ConnexionResponse:
    code = _CODES.get(exc.status_code, "bad-request")
    headers = dict(exc.headers or {})
    if exc.status_code == 405:
        headers["Allow"] = ", ".join(_methods(request.url.path))
    return response(exc.status_code, body(code, f"{request.method} {request.url.path}: {exc.detail}"), headers)


def unexpected(request: ConnexionRequest, exc: Exception) -> ConnexionResponse:
    log.exception("unexpected error on %s %s", request.method, request.url.path, exc_info=exc)
    return response(500, body("internal", "internal error; see the server log"))


@cache
def _routes() -> list[tuple[re.Pattern[str], list[str]]]:
    """Path patterns and their methods; literal paths first, as routing prefers them (/journal/count)."""
    document = yaml.safe_load((bundled("openapi") / CONTROL_SPEC).read_text("utf-8"))
    paths = sorted(document["paths"].items(), key=lambda item: "{" in item[0])
    return [
        (re.compile(CONTROL_PREFIX + re.sub(r"\{[^/]+\}", "[^/]+", path) + "/?"), sorted(m.upper() for m in item))
        for path, item in paths
    ]


def _methods(path: str) -> list[str]:
    """What the control document allows on a path (for the Allow header of a 405)."""
    return next((methods for rx, methods in _routes() if rx.fullmatch(path)), [])
