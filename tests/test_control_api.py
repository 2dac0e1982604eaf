"""The control API over HTTP: bad input, access, packs loaded at run time, reconciliation, sessions."""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.control import Pos, conforms
from tests.support import AUTH, BASE, Sim, cli, confirmation, lookup, new_id, purchase, reversal, with_id

METER = "01234567897"


@pytest.fixture
def pos(sim: Sim) -> Iterator[Pos]:
    client = Pos(sim)
    yield client
    client.close()


def buy(pos: Pos, meter: str = METER, amount: int = 5000) -> tuple[str, httpx.Response]:
    pid = new_id()
    return pid, pos.post(f"/tokenPurchases/{pid}", purchase(meter, amount, pid))


# -- bad input: a 4xx naming the field, and nothing stored changes ------------------------------

BAD = [
    ("GET", "/journal", "getJournal", {"params": {"operaton": "x"}}, 400, "operaton"),
    ("GET", "/journal", "getJournal", {"params": {"limit": "lots"}}, 400, "limit"),
    ("GET", "/journal", "getJournal", {"params": {"order": "sideways"}}, 400, "order"),
    ("GET", "/journal/999", "getExchange", {}, 404, "seq"),
    ("GET", "/journal/0", "getExchange", {}, 400, "seq"),
    ("POST", "/journal/count", "countExchanges", {"json": {"operation": 3}}, 400, "operation"),
    ("POST", "/journal/count", "countExchanges", {"json": {"extra": 1}}, 400, "body"),
    ("POST", "/journal/count", "countExchanges", {"json": {"body": [{"path": "a..b", "equals": 1}]}}, 400,
     "body[0].path"),
    ("POST", "/journal/count", "countExchanges", {"json": {"body": [{"path": "a", "matches": "("}]}}, 400,
     "body[0].matches"),
    ("POST", "/journal/count", "countExchanges", {"json": {"body": [{"path": "a"}]}}, 400, "body[0]"),
    ("POST", "/journal/count", "countExchanges", {"content": b"{", "headers": {"Content-Type": "application/json"}},
     400, "body"),
    ("DELETE", "/scenarios/never-loaded", "deleteScenarios", {}, 404, "pack"),
    ("GET", "/transactions", "getTransactions", {"params": {"format": "xml"}}, 400, "format"),
    ("POST", "/journal/count", "countExchanges", {"content": b"{}", "headers": {"Content-Type": "text/csv"}}, 415,
     "Content-Type"),
]  # fmt: skip


@pytest.mark.parametrize(("method", "path", "op_id", "kwargs", "status", "field"), BAD)
def test_bad_input_is_a_4xx_naming_the_field_and_changes_nothing(pos: Pos, method, path, op_id, kwargs, status, field):
    _, bought = buy(pos)
    assert bought.status_code == 201
    before = pos.journal()
    answer = pos.control(method, path, op_id, **kwargs)
    assert answer.status_code == status, answer.text
    assert answer.json()["field"] == field and answer.json()["message"]
    assert pos.journal() == before
    assert pos.transactions()["totals"]["vended"] == 1


def test_an_unknown_session_is_a_404_for_reads(sim: Sim) -> None:
    for method, path, op_id in [
        ("GET", "/journal", "getJournal"),
        ("DELETE", "/journal", "clearJournal"),
        ("GET", "/transactions", "getTransactions"),
        ("GET", "/scenarios", "getScenarios"),
        ("POST", "/journal/count", "countExchanges"),
    ]:
        answer = conforms(op_id, httpx.request(method, f"{sim.base}/sim{path}", params={"session": "no-such"}, json={}))
        assert answer.status_code == 404 and answer.json() == {
            "error": "unknown-session",
            "message": "no live session named 'no-such'",
            "field": "session",
        }


