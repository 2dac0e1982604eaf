"""Reconciliation: one row per purchase, from what the provider did and what the PoS received.

The provider's store says whether tokens were issued and how the purchase ended (confirmed,
reversed); the journal says whether the PoS ever got those tokens: a purchase is
``reply-lost`` while every answer carrying them was broken, delayed past the client or a 5xx,
and ``retried`` when only a retry brought them home.
"""

from __future__ import annotations

import csv
import io
from collections import defaultdict
from collections.abc import Collection, Iterable
from typing import Any

from ppu_sim.control.journal import Exchange
from ppu_sim.provider.store import PurchaseRecord

STATES = ("vended", "declined", "confirmed", "reversed", "reply-lost", "retried")
PURCHASES = ("createTokenPurchaseRequest",)
RETRIES = ("retryPurchaseRequest", "retryPurchaseRequestByRetryId")
ADVICES = {
    "confirmTokenPurchase": ("confirmation", "confirmationId"),
    "reverseTokenPurchase": ("reversal", "reversalId"),
}
# Faults after which the client holds no usable answer.
LOSING_FAULTS = frozenset({"reset", "close", "hold-close", "empty", "malformed", "truncated"})
CSV_COLUMNS = (
    "purchaseId", "meterId", "state", "requestedAmount", "approvedAmount", "currency", "tokens", "retries",
    "confirmations", "reversals", "errorType", "keyedIn",
)  # fmt: skip


def delivered(exchange: Exchange) -> bool:
    """The client received this answer whole, and it was a success."""
    return (
        exchange.status is not None
        and 200 <= exchange.status < 300
        and exchange.fault not in LOSING_FAULTS
        and not exchange.client_gone
    )


def _error_type(exchange: Exchange) -> str | None:
    body = exchange.response.value if exchange.response else None
    return body.get("errorType") if isinstance(body, dict) else None


def _answer(exchange: Exchange) -> dict[str, Any]:
    out = {
        "seq": exchange.seq,
        "operation": exchange.operation,
        "status": exchange.status,
        "delivered": delivered(exchange),
        "fault": exchange.fault,
        "errorType": _error_type(exchange),
    }
    return {k: v for k, v in out.items() if v is not None}


def transactions(
    records: Iterable[PurchaseRecord], journal: Iterable[Exchange], keyed: Collection[str] = ()
) -> dict[str, Any]:
    """``keyed``: the tokens the session's virtual meters accepted (each row says which of its were)."""
    by_purchase: dict[str, list[Exchange]] = defaultdict(list)
    for exchange in journal:
        if exchange.transaction and (exchange.operation in PURCHASES + RETRIES or exchange.operation in ADVICES):
            by_purchase[exchange.transaction].append(exchange)
    known = {r.id: r for r in records}
    # Purchases the provider never processed (refused before processing) still had a story.
    attempted = (i for i, story in by_purchase.items() if any(e.operation in PURCHASES + RETRIES for e in story))
    ids = [*known, *(i for i in attempted if i not in known)]
    # Each purchase's record and story dropped once its row is made: freed all at once on return,
    # a full journal's took some 20 ms in one step, the event loop waiting for the GIL throughout.
    rows = [_row(i, known.pop(i, None), by_purchase.pop(i, [])) for i in ids]
    for row in rows:
        row["keyedIn"] = [token in keyed for token in row["tokens"]]
    totals = dict.fromkeys(STATES, 0)
    for row in rows:
        totals[row["state"]] += 1
    return {"transactions": rows, "totals": totals, "count": len(rows)}


def _row(purchase_id: str, record: PurchaseRecord | None, story: list[Exchange]) -> dict[str, Any]:
    attempts = [e for e in story if e.operation in PURCHASES + RETRIES]
    advices: dict[tuple[str, str], list[Exchange]] = defaultdict(list)
    for e in story:
        if e.operation in ADVICES:
            kind, param = ADVICES[e.operation]
            advices[(kind, e.path_ids.get(param, ""))].append(e)
    request = (record.request if record else None) or _first_body(attempts)
    response = (record.response if record else None) or {}
    asked = request.get("purchaseAmount") if isinstance(request, dict) else None
    row: dict[str, Any] = {
        "purchaseId": purchase_id,
        "meterId": record.meter_id if record else _meter(request),
        "state": _state(record, attempts),
        "requestedAmount": asked if isinstance(asked, dict) else None,
        "approvedAmount": (response.get("amounts") or {}).get("approvedAmount"),
        "tokens": [t.get("token", "") for t in response.get("tokens", ())],
        "scenario": record.scenario if record else None,
        "errorType": (record.error or {}).get("errorType") if record else _last_error(attempts),
        "attempts": [_answer(e) for e in attempts],
        "retries": sum(1 for e in attempts if e.operation in RETRIES),
        "advices": [
            {"kind": kind, "id": advice_id, "answers": [_answer(e) for e in answers]}
            for (kind, advice_id), answers in advices.items()
        ],
        "messages": [e.seq for e in story],
    }
    return {k: v for k, v in row.items() if v is not None}


def _state(record: PurchaseRecord | None, attempts: list[Exchange]) -> str:
    if record is None or record.status == "declined":
        return "declined"
    if record.status in ("confirmed", "reversed"):
        return record.status
    got = [e for e in attempts if delivered(e)]
    if not got and attempts:
        return "reply-lost"
    if got and all(e.operation in RETRIES for e in got):
        return "retried"
    return "vended"


def _first_body(attempts: list[Exchange]) -> Any:
    return next((e.request.value for e in attempts if isinstance(e.request.value, dict)), None)


def _meter(request: Any) -> str | None:
    meter = request.get("meter") if isinstance(request, dict) else None
    return meter.get("meterId") if isinstance(meter, dict) else None


def _last_error(attempts: list[Exchange]) -> str | None:
    return next((t for t in map(_error_type, reversed(attempts)) if t), None)


def as_csv(table: dict[str, Any]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for row in table["transactions"]:
        requested, approved = row.get("requestedAmount") or {}, row.get("approvedAmount") or {}
        kinds = [a["kind"] for a in row["advices"]]
        writer.writerow(
            (
                row["purchaseId"],
                row.get("meterId", ""),
                row["state"],
                requested.get("amount", ""),
                approved.get("amount", ""),
                approved.get("currency") or requested.get("currency", ""),
                " ".join(row["tokens"]),
                row["retries"],
                kinds.count("confirmation"),
                kinds.count("reversal"),
                row.get("errorType", ""),
                f"{sum(row['keyedIn'])}/{len(row['keyedIn'])}",
            )
        )
    return out.getvalue()
