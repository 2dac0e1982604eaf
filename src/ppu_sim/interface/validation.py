"""Request body checking the way the production (Jackson-based) provider behaves, or strictly.

Connexion hands every JSON body to :class:`ContractBodyValidator`. Lenient mode accepts what
Jackson accepts: numbers sent as numeric strings, unknown fields (dropped, as Jackson drops them,
so the provider only ever sees fields the operation declares and this module checked).
``--strict`` rejects both: it serves and enforces :func:`strict_document`, the contract with
every model closed. Either way every offending field is reported, up to a limit, as
``{field, msg, value}``. Input no JSON library on the provider side would take (non-finite
numbers, nesting beyond a bound, integers too long to read) is refused before any of that.

A body is first judged by a compiled validator (jsonschema-rs, about 100 times faster); only one it
refuses goes through the Python validator, which finds and words every offending field. The
compiled one only ever decides that a body is valid, so the error reports are the Python ones.
"""

from __future__ import annotations

import copy
import gc
import json
import math
import re
from collections import deque
from collections.abc import Callable, Iterable, Iterator, MutableMapping
from contextlib import contextmanager
from functools import lru_cache
from itertools import chain
from typing import Any

import anyio
import jsonschema_rs
import orjson
from connexion.exceptions import BadRequestProblem
from connexion.json_schema import Draft4RequestValidator
from connexion.utils import is_null, is_nullable
from connexion.validators import JSONRequestBodyValidator, ParameterValidator
from jsonschema import Draft4Validator, FormatChecker, ValidationError
from jsonschema.exceptions import best_match
from jsonschema.validators import extend

from ppu_sim.config import Settings
from ppu_sim.runtime import simulator_of

UUID_ANY = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
UUID_V4 = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-4[0-9a-fA-F]{3}-[89abAB][0-9a-fA-F]{3}-[0-9a-fA-F]{12}")
# Body fields that carry message ids; strict mode wants them to be variant 4 UUIDs, as the contract says.
ID_FIELDS = ("id", "requestId")
NUMERIC = re.compile(r"-?\d+(\.\d+)?([eE][-+]?\d+)?")
MAX_VALUE_ECHO = 80
# Python's default int() limit (sys.get_int_max_str_digits), fixed here: beyond it reading takes
# quadratic time. Java's long has 19 digits, so anything near this is out of range anyway.
MAX_INTEGER_DIGITS = 4300
# Java's int and long: Jackson refuses a number that does not fit ("Numeric value out of range").
INTEGER_RANGES = {"int32": 2**31, "int64": 2**63}


def _format_checker() -> FormatChecker:
    checker = copy.deepcopy(Draft4Validator.FORMAT_CHECKER)
    # jsonschema skips a format whose checker package is missing, silently: every `time` would pass.
    if "date-time" not in checker.checkers:
        raise ImportError("checking the contract's date-time fields needs the rfc3339-validator package")
    for name, bound in INTEGER_RANGES.items():
        checker.checks(name)(lambda value, bound=bound: not isinstance(value, int) or -bound <= value < bound)
    return checker


FORMAT_CHECKER = _format_checker()
# Bodies read at once: parsed JSON takes some 20 times its size, and the GIL runs one reader anyway.
BODY_READERS = anyio.CapacityLimiter(2)
# Bodies up to this size are checked on the event loop: a contract message is 1-3 KB and takes some
# 20 µs, far less than the hop to a worker thread; a bigger one (a bad one can take seconds) goes to a worker.
INLINE_BODY_BYTES = 16_384
# Where the checked body waits for the handler, so it is parsed once (Connexion would parse it again).
BODY_KEY = "ppu_sim.body"


def request_body(scope: MutableMapping[str, Any]) -> dict[str, Any]:
    """The body the validator parsed and checked for this request."""
    return scope[BODY_KEY]


