"""Schemathesis hooks for fuzzing ppu-sim: coherent ids in, the simulator's error contract out.

Loaded by schemathesis.toml (``hooks``) or ``SCHEMATHESIS_HOOKS``. The request hook fixes only
what OpenAPI cannot say (ids that must agree across path, query and body; variant 4 ids; which
meter numbers exist), so the fuzzer reaches the provider's rules instead of stopping at "Id
mismatch" or "Unknown meter ID". The checks assert what every PoS engineer relies on and the
schema alone does not pin down.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from functools import cache
from typing import Any

import schemathesis
from jsonschema import Draft4Validator

from ppu_sim.scenario.matcher import luhn_check_digit

# operationId -> (parameter naming the message itself, which the body `id` must equal;
#                 parameter naming the original request, which an advice's `requestId` must equal).
# All are path parameters except notifyTokenPurchase's purchaseId (query).
IDS: dict[str, tuple[str, str | None]] = {
    "createMeterLookup": ("lookupId", None),
    "createTokenPurchaseRequest": ("purchaseId", None),
    "retryPurchaseRequest": ("purchaseId", None),  # the body is the original purchase request
    "retryPurchaseRequestByRetryId": ("retryId", None),
    "trialTokenPurchaseRequest": ("trialId", None),
    "confirmTokenPurchase": ("confirmationId", "purchaseId"),
    "reverseTokenPurchase": ("reversalId", "purchaseId"),
    "requestTokenReprint": ("reprintId", None),
    "createFaultReport": ("requestId", None),
    "createKeyChangeTokenRequest": ("requestId", None),
    "confirmKeyChange": ("confirmationId", "requestId"),
    "notifyTokenPurchase": ("purchaseId", None),
}
# Operations whose own id names an earlier purchase rather than a new message.
REFERS_BACK = frozenset({"retryPurchaseRequest", "notifyTokenPurchase"})
MAX_ERROR_MESSAGE = 20
# The amounts (cents) the provider vends for a plain STS meter (the default pack).
MIN_AMOUNT, MAX_AMOUNT = 100, 500_000


def _uuid(value: Any) -> uuid.UUID | None:
    try:
        return uuid.UUID(value) if isinstance(value, str) else None
    except ValueError:
        return None


def as_v4(value: Any) -> Any:
    """A UUID of any version as the variant 4 UUID with the same random bits; anything else as is.

    A value that is not a UUID at all is the fuzzer's negative data and must reach the server unchanged.
    """
    parsed = _uuid(value)
    return value if parsed is None else str(uuid.UUID(int=parsed.int, version=4))


def digest(case: Any, own: str | None) -> bytes:
    """A fingerprint of everything the request carries except its own ids.

    The fuzzer draws few distinct ids and meter numbers, so choices made from this instead spread
    over the requests, while a repeated request (and a seeded run) makes the same choices again.
    """
    body = {k: v for k, v in case.body.items() if k not in ("id", "requestId")} if isinstance(case.body, dict) else None
    params = {k: v for k, v in (case.path_parameters or {}).items() if k != own}
    text = json.dumps([case.operation.label, params, case.query, body], sort_keys=True, default=repr)
    return hashlib.sha256(text.encode()).digest()


# Few meters, so purchases, reprints and key changes meet on the same ones.
STS_METERS = tuple(f"{4_100_000_000 + n}" + luhn_check_digit(f"{4_100_000_000 + n}") for n in range(4))


@schemathesis.hook
def before_call(context: Any, case: Any, kwargs: dict[str, Any]) -> None:
    """Make ids coherent: variant 4, fresh for each new message, equal wherever the contract says.

    Half the meter numbers become STS numbers the provider knows (the other half keep exercising
    UNKNOWN_METER_ID), and half of their amounts a vendable one. Runs for every phase; Schemathesis
    re-validates the case afterwards, so a case stays negative only if it still breaks the schema.
    Values that are not UUIDs, or not strings, are the fuzzer's negative data and are left alone.
    """
    operation = case.operation.definition.raw.get("operationId", "")
    if operation not in IDS:
        return
    own, original = IDS[operation]
    fingerprint = digest(case, own)
    for container in (case.path_parameters, case.query):
        for name, value in (container or {}).items():
            container[name] = as_v4(value)
    if operation not in REFERS_BACK and _uuid(case.path_parameters.get(own)):
        # A new message gets an id of its own; otherwise nearly all would be DUPLICATE_RECORD.
        case.path_parameters[own] = str(uuid.UUID(bytes=fingerprint[:16], version=4))
    if not isinstance(case.body, dict):
        return
    params = {**(case.path_parameters or {}), **(case.query or {})}
    for field, source in (("id", own), ("requestId", original)):
        if source and isinstance(case.body.get(field), str) and isinstance(params.get(source), str):
            case.body[field] = params[source]
    meter, asked = case.body.get("meter"), case.body.get("purchaseAmount")
    if not (isinstance(meter, dict) and isinstance(meter.get("meterId"), str) and fingerprint[16] % 2):
        return
    meter["meterId"] = STS_METERS[fingerprint[17] % len(STS_METERS)]
    if isinstance(asked, dict) and isinstance(asked.get("amount"), int) and fingerprint[18] % 2:
        # Within the generated meters' limits, or purchases would stop at AMOUNT_TOO_LOW/HIGH.
        asked["amount"] = MIN_AMOUNT + abs(asked["amount"]) % (MAX_AMOUNT - MIN_AMOUNT)


def _body(response: Any) -> Any:
    try:
        return json.loads(response.content)
    except (TypeError, ValueError):
        return None


@cache
def _error_detail_validator(raw_error_detail: str) -> Draft4Validator:
    return Draft4Validator(json.loads(raw_error_detail))


def _error_detail_schema(case: Any) -> Draft4Validator:
    schema = case.operation.schema.raw_schema["components"]["schemas"]["ErrorDetail"]
    return _error_detail_validator(json.dumps(schema, sort_keys=True))


@schemathesis.check
def error_is_error_detail(ctx: Any, response: Any, case: Any) -> bool | None:
    """Every 4xx/5xx, documented for the operation or not (405, 406, ...), is an ErrorDetail."""
    if response.status_code < 400:
        return None
    body = _body(response)
    if not isinstance(body, dict):
        raise AssertionError(f"{response.status_code} body is not a JSON object: {response.content[:200]!r}")
    errors = sorted(str(e.message) for e in _error_detail_schema(case).iter_errors(body))
    if errors:
        raise AssertionError(f"{response.status_code} body is not an ErrorDetail: {'; '.join(errors)}")
    if len(body["errorMessage"]) > MAX_ERROR_MESSAGE:
        raise AssertionError(f"errorMessage longer than {MAX_ERROR_MESSAGE} characters: {body['errorMessage']!r}")
    return True


@schemathesis.check
def format_error_lists_fields(ctx: Any, response: Any, case: Any) -> bool | None:
    """A FORMAT_ERROR names every offending field as {field, msg, value}, so a PoS log says what to fix."""
    body = _body(response)
    if response.status_code != 400 or not isinstance(body, dict) or body.get("errorType") != "FORMAT_ERROR":
        return None
    detail = body.get("detailMessage")
    listed = detail.get("formatErrors") if isinstance(detail, dict) else None
    if not isinstance(listed, list) or not listed:
        raise AssertionError(f"FORMAT_ERROR without a non-empty detailMessage.formatErrors: {body}")
    for entry in listed:
        if not isinstance(entry, dict) or set(entry) != {"field", "msg", "value"}:
            raise AssertionError(f"formatErrors entry is not exactly {{field, msg, value}}: {entry!r}")
        if not all(isinstance(entry[key], str) for key in entry) or not entry["field"] or not entry["msg"]:
            raise AssertionError(f"formatErrors entry needs a field and msg, and value as text: {entry!r}")
    return True


@schemathesis.check
def valid_request_is_well_formatted(ctx: Any, response: Any, case: Any) -> bool | None:
    """A schema-valid request (ids made coherent by before_call) is never refused as badly formatted.

    The provider may still refuse it for domain reasons (unknown meter, repeated id, ...), with
    another errorType.
    """
    meta = case.meta
    if meta is None or not meta.generation.mode.is_positive or response.status_code != 400:
        return None
    body = _body(response)
    if isinstance(body, dict) and body.get("errorType") == "FORMAT_ERROR":
        raise AssertionError(f"schema-valid request refused as FORMAT_ERROR: {body.get('detailMessage')}")
    return True
