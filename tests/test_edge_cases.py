"""Every built-in scenario, driven from `ppu-sim scenarios list --format json`, does what its tags claim.

Each scenario gets one journey on its own meter id, planned from the listed script: lookups, purchases,
what a point of sale does when a reply goes missing (reprint, retries), and the follow-ups the script
names, each repeated past the end of its sequence. Every exchange is checked against the step that
should answer it; then every tag is a claim checked on the journey's transcript. A tag that no checker
here knows fails, so a new scenario is tested by being added, and a new kind of tag needs a checker.
Journeys run side by side (each on its own meter), so the slow ones cost wall time only once.
"""

from __future__ import annotations

import json
import math
import random
import statistics
import subprocess
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import httpx
import pytest

from ppu_sim.sts.crypto import Algorithm
from ppu_sim.sts.identity import DEFAULT_VENDING_KEY, Identity
from ppu_sim.sts.keys import KeyGeneration, KeySet, KeyType
from ppu_sim.sts.meter import MeterNumber
from ppu_sim.sts.tid import BaseDate
from ppu_sim.sts.virtual_meter import Accepted, Reason, Rejected, VirtualMeter
from tests.support import (
    AUTH,
    BASE,
    ROOT,
    Sim,
    advice,
    assert_conforms,
    cli,
    confirmation,
    fault_report,
    lookup,
    new_id,
    operation,
    purchase,
    reprint,
    reversal,
    sts_meter,
    transaction,
)

HOLD_SECONDS = 1.0
ROWS: list[dict[str, Any]] = json.loads(
    subprocess.run([cli(), "scenarios", "list", "--format", "json"], check=True, capture_output=True, text=True).stdout
)
# The documented default of `per` (docs/scenarios.md): follow-ups count per purchase, the rest per meter.
PER_PURCHASE = {
    "confirmTokenPurchase",
    "reverseTokenPurchase",
    "retryPurchaseRequest",
    "confirmKeyChange",
    "notifyTokenPurchase",
}
PURCHASE_REPLIES = {
    "createTokenPurchaseRequest",
    "retryPurchaseRequest",
    "trialTokenPurchaseRequest",
    "requestTokenReprint",
}
# Advices a PoS repeats (same id) until final: always sent at least twice, to see the repeat answered.
ADVICES = {"confirmTokenPurchase", "reverseTokenPurchase", "confirmKeyChange"}
FOLLOW_UPS = (
    "retryPurchaseRequest",
    "confirmTokenPurchase",
    "reverseTokenPurchase",
    "trialTokenPurchaseRequest",
    "requestTokenReprint",
    "createFaultReport",
    "createKeyChangeTokenRequest",
    "confirmKeyChange",
    "notifyTokenPurchase",
)


@dataclass
class Exchange:
    op: str
    ref: str  # the purchase (or request) id the request is about
    counter: tuple[str, str]  # (operation, key) the provider counts it under
    step: dict[str, Any] | None  # the scripted step that should answer it (None: unscripted)
    elapsed: float
    response: httpx.Response | None = None
    failure: str | None = None  # reset | closed | truncated | malformed
    body: Any = None
    amount: int | None = None

    @property
    def status(self) -> int | None:
        return self.response.status_code if self.response is not None else None

    @property
    def readable(self) -> bool:
        return self.failure is None and isinstance(self.body, dict)

    @property
    def error_type(self) -> str | None:
        return self.body.get("errorType") if self.readable else None

    @property
    def tokens(self) -> list[dict[str, Any]]:
        return self.body.get("tokens", []) if self.readable and self.status and self.status < 300 else []

    @property
    def token_numbers(self) -> list[str]:
        return [t["token"] for t in self.tokens]

    @property
    def signature(self) -> tuple[Any, ...]:
        return self.failure, self.status, self.error_type

    @property
    def fault(self) -> dict[str, Any] | None:
        return (self.step or {}).get("fault")

    @property
    def delay(self) -> dict[str, Any] | None:
        return (self.step or {}).get("delay")