def test_a_pack_that_does_not_validate_is_refused_like_a_file_and_the_session_keeps_its_own(
    pos: Pos, tmp_path: Path
) -> None:
    good = "pack: mine\nscenarios:\n  - {name: down, match: {meterId: TST001}, respond: {createMeterLookup: [{error: {status: 503, errorType: UPSTREAM_UNAVAILABLE}}]}}\n"  # noqa: E501
    assert pos.load(good).status_code == 201
    bad = "pack: mine\nscenarios:\n  - name: broken\n    match: {meterId: TST001, colour: red}\n    respond: {createMeterLookup: [{error: {status: 503, errorType: NOPE}}]}\n"  # noqa: E501
    answer = pos.load(bad)
    assert answer.status_code == 400 and answer.json()["error"] == "invalid-pack"
    file = tmp_path / "upload"
    file.write_text(bad)
    validate = subprocess.run([cli(), "scenarios", "validate", str(file)], capture_output=True, text=True)
    as_a_file = [line.replace(str(file), "upload") for line in validate.stderr.splitlines()[:-1]]
    assert as_a_file and answer.json()["problems"] == as_a_file
    lid = new_id()
    assert pos.post(f"/meterLookups/{lid}", lookup("TST001", lid)).status_code == 503  # the good pack still rules
    not_yaml = pos.load("pack: [unclosed\n")
    assert not_yaml.status_code == 400 and not_yaml.json()["problems"][0].startswith("upload:")


# -- access -------------------------------------------------------------------------------------


def test_the_admin_token_guards_the_control_api_and_pos_credentials_never_open_it(start_sim) -> None:
    sim = start_sim(env={"PPU_SIM_ADMIN_TOKEN": "s3cret"})
    url = f"{sim.base}/sim/sessions"
    refused = [
        httpx.get(url),
        httpx.get(url, auth=AUTH),
        httpx.get(url, headers={"Authorization": "Bearer wrong"}),
        httpx.get(url, headers={"Authorization": "Basic czNjcmV0OnMzY3JldA=="}),  # s3cret:s3cret
    ]
    for answer in refused:
        assert conforms("listSessions", answer).status_code == 401
        assert answer.json()["error"] == "unauthorized" and "s3cret" not in answer.text
    assert conforms("listSessions", httpx.get(url, headers={"Authorization": "Bearer s3cret"})).status_code == 200
    assert httpx.get(f"{sim.base}/sim/ui/").status_code == 200  # the document is no secret
    lid = new_id()
    assert sim.post(f"/meterLookups/{lid}", lookup(METER, lid)).status_code == 201  # the interface as before
    assert "open to anyone" not in sim.log.read_text()


def test_an_open_control_api_beyond_loopback_is_announced(start_sim) -> None:
    sim = start_sim("--host", "0.0.0.0")
    assert "the control API (/sim/) is open to anyone who can reach 0.0.0.0" in sim.log.read_text()


# -- packs at run time --------------------------------------------------------------------------

DOWN = """
pack: tst001-down
scenarios:
  - name: tst001-down
    match: {meterId: TST001}
    respond: {createTokenPurchaseRequest: [{error: {status: 503, errorType: UPSTREAM_UNAVAILABLE}}]}
"""


def test_a_loaded_pack_rules_its_session_only_until_deleted(sim: Sim) -> None:
    mine, theirs = Pos(sim), Pos(sim)
    loaded = mine.load(DOWN)
    assert loaded.status_code == 201
    assert loaded.json() == {"session": mine.session, "pack": "tst001-down", "scenarios": ["tst001-down"]}
    assert buy(mine, "TST001", 10000)[1].status_code == 503  # above the file that defines TST001
    assert buy(theirs, "TST001", 10000)[1].status_code == 201
    catalogue = mine.control("GET", "/scenarios", "getScenarios").json()
    assert catalogue[0]["pack"] == "tst001-down" and catalogue[0]["meterIds"] == ["TST001"]
    assert "tst001-down" not in {row["pack"] for row in theirs.control("GET", "/scenarios", "getScenarios").json()}
    assert mine.control("DELETE", "/scenarios/tst001-down", "deleteScenarios").status_code == 204
    assert buy(mine, "TST001", 10000)[1].status_code == 201
    assert mine.control("DELETE", "/scenarios/tst001-down", "deleteScenarios").status_code == 404
    mine.close()
    theirs.close()


def test_the_catalogue_has_the_shape_of_scenarios_list(sim: Sim) -> None:
    listed = json.loads(subprocess.run([cli(), "scenarios", "list", "--format", "json"], capture_output=True,
                                       text=True, check=True).stdout)  # fmt: skip
    # the default session always exists; a new session starts from the same catalogue
    assert conforms("getScenarios", httpx.get(f"{sim.base}/sim/scenarios")).json() == listed