@lru_cache(maxsize=256)
def ecma_pattern(pattern: str) -> re.Pattern[str]:
    """A JSON Schema pattern compiled with ECMA-262 meaning: ``$`` ends the input.

    Python's ``$`` also matches before a final newline, so ``^[0-9]{11}$`` would take
    ``"01234567897\\n"``; every ``$`` outside a character class becomes ``\\Z``.
    """
    out, escaped, in_class = [], False, False
    for ch in pattern:
        if escaped:
            escaped = False
        elif ch == "\\":
            escaped = True
        elif ch == "[":
            in_class = True
        elif ch == "]":
            in_class = False
        elif ch == "$" and not in_class:
            ch = r"\Z"
        out.append(ch)
    return re.compile("".join(out))


def _pattern(validator: Any, pattern: str, instance: Any, schema: dict[str, Any]) -> Iterator[ValidationError]:
    if validator.is_type(instance, "string") and not ecma_pattern(pattern).search(instance):
        yield ValidationError(f"{instance!r} does not match {pattern!r}")


# Connexion's request validator (nullable, readOnly/writeOnly rules) with ECMA patterns.
RequestValidator = extend(Draft4RequestValidator, {"pattern": _pattern})
_VALIDATORS: dict[int, Draft4Validator] = {}
_COMPILED: dict[int, tuple[dict[str, Any], jsonschema_rs.Draft4Validator]] = {}
_PARAMETER_VALIDATORS: dict[int, tuple[dict[str, Any], Draft4Validator]] = {}
_CLOSED: dict[int, tuple[dict[str, Any], dict[str, Any]]] = {}


def compiled_validator(schema: dict[str, Any]) -> jsonschema_rs.Draft4Validator:
    """The schema as jsonschema-rs checks it, judging exactly as :data:`RequestValidator` does.

    Formats are checked by the same Python functions (jsonschema-rs would check ``uuid``, which
    Draft 4 does not know, and words ``date-time`` its own way); the int32/int64 ranges, which
    jsonschema-rs applies to strings only, become ``minimum``/``maximum``.
    """
    found = _COMPILED.get(id(schema))
    if found is None or found[0] is not schema:
        names: set[str] = set()
        ranged = _ranged(_without_components(schema), names)
        formats = {name: _format_check(name) for name in names}
        found = _COMPILED[id(schema)] = (
            schema,
            jsonschema_rs.Draft4Validator(ranged, formats=formats, validate_formats=True),
        )
    return found[1]


def _without_components(schema: dict[str, Any]) -> dict[str, Any]:
    """Connexion hands each operation its schema with every ``$ref`` resolved inline, and a copy of
    the document's components beside it. Nothing refers to them then, and compiling them made each
    validator 5 to 45 ms to build instead of about 1 ms (a stall on an operation's first request)."""
    if "components" in schema and "$ref" not in json.dumps({k: v for k, v in schema.items() if k != "components"}):
        return {k: v for k, v in schema.items() if k != "components"}
    return schema


def _format_check(name: str) -> Callable[[Any], bool]:
    """FormatChecker.conforms for one format, with the checker looked up once (a request's formats
    are checked through this from Rust)."""
    check, raises = FORMAT_CHECKER.checkers.get(name, (None, ()))

    def conforms(value: Any) -> bool:
        if check is None:
            return True
        try:
            return bool(check(value))
        except raises:
            return False

    return conforms


def _ranged(schema: Any, names: set[str]) -> Any:
    """A copy of the schema with integer formats as bounds, noting every format name on the way."""
    if isinstance(schema, list):
        return [_ranged(item, names) for item in schema]
    if not isinstance(schema, dict):
        return schema
    out = {key: _ranged(value, names) for key, value in schema.items()}
    name = schema.get("format")
    if isinstance(name, str):
        names.add(name)
        if name in INTEGER_RANGES and schema.get("type") == "integer":
            out.update(minimum=-INTEGER_RANGES[name], maximum=INTEGER_RANGES[name] - 1)
    return out


def known_valid(validator: jsonschema_rs.Draft4Validator, body: Any) -> bool:
    """True only when the compiled validator accepts the body; anything it cannot take is left to Python."""
    try:
        return validator.is_valid(body)
    except Exception:  # e.g. a string with a lone surrogate, which Rust cannot hold
        return False