@dataclass
class Journey:
    """One scenario driven over HTTP, with everything seen and every mismatch with its script."""

    row: dict[str, Any]
    base: str
    meter: str = ""
    log: list[Exchange] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    lookups: list[tuple[Exchange, Exchange | None]] = field(default_factory=list)  # (lookup, purchase after it)
    vended: dict[str, dict[str, Any]] = field(default_factory=dict)  # purchase id -> a PurchaseResponse for it
    reprints: dict[str, Exchange] = field(default_factory=dict)  # purchase id -> the reprint asked for it
    advised: set[str] = field(default_factory=set)  # purchases an advice was sent for
    counts: dict[tuple[str, str], int] = field(default_factory=lambda: defaultdict(int))

    def __post_init__(self) -> None:
        self.meter = meter_for(self.row)
        self.tags = set(self.row["tags"])
        self.client = httpx.Client(base_url=self.base, auth=AUTH, timeout=15)

    # -- the script ------------------------------------------------------------------------

    def script(self, op: str) -> dict[str, Any] | None:
        own = self.row["script"]
        return own.get(op) or (own.get("*") if op in self.row["operations"] else None)

    def attempts(self, op: str, at_least: int = 1) -> int:
        """Enough requests to walk the whole sequence and one past it."""
        entry = self.script(op)
        steps = entry["steps"] if entry else []
        n = sum(s.get("times", 0) for s in steps) + 1
        if any((s.get("delay") or {}).get("kind") == "lognormal" for s in steps):
            n = max(n, 6)  # enough samples to see the distribution's middle
        return max(n, at_least)

    def expected(self, op: str, ref: str) -> tuple[tuple[str, str], dict[str, Any] | None]:
        entry = self.script(op)
        per = (entry or {}).get("per") or ("purchase" if op in PER_PURCHASE else "meter")
        counter = (op, {"meter": self.meter, "purchase": ref, "scenario": ""}[per])
        self.counts[counter] += 1
        n = self.counts[counter]
        for step in (entry or {}).get("steps", ()):
            if step.get("times") is None or n <= step["times"]:
                return counter, step
            n -= step["times"]
        return counter, None

    # -- talking to the server -------------------------------------------------------------

    def send(self, op: str, path: str, body: dict[str, Any], ref: str, **kwargs: Any) -> Exchange:
        counter, step = self.expected(op, ref)
        started = time.monotonic()
        x = Exchange(op, ref, counter, step, 0.0, amount=(body.get("purchaseAmount") or {}).get("amount"))
        try:
            x.response = self.client.post(BASE + path, json=body, **kwargs)
        except httpx.ReadError:
            x.failure = "reset"
        except httpx.RemoteProtocolError as exc:
            x.failure = "truncated" if "complete message body" in str(exc) else "closed"
        x.elapsed = time.monotonic() - started
        if x.response is not None and x.response.content:
            try:
                x.body = x.response.json()
            except ValueError:
                x.failure = "malformed"
        self.log.append(x)
        self.check_step(x)
        return x

    def problem(self, x: Exchange, text: str) -> None:
        self.problems.append(f"{x.op} #{self.counts[x.counter]} ({x.counter[1] or 'scenario'}): {text}")

    def check_step(self, x: Exchange) -> None:
        """The exchange looks, from the client, like the step that should answer it."""
        step = x.step or {}
        fault, delay = x.fault, x.delay
        kind = fault["kind"] if fault else None
        if kind == "hold":
            held = fault.get("seconds") or HOLD_SECONDS
            if x.elapsed < held * 0.9:
                self.problem(x, f"held only {x.elapsed:.2f}s, expected {held}s")
            kind = "close" if fault.get("then") == "close" else None
        seen = {"reset": "reset", "close": "closed", "truncated": "truncated", "malformed": "malformed"}
        if kind in seen:
            if x.failure != seen[kind]:
                self.problem(x, f"expected the client to see {seen[kind]}, saw {x.failure or x.status}")
            return
        if kind == "empty":
            if x.response is None or x.response.content != b"":
                self.problem(x, f"expected an empty body, got {x.failure or x.response.content[:60]!r}")
            return
        if x.failure is not None or x.response is None:
            self.problem(x, f"transport failure {x.failure} where the script has none")
            return
        if kind == "dribble":
            writes = math.ceil(len(x.response.content) / fault["chunk"])
            if x.elapsed < (writes - 1) * fault["interval"] * 0.9:
                self.problem(x, f"{writes} dribbled writes arrived in {x.elapsed:.2f}s")
        if delay and x.elapsed < {"fixed": delay["a"], "uniform": delay["a"], "lognormal": 0}[delay["kind"]] * 0.95:
            self.problem(x, f"answered after {x.elapsed:.2f}s despite a {delay['kind']} delay {delay}")
        if "status" in step and x.status != step["status"]:
            self.problem(x, f"status {x.status}, script says {step['status']}")
        if "errorType" in step and x.error_type != step["errorType"]:
            self.problem(x, f"errorType {x.error_type}, script says {step['errorType']}")
        try:
            if step.get("offContract"):
                conforms_as_success(x.op, x.response)
            else:
                assert_conforms(x.op, x.response)
        except AssertionError as exc:
            self.problem(x, str(exc))
        if x.op in PURCHASE_REPLIES and x.tokens:
            for rule in arithmetic_breaks(x.body):
                self.problem(x, rule)

    # -- the journey -----------------------------------------------------------------------

    def run(self) -> Journey:
        try:
            self._run()
        except Exception as exc:  # a journey that crashes is a failed journey, not a crashed fixture
            self.problems.append(f"journey crashed: {type(exc).__name__}: {exc}")
        finally:
            self.client.close()
        return self

    def _run(self) -> None:
        for _ in range(self.attempts("createMeterLookup")):
            self.look()
        profile = next((x.body for x, _ in reversed(self.lookups) if x.status == 201 and x.readable), {})
        low = profile.get("minAmount", {}).get("amount", 10000)
        high = profile.get("maxAmount", {}).get("amount", 10000)
        amount = min(max(10000, low), high)  # R100, or the one amount an Electrum test meter takes
        if "free-token" in self.tags:
            for _ in range(2):
                self.look(then_buy=0)
        if "errorType:AMOUNT_TOO_LOW" in self.tags:
            self.buy(low - 1)
        if "errorType:AMOUNT_TOO_HIGH" in self.tags:
            self.buy(high + 1)
        # Two lost purchases must not share tokens; a reused TID shows on the second token.
        at_least = 2 if self.tags & {"lost-reply", "sts-fault:reused-tid"} else 1
        for _ in range(self.attempts("createTokenPurchaseRequest", at_least)):
            self.buy(amount)
        for op in FOLLOW_UPS:
            if self.script(op) is not None:
                self.follow_up(op, amount)

    def look(self, then_buy: int | None = None) -> Exchange:
        lid = new_id()
        x = self.send("createMeterLookup", f"/meterLookups/{lid}", lookup(self.meter, lid), lid)
        bought = self.buy(then_buy) if then_buy is not None else None
        self.lookups.append((x, bought))
        return x

    def buy(self, amount: int) -> Exchange:
        """A purchase, and what a PoS does without a usable answer: look for it, then retry it."""
        pid = new_id()
        x = self.send("createTokenPurchaseRequest", f"/tokenPurchases/{pid}", purchase(self.meter, amount, pid), pid)
        if x.status == 201 and x.readable and x.elapsed < HOLD_SECONDS * 0.9:
            self.vended[pid] = x.body
            return x
        self.reprints[pid] = self.send_reprint(pid)
        if x.failure or x.response is None or x.status >= 500 or x.elapsed >= HOLD_SECONDS * 0.9 or not x.readable:
            for _ in range(self.attempts("retryPurchaseRequest", at_least=2)):
                self.retry(pid, amount)
        return x

    def retry(self, pid: str, amount: int) -> Exchange:
        x = self.send("retryPurchaseRequest", f"/tokenPurchases/{pid}/retry", purchase(self.meter, amount, pid), pid)
        if x.tokens:
            self.vended.setdefault(pid, x.body)
        return x

    def send_reprint(self, original_ref: str | None = None) -> Exchange:
        rid = new_id()
        return self.send("requestTokenReprint", f"/tokenReprints/{rid}", reprint(self.meter, original_ref, rid), rid)

    def vended_purchase(self, amount: int, own: bool) -> str | None:
        """A purchase the provider holds (buying one if needed); ``own``: one no advice has touched."""
        for _ in range(3):
            fresh = [pid for pid in self.vended if not (own and pid in self.advised)]
            if fresh:
                if own:
                    self.advised.add(fresh[0])
                return fresh[0]
            self.buy(amount)
        return None

    def follow_up(self, op: str, amount: int) -> None:
        repeats = self.attempts(op, at_least=2 if op in ADVICES else 1)
        if op in ("confirmTokenPurchase", "reverseTokenPurchase", "notifyTokenPurchase", "retryPurchaseRequest"):
            if op == "retryPurchaseRequest" and any(x.op == op for x in self.log):
                return  # already walked while recovering lost purchases
            pid = self.vended_purchase(amount, own=op in ADVICES)
            if pid is None:
                return  # nothing was ever vended (a provider that is down): there is nothing to follow up
            aid = new_id()
            for _ in range(repeats):  # an advice is repeated, same id, until it gets a final answer
                if op == "confirmTokenPurchase":
                    self.send(op, f"/tokenPurchases/{pid}/confirmations/{aid}", confirmation(pid, aid, amount), pid)
                elif op == "reverseTokenPurchase":
                    self.send(op, f"/tokenPurchases/{pid}/reversals/{aid}", reversal(pid, aid), pid)
                elif op == "notifyTokenPurchase":
                    self.send(op, "/events/tokenPurchases", self.vended[pid], pid, params={"purchaseId": pid})
                else:
                    self.retry(pid, amount)
            return
        for _ in range(self.attempts(op)):
            rid = new_id()
            if op == "trialTokenPurchaseRequest":
                self.send(op, f"/tokenPurchases/{rid}/trial", purchase(self.meter, amount, rid), rid)
            elif op == "requestTokenReprint":
                self.send_reprint()
            elif op == "createFaultReport":
                self.send(op, f"/faultReports/{rid}", fault_report(self.meter, rid), rid)
            elif op == "confirmKeyChange" or self.script("confirmKeyChange") is None:
                self.key_change(rid, op == "confirmKeyChange")  # one key change serves both when both are scripted

    def key_change(self, rid: str, confirm: bool) -> None:
        body = {**transaction(rid), "meter": {"meterId": self.meter}}
        x = self.send("createKeyChangeTokenRequest", f"/keyChangeTokenRequests/{rid}", body, rid)
        if confirm and x.status == 201:
            cid = new_id()
            for _ in range(self.attempts("confirmKeyChange", at_least=2)):  # repeated, same id, like any advice
                path = f"/keyChangeTokenRequests/{rid}/confirmations/{cid}"
                self.send("confirmKeyChange", path, advice(rid, cid), rid)


