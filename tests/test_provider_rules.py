"""Provider rules a PoS relies on, pinned over HTTP by what they leave behind, not only by status codes.

Token numbers are seeded by the purchase id, so a purchase processed twice "looks the same" by its
tokens: these tests compare what moves instead — debt lines, arrears, free-token state, stored advices.
Tests that change a meter's running state start their own simulator.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest

from tests.support import BASE, Sim, advice, lookup, new_id, purchase, reprint, sts_meter
from tests.test_lifecycle import ADVICES, buy, error_of

NOT_V4 = "a7d8a676-bdd0-f7cc-62b0-2a5e35792367"  # UUID-shaped, version f


def meter_state(server: Sim, meter: str) -> dict[str, Any]:
    """What a lookup says about the meter's running state (arrears, free token due)."""
    lid = new_id()
    r = server.post(f"/meterLookups/{lid}", lookup(meter, lid))
    assert r.status_code == 201, r.text
    return r.json()


def arrears(server: Sim, meter: str = "TST007") -> int:
    return meter_state(server, meter)["arrearsAmount"]["amount"]


def advise(server: Sim, kind: str, pid: str, aid: str, **changes: Any) -> httpx.Response:
    return server.post(f"/tokenPurchases/{pid}/{kind}/{aid}", {**ADVICES[kind](pid, aid), **changes})


def test_a_retry_of_a_processed_purchase_replays_it_and_changes_nothing(start_sim: Callable[..., Sim]) -> None:
    server = start_sim()
    pid, sale = buy(server, "TST007", 20000)
    owed = arrears(server)
    cid = new_id()
    confirmed = advise(server, "confirmations", pid, cid)
    assert confirmed.status_code == 202, confirmed.text
    for path in ("/tokenPurchases/{pid}/retry", "/tokenPurchases/{pid}/retries/{rid}"):
        rid = new_id()
        r = server.post(path.format(pid=pid, rid=rid), purchase("TST007", 20000, rid))
        assert r.status_code == 202, r.text
        assert r.json()["debtRecoveryCharges"] == sale["debtRecoveryCharges"]
        assert r.json()["tokens"] == sale["tokens"]
        assert arrears(server) == owed, "the retry took the debt again"
    # The confirmation survived: repeated, it gets the first answer; a reversal still cannot follow.
    again = advise(server, "confirmations", pid, cid, time="2026-11-21T10:20:00Z")
    assert again.status_code == 202 and again.json() == confirmed.json()
    error_of(advise(server, "reversals", pid, new_id()), 400, "TRANSACTION_NOT_SUPPORTED")


def test_a_second_reversal_does_not_give_the_debt_back_again(start_sim: Callable[..., Sim]) -> None:
    server = start_sim()
    before = arrears(server)
    pid, _ = buy(server, "TST007", 20000)
    assert arrears(server) < before
    for _ in range(2):
        r = advise(server, "reversals", pid, new_id())
        assert r.status_code == 202, r.text
        assert arrears(server) == before


def test_a_trial_changes_no_meter_state(start_sim: Callable[..., Sim]) -> None:
    server = start_sim()
    before = arrears(server)
    tid = new_id()
    trial = server.post(f"/tokenPurchases/{tid}/trial", purchase("TST007", 20000, tid))
    assert trial.status_code == 200, trial.text
    assert trial.json()["debtRecoveryCharges"][0]["amount"]["amount"] > 0
    assert arrears(server) == before
    assert meter_state(server, "EDGEFREE")["bsstDue"] is True
    for amount in (0, 1000):
        tid = new_id()
        trial = server.post(f"/tokenPurchases/{tid}/trial", purchase("EDGEFREE", amount, tid))
        assert trial.status_code == 200, trial.text
        assert "BSST" in [t["tokenType"] for t in trial.json()["tokens"]]
    assert meter_state(server, "EDGEFREE")["bsstDue"] is True
    _, free = buy(server, "EDGEFREE", 0)
    assert [t["tokenType"] for t in free["tokens"]] == ["BSST"]


def test_a_declined_purchase_can_be_neither_confirmed_nor_turned_into_a_reversed_one(sim: Sim) -> None:
    pid = new_id()
    error_of(sim.post(f"/tokenPurchases/{pid}", purchase("TST001", 5000, pid)), 400, "AMOUNT_TOO_LOW")
    error_of(advise(sim, "confirmations", pid, new_id()), 400, "TRANSACTION_DECLINED")
    assert advise(sim, "reversals", pid, new_id()).status_code == 202
    error_of(advise(sim, "confirmations", pid, new_id()), 400, "TRANSACTION_DECLINED")


def test_a_reprint_never_returns_a_reversed_purchase(sim: Sim) -> None:
    meter = sts_meter("4242424242")  # its own meter: the last purchase on it is this test's
    _, kept = buy(sim, meter, 4000)
    reversed_id, gone = buy(sim, meter, 6000)
    assert advise(sim, "reversals", reversed_id, new_id()).status_code == 202
    rid = new_id()
    last = sim.post(f"/tokenReprints/{rid}", reprint(meter, id_=rid))
    assert last.status_code == 200, last.text
    assert last.json()["tokens"] == kept["tokens"]
    for ref in (reversed_id, gone["tokens"][0]["receiptNum"], gone["vatInvoiceNumber"]):
        rid = new_id()
        error_of(sim.post(f"/tokenReprints/{rid}", reprint(meter, ref, rid)), 400, "UNABLE_TO_LOCATE_RECORD")


