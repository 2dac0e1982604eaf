"""The journal over HTTP: every operation, every fault kind, every early refusal, and masking."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator

import httpx
import pytest

from tests.control import Pos
from tests.support import (
    BASE,
    Sim,
    advice,
    confirmation,
    fault_report,
    lookup,
    new_id,
    purchase,
    reprint,
    reversal,
    with_id,
)

METER = "01234567897"  # a valid STS number: the default pack's generated meter


@pytest.fixture
def pos(sim: Sim) -> Iterator[Pos]:
    client = Pos(sim)
    yield client
    client.close()


def test_every_operation_is_recorded_with_what_was_sent_and_answered(pos: Pos) -> None:
    lid, pid, rid, tid, cid, kid, kcid, fid, pid2, vid, nid = (new_id() for _ in range(11))
    sent = [
        (f"/meterLookups/{lid}", lookup(METER, lid), None),
        (f"/tokenPurchases/{pid}", purchase(METER, 5000, pid), pid),
        (f"/tokenPurchases/{pid}/retry", with_id(purchase(METER, 5000, pid), rid), pid),
        (f"/tokenPurchases/{pid}/retries/{nid}", with_id(purchase(METER, 5000, pid), nid), pid),
        (f"/tokenPurchases/{tid}/trial", purchase(METER, 5000, tid), None),
        (f"/tokenPurchases/{pid}/confirmations/{cid}", confirmation(pid, cid, 5000), pid),
        (f"/tokenReprints/{fid}", reprint(METER, id_=fid), pid),
        (f"/faultReports/{kid}", fault_report(METER, kid), None),
        (f"/keyChangeTokenRequests/{kcid}", lookup("TST006", kcid), kcid),
        (f"/keyChangeTokenRequests/{kcid}/confirmations/{vid}", advice(kcid, vid), kcid),
        (f"/tokenPurchases/{pid2}", purchase(METER, 5000, pid2), pid2),
        (f"/tokenPurchases/{pid2}/reversals/{vid}", reversal(pid2, vid), pid2),
    ]
    answers = [pos.post(path, body) for path, body, _ in sent]
    notify = pos.client.post(f"{BASE}/events/tokenPurchases", params={"purchaseId": pid2}, json=answers[-2].json())
    assert [a.status_code for a in answers] == [201, 201, 202, 202, 200, 202, 200, 201, 201, 202, 201, 202]
    assert notify.status_code == 202

    journal = pos.journal()
    assert [e["seq"] for e in journal] == list(range(1, 14))
    assert [e["operation"] for e in journal] == [
        "createMeterLookup", "createTokenPurchaseRequest", "retryPurchaseRequest", "retryPurchaseRequestByRetryId",
        "trialTokenPurchaseRequest", "confirmTokenPurchase", "requestTokenReprint", "createFaultReport",
        "createKeyChangeTokenRequest", "confirmKeyChange", "createTokenPurchaseRequest", "reverseTokenPurchase",
        "notifyTokenPurchase",
    ]  # fmt: skip
    for exchange, (path, body, transaction), answer in zip(journal, sent, answers, strict=False):
        assert exchange["session"] == pos.session and exchange["complete"]
        assert exchange["path"] == BASE + path and exchange["method"] == "POST"
        assert exchange["requestBody"] == body
        assert exchange["status"] == answer.status_code and exchange["responseBody"] == answer.json()
        assert exchange.get("transaction") == transaction, exchange["operation"]
        assert exchange["headers"]["authorization"] == "test"  # the user, never the password
        assert exchange["scenario"] and exchange["pack"] and exchange["durationMs"] >= 0
    assert journal[2]["pathIds"] == {"purchaseId": pid}
    assert journal[5]["pathIds"] == {"purchaseId": pid, "confirmationId": cid}
    assert journal[8]["scenario"] and journal[8]["meterId"] == "TST006"
    assert journal[12]["query"] == f"purchaseId={pid2}" and journal[12]["transaction"] == pid2
    assert "responseBody" not in journal[12]  # a 202 without a body
    # A purchase's whole story is one query.
    story = pos.journal(purchaseId=pid)
    assert [e["operation"] for e in story] == [
        "createTokenPurchaseRequest", "retryPurchaseRequest", "retryPurchaseRequestByRetryId",
        "confirmTokenPurchase", "requestTokenReprint",
    ]  # fmt: skip
    assert [e["seq"] for e in pos.journal(meterId="TST006")] == [9, 10]
    assert [e["seq"] for e in pos.journal(status=201, since=8, order="newest")] == [11, 9]
    one = pos.control("GET", "/journal/6", "getExchange")
    assert one.status_code == 200 and one.json() == journal[5]


FAULT_PACK = """
pack: journal-faults
scenarios:
  - {name: reset, match: {meterId: JRESET}, respond: {createMeterLookup: [{fault: reset}]}}
  - {name: close, match: {meterId: JCLOSE}, respond: {createMeterLookup: [{fault: close}]}}
  - {name: empty, match: {meterId: JEMPTY}, respond: {createMeterLookup: [{fault: empty}]}}
  - {name: malformed, match: {meterId: JMALFORMED}, respond: {createMeterLookup: [{fault: malformed}]}}
  - {name: truncated, match: {meterId: JTRUNCATED}, respond: {createMeterLookup: [{fault: truncated}]}}
  - name: dribble
    match: {meterId: JDRIBBLE}
    respond: {createMeterLookup: [{fault: {kind: dribble, chunk: 400, interval: 0.01}}]}
  - name: hold-answer
    match: {meterId: JHOLDANSWER}
    respond: {createMeterLookup: [{fault: {kind: hold, seconds: 0.2}}]}
  - name: hold-close
    match: {meterId: JHOLDCLOSE}
    respond: {createMeterLookup: [{fault: {kind: hold, seconds: 0.2, then: close}}]}
  - name: slow-then-fine
    match: {meterId: JDELAY}
    respond: {createMeterLookup: [{times: 1, delay: 0.1}, {error: {status: 503, errorType: UPSTREAM_UNAVAILABLE}}]}