def meter_for(row: dict[str, Any]) -> str:
    """The scenario's own meter id; for a catch-all, one that nothing else claims."""
    if row["meterIds"]:
        return row["meterIds"][0]
    if row["meterSts"]:
        return sts_meter(f"{random.randrange(10**10):010d}")
    assert row["meterPattern"] is None, f"{row['name']}: cannot invent a meter id for pattern {row['meterPattern']}"
    return f"NOMETER{random.randrange(10**8):08d}"


def conforms_as_success(op: str, response: httpx.Response) -> None:
    """An off-contract status still carries the body the contract gives the operation's success."""
    _, spec = operation(op)
    success = next(int(s) for s in spec["responses"] if s.startswith("2"))
    assert str(response.status_code) not in spec["responses"], f"{op} lists {response.status_code}: not off-contract"
    assert_conforms(op, httpx.Response(success, content=response.content))


def arithmetic_breaks(body: dict[str, Any]) -> list[str]:
    """The contract's money rule, as text for each part that breaks."""
    parts = [t["amount"] for t in body.get("tokens", [])]
    parts += [c["amount"] for c in body.get("debtRecoveryCharges", []) + body.get("serviceCharges", [])]
    approved = body["amounts"]["approvedAmount"]["amount"]
    broken = []
    if sum(p["amount"] + p.get("tax", 0) for p in parts) != approved:
        broken.append(f"amount + tax over all parts is not the approved {approved}")
    if body["purchaseTotal"]["amount"] != sum(t["amount"]["amount"] for t in body.get("tokens", [])):
        broken.append("purchaseTotal is not the tokens' amounts without tax")
    if body["taxTotal"]["amount"] != sum(p.get("tax", 0) for p in parts):
        broken.append("taxTotal is not all the tax")
    return broken


