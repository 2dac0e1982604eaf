"""The transaction lifecycle over HTTP: ids, duplicates, purchases, advices, retries, reprints."""

from __future__ import annotations

import pytest

from tests.support import (
    Sim,
    advice,
    assert_conforms,
    confirmation,
    fault_report,
    lookup,
    new_id,
    purchase,
    reprint,
    reversal,
    sts_meter,
    transaction,
)

STS_METER = sts_meter("0123456789")
ADVICES = {"confirmations": confirmation, "reversals": reversal}


def buy(sim: Sim, meter: str = STS_METER, amount: int = 5000) -> tuple[str, dict]:
    pid = new_id()
    r = sim.post(f"/tokenPurchases/{pid}", purchase(meter, amount, pid))
    assert r.status_code == 201, r.text
    assert_conforms("createTokenPurchaseRequest", r)
    return pid, r.json()


def error_of(r, status: int, error_type: str) -> dict:
    assert r.status_code == status, r.text
    body = r.json()
    assert body["errorType"] == error_type, body
    return body


def test_lookup_of_a_generated_meter_is_stable_and_conforms(sim: Sim) -> None:
    first, second = (sim.post(f"/meterLookups/{i}", lookup(STS_METER, i)) for i in (new_id(), new_id()))
    for r in (first, second):
        assert r.status_code == 201, r.text
        assert_conforms("createMeterLookup", r)
    assert first.json()["customer"] == second.json()["customer"]
    assert first.json()["utility"] == second.json()["utility"]
    assert first.json()["minAmount"]["amount"] < first.json()["maxAmount"]["amount"]


@pytest.mark.parametrize(
    "meter",
    [
        STS_METER[:-1] + str((int(STS_METER[-1]) + 1) % 10),
        "1234",
        "ABC123",
        sts_meter("012345678901")[:-1] + "x",
        sts_meter("01234567890"),
    ],
)
def test_meter_ids_that_are_not_sts_numbers_are_unknown(sim: Sim, meter: str) -> None:
    lid = new_id()
    body = error_of(sim.post(f"/meterLookups/{lid}", lookup(meter, lid)), 400, "UNKNOWN_METER_ID")
    assert body["id"] == lid and body["requestType"] == "METER_LOOKUP_REQUEST"


@pytest.mark.parametrize(("meter", "known"), [("79927398713", True), ("79927398710", False)])
def test_luhn_check_digit_decides(sim: Sim, meter: str, known: bool) -> None:
    """The textbook Luhn example (7992739871 has check digit 3): an oracle independent of our code."""
    lid = new_id()
    assert sim.post(f"/meterLookups/{lid}", lookup(meter, lid)).status_code == (201 if known else 400)


def test_thirteen_digit_sts_meter_is_known(sim: Sim) -> None:
    lid = new_id()
    assert sim.post(f"/meterLookups/{lid}", lookup(sts_meter("012345678901"), lid)).status_code == 201


@pytest.mark.parametrize(
    ("path", "body_of"),
    [
        ("/meterLookups/{}", lambda i: lookup(STS_METER, i)),
        ("/tokenPurchases/{}", lambda i: purchase(STS_METER, 5000, i)),
        ("/tokenPurchases/{}/trial", lambda i: purchase(STS_METER, 5000, i)),
        ("/tokenReprints/{}", lambda i: reprint(STS_METER, id_=i)),
        ("/faultReports/{}", lambda i: fault_report(STS_METER, i)),
        ("/keyChangeTokenRequests/{}", lambda i: lookup(STS_METER, i)),
    ],
)
def test_a_repeated_request_id_is_a_duplicate(sim: Sim, path: str, body_of) -> None:
    rid = new_id()
    first = sim.post(path.format(rid), body_of(rid))
    assert first.status_code in (200, 201, 400), first.text
    again = sim.post(path.format(rid), body_of(rid))
    body = error_of(again, 400, "DUPLICATE_RECORD")
    assert body["id"] == rid