"""

FAULTS = {
    "JRESET": "reset",
    "JCLOSE": "close",
    "JEMPTY": "empty",
    "JMALFORMED": "malformed",
    "JTRUNCATED": "truncated",
    "JDRIBBLE": "dribble",
    "JHOLDANSWER": "hold-answer",
    "JHOLDCLOSE": "hold-close",
}


def test_every_fault_kind_is_recorded_as_what_the_simulator_did(pos: Pos) -> None:
    assert pos.load(FAULT_PACK).status_code == 201
    for meter in [*FAULTS, "JDELAY", "JDELAY"]:
        lid = new_id()
        with contextlib.suppress(httpx.HTTPError):  # the point of most of these faults
            pos.post(f"/meterLookups/{lid}", lookup(meter, lid))
    journal = pos.journal()
    by_meter = {}
    for e in journal:
        by_meter.setdefault(e["requestBody"]["meter"]["meterId"], []).append(e)
    for meter, kind in FAULTS.items():
        (exchange,) = by_meter[meter]
        assert exchange["fault"] == kind, meter
        # What the simulator would have sent: the lookup's full answer.
        assert exchange["status"] == 201 and exchange["responseBody"]["meter"]["meterId"] == meter, meter
        assert exchange["scenario"] == kind and exchange["pack"] == "journal-faults" and exchange["step"] == 1
    slow, refused = by_meter["JDELAY"]
    assert slow["delaySeconds"] == pytest.approx(0.1) and "fault" not in slow and slow["step"] == 1
    assert refused["status"] == 503 and refused["errorType"] == "UPSTREAM_UNAVAILABLE" and refused["step"] == 2


def test_refusals_before_any_handler_are_recorded(start_sim) -> None:
    sim = start_sim("--users", "till:pw")
    pos = Pos(sim, auth=("till", "pw"))
    lid = new_id()
    body = lookup(METER, lid)
    answers = {
        401: httpx.post(f"{sim.base}{BASE}/meterLookups/{lid}", json=body, auth=("till", "wrong"),
                        headers={"X-PPU-Session": pos.session}),
        404: pos.post(f"/meterLookupz/{lid}", body),
        405: pos.client.put(f"{BASE}/meterLookups/{lid}", json=body),
        413: pos.client.post(f"{BASE}/meterLookups/{lid}", content=iter([b"x" * 100_000] * 11),
                             headers={"Content-Type": "application/json"}),  # chunked: read up to the limit
        415: pos.client.post(f"{BASE}/meterLookups/{lid}", content=json.dumps(body),
                             headers={"Content-Type": "text/plain"}),
        400: pos.post(f"/meterLookups/{lid}", {**body, "meter": {"meterId": 7}}),
    }  # fmt: skip
    assert {status: r.status_code for status, r in answers.items()} == {s: s for s in answers}
    journal = pos.journal()
    assert [e["status"] for e in journal] == list(answers)
    for exchange, answer in zip(journal, answers.values(), strict=True):
        assert exchange["responseBody"] == answer.json()
    assert journal[0]["headers"]["authorization"] == "till"
    assert "operation" not in journal[1] and "operation" not in journal[2]  # PUT is no operation of the interface
    assert journal[3]["requestTruncated"] and journal[3]["requestBody"] == "x" * 65536
    declared = pos.client.post(f"{BASE}/meterLookups/{lid}", content=b"x" * 1_100_000,
                               headers={"Content-Type": "application/json"})  # fmt: skip
    assert declared.status_code == 413
    refused_unread = pos.journal(since=6)[0]  # refused on its declared length, before a byte of it was read
    assert refused_unread["status"] == 413 and "requestBody" not in refused_unread
    assert journal[4]["requestBody"] == body  # JSON, whatever the type said
    assert journal[5]["errorType"] == "FORMAT_ERROR" and journal[5]["requestBody"]["meter"] == {"meterId": 7}
    pos.close()


def test_a_body_nested_too_deep_to_parse_is_recorded_as_text(pos: Pos) -> None:
    """Refused bodies nested past what Python parses are journalled like any other (their text),
    and the journal and its readers stay whole."""
    ids = [new_id() for _ in range(3)]
    sent = []
    for fid, depth in zip(ids, (100, 5_000, 10_000), strict=True):
        raw = (f'{{"id": "{fid}", "slipData": ' + "[" * depth + "]" * depth + "}").encode()
        r = pos.client.post(f"{BASE}/faultReports/{fid}", content=raw, headers={"Content-Type": "application/json"})
        assert r.status_code == 400, r.text
        sent.append(raw.decode())
    journal = pos.journal()
    assert [e["status"] for e in journal] == [400, 400, 400]
    assert journal[0]["requestBody"]["id"] == ids[0]  # 100 levels: parsed
    assert [e["requestBody"] for e in journal[1:]] == sent[1:]
    for path, op_id in (("/transactions", "getTransactions"), ("/report", "getReport")):
        assert pos.control("GET", path, op_id).status_code == 200


PAN = "5123450000000346"
PIN = "PIN-73918-SECRET"
AN32 = "Zq4x9VtBn2Lm7Kp3Hs8Dw1Fy6Gc5Jr0T"
TRACK2 = "6004890123456789=27121010000000012"


def secret_purchase(pid: str, pan: str = PAN) -> dict:
    amount = {"amount": 2500, "currency": "710"}
    return purchase(
        METER,
        5000,
        pid,
        meter={"meterId": METER, "track2Data": TRACK2},
        paymentMethods=[
            {"type": "CARD", "amount": amount, "pan": pan, "pin": {"type": "CLEAR_PIN", "pin": PIN}},
            {"type": "AN_32_TOKEN", "amount": amount, "token": AN32},
        ],
        tenders=[{"tenderType": "CREDIT_CARD", "amount": amount, "cardNumber": PAN}],
    )


def test_no_pan_pin_or_an32_token_appears_anywhere_out(sim: Sim, pos: Pos) -> None:
    pid, bad = new_id(), new_id()
    bought = pos.post(f"/tokenPurchases/{pid}", secret_purchase(pid))
    assert bought.status_code == 201, bought.text
    refused = pos.post(f"/tokenPurchases/{bad}", secret_purchase(bad, pan="51234500000003X6"))
    assert refused.status_code == 400  # its FORMAT_ERROR repeats the bad PAN to the sender only
    cid = new_id()
    pos.post(f"/tokenPurchases/{pid}/confirmations/{cid}", confirmation(pid, cid, 5000))
    outputs = [
        pos.control("GET", "/journal", "getJournal").text,
        pos.control("GET", "/journal/1", "getExchange").text,
        pos.control("GET", "/transactions", "getTransactions").text,
        pos.control("GET", "/transactions", "getTransactions", params={"format": "csv"}).text,
        pos.control("POST", "/journal/count", "countExchanges", json={"body": [{"path": "id", "equals": pid}]}).text,
        sim.log.read_text(),
    ]
    for text in outputs:
        for secret in (PAN, PIN, AN32, TRACK2, "51234500000003X6"):
            assert secret not in text
    first = pos.journal()[0]["requestBody"]
    assert first["paymentMethods"][0]["pan"] == "512345******0346"
    assert first["tenders"][0]["cardNumber"] == "512345******0346"
    assert first["paymentMethods"][0]["pin"] == {"type": "CLEAR_PIN", "pin": "****"}


def test_counts_verify_what_the_pos_sent(pos: Pos) -> None:
    pid, cid = new_id(), new_id()
    pos.post(f"/tokenPurchases/{pid}", purchase(METER, 5000, pid))
    for _ in range(3):
        assert pos.post(f"/tokenPurchases/{pid}/confirmations/{cid}", confirmation(pid, cid, 5000)).status_code == 202
    confirmations = {"operation": "confirmTokenPurchase", "pathIds": {"purchaseId": pid}}
    assert pos.count(confirmations)["count"] == 3
    assert pos.count({**confirmations, "pathIds": {"purchaseId": pid, "confirmationId": cid}})["seqs"] == [2, 3, 4]
    assert pos.count({"transaction": pid, "status": 202})["count"] == 3
    assert pos.count({"body": [{"path": "meter.meterId", "equals": METER}]})["seqs"] == [1]
    assert pos.count({"body": [{"path": "tenders[0].amount.amount", "equals": 5000}]})["count"] == 3
    assert (
        pos.count({"body": [{"path": "id", "matches": f"^{cid[:8]}"}, {"path": "requestId", "equals": pid}]})["count"]
        == 3
    )
    assert pos.count({"body": [{"path": "tenders[1].amount", "equals": 5000}]})["count"] == 0