# -- what each tag claims ----------------------------------------------------------------------

Check = Callable[[Journey], None]


def of(j: Journey, *ops: str) -> list[Exchange]:
    return [x for x in j.log if x.op in ops]


def purchases_with(j: Journey, kind: str) -> list[dict[str, Any]]:
    return [x.body for x in j.log if any(t["tokenType"] == kind for t in x.tokens)]


def check_error_type(error_type: str) -> Check:
    def check(j: Journey) -> None:
        assert any(x.error_type == error_type for x in j.log), f"no reply carried errorType {error_type}"

    return check


def check_status(status: int) -> Check:
    def check(j: Journey) -> None:
        assert any(x.status == status for x in j.log), f"no reply had status {status}"

    return check


def check_fault(kind: str) -> Check:
    def check(j: Journey) -> None:
        hits = [x for x in j.log if x.fault and (x.fault["kind"], x.fault.get("then")) in FAULT_TAGS[kind]]
        assert hits, f"no exchange met a {kind} fault"  # check_step verified what each looked like

    return check


FAULT_TAGS = {
    "hold": {("hold", "answer")},
    "hold-close": {("hold", "close")},
    **{k: {(k, "answer")} for k in ("reset", "close", "empty", "malformed", "truncated", "dribble")},
}


def check_delay(kind: str) -> Check:
    def check(j: Journey) -> None:
        hits = [x for x in j.log if x.delay and x.delay["kind"] == kind and x.failure is None]
        assert hits, f"no exchange had a {kind} delay"
        if kind == "uniform":
            low, high = hits[0].delay["a"], hits[0].delay["b"]
            assert all(low * 0.95 <= x.elapsed <= high + 0.5 for x in hits), [x.elapsed for x in hits]
        if kind == "lognormal":
            median = hits[0].delay["a"]
            middle = statistics.median(x.elapsed for x in hits)
            assert len(hits) >= 5 and median / 4 <= middle <= median * 4, [round(x.elapsed, 3) for x in hits]

    return check