class FormatProblem(BadRequestProblem):
    """A 400 FORMAT_ERROR carrying every offending field; the error handler renders it as ErrorDetail."""

    def __init__(self, errors: list[dict[str, Any]], body: Any = None, truncated: bool = False) -> None:
        super().__init__(detail="; ".join(f"{e['field']}: {e['msg']}" for e in errors))
        self.errors = errors
        # The message's own id, for the ErrorDetail; not the body, which may be megabytes of objects.
        self.request_id = str(body.get("id") or "") if isinstance(body, dict) else ""
        self.truncated = truncated  # more offending fields were found than the list holds


def json_path(parts: Any) -> str:
    out = ""
    for part in parts:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "body"


def _shown(value: Any) -> str:
    """A value as an error quotes it: JSON, cut short (without encoding more of a big value than is shown)."""
    if isinstance(value, str):
        text = value
    else:
        text = ""
        for chunk in json.JSONEncoder(separators=(",", ":")).iterencode(value):
            text += chunk
            if len(text) > MAX_VALUE_ECHO:
                break
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


def conform(value: Any, schema: dict[str, Any]) -> Any:
    """Read the body as Jackson would: numeric strings become numbers where the schema wants numbers,
    and fields a model does not declare are dropped (ignored), so nothing downstream ever sees them."""
    if "oneOf" in schema:
        branch = _branch(schema, value)
        return value if branch is None else conform(value, schema["oneOf"][branch])
    kind = schema.get("type")
    if kind in ("integer", "number") and isinstance(value, str) and NUMERIC.fullmatch(value.strip()):
        number = float(value)
        if not math.isfinite(number):
            return value  # "1e400": left a string, so the type check reports it
        return int(number) if kind == "integer" and number.is_integer() else number
    if isinstance(value, dict):
        props = schema.get("properties")
        extra = schema.get("additionalProperties")
        for key in list(value):
            sub = (props or {}).get(key, extra if isinstance(extra, dict) else None)
            if sub is not None:
                value[key] = conform(value[key], sub)
            elif props is not None and extra is None:
                del value[key]
    elif isinstance(value, list) and isinstance(schema.get("items"), dict):
        return [conform(v, schema["items"]) for v in value]
    return value


def strict_document(document: dict[str, Any]) -> dict[str, Any]:
    """The contract as ``--strict`` serves and enforces it: every model rejects unknown fields.

    The spec's models carry no ``additionalProperties`` (Jackson ignores unknown fields), so
    closing each one that lists its properties is exactly the strict reading; the free-form maps
    (``additionalAmounts``, ``detailMessage``) stay open.
    """
    closed = copy.deepcopy(document)
    for schema in closed.get("components", {}).get("schemas", {}).values():
        _close(schema)
    return closed


def _close(schema: Any) -> None:
    """Close, in place, every model in the schema that lists its properties."""
    if not isinstance(schema, dict):
        return
    if isinstance(schema.get("properties"), dict):
        schema.setdefault("additionalProperties", False)
        for sub in schema["properties"].values():
            _close(sub)
    for key in ("items", "additionalProperties"):
        _close(schema.get(key))
    for sub in schema.get("oneOf", ()):
        _close(sub)


def _closed_twin(schema: dict[str, Any]) -> dict[str, Any]:
    """An operation's schema with its models closed, built once: a body it accepts has no field the
    models do not declare and no number sent as a string, so :func:`conform` would change nothing."""
    found = _CLOSED.get(id(schema))
    if found is None or found[0] is not schema:
        twin = copy.deepcopy(_without_components(schema))
        _close(twin)
        found = _CLOSED[id(schema)] = (schema, twin)
    return found[1]


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


def not_uuid(field: str, value: Any, strict: bool) -> dict[str, Any] | None:
    """Ids must look like UUIDs; any version passes unless strict (the Jackson provider never checked)."""
    if strict:
        return _not_v4(field, value)
    if isinstance(value, str) and not UUID_ANY.fullmatch(value):
        return {"field": field, "msg": "is not a UUID", "value": _shown(value)}
    return None