@pytest.mark.parametrize("path", ["/meterLookups/{}", "/tokenPurchases/{}", "/tokenReprints/{}"])
def test_path_id_and_body_id_must_agree(sim: Sim, path: str) -> None:
    body = purchase(STS_METER, 5000)
    other = new_id()
    r = sim.post(path.format(other), body)
    err = error_of(r, 400, "FORMAT_ERROR")
    assert [e["field"] for e in err["detailMessage"]["formatErrors"]] == ["id"]


def test_purchase_amounts_add_up_as_the_contract_defines(sim: Sim) -> None:
    _, body = buy(sim, amount=12345)
    parts = body["tokens"] + body["debtRecoveryCharges"] + body["serviceCharges"]
    assert sum(p["amount"]["amount"] + p["amount"].get("tax", 0) for p in parts) == 12345
    assert body["purchaseTotal"]["amount"] == sum(t["amount"]["amount"] for t in body["tokens"])
    assert body["taxTotal"]["amount"] == sum(p["amount"].get("tax", 0) for p in parts)
    token = body["tokens"][0]
    assert token["tokenType"] == "STD" and len(token["token"]) == 20 and token["token"].isdigit()
    assert token["units"] > 0 and token["receiptNum"]
    # Lists the Java model initialises are always written, as Jackson writes them.
    assert all(isinstance(t["tariffCalc"], list) for t in body["tokens"])
    assert body["amounts"]["approvedAmount"]["amount"] == 12345


def test_response_echoes_transaction_fields_verbatim_and_adds_a_provider_reference(sim: Sim) -> None:
    pid = new_id()
    sent = purchase(STS_METER, 5000, pid, transactionLabels=[{"name": "lane", "value": "7"}])
    sent["time"] = "2026-11-21T10:15:30.1+02:00"
    got = sim.post(f"/tokenPurchases/{pid}", sent).json()
    for key in (
        "id",
        "time",
        "originator",
        "client",
        "settlementEntity",
        "receiver",
        "stan",
        "rrn",
        "transactionLabels",
    ):
        assert got[key] == sent[key], key
    assert got["thirdPartyIdentifiers"][: len(sent["thirdPartyIdentifiers"])] == sent["thirdPartyIdentifiers"]
    assert len(got["thirdPartyIdentifiers"]) == len(sent["thirdPartyIdentifiers"]) + 1


def test_confirmation_is_accepted_and_idempotent(sim: Sim) -> None:
    pid, _ = buy(sim)
    cid = new_id()
    first = sim.post(f"/tokenPurchases/{pid}/confirmations/{cid}", confirmation(pid, cid))
    assert first.status_code == 202, first.text
    assert_conforms("confirmTokenPurchase", first)
    again = sim.post(f"/tokenPurchases/{pid}/confirmations/{cid}", confirmation(pid, cid))
    assert again.status_code == 202 and again.json() == first.json()
    other = new_id()
    assert sim.post(f"/tokenPurchases/{pid}/confirmations/{other}", confirmation(pid, other)).status_code == 202


def test_reversal_is_accepted_and_idempotent(sim: Sim) -> None:
    pid, _ = buy(sim)
    rid = new_id()
    for _ in range(2):
        r = sim.post(f"/tokenPurchases/{pid}/reversals/{rid}", reversal(pid, rid))
        assert r.status_code == 202, r.text
        assert_conforms("reverseTokenPurchase", r)


@pytest.mark.parametrize("kind", ["confirmations", "reversals"])
def test_advice_for_an_unknown_purchase_is_not_found(sim: Sim, kind: str) -> None:
    pid, aid = new_id(), new_id()
    body = ADVICES[kind](pid, aid)
    r = sim.post(f"/tokenPurchases/{pid}/{kind}/{aid}", body)
    err = error_of(r, 404, "UNABLE_TO_LOCATE_RECORD")
    assert err["id"] == aid and err["originalId"] == pid
    assert_conforms("confirmTokenPurchase" if kind == "confirmations" else "reverseTokenPurchase", r)