def check_slow(j: Journey) -> None:
    assert any(x.delay and x.elapsed >= 0.1 for x in j.log), "no delayed reply took 0.1 s or more"


def check_5xx(j: Journey) -> None:
    assert any(x.status and x.status >= 500 for x in j.log), "no 5xx reply"


def check_timeout(j: Journey) -> None:
    held = any(x.fault and x.fault["kind"] == "hold" and x.elapsed >= HOLD_SECONDS * 0.9 for x in j.log)
    assert held or any(x.status == 504 for x in j.log), "neither a 504 nor a held reply"


def check_lost_reply(j: Journey) -> None:
    """Tokens issued under a lost reply come back, the same, to every retry and reprint of that purchase."""
    lost = [
        x
        for x in of(j, "createTokenPurchaseRequest")
        if not (x.status == 201 and x.readable) or x.elapsed >= HOLD_SECONDS * 0.9
    ]
    assert lost, "no purchase reply was lost"
    seen: list[set[str]] = []
    for x in lost:
        again = [y for y in of(j, "retryPurchaseRequest") if y.ref == x.ref] + [j.reprints[x.ref]]
        tokens = {tuple(y.token_numbers) for y in again if y.tokens}
        if x.readable and x.tokens:
            tokens.add(tuple(x.token_numbers))  # the late answer of a hold
        assert len(tokens) == 1, f"purchase {x.ref}: retries and reprints disagree or found nothing: {tokens}"
        seen.append(set(next(iter(tokens))))
    assert all(a.isdisjoint(b) for i, a in enumerate(seen) for b in seen[i + 1 :]), "two purchases shared tokens"


def check_retry_only(j: Journey) -> None:
    """The purchase fails unprocessed (its reprint finds nothing); its retry is processed and vends."""
    for x in of(j, "createTokenPurchaseRequest"):
        retries = [y for y in of(j, "retryPurchaseRequest") if y.ref == x.ref]
        nothing = j.reprints[x.ref].error_type == "UNABLE_TO_LOCATE_RECORD" if x.ref in j.reprints else False
        if x.status and x.status >= 500 and nothing and retries and retries[0].status == 202 and retries[0].tokens:
            return
    raise AssertionError("no failed purchase was approved on its retry")


