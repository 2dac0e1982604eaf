"""A point of sale written for the referee's tests: well behaved, unless given one bad habit.

It follows every rule of docs/referee.md through lost replies, refused advices and declines:
it looks a meter up, buys, retries a purchase whose answer was lost (same id, same body) until
a final answer or gives up with a reversal, keeps repeating an advice (same id, same body)
until 202 or 4xx, echoes the provider's thirdPartyIdentifiers and confirms what was approved.
Each habit in ``HABITS`` breaks exactly one rule.
"""

from __future__ import annotations

import copy
import json
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

import httpx

from tests.support import AUTH, BASE, transaction

# habit -> the one rule it breaks
HABITS = {
    "uuid1-ids": "id-format",
    "reuses-purchase-id": "id-unique",
    "buys-again-after-lost-reply": "lost-reply-no-new-purchase",
    "gives-up-after-lost-reply": "lost-reply-resolved",
    "changes-amount-in-retry": "retry-unchanged",
    "new-id-in-retry": "retry-same-id-and-time",
    "gives-up-on-refused-advice": "advice-repeated-until-final",
    "new-advice-id-on-repeat": "advice-same-id-and-body",
    "confirms-after-reversing": "no-confirm-after-reversal",
    "drops-third-party-ids": "advice-third-party-ids",
    "confirms-requested-amount": "confirmation-amount",
    "never-confirms": "purchase-settled",
    "clock-an-hour-fast": "message-time",
    "sends-unknown-field": "strict-contract",
}
RETRY_LIMIT = 4
ADVICE_LIMIT = 6