@pytest.mark.parametrize(
    ("first", "then", "state"),
    [("confirmations", "reversals", "confirmed"), ("reversals", "confirmations", "reversed")],
)
def test_a_confirmed_purchase_cannot_be_reversed_nor_a_reversed_one_confirmed(
    sim: Sim, first: str, then: str, state: str
) -> None:
    pid, _ = buy(sim)
    aid, bid = new_id(), new_id()
    assert sim.post(f"/tokenPurchases/{pid}/{first}/{aid}", ADVICES[first](pid, aid)).status_code == 202
    err = error_of(
        sim.post(f"/tokenPurchases/{pid}/{then}/{bid}", ADVICES[then](pid, bid)), 400, "TRANSACTION_NOT_SUPPORTED"
    )
    assert state in err["errorMessage"].lower()
    assert sim.post(f"/tokenPurchases/{pid}/{first}/{aid}", ADVICES[first](pid, aid)).status_code == 202


def test_advice_request_id_must_match_the_purchase_in_the_path(sim: Sim) -> None:
    pid, _ = buy(sim)
    cid = new_id()
    err = error_of(
        sim.post(f"/tokenPurchases/{pid}/confirmations/{cid}", confirmation(new_id(), cid)), 400, "FORMAT_ERROR"
    )
    assert [e["field"] for e in err["detailMessage"]["formatErrors"]] == ["requestId"]


@pytest.mark.parametrize("path", ["/tokenPurchases/{pid}/retry", "/tokenPurchases/{pid}/retries/{rid}"])
def test_retry_of_a_processed_purchase_returns_the_same_tokens(sim: Sim, path: str) -> None:
    pid, original = buy(sim)
    retry_id = new_id()
    retry_body = purchase(STS_METER, 5000, retry_id)
    r = sim.post(path.format(pid=pid, rid=retry_id), retry_body)
    assert r.status_code == 202, r.text
    assert_conforms("retryPurchaseRequest", r)
    got = r.json()
    assert got["id"] == retry_id
    for key in ("tokens", "purchaseTotal", "taxTotal", "amounts", "vatInvoiceNumber", "debtRecoveryCharges"):
        assert got[key] == original[key], key


def test_retry_of_an_unseen_purchase_is_processed_as_the_purchase(sim: Sim) -> None:
    pid = new_id()
    r = sim.post(f"/tokenPurchases/{pid}/retry", purchase(STS_METER, 7000, pid))
    assert r.status_code == 202, r.text
    assert r.json()["tokens"][0]["tokenType"] == "STD"
    again = sim.post(f"/tokenPurchases/{pid}/retry", purchase(STS_METER, 7000, pid))
    assert again.json()["tokens"] == r.json()["tokens"]
    cid = new_id()
    assert sim.post(f"/tokenPurchases/{pid}/confirmations/{cid}", confirmation(pid, cid)).status_code == 202
    dup = sim.post(f"/tokenPurchases/{pid}", purchase(STS_METER, 7000, pid))
    error_of(dup, 400, "DUPLICATE_RECORD")


def test_reprint_returns_the_last_purchase_or_the_referenced_one(sim: Sim) -> None:
    meter = sts_meter("9876543210")  # its own meter, so other tests' purchases do not interfere
    first_id, first = buy(sim, meter, 4000)
    _, second = buy(sim, meter, 6000)
    rid = new_id()
    last = sim.post(f"/tokenReprints/{rid}", reprint(meter, id_=rid))
    assert last.status_code == 200, last.text
    assert_conforms("requestTokenReprint", last)
    assert last.json()["tokens"] == second["tokens"] and last.json()["id"] == rid
    by_receipt = sim.post(f"/tokenReprints/{(i := new_id())}", reprint(meter, first["tokens"][0]["receiptNum"], i))
    assert by_receipt.json()["tokens"] == first["tokens"]
    by_id = sim.post(f"/tokenReprints/{(i := new_id())}", reprint(meter, first_id, i))
    assert by_id.json()["tokens"] == first["tokens"]


