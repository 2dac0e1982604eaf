"""The transaction lifecycle: what the provider does with each request, and what it remembers.

Rules kept here (none of them HTTP): request ids are single-use; purchases vend once and are
replayed to retries and reprints; advices are idempotent until a final state; confirmations
and reversals exclude each other. What a meter looks like and how a request is answered comes
from the scenario that matches it; this module applies it.
"""

from __future__ import annotations

from collections.abc import Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass, replace
from decimal import Decimal
from functools import lru_cache
from typing import Any

from ppu_sim.provider.datagen import DataGenerator
from ppu_sim.provider.draws import Draws, rng_for
from ppu_sim.provider.errors import ProviderError
from ppu_sim.provider.profiles import Profiles, Same
from ppu_sim.provider.store import Advice, KeyChangeRecord, PurchaseRecord, Store
from ppu_sim.provider.sts_meters import StsIssuer, VirtualMeters
from ppu_sim.provider.vending import (
    ChargeSpec,
    RandomTokens,
    TokenIssuer,
    TokenSpec,
    VendSpec,
    receipt_number,
    token_number,
    vend,
)
from ppu_sim.scenario.matcher import Catalogue, RequestFacts, UnknownScenario
from ppu_sim.scenario.model import Delay, Fault, FreeUnits, Scenario, Step
from ppu_sim.sts.identity import DEFAULT_VENDING_KEY, Identity
from ppu_sim.sts.virtual_meter import Accepted, Rejected, VirtualMeter

PROVIDER_INSTITUTION = "PPUSIM"
DEFAULT_CURRENCY = "710"
SLIP_WIDTH = 40  # characters; an int Jackson always writes, and a common till-slip width

# What an answer echoes from the request it answers. Not slipData: in an answer that is the
# provider's ready-to-print slip (the contract: "where present, it must be used by POS").
TRANSACTION_FIELDS = (
    "id", "time", "originator", "client", "settlementEntity", "receiver", "thirdPartyIdentifiers",
    "basketRef", "tranType", "srcAccType", "destAccType", "stan", "rrn",
)  # fmt: skip
LABELLED_FIELDS = (*TRANSACTION_FIELDS, "transactionLabels")  # requests that declare labels: PurchaseRequest
ADVICE_FIELDS = ("id", "requestId", "time", "thirdPartyIdentifiers", "stan", "rrn", "amounts")
# What the provider said about a purchase, its slip included: replayed to its retries and reprints.
PURCHASE_FIELDS = (
    "purchaseTotal", "taxTotal", "amounts", "meter", "customer", "utility", "utilityType", "tokens",
    "debtRecoveryCharges", "serviceCharges", "vatInvoiceNumber", "slipData",
)  # fmt: skip


@dataclass
class Reply:
    """The provider's answer: a status and body (or error), and how the reply should travel."""

    status: int
    body: dict[str, Any] | None = None
    error: ProviderError | None = None
    delay: Delay | None = None
    fault: Fault | None = None


@dataclass
class Trace:
    """Who answered the last request: scenario, the step of its sequence (from 1), and the
    purchase or key change it belongs to when only the provider can tell (a reprint's record)."""

    scenario: str | None = None
    pack: str | None = None
    step: int | None = None
    transaction: str | None = None
    meter_id: str | None = None