@pytest.mark.parametrize("auth", [None, ("alice", "wrong")])
def test_a_401_says_how_to_authenticate(start_sim: Callable[..., Sim], auth: tuple[str, str] | None) -> None:
    server = start_sim("--users", "alice:secret")
    lid = new_id()
    r = httpx.post(f"{server.base}{BASE}/meterLookups/{lid}", json=lookup("TST001", lid), auth=auth)
    assert r.status_code == 401, r.text
    assert r.headers["WWW-Authenticate"].startswith("Basic realm=")


def test_strict_mode_refuses_a_non_v4_retry_id_and_unknown_query_parameters(
    sim: Sim, start_sim: Callable[..., Sim]
) -> None:
    strict = start_sim("--strict")
    meter = sts_meter("4343434343")
    pid, _ = buy(strict, meter, 5000)
    r = strict.post(f"/tokenPurchases/{pid}/retry", purchase(meter, 5000, NOT_V4))
    assert [e["field"] for e in error_of(r, 400, "FORMAT_ERROR")["detailMessage"]["formatErrors"]] == ["id"]
    assert strict.post(f"/tokenPurchases/{pid}/retry", purchase(meter, 5000, new_id())).status_code == 202

    def lookup_with_query(server: Sim) -> httpx.Response:
        lid = new_id()
        return server.client.post(f"{BASE}/meterLookups/{lid}", params={"bogus": "1"}, json=lookup(meter, lid))

    r = lookup_with_query(strict)
    assert [e["field"] for e in error_of(r, 400, "FORMAT_ERROR")["detailMessage"]["formatErrors"]] == ["query:bogus"]
    assert lookup_with_query(sim).status_code == 201


@pytest.mark.parametrize("kind", ["confirmations", "reversals"])
def test_a_repeated_advice_gets_the_first_answer(sim: Sim, kind: str) -> None:
    pid, _ = buy(sim, sts_meter("4444444444"), 20000)
    aid = new_id()
    first = advise(sim, kind, pid, aid)
    assert first.status_code == 202, first.text
    for changes in ({}, {"time": "2026-11-21T10:30:00Z"}):
        again = advise(sim, kind, pid, aid, **changes)
        assert again.status_code == 202 and again.json() == first.json()


def test_a_repeated_key_change_confirmation_gets_the_first_answer(sim: Sim) -> None:
    kid = new_id()
    assert sim.post(f"/keyChangeTokenRequests/{kid}", lookup("TST006", kid)).status_code == 201
    cid = new_id()
    path = f"/keyChangeTokenRequests/{kid}/confirmations/{cid}"
    first = sim.post(path, advice(kid, cid))
    assert first.status_code == 202, first.text
    for changes in ({}, {"time": "2026-11-21T10:30:00Z"}):
        again = sim.post(path, {**advice(kid, cid), **changes})
        assert again.status_code == 202 and again.json() == first.json()


def provider_reference(answer: dict[str, Any]) -> list[dict[str, str]]:
    return [t for t in answer["thirdPartyIdentifiers"] if t["institutionId"] == "PPUSIM"]


def test_every_answer_about_a_purchase_names_it_with_the_same_provider_reference(sim: Sim) -> None:
    """A PoS echoes the purchase answer's thirdPartyIdentifiers in its advices; whichever answer it got
    (the purchase, a retry on either path, a reprint), the provider's entry must be the same one."""
    meter = sts_meter("0123456789")
    pid, sale = buy(sim, meter, 10000)
    own = provider_reference(sale)
    assert len(own) == 1
    for path in ("/tokenPurchases/{pid}/retry", "/tokenPurchases/{pid}/retries/{rid}"):
        rid = new_id()
        r = sim.post(path.format(pid=pid, rid=rid), purchase(meter, 10000, rid))
        assert r.status_code == 202, r.text
        assert provider_reference(r.json()) == own
    # A retry that already carries the provider's entry (the PoS kept it) gets it once, not twice.
    rid = new_id()
    r = sim.post(f"/tokenPurchases/{pid}/retry", purchase(meter, 10000, rid, thirdPartyIdentifiers=own))
    assert r.status_code == 202, r.text
    assert provider_reference(r.json()) == own
    r = sim.post(f"/tokenReprints/{(rp := new_id())}", reprint(meter, pid, rp))
    assert r.status_code == 200, r.text
    assert provider_reference(r.json()) == own


def test_a_retry_of_a_purchase_never_seen_names_it_as_a_later_retry_does(sim: Sim) -> None:
    meter = sts_meter("0123456790")
    pid, first = new_id(), None
    for _ in range(2):
        rid = new_id()
        r = sim.post(f"/tokenPurchases/{pid}/retry", purchase(meter, 10000, rid))
        assert r.status_code == 202, r.text
        first = first or provider_reference(r.json())
        assert provider_reference(r.json()) == first