def test_reprint_with_nothing_to_reprint_is_unable_to_locate(sim: Sim) -> None:
    rid = new_id()
    r = sim.post(f"/tokenReprints/{rid}", reprint(sts_meter("1111111111"), id_=rid))
    error_of(r, 400, "UNABLE_TO_LOCATE_RECORD")
    assert_conforms("requestTokenReprint", r)
    rid = new_id()
    error_of(sim.post(f"/tokenReprints/{rid}", reprint(STS_METER, "no-such-ref", rid)), 400, "UNABLE_TO_LOCATE_RECORD")


def test_trial_gives_the_breakdown_without_issuing_tokens_or_changing_state(sim: Sim) -> None:
    meter = sts_meter("2222222222")
    tid = new_id()
    r = sim.post(f"/tokenPurchases/{tid}/trial", purchase(meter, 9000, tid))
    assert r.status_code == 200, r.text
    assert_conforms("trialTokenPurchaseRequest", r)
    body = r.json()
    assert body["amounts"]["approvedAmount"]["amount"] == 9000
    assert all(t["token"] == "" for t in body["tokens"])
    rid = new_id()
    error_of(sim.post(f"/tokenReprints/{rid}", reprint(meter, id_=rid)), 400, "UNABLE_TO_LOCATE_RECORD")
    _, real = buy(sim, meter, 9000)
    assert [t["units"] for t in real["tokens"]] == [t["units"] for t in body["tokens"]]


def test_key_change_request_and_confirmation(sim: Sim) -> None:
    kid = new_id()
    r = sim.post(f"/keyChangeTokenRequests/{kid}", lookup("TST006", kid))
    assert r.status_code == 201, r.text
    assert_conforms("createKeyChangeTokenRequest", r)
    tokens = r.json()["tokens"]
    assert [t["tokenType"] for t in tokens] == ["KC", "KC"] and tokens[0]["token"] != tokens[1]["token"]
    assert r.json()["meter"]["keyChangeData"]
    cid = new_id()
    for _ in range(2):
        c = sim.post(f"/keyChangeTokenRequests/{kid}/confirmations/{cid}", advice(kid, cid))
        assert c.status_code == 202, c.text
        assert_conforms("confirmKeyChange", c)
    unknown = new_id()
    err = error_of(
        sim.post(f"/keyChangeTokenRequests/{unknown}/confirmations/{cid}", advice(unknown, cid)),
        404,
        "UNABLE_TO_LOCATE_RECORD",
    )
    assert err["originalId"] == unknown


def test_fault_report_gets_a_reference(sim: Sim) -> None:
    fid = new_id()
    r = sim.post(f"/faultReports/{fid}", fault_report(STS_METER, fid))
    assert r.status_code == 201, r.text
    assert_conforms("createFaultReport", r)
    assert r.json()["reference"] and r.json()["description"] == "Display blank since Tuesday"


def test_purchase_event_is_accepted_without_a_body(sim: Sim) -> None:
    pid, body = buy(sim)
    r = sim.client.post(f"/prepaidutility/v3/events/tokenPurchases?purchaseId={pid}", json=body)
    assert r.status_code == 202 and r.content == b"", r.text
    assert_conforms("notifyTokenPurchase", r)
    wrong = sim.client.post(f"/prepaidutility/v3/events/tokenPurchases?purchaseId={new_id()}", json=body)
    error_of(wrong, 400, "FORMAT_ERROR")


def test_trial_and_lookup_do_not_need_a_purchase_amount_but_purchases_do(sim: Sim) -> None:
    pid = new_id()
    body = {**transaction(pid), "meter": {"meterId": STS_METER}}
    err = error_of(sim.post(f"/tokenPurchases/{pid}", body), 400, "FORMAT_ERROR")
    assert "purchaseAmount" in [e["field"] for e in err["detailMessage"]["formatErrors"]]