def check_decline(j: Journey) -> None:
    """A scripted refusal leaves nothing behind: a reprint of a refused purchase finds no tokens."""
    declined = [x for x in j.log if x.step and x.step.get("errorType") and not x.step["processes"]]
    assert declined, "no request was declined"
    for x in declined:
        looked = j.reprints.get(x.ref)
        if looked is not None and looked.step is None:
            assert looked.error_type == "UNABLE_TO_LOCATE_RECORD", f"refused purchase {x.ref} left {looked.body}"


def check_sequence(j: Journey) -> None:
    groups: dict[tuple[str, str], list[Exchange]] = defaultdict(list)
    for x in j.log:
        groups[x.counter].append(x)
    assert any(len({x.signature for x in g}) > 1 for g in groups.values()), "no operation changed its answer"


def check_fail_then_succeed(j: Journey) -> None:
    groups: dict[tuple[str, str], list[Exchange]] = defaultdict(list)
    for x in j.log:
        groups[x.counter].append(x)
    assert any(
        g[0].status and g[0].status >= 500 and g[-1].status and g[-1].status < 300 and g[-1].readable
        for g in groups.values()
    ), "no operation failed first and succeeded later"


def check_store_and_forward(j: Journey) -> None:
    for x in of(j, "confirmTokenPurchase", "reverseTokenPurchase"):
        repeats = [y for y in j.log if y.counter == x.counter]
        if repeats[0].status and repeats[0].status >= 500 and repeats[-1].status == 202:
            return
    raise AssertionError("no advice was refused with 5xx and then accepted")


def check_not_supported(op: str) -> Check:
    def check(j: Journey) -> None:
        answers = of(j, op)
        assert len(answers) >= 2, f"{op} was not repeated"
        assert all(x.error_type == "FUNCTION_NOT_SUPPORTED" and x.status in (400, 501) for x in answers), [
            x.signature for x in answers
        ]

    return check


def check_provider_down(j: Journey) -> None:
    assert len({x.op for x in j.log}) >= 5, "too few operations were tried"
    assert all(x.status == 503 and x.error_type == "UPSTREAM_UNAVAILABLE" for x in j.log), {x.signature for x in j.log}


def check_off_contract(j: Journey) -> None:
    off = [x for x in j.log if x.status and str(x.status) not in operation(x.op)[1]["responses"]]
    assert off, "every status was one the contract lists"
    assert all(x.step and x.step.get("offContract") for x in off), "an unlisted status nobody asked for"


def check_free_token(j: Journey) -> None:
    """Amount 0 buys the free token alone exactly when the lookup before it says one is due."""
    free = [(x, bought) for x, bought in j.lookups if bought is not None]
    assert free, "no free purchase was tried"
    assert free[0][0].body.get("bsstDue") is True, "the first lookup shows no free token due"
    for x, bought in free:
        if x.body.get("bsstDue"):
            assert bought.status == 201 and bought.tokens, bought.body
            assert all(t["tokenType"] == "BSST" and t["amount"]["amount"] == 0 for t in bought.tokens), bought.tokens
        else:
            assert bought.error_type == "NO_FREE_UNITS_DUE", bought.body


def check_key_change(j: Journey) -> None:
    bodies = purchases_with(j, "KC")
    assert bodies, "no key change tokens"
    for body in bodies:
        kinds = [t["tokenType"] for t in body["tokens"]]
        set_size = 4 if body["meter"].get("algorithmCode") == "11" else 2  # a 128-bit MISTY1 key takes four
        assert kinds.count("KC") == set_size and "STD" in kinds, kinds
        assert set(body["meter"]["keyChangeData"]) == {"newSupplyGroupCode", "newKeyRevisionNumber", "newTariffIndex"}


def check_free_of_charge(kind: str) -> Check:
    def check(j: Journey) -> None:
        bodies = purchases_with(j, kind)
        assert bodies, f"no {kind} token"
        tokens = [t for body in bodies for t in body["tokens"] if t["tokenType"] == kind]
        assert all(t["amount"]["amount"] == 0 and t["amount"].get("tax", 0) == 0 for t in tokens), tokens

    return check


def check_power_limit(j: Journey) -> None:
    check_free_of_charge("PWRLMT")(j)
    assert all(t["units"] > 0 for b in purchases_with(j, "PWRLMT") for t in b["tokens"] if t["tokenType"] == "PWRLMT")


