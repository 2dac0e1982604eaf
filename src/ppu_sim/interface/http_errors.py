"""Every failure outside a handler rendered as an ErrorDetail: no problem+json, HTML or trace.

Connexion raises problems for routing, security, content type and validation; these handlers
turn each into the contract's ErrorDetail, naming the operation the request was aimed at.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from connexion.exceptions import ProblemException
from connexion.lifecycle import ConnexionRequest, ConnexionResponse
from starlette.exceptions import HTTPException

from ppu_sim.interface import spec
from ppu_sim.interface.validation import FormatProblem, not_uuid
from ppu_sim.provider.errors import ORIGINAL_ID_PARAMS, REQUEST_TYPES, error_detail
from ppu_sim.runtime import simulator_of

log = logging.getLogger("ppu_sim")

# status -> (errorType, errorMessage) for failures the contract has no specific errorType for.
BY_STATUS: dict[int, tuple[str, str]] = {
    400: ("FORMAT_ERROR", "Bad formatting"),
    401: ("GENERAL_ERROR", "Unauthorized"),
    403: ("GENERAL_ERROR", "Forbidden"),
    404: ("ROUTING_ERROR", "No such resource"),
    405: ("FUNCTION_NOT_SUPPORTED", "Method not allowed"),
    406: ("FORMAT_ERROR", "Not acceptable"),
    413: ("FORMAT_ERROR", "Body too large"),
    415: ("FORMAT_ERROR", "Unsupported type"),
    500: ("GENERAL_ERROR", "Internal error"),
}


def error_body(
    path: str,
    status: int,
    *,
    detail: dict[str, Any] | None = None,
    request_id: str = "",
    error_type: str | None = None,
    message: str | None = None,
) -> bytes:
    """An ErrorDetail for a request that reached no handler: requestType and ids follow the path."""
    operation, params = spec.route(path)
    request_type = REQUEST_TYPES.get(operation or "", "METER_LOOKUP_REQUEST")
    default_type, default_message = BY_STATUS.get(status, BY_STATUS[500 if status >= 500 else 400])
    original_param = ORIGINAL_ID_PARAMS.get(operation or "")
    own_ids = [value for name, value in params.items() if name != original_param]
    body = error_detail(
        error_type or default_type,
        request_type,
        request_id or (own_ids[-1] if own_ids else ""),
        message=message or default_message,
        detail=detail,
        original_id=params.get(original_param or ""),
    )
    return json.dumps(body, separators=(",", ":"), allow_nan=False).encode()


def _path(request: ConnexionRequest) -> str:
    """The path as received: ``request.url`` drops tabs and line breaks (urllib's URL cleaning)."""
    return request.scope["path"]


def _response(status: int, body: bytes, headers: dict[str, str] | None = None) -> ConnexionResponse:
    return ConnexionResponse(
        status_code=status,
        mimetype="application/json",
        content_type="application/json",
        body=body,
        headers=headers or {},
    )


def format_problem(request: ConnexionRequest, exc: FormatProblem) -> ConnexionResponse:
    detail: dict[str, Any] = {"formatErrors": exc.errors}
    if exc.truncated:
        detail["formatErrorsTruncated"] = True
    return _response(400, error_body(_path(request), 400, detail=detail, request_id=exc.request_id))


def problem(request: ConnexionRequest, exc: ProblemException) -> ConnexionResponse:
    detail = {"reason": str(exc.detail or exc.title)}
    headers = dict(exc.headers or {})
    if exc.status == 400:
        detail = {"formatErrors": [{"field": "request", "msg": str(exc.detail), "value": ""}]}
    if exc.status == 401:
        headers.setdefault("WWW-Authenticate", 'Basic realm="ppu-sim"')
    return _response(exc.status, error_body(_path(request), exc.status, detail=detail), headers)


def http_exception(request: ConnexionRequest, exc: HTTPException) -> ConnexionResponse:
    path = _path(request)
    headers = dict(exc.headers or {})
    status = exc.status_code
    allowed = spec.methods_for_path(path)
    if status == 404 and allowed:
        # A contract path the router refused: it takes no line break inside a path parameter.
        if request.method not in allowed:
            status = 405
        elif problems := _parameter_problems(request):
            return format_problem(request, FormatProblem(problems))
    detail = {"reason": f"{request.method} {path}: {exc.detail}"}
    if status == 405:
        headers["Allow"] = ", ".join(allowed or ["POST"])
        detail["allowedMethods"] = allowed or ["POST"]
    return _response(status, error_body(path, status, detail=detail), headers)


def _parameter_problems(request: ConnexionRequest) -> list[dict[str, Any]]:
    """The path parameters as the parameter validator reports them (every one in the contract is a UUID)."""
    strict = simulator_of(request.scope).settings.strict
    _, params = spec.route(_path(request))
    return [problem for name, value in params.items() if (problem := not_uuid(f"path:{name}", value, strict))]


def unexpected(request: ConnexionRequest, exc: Exception) -> ConnexionResponse:
    path = _path(request)
    log.exception("unexpected error on %s %s", request.method, path, exc_info=exc)
    return _response(500, error_body(path, 500, detail={"reason": "internal error; see server log"}))
