"""The control API's one error shape: ``{"error": code, "message": text, "field": name}``.

The interface answers with the contract's ErrorDetail; this API is the simulator's own, so its
errors say plainly which input was wrong (``field``), and ``problems`` lists a pack's every fault.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from connexion.exceptions import BadRequestProblem, ExtraParameterProblem, ProblemException
from connexion.lifecycle import ConnexionRequest, ConnexionResponse
from starlette.exceptions import HTTPException

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
    detail = str(exc.detail or exc.title)
    field = _field_of(exc, detail)
    return response(exc.status, body(_CODES.get(exc.status, "bad-request"), detail, field), dict(exc.headers or {}))


def http_exception(request: ConnexionRequest, exc: HTTPException) -> ConnexionResponse:
    code = _CODES.get(exc.status_code, "bad-request")
    return response(exc.status_code, body(code, f"{request.method} {request.url.path}: {exc.detail}"))


def unexpected(request: ConnexionRequest, exc: Exception) -> ConnexionResponse:
    log.exception("unexpected error on %s %s", request.method, request.url.path, exc_info=exc)
    return response(500, body("internal", "internal error; see the server log"))


def _field_of(exc: ProblemException, detail: str) -> str | None:
    """Connexion names the offending input in prose; pull the name out for ``field``."""
    if isinstance(exc, ExtraParameterProblem):
        names = [*exc.extra_query, *exc.extra_formdata]
        return names[0] if names else None
    if isinstance(exc, BadRequestProblem):
        for marker in ("parameter '", "Query parameter '", "'"):
            if marker in detail:
                return detail.split(marker, 1)[1].split("'", 1)[0] or None
        if " - '" in detail:
            return detail.rsplit(" - '", 1)[1].rstrip("'")
    return None