def check_debt_recovery(j: Journey) -> None:
    bodies = [x.body for x in j.log if x.tokens and x.body.get("debtRecoveryCharges")]
    assert bodies, "no debt recovery charge"
    arrears = next((x.body.get("arrearsAmount") for x, _ in j.lookups if x.readable and x.status == 201), None)
    for body in bodies:
        for charge in body["debtRecoveryCharges"]:
            taken = charge["amount"]["amount"] + charge["amount"]["tax"]
            assert taken > 0, charge
            if arrears:
                assert charge["balance"]["amount"] + taken == arrears["amount"], (charge, arrears)


def check_service_charge(j: Journey) -> None:
    bodies = [x.body for x in j.log if x.tokens and x.body.get("serviceCharges")]
    assert bodies, "no service charge"
    assert all(c["amount"]["amount"] + c["amount"]["tax"] > 0 for b in bodies for c in b["serviceCharges"])


def check_block_tariff(j: Journey) -> None:
    std = [t for x in j.log for t in x.tokens if t["tokenType"] == "STD" and len(t.get("tariffCalc", [])) > 1]
    assert std, "no token priced over several blocks"
    for t in std:
        blocks = t["tariffCalc"]
        assert math.isclose(sum(b["units"] for b in blocks), t["units"], abs_tol=1e-6), t
        cost = sum(b["units"] * b["rate"] for b in blocks)
        gross = t["amount"]["amount"] + t["amount"]["tax"]
        assert cost <= gross + 1e-6 and gross - cost < max(b["rate"] for b in blocks), (cost, gross)


def check_partial_approval(j: Journey) -> None:
    partial = [
        x.body
        for x in j.log
        if x.tokens and x.body["amounts"]["approvedAmount"]["amount"] < x.body["amounts"]["requestAmount"]["amount"]
    ]
    assert partial, "every purchase was approved in full"


def check_slip(j: Journey) -> None:
    assert any(x.tokens and x.body.get("slipData", {}).get("messageLines") for x in j.log), "no slip lines"


def check_electrum(j: Journey) -> None:
    """As on Electrum's test server, each meter takes exactly one amount."""
    x = j.lookups[0][0]
    assert x.status == 201 and x.body["minAmount"]["amount"] == x.body["maxAmount"]["amount"], x.body


def virtual_meter(j: Journey, reply: dict[str, Any]) -> VirtualMeter:
    """A meter set up as the reply's codes and the scenario's sts section say, with docs/sts.md's defaults."""
    sts, codes = j.row["sts"] or {}, reply["meter"]
    keys = KeySet(
        sgc=codes["supplyGroupCode"],
        ti=int(codes["tariffIndex"]),
        krn=int(codes["keyRevisionNum"]),
        kt=KeyType(sts.get("kt", KeyType.DUTK)),
        algorithm=Algorithm.of(codes["algorithmCode"]),
        dkga=KeyGeneration(sts.get("dkga", KeyGeneration.DKGA04)),
        base_date=BaseDate.of(sts.get("baseDate", 2014)),
    )
    number = MeterNumber.parse(sts.get("meterNumber", j.meter))
    return VirtualMeter.installed(Identity(number, keys, sts.get("ken", 255)), DEFAULT_VENDING_KEY)


def check_sts_tokens(j: Journey) -> None:
    """Every token vended is accepted once by a meter with the key the first reply describes, for the units stated."""
    replies = list(j.vended.values())
    assert replies, "nothing was vended"
    meter = virtual_meter(j, replies[0])
    for reply in replies:
        for token in reply["tokens"]:
            shown = meter.key_in(token["token"])
            assert isinstance(shown, Accepted), (token, shown)
            if token["tokenType"] in ("STD", "BSST", "REFUND"):
                assert shown.units == Decimal(str(token["units"])), (token, shown)
            if token["tokenType"] == "PWRLMT":
                assert shown.limit == round(token["units"] * 1000), (token, shown)
    first = next(t["token"] for t in replies[0]["tokens"] if t["tokenType"] != "KC")
    assert meter.key_in(first) == Rejected(Reason.USED)


