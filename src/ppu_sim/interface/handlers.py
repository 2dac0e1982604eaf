"""The contract adapter: one thin handler per operation (Connexion routes here by operationId).

Handlers are coroutines so they run on the event loop, one at a time: the provider and its
in-memory store need no locks, and no request ever waits for a worker thread.

Each handler checks what the schema cannot (ids in the path agree with ids in the body), asks
the provider, and shapes the reply. Nothing here decides what the provider answers.

Handlers take the request's ASGI scope and its path ids, and return an :class:`Answer`: plain
status, body and headers, so that both callers (Connexion, through ``app.py``, and the fast path
in :mod:`ppu_sim.interface.fast_path`) hand them on without this module knowing either.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, NamedTuple

import orjson

from ppu_sim.interface.validation import request_body
from ppu_sim.provider.errors import REQUEST_TYPES, ProviderError, error_detail, format_error
from ppu_sim.provider.lifecycle import Provider, Reply, Trace
from ppu_sim.runtime import note_of, session_of
from ppu_sim.transport.faults import encode_directive

Body = dict[str, Any]
Call = Callable[[Provider, Body, dict[str, str]], Reply]
Scope = dict[str, Any]


class Answer(NamedTuple):
    """A reply as the contract shapes it: JSON bytes (or none) and any extra headers."""

    status: int
    body: bytes
    headers: dict[str, str]


async def create_meter_lookup(scope: Scope, lookup_id: str) -> Answer:
    return _answer(scope, "createMeterLookup", lookup_id, lambda p, b, h: p.meter_lookup(lookup_id, b, h))


async def create_token_purchase_request(scope: Scope, purchase_id: str) -> Answer:
    return _answer(scope, "createTokenPurchaseRequest", purchase_id, lambda p, b, h: p.purchase(purchase_id, b, h))


async def retry_purchase_request(scope: Scope, purchase_id: str) -> Answer:
    return _retry(scope, "retryPurchaseRequest", purchase_id)


async def retry_purchase_request_by_retry_id(scope: Scope, purchase_id: str, retry_id: str) -> Answer:
    """The pre-v3.5.2 retry path: its retryId names nothing the provider keeps, so it is /retry."""
    return _retry(scope, "retryPurchaseRequestByRetryId", purchase_id)


def _retry(scope: Scope, operation: str, purchase_id: str) -> Answer:
    # A retry's body may carry its own id; the answer carries that id. Both paths count as one operation.
    return _answer(
        scope,
        operation,
        None,
        lambda p, b, h: p.retry(purchase_id, b, h, "retryPurchaseRequest"),
        original_id=purchase_id,
    )


async def trial_token_purchase_request(scope: Scope, trial_id: str) -> Answer:
    return _answer(scope, "trialTokenPurchaseRequest", trial_id, lambda p, b, h: p.trial(trial_id, b, h))


async def confirm_token_purchase(scope: Scope, purchase_id: str, confirmation_id: str) -> Answer:
    return _advice(scope, "confirmTokenPurchase", Provider.confirm, purchase_id, confirmation_id)


async def reverse_token_purchase(scope: Scope, purchase_id: str, reversal_id: str) -> Answer:
    return _advice(scope, "reverseTokenPurchase", Provider.reverse, purchase_id, reversal_id)


async def request_token_reprint(scope: Scope, reprint_id: str) -> Answer:
    return _answer(scope, "requestTokenReprint", reprint_id, lambda p, b, h: p.reprint(reprint_id, b, h))


async def create_fault_report(scope: Scope, request_id: str) -> Answer:
    return _answer(scope, "createFaultReport", request_id, lambda p, b, h: p.fault_report(request_id, b, h))


async def create_key_change_token_request(scope: Scope, request_id: str) -> Answer:
    return _answer(scope, "createKeyChangeTokenRequest", request_id, lambda p, b, h: p.key_change(request_id, b, h))


async def confirm_key_change(scope: Scope, request_id: str, confirmation_id: str) -> Answer:
    return _advice(scope, "confirmKeyChange", Provider.confirm_key_change, request_id, confirmation_id)


async def notify_token_purchase(scope: Scope, purchase_id: str) -> Answer:
    return _answer(scope, "notifyTokenPurchase", purchase_id, lambda p, b, h: p.notify(purchase_id, b, h))


def _advice(scope: Scope, operation: str, method: Callable[..., Reply], original_id: str, advice_id: str) -> Answer:
    """An advice names the request it is about (original_id) and carries its own id (advice_id)."""
    return _answer(
        scope, operation, advice_id, lambda p, b, h: method(p, original_id, advice_id, b, h), original_id=original_id
    )


def _answer(scope: Scope, operation: str, path_id: str | None, call: Call, original_id: str | None = None) -> Answer:
    """Answer as one unit of work: if anything fails before the response exists, the provider keeps nothing.

    The body is the one the validator parsed and checked (handlers take no ``body`` argument, so
    Connexion does not parse it again).
    """
    provider = session_of(scope).provider
    with provider.atomic():
        return _attempt(provider, scope, operation, path_id, call, original_id)


def _attempt(
    provider: Provider, scope: Any, operation: str, path_id: str | None, call: Call, original_id: str | None
) -> Answer:
    """Check id agreement, run the provider, and render its reply or error as the contract says."""
    body = request_body(scope)
    request_id = str(body.get("id", path_id or ""))
    provider.trace = Trace()
    try:
        _check_ids(
            body,
            path_id,
            original_id,
            advice=operation in ("confirmTokenPurchase", "reverseTokenPurchase", "confirmKeyChange"),
        )
        reply = call(provider, body, _headers(scope))
    except ProviderError as exc:
        reply = Reply(exc.status, error=exc)
    _annotate(scope, provider.trace)
    return render(reply, operation, request_id, original_id)


def _annotate(scope: Any, trace: Trace) -> None:
    """Tell the journal who answered (the note travels in the request's scope, like the request)."""
    note = note_of(scope)
    note.scenario, note.pack, note.step, note.meter_id = trace.scenario, trace.pack, trace.step, trace.meter_id
    if trace.transaction:
        note.transaction = trace.transaction


def _headers(scope: Any) -> dict[str, str]:
    """The request's headers in one pass (``dict(headers)`` looks each key up again: quadratic), named
    in lower case as ASGI gives them. Reversed, so a repeated header keeps its first value, as a
    lookup by name gives it."""
    return {k.decode("latin-1"): v.decode("latin-1") for k, v in reversed(scope["headers"])}


def _check_ids(body: dict[str, Any], path_id: str | None, original_id: str | None, advice: bool) -> None:
    errors = []
    if path_id is not None and body.get("id") != path_id:
        errors.append({"field": "id", "msg": f"must equal the id in the path ({path_id})", "value": body.get("id")})
    if advice and body.get("requestId") != original_id:
        errors.append(
            {
                "field": "requestId",
                "msg": f"must equal the original id in the path ({original_id})",
                "value": body.get("requestId"),
            }
        )
    if errors:
        raise format_error(errors, "Id mismatch")


def render(reply: Reply, operation: str, request_id: str, original_id: str | None = None) -> Answer:
    headers = encode_directive(reply.delay, reply.fault)
    if reply.error is not None:
        e = reply.error
        payload: Any = error_detail(
            e.error_type,
            REQUEST_TYPES[operation],
            request_id,
            message=e.message,
            original_id=original_id,
            detail=e.detail,
        )
    else:
        payload = reply.body
    return Answer(reply.status, b"" if payload is None else _encoded(payload), headers)


def _encoded(payload: Any) -> bytes:
    """orjson: twenty times faster than the json module on an answer, and it writes a non-finite
    number (which no request can bring in) as null, so an answer is always JSON. It takes no integer
    past 64 bits, which a lenient echo may hold: those answers go through the json module."""
    try:
        return orjson.dumps(payload)
    except TypeError:
        return json.dumps(payload, separators=(",", ":"), allow_nan=False).encode()