def _parameter_validator(schema: dict[str, Any]) -> Draft4Validator:
    """A parameter's schema as Connexion checks it (plain Draft 4), built once per schema."""
    found = _PARAMETER_VALIDATORS.get(id(schema))
    if found is None or found[0] is not schema:
        validator = Draft4Validator(schema, format_checker=Draft4Validator.FORMAT_CHECKER)
        found = _PARAMETER_VALIDATORS[id(schema)] = (schema, validator)
    return found[1]


def parameter_problems(
    parameters: dict[str, list[dict[str, Any]]],
    path_params: MutableMapping[str, str],
    query_params: MutableMapping[str, str],
    strict: bool,
    strict_validation: bool,
) -> list[dict[str, Any]]:
    """Every offending path and query parameter of one request, as {field, msg, value}: what
    Connexion's parameter check and the fast path both refuse."""
    errors: list[dict[str, Any]] = []
    if strict_validation:
        known = {p["name"] for p in parameters.get("query", [])}
        errors += [
            {"field": f"query:{name}", "msg": "unknown query parameter", "value": _shown(value)}
            for name, value in query_params.items()
            if name not in known
        ]
    for where, values in (("path", path_params), ("query", query_params)):
        for param in parameters.get(where, []):
            value = values.get(param["name"])
            problem = _parameter_problem(where, value, param)
            if problem:
                errors.append(
                    {
                        "field": f"{where}:{param['name']}",
                        "msg": problem.splitlines()[0],
                        "value": _shown(value) if value is not None else "null",
                    }
                )
            elif param.get("schema", {}).get("format") == "uuid" and (
                bad := not_uuid(f"{where}:{param['name']}", value, strict)
            ):
                errors.append(bad)
    return errors


def _parameter_problem(where: str, value: Any, param: dict[str, Any]) -> str | None:
    """Connexion's check of one parameter, with its validator built once (Connexion deep-copied the
    parameter and built a Draft-4 validator for every parameter of every request), and judged by
    the compiled validator first, as bodies are."""
    if value is None or (is_nullable(param) and is_null(value)):
        return ParameterValidator.validate_parameter(where, value, param)
    schema = param.get("schema", param)
    if known_valid(compiled_validator(schema), value):
        return None
    try:
        _parameter_validator(schema).validate(value)
    except ValidationError as exc:
        return str(exc)
    return None


def make_parameter_validator(strict: bool) -> type[ParameterValidator]:
    """Path and query checks reported like body checks: every parameter, as {field, msg, value}."""

    class ContractParameterValidator(ParameterValidator):
        def validate_request(self, request: Any) -> None:
            errors = parameter_problems(
                self.parameters, request.path_params, request.query_params, strict, self.strict_validation
            )
            if errors:
                raise FormatProblem(errors)

    return ContractParameterValidator


def _read_json(raw: bytes, encoding: str, max_depth: int, max_errors: int) -> Any:
    """Parse a body, refusing what has no faithful JSON reading on the provider's side.

    ``1e400``, ``NaN`` and ``Infinity`` would come back out as non-JSON; nesting deeper than
    ``max_depth`` and integers longer than Python reads would end in a 500 somewhere downstream.
    Each is reported at its field.
    """
    if not raw.strip():
        return None
    try:
        body, plain = _decoded(raw, encoding, max_depth)
    except RecursionError:
        raise FormatProblem([_too_deep("body", max_depth)]) from None
    except (UnicodeDecodeError, ValueError) as exc:  # JSONDecodeError is a ValueError
        shown = _shown(raw[:MAX_VALUE_ECHO].decode("utf-8", "replace"))
        raise FormatProblem([{"field": "body", "msg": f"not valid JSON: {exc}", "value": shown}]) from None
    if plain or not isinstance(body, (dict, list)) or _plainly_readable(body, max_depth):
        return body
    errors, truncated = _first(_unreadable(body, max_depth), max_errors)
    if errors:
        raise FormatProblem(errors, body, truncated)
    return body