def test_debt_recovery_runs_down_the_balance_and_a_reversal_gives_it_back(start_sim) -> None:
    server = start_sim()

    def arrears() -> int:
        lid = new_id()
        return server.post(f"/meterLookups/{lid}", lookup("TST007", lid)).json()["arrearsAmount"]["amount"]

    before = arrears()
    balances, ids = [], []
    for _ in range(2):
        pid = new_id()
        r = server.post(f"/tokenPurchases/{pid}", purchase("TST007", 20000, pid))
        assert r.status_code == 201, r.text
        charge = r.json()["debtRecoveryCharges"][0]
        balances.append((charge["amount"]["amount"] + charge["amount"]["tax"], charge["balance"]["amount"]))
        ids.append(pid)
    (first_taken, first_left), (second_taken, second_left) = balances
    assert first_taken > 0 and second_left == first_left - second_taken
    assert arrears() == before - first_taken - second_taken
    rid = new_id()
    assert server.post(f"/tokenPurchases/{ids[1]}/reversals/{rid}", reversal(ids[1], rid)).status_code == 202
    assert arrears() == before - first_taken
    pid = new_id()
    again = server.post(f"/tokenPurchases/{pid}", purchase("TST007", 20000, pid)).json()
    assert again["debtRecoveryCharges"][0]["balance"]["amount"] == first_left - second_taken


def test_seed_makes_generated_data_and_token_numbers_repeatable(start_sim) -> None:
    pid = new_id()

    def sale(server: Sim) -> dict:
        r = server.post(f"/tokenPurchases/{pid}", purchase(STS_METER, 5000, pid))
        assert r.status_code == 201, r.text
        return r.json()

    first, again, other = (sale(start_sim("--seed", seed)) for seed in ("7", "7", "8"))
    assert first["customer"] == again["customer"] and first["tokens"] == again["tokens"]
    assert first["customer"] != other["customer"] and first["tokens"][0]["token"] != other["tokens"][0]["token"]


def test_every_purchase_answer_carries_the_labels_of_the_request_it_answers_and_no_others(sim: Sim) -> None:
    meter = sts_meter("7777777777")  # its own meter, so the reprint finds this test's purchase
    labels = [{"name": "lane", "value": "7"}]
    pid = new_id()
    sold = sim.post(f"/tokenPurchases/{pid}", purchase(meter, 5000, pid, transactionLabels=labels))
    assert sold.json()["transactionLabels"] == labels
    relabelled = [{"name": "lane", "value": "9"}, {"name": "shift", "value": "night"}]
    for sent in (relabelled, None):
        rid = new_id()
        body = purchase(meter, 5000, rid, **({"transactionLabels": sent} if sent else {}))
        retried = sim.post(f"/tokenPurchases/{pid}/retry", body)
        assert retried.status_code == 202, retried.text
        assert retried.json().get("transactionLabels") == sent
    tid = new_id()
    trial = sim.post(f"/tokenPurchases/{tid}/trial", purchase(meter, 5000, tid, transactionLabels=relabelled))
    assert trial.json()["transactionLabels"] == relabelled
    rid = new_id()
    reprinted = sim.post(f"/tokenReprints/{rid}", reprint(meter, id_=rid))
    assert reprinted.status_code == 200, reprinted.text
    assert "transactionLabels" not in reprinted.json()


def test_slip_data_in_an_answer_is_the_providers_own(sim: Sim) -> None:
    """The contract: a ready-to-print slip a provider supplies, which the PoS must print; never the PoS's own."""
    own = {"messageLines": [{"text": "PoS header"}], "slipWidth": 32}
    pid = new_id()
    plain = sim.post(f"/tokenPurchases/{pid}", purchase(STS_METER, 5000, pid, slipData=own))
    assert plain.status_code == 201, plain.text
    assert "slipData" not in plain.json()
    pid = new_id()
    sold = sim.post(f"/tokenPurchases/{pid}", purchase("TST010", 10000, pid, slipData=own)).json()
    slip = sold["slipData"]
    assert [x["text"] for x in slip["messageLines"]] == [f"---    Slip Line {n}    ---" for n in range(1, 6)]
    rid = new_id()
    retried = sim.post(f"/tokenPurchases/{pid}/retry", purchase("TST010", 10000, rid, slipData=own))
    assert retried.json()["slipData"] == slip
    rid = new_id()
    reprinted = sim.post(f"/tokenReprints/{rid}", {**reprint("TST010", pid, rid), "slipData": own})
    assert reprinted.json()["slipData"] == slip


