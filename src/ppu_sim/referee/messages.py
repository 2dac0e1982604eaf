"""A read-only view of journal exchanges (as the control API shows them) for the rules.

The referee works on the JSON form of an exchange, so a live session and a journal saved with
``ppu-sim journal --format json`` (or ``GET /sim/journal``) are judged by the same code.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

PURCHASE = "createTokenPurchaseRequest"
RETRIES = ("retryPurchaseRequest", "retryPurchaseRequestByRetryId")
ATTEMPTS = (PURCHASE, *RETRIES)
# An advice operation: its kind, and the path parameters naming its transaction and itself.
ADVICES = {
    "confirmTokenPurchase": ("confirmation", "purchaseId", "confirmationId"),
    "reverseTokenPurchase": ("reversal", "purchaseId", "reversalId"),
    "confirmKeyChange": ("key change confirmation", "requestId", "confirmationId"),
}
# Operations that start something new: their id must never have been used before.
NEW_MESSAGES = {
    "createMeterLookup": "lookupId",
    PURCHASE: "purchaseId",
    "trialTokenPurchaseRequest": "trialId",
    "requestTokenReprint": "reprintId",
    "createFaultReport": "requestId",
    "createKeyChangeTokenRequest": "requestId",
}
# Faults after which the PoS holds no usable answer (as reconciliation counts them).
LOSING_FAULTS = frozenset({"reset", "close", "hold-close", "empty", "malformed", "truncated"})


@dataclass(frozen=True)
class Msg:
    """One exchange: what the PoS sent and whether it got a usable, final answer."""

    raw: dict[str, Any]

    @property
    def seq(self) -> int:
        return int(self.raw["seq"])

    @property
    def operation(self) -> str | None:
        return self.raw.get("operation")

    @property
    def body(self) -> Any:
        return self.raw.get("requestBody")

    @property
    def answer(self) -> Any:
        return self.raw.get("responseBody")

    @property
    def status(self) -> int | None:
        return self.raw.get("status")

    @property
    def path_ids(self) -> dict[str, str]:
        return self.raw.get("pathIds") or {}

    @property
    def transaction(self) -> str | None:
        return self.raw.get("transaction")

    @property
    def meter(self) -> str | None:
        return self.raw.get("meterId")

    @property
    def body_id(self) -> str | None:
        value = self.body.get("id") if isinstance(self.body, dict) else None
        return value if isinstance(value, str) else None

    @property
    def received(self) -> datetime:
        return datetime.fromisoformat(self.raw["received"])

    @property
    def error_type(self) -> str | None:
        return self.raw.get("errorType")

    @property
    def lost(self) -> bool:
        """The PoS got no usable answer: none yet, a fault broke it, it left, or a 5xx."""
        status = self.status
        return (
            not self.raw.get("complete", True)
            or status is None
            or status >= 500
            or self.raw.get("fault") in LOSING_FAULTS
            or bool(self.raw.get("clientGone"))
        )

    @property
    def final(self) -> bool:
        """A final answer the PoS received: a 2xx, or a 4xx (the interface's "202 or 400")."""
        return not self.lost and self.status is not None and self.status < 500

    @property
    def accepted(self) -> bool:
        return self.final and 200 <= (self.status or 0) < 300

    def advice(self) -> tuple[str, str, str] | None:
        """(kind, the transaction it is about, the advice id) for an advice, else None."""
        found = ADVICES.get(self.operation or "")
        if not found:
            return None
        kind, owner, own = found
        return kind, self.path_ids.get(owner, ""), self.path_ids.get(own, "")

    def label(self) -> str:
        """How evidence names the message: ``#12 confirmTokenPurchase 503``."""
        status = "no answer" if self.status is None else str(self.status)
        fault = f" ({self.raw['fault']})" if self.raw.get("fault") else ""
        return f"#{self.seq} {self.operation or self.raw.get('path', '?')} {status}{fault}"


def messages(exchanges: Iterable[dict[str, Any]]) -> list[Msg]:
    """The exchanges in arrival order; requests the interface lacks carry no PoS behaviour to judge."""
    return sorted((Msg(e) for e in exchanges if e.get("operation")), key=lambda m: m.seq)