def _decoded(raw: bytes, encoding: str, max_depth: int) -> tuple[Any, bool]:
    """The body as the json module reads it (with this module's hooks), and whether it is known
    to be plainly readable (:func:`_plainly_readable`) without a walk.

    orjson gives the same reading in a third of the time where it reads at all: UTF-8 and no run
    of 19 digits, since it reads an integer past 64 bits as a float. Whatever it refuses is read
    again by the json module, which words the refusal (or reads what only it takes: NaN, 1e400, a
    lone surrogate) as before. What orjson read holds no such number, so only its nesting could be
    too deep, and it cannot be with no more brackets in the text than ``max_depth``.
    """
    if encoding == "utf-8" and _LONG_DIGITS not in raw.translate(_ALL_DIGITS_ZERO):
        try:
            body = orjson.loads(raw)
        except orjson.JSONDecodeError:
            pass
        else:
            return body, raw.count(b"{") + raw.count(b"[") <= max_depth
    text = raw.decode(encoding)
    if text.startswith("\ufeff"):  # as json.loads says it
        raise json.JSONDecodeError("Unexpected UTF-8 BOM (decode using utf-8-sig)", text, 0)
    return _DECODER.decode(text), False


def _plainly_readable(body: dict[str, Any] | list[Any], max_depth: int) -> bool:
    """True when :func:`_unreadable` would find nothing: a quick pass without the trails it keeps
    to name a field, so the usual body costs a third of that walk."""
    stack: list[tuple[Any, int]] = [(body, 1)]
    while stack:
        container, depth = stack.pop()
        for item in container.values() if type(container) is dict else container:
            kind = type(item)
            if kind is dict or kind is list:
                if depth >= max_depth:
                    return False
                stack.append((item, depth + 1))
            elif (kind is float and not math.isfinite(item)) or kind is _LongInteger:
                return False
    return True


class _LongInteger(str):
    """An integer literal longer than Python reads: kept as text until it is reported."""


def _read_int(text: str) -> int | _LongInteger:
    return int(text) if len(text) <= MAX_INTEGER_DIGITS else _LongInteger(text)


# A run of digits orjson may read other than the json module does (see _decoded), looked for as
# zeros once every digit is one: ten times as fast as a regular expression.
_ALL_DIGITS_ZERO = bytes.maketrans(b"123456789", b"000000000")
_LONG_DIGITS = b"0" * 19
# One decoder for every body (json.loads with these hooks would build one per call).
_DECODER = json.JSONDecoder(parse_int=_read_int, parse_constant=float)


def _too_deep(field: str, max_depth: int) -> dict[str, Any]:
    return {"field": field, "msg": f"nested deeper than {max_depth} levels", "value": ""}


def _unreadable(body: Any, max_depth: int) -> Iterator[dict[str, Any]]:
    """Non-finite numbers, over-long integers and over-deep nesting, breadth first, without recursion.

    Each container carries its trail (parent trail, key); a field's path is spelled out only when reported.
    """
    queue: deque[tuple[Any, int, Any]] = deque([(body, 1, None)])
    while queue:
        container, depth, trail = queue.popleft()
        for key, item in container.items() if isinstance(container, dict) else enumerate(container):
            if isinstance(item, (dict, list)):
                if depth >= max_depth:
                    yield _too_deep(_spelled((trail, key)), max_depth)
                elif item:
                    queue.append((item, depth + 1, (trail, key)))
            elif isinstance(item, _LongInteger):
                shown = _shown(str(item))
                yield {
                    "field": _spelled((trail, key)),
                    "msg": f"longer than {MAX_INTEGER_DIGITS} digits",
                    "value": shown,
                }
            elif isinstance(item, float) and not math.isfinite(item):
                yield {"field": _spelled((trail, key)), "msg": "not a finite number", "value": str(item)}


def _spelled(trail: Any) -> str:
    keys: list[str | int] = []
    while trail is not None:
        trail, key = trail
        keys.append(key)
    return json_path(reversed(keys))


def _first(problems: Iterable[dict[str, Any]], limit: int) -> tuple[list[dict[str, Any]], bool]:
    """Up to ``limit`` distinct problems, sorted by field, and whether more were found.

    Stops at the first problem past the limit: finding every problem in a big body costs seconds.
    """
    found: dict[tuple[str, str], dict[str, Any]] = {}
    for problem in problems:
        key = (problem["field"], problem["msg"])
        if key in found:
            continue
        if len(found) == limit:
            return sorted(found.values(), key=lambda e: e["field"]), True
        found[key] = problem
    return sorted(found.values(), key=lambda e: e["field"]), False


