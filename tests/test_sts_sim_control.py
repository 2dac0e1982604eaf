"""The virtual meter over the control API: keying tokens in per session, the register, and
reconciliation's column of tokens keyed in."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.control import Pos
from tests.support import Sim, lookup, new_id, purchase, sts_meter


@pytest.fixture
def pos(sim: Sim) -> Iterator[Pos]:
    client = Pos(sim)
    yield client
    client.close()


def buy(pos: Pos, meter: str, amount: int = 5000) -> dict[str, Any]:
    pid = new_id()
    r = pos.post(f"/tokenPurchases/{pid}", purchase(meter, amount, pid))
    assert r.status_code == 201, r.text
    return {**r.json(), "purchaseId": pid}


def key_in(pos: Pos, meter: str, token: str) -> dict[str, Any]:
    r = pos.control("POST", f"/meters/{meter}/tokens", "keyInToken", json={"token": token})
    assert r.status_code == 200, r.text
    return r.json()


def register(pos: Pos, meter: str) -> dict[str, Any]:
    r = pos.control("GET", f"/meters/{meter}", "getMeter")
    assert r.status_code == 200, r.text
    return r.json()


def test_a_vended_token_is_accepted_once_for_the_units_the_reply_states(pos: Pos) -> None:
    meter = sts_meter("0430000001")
    sold = buy(pos, meter)
    (token,) = sold["tokens"]
    shown = key_in(pos, meter, token["token"])
    assert shown["accepted"] is True
    assert shown["units"] == token["units"] == shown["register"]["credit"]
    assert (shown["decoded"]["class"], shown["decoded"]["subclass"]) == (0, 0)
    again = key_in(pos, meter, token["token"])
    assert (again["accepted"], again["reason"]) == (False, "used")
    shown_register = register(pos, meter)
    assert shown_register["credit"] == token["units"]
    assert [t["tid"] for t in shown_register["acceptedTids"]] == [shown["decoded"]["tid"]]


def test_a_key_change_set_moves_the_meter_on_and_old_key_tokens_are_refused(pos: Pos) -> None:
    meter = sts_meter("0430000002")
    before = buy(pos, meter)
    rid = new_id()
    r = pos.post(f"/keyChangeTokenRequests/{rid}", lookup(meter, rid))
    assert r.status_code == 201, r.text
    new = r.json()["meter"]["keyChangeData"]
    first, second = (key_in(pos, meter, t["token"]) for t in r.json()["tokens"])
    assert (first["keyChange"], second["keyChange"]) == ("staged", "installed")
    key_data = second["register"]["keyData"]
    assert (str(key_data["keyRevisionNumber"]), key_data["tariffIndex"]) == (
        new["newKeyRevisionNumber"],
        new["newTariffIndex"],
    )
    assert key_in(pos, meter, buy(pos, meter)["tokens"][0]["token"])["accepted"] is True
    refused = key_in(pos, meter, before["tokens"][0]["token"])
    assert (refused["accepted"], refused["reason"]) == (False, "wrong-key")


@pytest.mark.parametrize(
    ("meter", "reason"),
    [("EDGESTSBADCRC", "authentication"), ("EDGESTSOTHER", "authentication")],
)
def test_deliberately_faulty_tokens_are_refused_with_the_meters_reason(pos: Pos, meter: str, reason: str) -> None:
    refused = key_in(pos, meter, buy(pos, meter)["tokens"][0]["token"])
    assert (refused["accepted"], refused["reason"]) == (False, reason)
    assert "CRC" in refused["message"]


def test_a_reused_tid_is_refused_as_used(pos: Pos) -> None:
    first, second = (buy(pos, "EDGESTSREUSED")["tokens"][0]["token"] for _ in range(2))
    assert key_in(pos, "EDGESTSREUSED", first)["accepted"] is True
    assert key_in(pos, "EDGESTSREUSED", second)["reason"] == "used"


def test_each_session_has_its_own_meter(sim: Sim, pos: Pos) -> None:
    meter = sts_meter("0430000003")
    key_in(pos, meter, buy(pos, meter)["tokens"][0]["token"])
    other = Pos(sim)
    try:
        other.post(f"/meterLookups/{(i := new_id())}", lookup(meter, i))  # the other session exists
        assert register(other, meter)["credit"] == 0
    finally:
        other.close()


def test_reconciliation_shows_which_tokens_were_keyed_in(pos: Pos) -> None:
    meter = sts_meter("0430000004")
    keyed, unkeyed = buy(pos, meter), buy(pos, meter)
    key_in(pos, meter, keyed["tokens"][0]["token"])
    rows = {row["purchaseId"]: row for row in pos.transactions()["transactions"]}
    assert rows[keyed["purchaseId"]]["keyedIn"] == [True]
    assert rows[unkeyed["purchaseId"]]["keyedIn"] == [False]
    csv = pos.control("GET", "/transactions", "getTransactions", params={"format": "csv"}).text.splitlines()
    header = csv[0].split(",")
    by_id = {line.split(",")[0]: dict(zip(header, line.split(","), strict=True)) for line in csv[1:]}
    assert (by_id[keyed["purchaseId"]]["keyedIn"], by_id[unkeyed["purchaseId"]]["keyedIn"]) == ("1/1", "0/1")


@pytest.mark.parametrize(
    ("meter", "token", "status", "named"),
    [
        ("01234567897", "1234", 400, "has 4 digits, not 20"),
        ("01234567897", "73786976294838206464", 400, "above 2^66 - 1"),
        ("01234567890", "0" * 20, 404, "wrong check digit (expected 7)"),
        ("SHOP1", "0" * 20, 404, "no scenario gives meter 'SHOP1' an STS identity"),
    ],
)
def test_bad_input_is_a_4xx_naming_it(pos: Pos, meter: str, token: str, status: int, named: str) -> None:
    r = pos.control("POST", f"/meters/{meter}/tokens", "keyInToken", json={"token": token})
    assert r.status_code == status and named in r.json()["message"], r.text