def test_reset_forgets_state_journal_and_packs(pos: Pos) -> None:
    pid, bought = buy(pos, "EDGEFREE", 500)
    assert len(bought.json()["tokens"]) == 2  # the once-only free token
    pos.load(DOWN)
    reset = pos.control("POST", "/reset", "resetSession")
    assert reset.status_code == 200 and reset.json() == {"session": pos.session, "reset": True}
    assert pos.journal() == [] and pos.transactions()["count"] == 0
    assert len(buy(pos, "EDGEFREE", 500)[1].json()["tokens"]) == 2  # due again, as on a fresh simulator
    assert buy(pos, "TST001", 10000)[1].status_code == 201
    assert pos.post(f"/tokenPurchases/{pid}", purchase(METER, 5000, pid)).status_code == 201  # the id is new again


# -- reconciliation -----------------------------------------------------------------------------


def test_every_reconciliation_state_comes_from_a_real_flow(pos: Pos) -> None:
    vended, _ = buy(pos)
    declined, answer = buy(pos, "TST001", 500)
    assert answer.status_code == 400
    confirmed, _ = buy(pos)
    cid, vid = new_id(), new_id()
    assert (
        pos.post(f"/tokenPurchases/{confirmed}/confirmations/{cid}", confirmation(confirmed, cid, 5000)).status_code
        == 202
    )
    reversed_, _ = buy(pos)
    assert pos.post(f"/tokenPurchases/{reversed_}/reversals/{vid}", reversal(reversed_, vid)).status_code == 202
    lost, answer = buy(pos, "EDGELOST504")
    assert answer.status_code == 504
    retried, _ = buy(pos, "EDGELOST504")
    retry = pos.post(f"/tokenPurchases/{retried}/retry", with_id(purchase("EDGELOST504", 5000, retried), new_id()))
    assert retry.status_code == 202
    table = pos.transactions()
    states = {row["purchaseId"]: row["state"] for row in table["transactions"]}
    assert states == {
        vended: "vended",
        declined: "declined",
        confirmed: "confirmed",
        reversed_: "reversed",
        lost: "reply-lost",
        retried: "retried",
    }
    assert table["totals"] == dict.fromkeys(states.values(), 1) and table["count"] == 6
    rows = {row["purchaseId"]: row for row in table["transactions"]}
    assert rows[declined]["errorType"] == "AMOUNT_TOO_LOW" and rows[declined]["tokens"] == []
    assert rows[lost]["tokens"] and rows[lost]["attempts"][0]["delivered"] is False
    assert rows[retried]["retries"] == 1 and rows[retried]["tokens"] == [t["token"] for t in retry.json()["tokens"]]
    assert rows[confirmed]["advices"][0]["kind"] == "confirmation"
    assert rows[confirmed]["requestedAmount"] == {"amount": 5000, "currency": "710"}
    assert rows[confirmed]["approvedAmount"] == {"amount": 5000, "currency": "710"}
    csv = pos.control("GET", "/transactions", "getTransactions", params={"format": "csv"})
    lines = csv.text.splitlines()
    assert csv.headers["content-type"].startswith("text/csv") and len(lines) == 7
    assert lines[0].startswith("purchaseId,meterId,state,requestedAmount")
    assert any(line.startswith(f"{lost},EDGELOST504,reply-lost,5000,5000,710,") for line in lines)