@contextmanager
def _no_cycle_collection() -> Iterator[None]:
    """Parsed JSON holds no reference cycles, yet building a megabyte of it sets off the cycle
    collector again and again, each pass holding the GIL and so stalling the event loop."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def prepare(schema: dict[str, Any], parameters: Iterable[dict[str, Any]]) -> None:
    """Build what an operation's requests are judged by now, not on its first request (a few ms each)."""
    compiled_validator(schema)
    compiled_validator(_closed_twin(schema))
    for param in parameters:
        compiled_validator(param.get("schema", param))


def checked_body(raw: bytes, schema: dict[str, Any], encoding: str, settings: Settings) -> dict[str, Any]:
    """The body parsed, conformed (lenient mode) and judged against the operation's schema, or a
    FormatProblem naming every offending field: what Connexion's body check and the fast path both use."""
    strict = settings.strict
    body = _read_json(raw, encoding, settings.max_json_depth, settings.max_format_errors)
    if body is None:
        raise FormatProblem([{"field": "body", "msg": "a JSON body is required", "value": "null"}])
    if not isinstance(body, dict):
        raise FormatProblem([{"field": "body", "msg": "must be a JSON object", "value": _shown(body)}], body)
    if not strict:
        if known_valid(compiled_validator(_closed_twin(schema)), body):
            return body  # the usual body: nothing to conform, and valid
        conform(body, schema)
    if known_valid(compiled_validator(schema), body) and not (
        strict and any(_not_v4(f, body.get(f)) for f in ID_FIELDS)
    ):
        return body
    problems = (problem for e in _python_validator(schema).iter_errors(body) for problem in describe(e))
    if strict:
        problems = chain(problems, (e for f in ID_FIELDS if (e := _not_v4(f, body.get(f)))))
    errors, truncated = _first(problems, settings.max_format_errors)
    if errors:
        raise FormatProblem(errors, body, truncated)
    return body


def _python_validator(schema: dict[str, Any]) -> Draft4Validator:
    """The Python validator that words a refused body's errors, built once per operation's schema."""
    found = _VALIDATORS.get(id(schema))
    if found is None or found.schema is not schema:
        found = _VALIDATORS[id(schema)] = RequestValidator(schema, format_checker=FORMAT_CHECKER)
    return found


def make_body_validator() -> type[JSONRequestBodyValidator]:
    """Connexion's body check as :func:`checked_body` (Connexion instantiates the class per request;
    the strictness is the server's settings')."""

    class ContractBodyValidator(JSONRequestBodyValidator):
        # The handler takes the checked body from the scope (request_body), so nothing is re-encoded.
        MUTABLE_VALIDATION = False

        async def _parse(self, stream: Any, scope: Any) -> Any:
            settings = simulator_of(scope).settings
            raw = b"".join([chunk async for chunk in stream])
            if len(raw) <= INLINE_BODY_BYTES:
                body = self._check(raw, settings)
            else:
                # Reading and checking up to a megabyte is CPU work: done off the event loop, so a big
                # bad body does not keep other requests (or /health) waiting.
                body = await anyio.to_thread.run_sync(self._checked, raw, settings, limiter=BODY_READERS)
            scope[BODY_KEY] = body
            return body

        def _validate(self, body: Any) -> dict[str, Any] | None:
            return None  # _parse has checked the body

        def _checked(self, raw: bytes, settings: Settings) -> dict[str, Any]:
            with _no_cycle_collection():
                try:
                    return self._check(raw, settings)
                except FormatProblem as problem:
                    # Its frames hold the parsed body: let it go here, not later on the event loop.
                    raise problem.with_traceback(None) from None

        def _check(self, raw: bytes, settings: Settings) -> dict[str, Any]:
            return checked_body(raw, self._schema, self._encoding, settings)

    return ContractBodyValidator
