"""Request body checking the way the production (Jackson-based) provider behaves, or strictly.

Connexion hands every JSON body to :class:`ContractBodyValidator`. Lenient mode accepts what
Jackson accepts: numbers sent as numeric strings, unknown fields. ``--strict`` rejects both: it
serves and enforces :func:`strict_document`, the contract with every model closed. Either way
every offending field is reported, not just the first, as ``{field, msg, value}``.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Iterator
from typing import Any

from connexion.exceptions import BadRequestProblem
from connexion.json_schema import Draft4RequestValidator
from connexion.validators import JSONRequestBodyValidator, ParameterValidator
from jsonschema import Draft4Validator, FormatChecker, ValidationError
from jsonschema.exceptions import best_match

UUID_ANY = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
UUID_V4 = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-4[0-9a-fA-F]{3}-[89abAB][0-9a-fA-F]{3}-[0-9a-fA-F]{12}")
# Body fields that carry message ids; strict mode wants them to be variant 4 UUIDs, as the contract says.
ID_FIELDS = ("id", "requestId")
NUMERIC = re.compile(r"-?\d+(\.\d+)?([eE][-+]?\d+)?")
MAX_VALUE_ECHO = 80
# Java's int and long: Jackson refuses a number that does not fit ("Numeric value out of range").
INTEGER_RANGES = {"int32": 2**31, "int64": 2**63}


def _format_checker() -> FormatChecker:
    checker = copy.deepcopy(Draft4Validator.FORMAT_CHECKER)
    for name, bound in INTEGER_RANGES.items():
        checker.checks(name)(lambda value, bound=bound: not isinstance(value, int) or -bound <= value < bound)
    return checker


FORMAT_CHECKER = _format_checker()
_VALIDATORS: dict[int, Draft4Validator] = {}


class FormatProblem(BadRequestProblem):
    """A 400 FORMAT_ERROR carrying every offending field; the error handler renders it as ErrorDetail."""

    def __init__(self, errors: list[dict[str, Any]], body: Any = None) -> None:
        super().__init__(detail="; ".join(f"{e['field']}: {e['msg']}" for e in errors))
        self.errors = errors
        self.body = body


def json_path(parts: Any) -> str:
    out = ""
    for part in parts:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "body"


def _shown(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, separators=(",", ":"))
    return text if len(text) <= MAX_VALUE_ECHO else text[: MAX_VALUE_ECHO - 1] + "…"


def _branch(schema: dict[str, Any], value: Any) -> int | None:
    """For a oneOf with a discriminator, the index of the branch the value's ``type`` selects."""
    if not isinstance(value, dict):
        return None
    for index, branch in enumerate(schema["oneOf"]):
        allowed = branch.get("properties", {}).get("type", {}).get("enum", ())
        if value.get("type") in allowed:
            return index
    return None


def coerce(value: Any, schema: dict[str, Any]) -> Any:
    """Turn numeric strings into numbers where the schema wants numbers (Jackson's default)."""
    if "oneOf" in schema:
        branch = _branch(schema, value)
        return value if branch is None else coerce(value, schema["oneOf"][branch])
    kind = schema.get("type")
    if kind in ("integer", "number") and isinstance(value, str) and NUMERIC.fullmatch(value.strip()):
        number = float(value)
        return int(number) if kind == "integer" and number.is_integer() else number
    if isinstance(value, dict):
        props = schema.get("properties", {})
        extra = schema.get("additionalProperties")
        for key in list(value):
            sub = props.get(key, extra if isinstance(extra, dict) else None)
            if sub is not None:
                value[key] = coerce(value[key], sub)
    elif isinstance(value, list) and isinstance(schema.get("items"), dict):
        return [coerce(v, schema["items"]) for v in value]
    return value


def strict_document(document: dict[str, Any]) -> dict[str, Any]:
    """The contract as ``--strict`` serves and enforces it: every model rejects unknown fields.

    The spec's models carry no ``additionalProperties`` (Jackson ignores unknown fields), so
    closing each one that lists its properties is exactly the strict reading; the free-form maps
    (``additionalAmounts``, ``detailMessage``) stay open.
    """
    closed = copy.deepcopy(document)

    def close(schema: Any) -> None:
        if not isinstance(schema, dict):
            return
        if isinstance(schema.get("properties"), dict):
            schema.setdefault("additionalProperties", False)
            for sub in schema["properties"].values():
                close(sub)
        for key in ("items", "additionalProperties"):
            close(schema.get(key))
        for sub in schema.get("oneOf", ()):
            close(sub)

    for schema in closed.get("components", {}).get("schemas", {}).values():
        close(schema)
    return closed