def test_an_advice_is_answered_with_its_own_fields_unaltered(sim: Sim) -> None:
    """BasicAdviceResponse has BasicAdvice's fields; its thirdPartyIdentifiers are those the PoS sent."""
    for kind, own in (("confirmations", "tenders"), ("reversals", "reversalReason")):
        pid, sold = buy(sim)
        aid = new_id()
        sent = ADVICES[kind](pid, aid)
        sent.update(thirdPartyIdentifiers=sold["thirdPartyIdentifiers"], stan="000042", rrn="rrn-0042")
        sent["amounts"] = sold["amounts"]
        r = sim.post(f"/tokenPurchases/{pid}/{kind}/{aid}", sent)
        assert r.status_code == 202, r.text
        assert r.json() == {k: v for k, v in sent.items() if k != own}


def test_a_paid_debt_leaves_the_purchase(start_sim) -> None:
    """TST007 owes 32300 and recovers 5000 a purchase: once that is paid, its line goes; the fee stays."""
    server = start_sim()

    def sale() -> dict:
        pid = new_id()
        r = server.post(f"/tokenPurchases/{pid}", purchase("TST007", 20000, pid))
        assert r.status_code == 201, r.text
        return r.json()

    left = [sale()["debtRecoveryCharges"][0]["balance"]["amount"]]
    while left[-1] > 0 and len(left) < 10:
        left.append(sale()["debtRecoveryCharges"][0]["balance"]["amount"])
    assert left[-1] == 0 and left[-2] > 0, left
    after = sale()
    assert after["debtRecoveryCharges"] == []
    assert [c["description"] for c in after["serviceCharges"]] == ["Connection fee"]
    parts = after["tokens"] + after["serviceCharges"]
    assert sum(p["amount"]["amount"] + p["amount"]["tax"] for p in parts) == 20000
    lid = new_id()
    assert server.post(f"/meterLookups/{lid}", lookup("TST007", lid)).json()["arrearsAmount"]["amount"] == 0


TWO_DEBTS = """
scenarios:
  - name: two-debts
    match: {meterId: DEBT2}
    meter: {arrears: 54000}
    vend:
      debtRecovery:
        - {description: Small arrears, amount: 5000, balance: 4000}
        - {description: Large arrears, amount: 5000, balance: 50000}
"""


def test_a_reversal_gives_back_the_debt_it_recovered_after_another_was_paid(start_sim, tmp_path) -> None:
    pack = tmp_path / "debts.yaml"
    pack.write_text(TWO_DEBTS)
    server = start_sim("--scenarios", str(pack))

    def sale() -> tuple[str, list[tuple[str, int]]]:
        pid = new_id()
        r = server.post(f"/tokenPurchases/{pid}", purchase("DEBT2", 20000, pid))
        assert r.status_code == 201, r.text
        return pid, [(c["description"], c["balance"]["amount"]) for c in r.json()["debtRecoveryCharges"]]

    assert sale()[1] == [("Small arrears", 0), ("Large arrears", 45000)]
    second, lines = sale()
    assert lines == [("Large arrears", 40000)]
    rid = new_id()
    assert server.post(f"/tokenPurchases/{second}/reversals/{rid}", reversal(second, rid)).status_code == 202
    lid = new_id()
    assert server.post(f"/meterLookups/{lid}", lookup("DEBT2", lid)).json()["arrearsAmount"]["amount"] == 45000
    assert sale()[1] == [("Large arrears", 40000)]