class Provider:
    """One simulated provider: the scenarios in force, and everything it has acknowledged.

    ``trace`` describes the request being answered; the caller resets it before each request.
    """

    def __init__(
        self,
        catalogue: Catalogue,
        store: Store,
        seed: int = 0,
        data: DataGenerator | None = None,
        *,
        vending_key: bytes = DEFAULT_VENDING_KEY,
    ) -> None:
        self.catalogue = catalogue
        self.store = store
        self.seed = seed
        # Shareable: a meter's generated data depends only on the seed and the meter.
        self.data = data or DataGenerator(seed)
        self.profiles = Profiles(self.data, seed)
        self.trace = Trace()
        self.vending_key = vending_key  # never in a reply or a log line
        self.meters = VirtualMeters(vending_key)

    def atomic(self) -> AbstractContextManager[None]:
        """One request's unit of work: what answering it changes stands only if the block ends
        normally, so a request that fails before its answer exists leaves no trace (its id stays unused)."""
        return self.store.atomic()

    # -- operations -------------------------------------------------------------------------

    def meter_lookup(self, lookup_id: str, body: dict[str, Any], headers: Mapping[str, str]) -> Reply:
        self._claim("lookup", lookup_id)
        scenario, step = self._script("createMeterLookup", body, headers, key=lookup_id)
        if refused := self._refusal(step):
            return refused
        profile = self._profile(scenario, body["meter"]["meterId"])
        response = self._echo(body)
        response.update(
            meter={**profile["meter"], **body["meter"]},
            customer=profile["customer"],
            utility=profile["utility"],
            minAmount={"amount": profile["minAmount"], "currency": DEFAULT_CURRENCY},
            maxAmount={"amount": profile["maxAmount"], "currency": DEFAULT_CURRENCY},
        )
        if profile["arrears"] is not None:
            arrears = max(0, profile["arrears"] - self._recovered(scenario, body["meter"]["meterId"]))
            response["arrearsAmount"] = {"amount": arrears, "currency": DEFAULT_CURRENCY}
        if scenario and _free_units(scenario):
            response["bsstDue"] = self._free_units_due(scenario, body["meter"]["meterId"])
        return self._shaped(step, 201, response)

    def purchase(self, purchase_id: str, body: dict[str, Any], headers: Mapping[str, str]) -> Reply:
        self._claim("purchase", purchase_id)
        scenario, step = self._script("createTokenPurchaseRequest", body, headers, key=purchase_id)
        if refused := self._refusal(step):
            return refused  # declined before processing: a retry will be processed afresh
        record = self._process_purchase(purchase_id, scenario, body)
        if record.error is not None:
            return _travelling(step, Reply(record.error["status"], error=_stored_error(record)))
        if step and step.error:
            return self._shaped(step, 201, None)  # vended, but the reply is an error: a lost reply
        return self._shaped(step, 201, record.response)

    def retry(self, purchase_id: str, body: dict[str, Any], headers: Mapping[str, str], operation: str) -> Reply:
        scenario, step = self._script(operation, body, headers, key=purchase_id)
        if refused := self._refusal(step):
            return refused
        record = self.store.purchase(purchase_id)
        if record is None:
            # Never seen: the provider processes the retry as the purchase itself.
            self.store.claim("purchase", purchase_id)
            record = self._process_purchase(purchase_id, scenario, body)
        if record.error is not None:
            return _travelling(step, Reply(record.error["status"], error=_stored_error(record)))
        return self._shaped(step, 202, self._replay(record, body, LABELLED_FIELDS))

    def trial(self, trial_id: str, body: dict[str, Any], headers: Mapping[str, str]) -> Reply:
        self._claim("trial", trial_id)
        scenario, step = self._script("trialTokenPurchaseRequest", body, headers, key=trial_id)
        if refused := self._refusal(step):
            return refused
        return self._shaped(step, 200, self._purchase_response(trial_id, scenario, body, trial=True))

    def confirm(
        self, purchase_id: str, confirmation_id: str, body: dict[str, Any], headers: Mapping[str, str]
    ) -> Reply:
        return self._advise("confirmation", purchase_id, confirmation_id, body, headers)

    def reverse(self, purchase_id: str, reversal_id: str, body: dict[str, Any], headers: Mapping[str, str]) -> Reply:
        return self._advise("reversal", purchase_id, reversal_id, body, headers)

    def reprint(self, reprint_id: str, body: dict[str, Any], headers: Mapping[str, str]) -> Reply:
        self._claim("reprint", reprint_id)
        meter_id = body["meter"]["meterId"]
        _, step = self._script("requestTokenReprint", body, headers, key=reprint_id)
        if refused := self._refusal(step):
            return refused
        record = self.store.reprintable(meter_id, body.get("originalRef"))
        if record is None:
            raise ProviderError(
                400,
                "UNABLE_TO_LOCATE_RECORD",
                {
                    "reason": f"no purchase to reprint for meter {meter_id}"
                    + (f" and reference {body['originalRef']}" if body.get("originalRef") else "")
                },
                "No token to reprint",
            )
        self.trace.transaction = record.id
        return self._shaped(step, 200, self._replay(record, body, TRANSACTION_FIELDS))

    def fault_report(self, request_id: str, body: dict[str, Any], headers: Mapping[str, str]) -> Reply:
        self._claim("faultReport", request_id)
        _, step = self._script("createFaultReport", body, headers, key=request_id)
        if refused := self._refusal(step):
            return refused
        rng = rng_for(self.seed, "fault", request_id)
        response = self._echo(body)
        description = body.get("faultDescription") or f"Fault reported: {body['faultType']}"
        response.update(reference=receipt_number(rng, "FLT"), description=description[:160])
        return self._shaped(step, 201, response)

    def key_change(self, request_id: str, body: dict[str, Any], headers: Mapping[str, str]) -> Reply:
        self._claim("keyChange", request_id)
        meter_id = body["meter"]["meterId"]
        scenario, step = self._script("createKeyChangeTokenRequest", body, headers, key=request_id)
        if refused := self._refusal(step):
            return refused
        rng = rng_for(self.seed, "keyChange", request_id)
        profile = self._profile(scenario, meter_id)
        response = self._echo(body)
        key_change = self._key_change_data(scenario, rng)
        response["meter"] = {**profile["meter"], **body["meter"], "keyChangeData": key_change}
        identity: Identity | None = profile["sts"]
        if identity is None:
            digits = [token_number(rng) for _ in range(2)]
        else:
            issuer = StsIssuer(self.store, meter_id, identity, self.vending_key, rng, key_change=key_change)
            digits = issuer.key_change()
            issuer.commit()
        free = {"amount": 0, "currency": DEFAULT_CURRENCY, "tax": 0}
        response["tokens"] = [
            {"tokenType": "KC", "units": 0.0, "amount": dict(free), "token": d, "tariffCalc": []} for d in digits
        ]
        self.store.save_key_change(KeyChangeRecord(request_id, meter_id, response))
        return self._shaped(step, 201, response)

    def confirm_key_change(
        self, request_id: str, confirmation_id: str, body: dict[str, Any], headers: Mapping[str, str]
    ) -> Reply:
        record = self.store.key_change(request_id)
        if record is None:
            raise _not_found("key change request", request_id)
        # Matched on what the key change request carried; the confirmation itself names no meter.
        _, step = self._script("confirmKeyChange", record.response, headers, key=request_id)
        if refused := self._refusal(step):
            return refused
        record.confirmations.setdefault(confirmation_id, _advice_echo(body))
        return self._shaped(step, 202, record.confirmations[confirmation_id])

    def notify(self, purchase_id: str, body: dict[str, Any], headers: Mapping[str, str]) -> Reply:
        _, step = self._script("notifyTokenPurchase", body, headers, key=purchase_id)
        if refused := self._refusal(step):
            return refused
        self.store.add_event("tokenPurchase", body)
        return self._shaped(step, 202, None)

    # -- the virtual meter ------------------------------------------------------------------

    def key_in(self, meter_id: str, digits: str) -> tuple[VirtualMeter, Accepted | Rejected]:
        """Key a token into the meter's virtual meter: UnknownMeter for a meter with no STS
        identity, ValueError for digits that are not a token."""
        meter = self.virtual_meter(meter_id)
        return meter, self.meters.key_in(meter, digits)

    def virtual_meter(self, meter_id: str) -> VirtualMeter:
        """The meter as installed: with the key it started with (key changes reach it as tokens)."""
        facts = RequestFacts.of("createMeterLookup", {"meter": {"meterId": meter_id}}, {})
        scenario = self.catalogue.select(facts)
        _, identity = self.profiles.codes(scenario.meter if scenario else None, meter_id)
        return self.meters.get(meter_id, identity)

    # -- scripting --------------------------------------------------------------------------

    def _script(
        self, operation: str, body: Mapping[str, Any], headers: Mapping[str, str], *, key: str
    ) -> tuple[Scenario | None, Step | None]:
        """The scenario answering this request, and the step of its sequence that applies now.

        ``key`` is the id the request is about (the purchase for advices and retries, else its own id).
        """
        facts = RequestFacts.of(operation, body, headers)
        try:
            scenario = self.catalogue.select(facts)
        except UnknownScenario as exc:
            raise ProviderError(
                400,
                "FORMAT_ERROR",
                {"formatErrors": [{"field": "header:X-PPU-Scenario", "msg": "no such scenario", "value": str(exc)}]},
            ) from None
        step = self._step(scenario, operation, key, facts.meter_id)
        self.trace.meter_id = facts.meter_id
        if scenario is not None:
            self.trace.scenario, self.trace.pack = scenario.name, scenario.pack
            steps = () if step is None else scenario.steps_for(operation)
            self.trace.step = next((i for i, s in enumerate(steps, 1) if s is step), None)
        return scenario, step

    def _step(self, scenario: Scenario | None, operation: str, request_key: str, meter_id: str | None) -> Step | None:
        if scenario is None:
            return None
        steps = scenario.steps_for(operation)
        if not steps:
            return None
        per = scenario.counted_per(operation)
        key = {"purchase": request_key, "meter": meter_id or request_key, "scenario": ""}[per]
        n = self.store.count((scenario.pack, scenario.name, operation, key), owner=key if per == "purchase" else None)
        for step in steps:
            if step.times is None or n <= step.times:
                return step
            n -= step.times
        return None

    @staticmethod
    def _refusal(step: Step | None) -> Reply | None:
        """A scripted error that declines the request before anything is processed."""
        if step is None or step.error is None or step.processes:
            return None
        return Provider._shaped(step, step.error.status, None)

    @staticmethod
    def _shaped(step: Step | None, status: int, body: dict[str, Any] | None) -> Reply:
        if step is None:
            return Reply(status, body)
        error = None
        if step.error is not None:
            e = step.error
            error = ProviderError(e.status, e.error_type, dict(e.detail or {}), e.message)
            status = e.status
        elif step.status is not None:
            status = step.status
        return Reply(status, body, error, step.delay, step.fault)

    # -- purchases --------------------------------------------------------------------------

    def _process_purchase(self, purchase_id: str, scenario: Scenario | None, body: dict[str, Any]) -> PurchaseRecord:
        meter_id = body["meter"]["meterId"]
        name = scenario.name if scenario else None
        try:
            response = self._purchase_response(purchase_id, scenario, body, trial=False)
        except ProviderError as exc:
            error = {"status": exc.status, "errorType": exc.error_type, "detail": exc.detail, "message": exc.message}
            record = PurchaseRecord(purchase_id, meter_id, name, "declined", error=error, request=body)
        else:
            record = PurchaseRecord(purchase_id, meter_id, name, "vended", response=response, request=body)
        self.store.save_purchase(record)
        return record

    def _purchase_response(
        self, purchase_id: str, scenario: Scenario | None, body: dict[str, Any], *, trial: bool
    ) -> dict[str, Any]:
        if scenario is None:
            raise _unknown_meter(body["meter"]["meterId"])
        meter_id = body["meter"]["meterId"]
        profile = self._profile(scenario, meter_id)
        asked = body["purchaseAmount"]
        amount, currency = asked["amount"], asked["currency"]
        free = _free_units(scenario)
        free_due = self._free_units_due(scenario, meter_id)
        spec = _vend_plan(Same(scenario), free_due)
        if amount == 0:
            if not free_due:
                raise ProviderError(400, "NO_FREE_UNITS_DUE", {"meterId": meter_id})
            spec = replace(spec, tokens=tuple(t for t in spec.tokens if t.type == "BSST"))
        elif amount < profile["minAmount"]:
            raise ProviderError(400, "AMOUNT_TOO_LOW", {"minAmount": profile["minAmount"], "requested": amount})
        elif amount > profile["maxAmount"]:
            raise ProviderError(400, "AMOUNT_TOO_HIGH", {"maxAmount": profile["maxAmount"], "requested": amount})
        approved = min(amount, scenario.approve_max) if scenario.approve_max is not None else amount
        rng = rng_for(self.seed, "purchase", purchase_id)
        debts = self._debts_owed(scenario, meter_id)
        if scenario.vend.debt_recovery:
            spec = replace(spec, debt_recovery=tuple(debts.values()))
        key_change = None
        if any(t.type == "KC" for t in spec.tokens):
            key_change = self._key_change_data(scenario, rng_for(self.seed, "keyChangeData", purchase_id))
        issuer = self._issuer(scenario, meter_id, profile["sts"], rng, key_change, trial)
        breakdown = vend(approved, currency, spec, rng, issuer)
        if not trial:
            if isinstance(issuer, StsIssuer):
                issuer.commit()
            if free_due and free is not None and free.due == "once":
                self.store.set_meter_value(meter_id, "freeUnitsIssued", True)
            recovered: dict[int, int] = {}
            for i, charged in zip(debts, breakdown.debt_recovery, strict=True):
                if debts[i].balance is not None:
                    self.store.set_meter_value(meter_id, f"debt:{i}", charged["balance"]["amount"])
                    recovered[i] = charged["amount"]["amount"] + charged["amount"]["tax"]
            if recovered:  # only a meter with debt: most purchases would leave an empty entry per purchase
                self.store.set_purchase_value(purchase_id, "recovered", recovered)
        response = self._echo(body, LABELLED_FIELDS, reference=purchase_id)
        meter = {**profile["meter"], **body["meter"]}
        if key_change is not None:
            meter["keyChangeData"] = key_change
        response.update(
            meter=meter,
            customer=profile["customer"],
            utility=profile["utility"],
            utilityType=body.get("utilityType") or profile["utilityType"],
            amounts={"requestAmount": dict(asked), "approvedAmount": {"amount": approved, "currency": currency}},
            vatInvoiceNumber=receipt_number(rng, "INV"),
            **breakdown.as_response_fields(currency),
        )
        if scenario.meter.slip_lines:
            lines = [_slip_line(x) for x in scenario.meter.slip_lines]
            response["slipData"] = {"messageLines": lines, "slipWidth": SLIP_WIDTH}
        return response

    def _issuer(
        self,
        scenario: Scenario,
        meter_id: str,
        identity: Identity | None,
        rng: Draws,
        key_change: dict[str, str] | None,
        trial: bool,
    ) -> TokenIssuer:
        """Real STS tokens for a meter with an STS identity, plain numbers for the others."""
        if identity is None:
            return RandomTokens(None if trial else rng)
        fault = scenario.meter.sts.fault if scenario.meter.sts else None
        return StsIssuer(
            self.store, meter_id, identity, self.vending_key, rng, fault=fault, key_change=key_change, dry=trial
        )

    @staticmethod
    def _token_plan(scenario: Scenario, free_due: bool) -> tuple[TokenSpec, ...]:
        """The scenario's tokens, with the free token present exactly when one is due.

        An unlisted free token goes after the key change pair: a meter must take the new keys first.
        """
        planned = [t for t in scenario.vend.tokens if t.type != "BSST"]
        free = _free_units(scenario)
        if free_due and free is not None:
            after_keys = sum(1 for t in planned if t.type == "KC")
            position = next((i for i, t in enumerate(scenario.vend.tokens) if t.type == "BSST"), after_keys)
            planned.insert(position, TokenSpec("BSST", Decimal(str(free.units))))
        return tuple(planned)

    def _free_units_due(self, scenario: Scenario | None, meter_id: str) -> bool:
        free = _free_units(scenario) if scenario else None
        if free is None or free.due == "never":
            return False
        return free.due == "always" or not self.store.meter_value(meter_id, "freeUnitsIssued")

    def _debts_owed(self, scenario: Scenario, meter_id: str) -> dict[int, ChargeSpec]:
        """The scenario's debts not yet paid off, by their place in the scenario, with what is still owed.

        Each purchase recovers from the last balance; a debt paid off gets no more lines.
        """
        debts = {i: replace(d, balance=self._owed(meter_id, i, d)) for i, d in enumerate(scenario.vend.debt_recovery)}
        return {i: d for i, d in debts.items() if d.balance != 0}

    def _owed(self, meter_id: str, index: int, debt: ChargeSpec) -> int | None:
        current = self.store.meter_value(meter_id, f"debt:{index}")
        return debt.balance if current is None else current

    def _recovered(self, scenario: Scenario | None, meter_id: str) -> int:
        """Debt recovered so far on a meter, which the lookup's arrears no longer show."""
        if scenario is None:
            return 0
        debts = scenario.vend.debt_recovery
        return sum(d.balance - (self._owed(meter_id, i, d) or 0) for i, d in enumerate(debts) if d.balance is not None)

    def _restore_debts(self, record: PurchaseRecord) -> None:
        """A reversed purchase gives back the debt it recovered (kept per debt: paid-off debts have no line)."""
        recovered = self.store.purchase_value(record.id, "recovered") or {}
        for i, amount in recovered.items():
            owed = self.store.meter_value(record.meter_id, f"debt:{i}")
            self.store.set_meter_value(record.meter_id, f"debt:{i}", owed + amount)

    # -- advices ----------------------------------------------------------------------------

    def _advise(
        self, kind: str, purchase_id: str, advice_id: str, body: dict[str, Any], headers: Mapping[str, str]
    ) -> Reply:
        operation = "confirmTokenPurchase" if kind == "confirmation" else "reverseTokenPurchase"
        record = self.store.purchase(purchase_id)
        if record is None:
            raise _not_found("purchase", purchase_id)
        # Matched on what the purchase asked (meter, amount, originator...); an advice names none of it.
        _, step = self._script(operation, record.request or {}, headers, key=purchase_id)
        if refused := self._refusal(step):
            return refused
        known = record.advices.get(advice_id)
        if known is not None and known.kind == kind:
            return self._shaped(step, 202, known.body)  # an advice is repeated until final: same answer
        final = {"confirmation": "confirmed", "reversal": "reversed"}[kind]
        if record.status in ("confirmed", "reversed") and record.status != final:
            raise ProviderError(
                400,
                "TRANSACTION_NOT_SUPPORTED",
                {"reason": f"purchase {purchase_id} is already {record.status}; a {kind} cannot follow"},
                f"Already {record.status}",
            )
        if record.status == "declined" and kind == "confirmation":
            raise ProviderError(
                400, "TRANSACTION_DECLINED", {"reason": f"purchase {purchase_id} was declined"}, "Purchase declined"
            )
        if record.status == "vended" and final == "reversed":
            self._restore_debts(record)
        if record.status != "declined":
            record.status = final
        record.advices[advice_id] = Advice(kind, _advice_echo(body))
        self.store.save_purchase(record)
        return self._shaped(step, 202, record.advices[advice_id].body)

    # -- helpers ----------------------------------------------------------------------------

    def _claim(self, kind: str, request_id: str) -> None:
        if not self.store.claim(kind, request_id):
            raise ProviderError(400, "DUPLICATE_RECORD", {"reason": f"request id {request_id} was already used"})

    def _profile(self, scenario: Scenario | None, meter_id: str) -> dict[str, Any]:
        return self.profiles.profile(scenario.meter if scenario else None, meter_id, self.store)

    def _key_change_data(self, scenario: Scenario | None, rng: Draws) -> dict[str, str]:
        scripted = scenario.meter.key_change if scenario else None
        return (
            dict(scripted)
            if scripted
            else {
                "newSupplyGroupCode": f"{rng.randrange(100000, 999999)}",
                "newKeyRevisionNumber": str(rng.randrange(1, 9)),
                "newTariffIndex": f"{rng.randrange(1, 99):02d}",
            }
        )

    def _echo(
        self, body: Mapping[str, Any], fields: tuple[str, ...] = TRANSACTION_FIELDS, reference: str | None = None
    ) -> dict[str, Any]:
        """The request's transaction fields verbatim, plus the provider's own reference.

        The reference is derived from the transaction it names (``reference``, else the request's
        id): a purchase, its retries and reprints all carry the purchase's, so the identifiers a PoS
        echoes in its advices are the same whichever answer it got. A PoS that already sends it back
        does not get it twice. Shared, not copied: a parsed request belongs to its one request, and
        answers are never edited once built (a deep copy of every echo was a tenth of a purchase's time).
        """
        out = {k: body[k] for k in fields if k in body}
        rng = rng_for(self.seed, "tpi", reference or str(body.get("id")))
        own = {"institutionId": PROVIDER_INSTITUTION, "transactionIdentifier": f"{rng.randrange(16**12):012x}"}
        out["thirdPartyIdentifiers"] = [*(t for t in out.get("thirdPartyIdentifiers", []) if t != own), own]
        return out

    def _replay(self, record: PurchaseRecord, body: Mapping[str, Any], echoed: tuple[str, ...]) -> dict[str, Any]:
        """A stored purchase answered again: same tokens, amounts, slip and provider reference; the
        echoed fields are this request's."""
        stored = record.response
        assert stored is not None
        out = self._echo(body, echoed, reference=record.id)
        out.update({k: stored[k] for k in PURCHASE_FIELDS if k in stored})
        return out