def test_acceptance_a_lost_reply_retried_and_confirmed_seen_exactly_in_its_own_session(sim: Sim) -> None:
    pos, other = Pos(sim), Pos(sim)
    pid, rid, cid = new_id(), new_id(), new_id()
    body = purchase("EDGELOST504", 5000, pid)
    other_pid, _ = buy(other, "EDGELOST504")  # someone else's traffic on the same meter, at the same time
    assert pos.post(f"/tokenPurchases/{pid}", body).status_code == 504
    retry = pos.post(f"/tokenPurchases/{pid}/retry", with_id(body, rid))
    assert retry.status_code == 202
    assert pos.post(f"/tokenPurchases/{pid}/confirmations/{cid}", confirmation(pid, cid, 5000)).status_code == 202

    story = pos.journal(purchaseId=pid)
    assert [(e["operation"], e["status"]) for e in story] == [
        ("createTokenPurchaseRequest", 504),
        ("retryPurchaseRequest", 202),
        ("confirmTokenPurchase", 202),
    ]
    assert story[0]["scenario"] == "vend-then-504" and story[0]["errorType"] == "UPSTREAM_UNAVAILABLE"
    assert story[1]["requestBody"]["id"] == rid and story[2]["pathIds"]["confirmationId"] == cid
    assert pos.journal() == story  # nothing else in this session
    assert pos.count({"operation": "confirmTokenPurchase", "transaction": pid})["count"] == 1
    (row,) = pos.transactions()["transactions"]
    assert row["purchaseId"] == pid and row["state"] == "confirmed" and row["retries"] == 1
    assert [a["delivered"] for a in row["attempts"]] == [False, True]
    assert row["tokens"] == [t["token"] for t in retry.json()["tokens"]]
    assert row["advices"] == [
        {"kind": "confirmation", "id": cid, "answers": [{"seq": 3, "operation": "confirmTokenPurchase", "status": 202,
                                                         "delivered": True}]}
    ]  # fmt: skip
    assert row["messages"] == [1, 2, 3]
    assert [r["purchaseId"] for r in other.transactions()["transactions"]] == [other_pid]
    pos.close()
    other.close()


# -- sessions -----------------------------------------------------------------------------------


def test_sessions_are_listed_with_their_counts(sim: Sim) -> None:
    pos = Pos(sim)
    buy(pos)
    pos.load(DOWN)
    listed = conforms("listSessions", httpx.get(f"{sim.base}/sim/sessions")).json()
    (mine,) = [s for s in listed["sessions"] if s["name"] == pos.session]
    assert mine["exchanges"] == 1 and mine["purchases"] == 1 and mine["packs"] == ["tst001-down"]
    assert listed["maxSessions"] == 256 and listed["ttlSeconds"] == 3600
    pos.close()


def test_the_basic_user_names_the_session_without_a_header(sim: Sim) -> None:
    user = f"till-{new_id()[:8]}"
    lid = new_id()
    assert (
        httpx.post(f"{sim.base}{BASE}/meterLookups/{lid}", json=lookup(METER, lid), auth=(user, "x")).status_code == 201
    )
    journal = httpx.get(f"{sim.base}/sim/journal", params={"session": user}).json()
    assert [e["pathIds"]["lookupId"] for e in journal["exchanges"]] == [lid]


def test_sessions_are_evicted_by_count_oldest_idle_first_and_by_idle_time(start_sim) -> None:
    sim = start_sim("--max-sessions", "3", "--session-ttl", "1")
    clients = [Pos(sim, session=name) for name in "abcd"]
    for client in clients[:3]:
        buy(client)
    buy(clients[0])  # a is used again: b is now the oldest idle
    buy(clients[3])
    listed = httpx.get(f"{sim.base}/sim/sessions").json()
    assert [s["name"] for s in listed["sessions"]] == ["c", "a", "d"] and listed["evicted"] == 1
    assert clients[1].control("GET", "/journal", "getJournal").status_code == 404
    time.sleep(1.2)  # past the TTL
    listed = httpx.get(f"{sim.base}/sim/sessions").json()
    assert listed["sessions"] == [] and listed["evicted"] == 4
    for client in clients:
        client.close()


def test_the_journal_keeps_the_newest_and_reports_how_many_went(start_sim) -> None:
    sim = start_sim("--journal-size", "3")
    pos = Pos(sim)
    for _ in range(5):
        buy(pos)
    page = pos.control("GET", "/journal", "getJournal").json()
    assert [e["seq"] for e in page["exchanges"]] == [3, 4, 5]
    assert (page["kept"], page["dropped"], page["lastSeq"]) == (3, 2, 5)
    cleared = pos.control("DELETE", "/journal", "clearJournal")
    assert cleared.json() == {"session": pos.session, "cleared": 3}
    buy(pos)
    assert [e["seq"] for e in pos.journal()] == [6]
    pos.close()
