"""Connexion's checks for the control API, reporting the offending input by name (``field``)."""

from __future__ import annotations

import json
from collections.abc import AsyncGenerator
from typing import Any

from connexion.validators import JSONRequestBodyValidator, ParameterValidator
from jsonschema import ValidationError
from starlette.types import Scope

from ppu_sim.control.errors import ControlError
from ppu_sim.interface.validation import json_path

PARAMETER_KINDS = ("query", "path", "header", "cookie")


class ControlParameterValidator(ParameterValidator):
    """Unknown query parameters (a misspelt filter) and bad values are 400s naming the parameter."""

    def validate_request(self, request: Any) -> None:
        extra = sorted(self.validate_query_parameter_list(request, security_params=self.security_query_params))
        if extra:
            raise ControlError(400, "unknown-parameter", f"unknown query parameter(s): {', '.join(extra)}", extra[0])
        for kind in PARAMETER_KINDS:
            check = getattr(self, f"validate_{kind}_parameter")
            for param in self.parameters.get(kind, []):
                if error := check(param, request):
                    first = str(error).split("\n", 1)[0]  # the rest repeats the schema
                    raise ControlError(400, "bad-parameter", f"{param['name']}: {first}", param["name"])


class ControlBodyValidator(JSONRequestBodyValidator):
    """A JSON body that is not JSON, or breaks its schema, is a 400 naming the first bad field."""

    async def _parse(self, stream: AsyncGenerator[bytes, None], scope: Scope) -> Any:
        raw = b"".join([message async for message in stream])
        if not raw:
            return None
        try:
            return json.loads(raw.decode(self._encoding))
        except (ValueError, UnicodeDecodeError) as exc:
            raise ControlError(400, "bad-body", f"not JSON: {exc}", "body") from None

    def _validate(self, body: Any) -> dict[str, Any] | None:
        if body is None:
            raise ControlError(400, "bad-body", "a JSON body is required", "body")
        try:
            return self._validator.validate(body)
        except ValidationError as exc:
            field = json_path(exc.absolute_path) if exc.absolute_path else "body"
            raise ControlError(400, "bad-body", f"{field}: {exc.message}", field) from None