@lru_cache(maxsize=1024)
def _vend_plan(scenario: Same[Scenario], free_due: bool) -> VendSpec:
    """The scenario's vend section with the tokens a purchase gets: built once per scenario, since
    it depends on nothing else but whether free units are due."""
    return replace(scenario.obj.vend, tokens=Provider._token_plan(scenario.obj, free_due))


def _free_units(scenario: Scenario) -> FreeUnits | None:
    """The meter's free-unit scheme; a BSST token in the vend list alone means "always due"."""
    if scenario.meter.free_units is not None:
        return scenario.meter.free_units
    for token in scenario.vend.tokens:  # a loop, not a generator: this is asked several times a request
        if token.type == "BSST":
            return FreeUnits(float(token.units or 50), "always")
    return None


def _travelling(step: Step | None, reply: Reply) -> Reply:
    """A declined purchase still travels as the step says: a slow provider is slow to say no too."""
    if step is not None:
        reply.delay, reply.fault = step.delay, step.fault
    return reply


def _advice_echo(body: Mapping[str, Any]) -> dict[str, Any]:
    return {k: body[k] for k in ADVICE_FIELDS if k in body}


def _slip_line(line: Mapping[str, Any]) -> dict[str, Any]:
    return {"fontWidthScaleFactor": 1.0, "fontHeightScaleFactor": 1.0, "line": False, "cut": False, **line}


def _stored_error(record: PurchaseRecord) -> ProviderError:
    e = record.error or {}
    return ProviderError(e["status"], e["errorType"], dict(e.get("detail") or {}), e.get("message"))


def _not_found(what: str, request_id: str) -> ProviderError:
    return ProviderError(404, "UNABLE_TO_LOCATE_RECORD", {"reason": f"no {what} with id {request_id}"})


def _unknown_meter(meter_id: str) -> ProviderError:
    return ProviderError(400, "UNKNOWN_METER_ID", {"meterId": meter_id})