def check_sts_fault(fault: str) -> Check:
    def check(j: Journey) -> None:
        replies = list(j.vended.values())
        meter = virtual_meter(j, replies[0])
        tokens = [t["token"] for reply in replies for t in reply["tokens"]]
        if fault == "reused-tid":
            assert len(tokens) >= 2, "one token cannot reuse a TID"
            assert isinstance(meter.key_in(tokens[0]), Accepted)
            assert [meter.key_in(t) for t in tokens[1:]] == [Rejected(Reason.USED)] * (len(tokens) - 1)
        else:
            assert tokens and all(meter.key_in(t) == Rejected(Reason.AUTHENTICATION) for t in tokens), tokens

    return check


def check_default(j: Journey) -> None:
    assert not j.row["meterIds"], "a catch-all lists meter ids"
    assert all(j.meter not in row["meterIds"] for row in ROWS), "the meter used is claimed by another scenario"
    assert j.log, "nothing was driven"


CHECKS: dict[str, Check] = {
    "5xx": check_5xx,
    "timeout": check_timeout,
    "slow": check_slow,
    "sequence": check_sequence,
    "lost-reply": check_lost_reply,
    "retry-only": check_retry_only,
    "decline": check_decline,
    "fail-then-succeed": check_fail_then_succeed,
    "store-and-forward": check_store_and_forward,
    "confirmations-not-supported": check_not_supported("confirmTokenPurchase"),
    "reversals-not-supported": check_not_supported("reverseTokenPurchase"),
    "provider-down": check_provider_down,
    "off-contract": check_off_contract,
    "free-token": check_free_token,
    "key-change": check_key_change,
    "refund": check_free_of_charge("REFUND"),
    "power-limit": check_power_limit,
    "debt-recovery": check_debt_recovery,
    "service-charge": check_service_charge,
    "block-tariff": check_block_tariff,
    "partial-approval": check_partial_approval,
    "slip": check_slip,
    "electrum-test-server": check_electrum,
    "default": check_default,
    "sts-tokens": check_sts_tokens,
}
PARAMETRISED: dict[str, Callable[[str], Check]] = {
    "errorType": check_error_type,
    "status": lambda v: check_status(int(v)),
    "fault": check_fault,
    "delay": check_delay,
    "sts-fault": check_sts_fault,
}


def checker(tag: str) -> Check | None:
    if tag in CHECKS:
        return CHECKS[tag]
    prefix, _, value = tag.partition(":")
    return PARAMETRISED[prefix](value) if value and prefix in PARAMETRISED else None


@pytest.fixture(scope="module")
def journeys() -> Iterator[dict[str, Journey]]:
    server = Sim(["--hold-seconds", str(HOLD_SECONDS)])
    try:
        with ThreadPoolExecutor(max_workers=24) as pool:
            done = pool.map(lambda row: Journey(row, server.base).run(), ROWS)
            yield {j.row["name"] + "@" + j.row["pack"]: j for j in done}
    finally:
        server.stop()


def test_the_catalogue_lists_every_built_in_pack_with_meters_and_tags() -> None:
    assert {"default", "electrum-test-pack", "edge-cases"} <= {row["pack"] for row in ROWS}
    for row in ROWS:
        assert row["tags"] and row["summary"], row["name"]
        assert row["meterIds"] or row["pack"] == "default", f"{row['name']} has no meter id of its own"


def test_the_docs_catalogue_lists_every_built_in_meter() -> None:
    page = (ROOT / "docs" / "edge-cases.md").read_text()
    missing = [m for row in ROWS for m in row["meterIds"] if f"`{m}`" not in page]
    assert not missing, f"docs/edge-cases.md does not list {missing}"


@pytest.mark.parametrize("row", ROWS, ids=[f"{r['pack']}:{r['name']}" for r in ROWS])
def test_scenario_does_what_its_tags_claim(row: dict[str, Any], journeys: dict[str, Journey]) -> None:
    unknown = [tag for tag in row["tags"] if checker(tag) is None]
    assert not unknown, f"no checker understands tag(s) {unknown}: add one in {__name__}"
    j = journeys[row["name"] + "@" + row["pack"]]
    assert not j.problems, "\n".join(j.problems)
    for tag in row["tags"]:
        check = checker(tag)
        assert check is not None
        try:
            check(j)
        except AssertionError as exc:
            raise AssertionError(f"tag {tag}: {exc}") from None