def describe(error: ValidationError) -> Iterator[dict[str, Any]]:
    """One jsonschema error as {field, msg, value} entries, each pointing at the field itself."""
    if error.validator == "oneOf" and error.context:
        # A discriminated value is judged by the branch its type names, not by the closest miss.
        branch = _branch(error.schema, error.instance)
        chosen = [e for e in error.context if branch is not None and e.relative_schema_path[0] == branch]
        for sub in chosen or [best_match(error.context)]:
            yield from describe(sub)
        return
    path = list(error.absolute_path)
    if error.validator == "additionalProperties":
        known = error.schema.get("properties", {})
        for key, item in error.instance.items():
            if key not in known:
                yield {"field": json_path((*path, key)), "msg": "unknown field", "value": _shown(item)}
        return
    if error.validator == "required":
        missing = error.message.split("'")[1] if "'" in error.message else "?"
        yield {"field": json_path([*path, missing]), "msg": "may not be null", "value": "null"}
        return
    msg = error.message
    prefix = repr(error.instance)
    if error.validator == "format" and error.validator_value in INTEGER_RANGES:
        msg = f"out of range of {error.validator_value}"
    elif msg.startswith(prefix):  # "'abc' does not match ..." -> "does not match ..."
        msg = msg[len(prefix) :].strip()
    yield {"field": json_path(path), "msg": msg, "value": _shown(error.instance)}


def _not_v4(field: str, value: Any) -> dict[str, Any] | None:
    if isinstance(value, str) and not UUID_V4.fullmatch(value):
        return {"field": field, "msg": "is not a variant 4 UUID (RFC 4122)", "value": _shown(value)}
    return None


def _not_uuid(field: str, value: Any, strict: bool) -> dict[str, Any] | None:
    """Ids must look like UUIDs; any version passes unless strict (the Jackson provider never checked)."""
    if strict:
        return _not_v4(field, value)
    if isinstance(value, str) and not UUID_ANY.fullmatch(value):
        return {"field": field, "msg": "is not a UUID", "value": _shown(value)}
    return None


def make_parameter_validator(strict: bool) -> type[ParameterValidator]:
    """Path and query checks reported like body checks: every parameter, as {field, msg, value}."""

    class ContractParameterValidator(ParameterValidator):
        def validate_request(self, request: Any) -> None:
            errors: list[dict[str, Any]] = []
            if self.strict_validation:
                known = {p["name"] for p in self.parameters.get("query", [])}
                errors += [
                    {"field": f"query:{name}", "msg": "unknown query parameter", "value": _shown(value)}
                    for name, value in request.query_params.items()
                    if name not in known
                ]
            for where, values in (("path", request.path_params), ("query", request.query_params)):
                for param in self.parameters.get(where, []):
                    value = values.get(param["name"])
                    problem = self.validate_parameter(where, value, param)
                    if problem:
                        errors.append(
                            {
                                "field": f"{where}:{param['name']}",
                                "msg": problem.splitlines()[0],
                                "value": _shown(value) if value is not None else "null",
                            }
                        )
                    elif param.get("schema", {}).get("format") == "uuid" and (
                        bad := _not_uuid(f"{where}:{param['name']}", value, strict)
                    ):
                        errors.append(bad)
            if errors:
                raise FormatProblem(errors)

    return ContractParameterValidator


def make_body_validator(strict: bool) -> type[JSONRequestBodyValidator]:
    """A validator class bound to the server's strictness (connexion instantiates it per request)."""

    class ContractBodyValidator(JSONRequestBodyValidator):
        MUTABLE_VALIDATION = not strict  # lenient coercion changes the body the handler sees

        @property
        def _validator(self) -> Draft4Validator:
            # Connexion makes this object per request, but the schema is the operation's own: build once.
            found = _VALIDATORS.get(id(self._schema))
            if found is None or found.schema is not self._schema:
                found = _VALIDATORS[id(self._schema)] = Draft4RequestValidator(
                    self._schema, format_checker=FORMAT_CHECKER
                )
            return found

        async def _parse(self, stream: Any, scope: Any) -> Any:
            raw = b"".join([chunk async for chunk in stream])
            if not raw.strip():
                return None
            try:
                return json.loads(raw.decode(self._encoding))
            except (UnicodeDecodeError, json.JSONDecodeError) as exc:
                shown = _shown(raw[:MAX_VALUE_ECHO].decode("utf-8", "replace"))
                raise FormatProblem([{"field": "body", "msg": f"not valid JSON: {exc}", "value": shown}]) from None

        def _validate(self, body: Any) -> dict[str, Any] | None:
            if body is None:
                raise FormatProblem([{"field": "body", "msg": "a JSON body is required", "value": "null"}])
            if not isinstance(body, dict):
                raise FormatProblem([{"field": "body", "msg": "must be a JSON object", "value": _shown(body)}], body)
            if not strict:
                coerce(body, self._schema)
            errors = [problem for e in self._validator.iter_errors(body) for problem in describe(e)]
            if strict:
                errors.extend(e for f in ID_FIELDS if (e := _not_v4(f, body.get(f))))
            if errors:
                unique = list({(e["field"], e["msg"]): e for e in errors}.values())
                raise FormatProblem(sorted(unique, key=lambda e: e["field"]), body)
            return None

    return ContractBodyValidator