@dataclass
class Pos:
    base_url: str
    session: str
    habit: str | None = None
    client: httpx.Client = field(init=False)
    _reused: str | None = field(default=None, init=False)

    def __post_init__(self) -> None:
        assert self.habit is None or self.habit in HABITS, self.habit
        self.client = httpx.Client(
            base_url=self.base_url + BASE, auth=AUTH, timeout=10, headers={"X-PPU-Session": self.session}
        )

    def close(self) -> None:
        self.client.close()

    # -- message building -----------------------------------------------------------------

    def new_id(self) -> str:
        return str(uuid.uuid1() if self.habit == "uuid1-ids" else uuid.uuid4())

    def now(self) -> str:
        shift = timedelta(hours=1) if self.habit == "clock-an-hour-fast" else timedelta()
        return (datetime.now(timezone.utc) + shift).isoformat(timespec="milliseconds")

    def _message(self, id_: str, **fields: Any) -> dict[str, Any]:
        body = {**transaction(id_), "time": self.now(), **fields}
        if self.habit == "sends-unknown-field":
            body["loyaltyTier"] = "gold"
        return body

    def _advice(self, purchase: dict[str, Any], answer: dict[str, Any] | None, **fields: Any) -> dict[str, Any]:
        ids = (answer or purchase)["thirdPartyIdentifiers"]
        if self.habit == "drops-third-party-ids":
            ids = purchase["thirdPartyIdentifiers"][:0]
        body = {"id": self.new_id(), "requestId": purchase["id"], "time": self.now(), "thirdPartyIdentifiers": ids}
        if self.habit == "sends-unknown-field":
            body["loyaltyTier"] = "gold"
        return {**body, **fields}

    # -- the interface ----------------------------------------------------------------------

    def _post(self, path: str, body: dict[str, Any]) -> tuple[int | None, Any]:
        """(status, parsed body); status None when the answer never arrived whole or is unreadable."""
        try:
            response = self.client.post(path, json=body)
            return response.status_code, response.json()
        except (httpx.TransportError, json.JSONDecodeError):
            return None, None

    def lookup(self, meter: str) -> dict[str, Any] | None:
        id_ = self.new_id()
        status, answer = self._post(f"/meterLookups/{id_}", self._message(id_, meter={"meterId": meter}))
        return answer if status == 201 else None

    def buy(self, meter: str, amount: int | None = None, cancel: bool = False) -> str:
        """Look the meter up (for its amount), buy, see the purchase to a final state and advise:
        confirm it, or reverse it when the sale is cancelled (the customer does not pay). Returns its id."""
        if amount is None:
            found = self.lookup(meter) or {}
            amount = (found.get("minAmount") or {}).get("amount", 10000)
        id_ = self.new_id()
        if self.habit == "reuses-purchase-id":
            id_, self._reused = self._reused or id_, self._reused or id_
        request = self._message(id_, meter={"meterId": meter}, purchaseAmount={"amount": amount, "currency": "710"})
        status, answer = self._post(f"/tokenPurchases/{id_}", request)
        if _lost(status):
            if self.habit == "buys-again-after-lost-reply":
                self.habit = None  # once is enough to be a double vend
                self.buy(meter, amount, cancel)
            if self.habit == "gives-up-after-lost-reply":
                return id_
            status, answer = self._retry(request)
        if status is None or status >= 500:
            self._advise("reversals", request, None, reversalReason="TIMEOUT")
        elif status < 400:  # a 4xx is a decline: nothing to confirm or reverse
            self._settle(request, answer, cancel)
        return id_

    def change_key(self, meter: str) -> int | None:
        """Ask for key change tokens, hand them over, confirm the key change (repeated until final)."""
        id_ = self.new_id()
        request = self._message(id_, meter={"meterId": meter})
        status, answer = self._post(f"/keyChangeTokenRequests/{id_}", request)
        if status != 201:
            return status
        body = self._advice(request, answer)
        return self._repeat(f"/keyChangeTokenRequests/{id_}/confirmations", body)

    def _retry(self, request: dict[str, Any]) -> tuple[int | None, Any]:
        status, answer = None, None
        for _ in range(RETRY_LIMIT):
            body = copy.deepcopy(request)
            if self.habit == "changes-amount-in-retry":
                body["purchaseAmount"]["amount"] += 100
            if self.habit == "new-id-in-retry":
                body["id"], body["time"] = str(uuid.uuid4()), self.now()
            status, answer = self._post(f"/tokenPurchases/{request['id']}/retry", body)
            if not _lost(status):
                break
        return status, answer

    def _settle(self, request: dict[str, Any], answer: dict[str, Any], cancel: bool) -> None:
        if self.habit == "never-confirms":
            return
        if cancel:
            self._advise("reversals", request, answer, reversalReason="CANCELLED")
            return
        if self.habit == "confirms-after-reversing":
            self._advise("reversals", request, answer, reversalReason="CANCELLED")
        approved = (answer.get("amounts") or {}).get("approvedAmount") or request["purchaseAmount"]
        if self.habit == "confirms-requested-amount":
            approved = request["purchaseAmount"]
        tender = {"accountType": "DEFAULT", "amount": dict(approved), "tenderType": "CASH"}
        self._advise("confirmations", request, answer, tenders=[tender], amounts={"approvedAmount": dict(approved)})

    def _advise(self, kind: str, request: dict[str, Any], answer: dict[str, Any] | None, **fields: Any) -> int | None:
        """Send an advice and repeat it, same id and body, until 202 or 4xx (store and forward)."""
        return self._repeat(f"/tokenPurchases/{request['id']}/{kind}", self._advice(request, answer, **fields))

    def _repeat(self, path: str, body: dict[str, Any]) -> int | None:
        status = None
        for _ in range(ADVICE_LIMIT):
            status, _ = self._post(f"{path}/{body['id']}", body)
            if not _lost(status):
                break
            if self.habit == "gives-up-on-refused-advice":
                break
            if self.habit == "new-advice-id-on-repeat":
                body = {**body, "id": self.new_id()}
        return status


def _lost(status: int | None) -> bool:
    return status is None or status >= 500


# A short day's trading that gives every habit a chance to show: a plain sale, replies lost after
# vending (504 and a reset), a provider down then back, a refused confirmation, a cancelled sale
# whose reversal is refused, a partial approval and a decline.
DAY = (
    ("TST001", None, False),
    ("EDGELOST504", 10000, False),
    ("EDGERESET", 10000, False),
    ("EDGEFLAKY", 10000, False),
    ("EDGECONFIRMRETRY", 10000, False),
    ("EDGEREVERSALRETRY", 10000, True),
    ("EDGEPARTIAL", 10000, False),
    ("EDGEDECLINED", 10000, False),
)


def trade(pos: Pos, meters: Any = DAY) -> None:
    for meter, amount, cancel in meters:
        pos.buy(meter, amount, cancel)


def drive_plan(pos: Pos, exercises: Any) -> None:
    """Each exercise of a plan as its `do` says: Electrum test meters at their one amount (looked
    up), free tokens with amount 0, the refused reversal by cancelling the sale, key change tokens
    asked for and confirmed."""
    for exercise in exercises:
        meter = exercise.meter
        amount = None if meter.startswith("TST") else 0 if meter == "EDGEFREE" else 10000
        if "confirmKeyChange" in {n.operation for n in exercise.needs}:
            pos.change_key(meter)
        else:
            pos.buy(meter, amount, cancel=meter == "EDGEREVERSALRETRY")
