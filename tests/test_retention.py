"""Retention: a session remembers the last N transactions; an older one is answered as never seen.

With `--retention 3`, four purchases on one meter leave the last three: the first is forgotten by
every operation that looks purchases up (advices, retries, reprints by reference, duplicates),
and the reprint of the meter's last purchase, the advices of the kept ones and the meter's debt
carry on as before.
"""

from __future__ import annotations

from collections.abc import Callable

import httpx

from ppu_sim.provider.store import MemoryStore, _Window
from tests.support import Sim, confirmation, lookup, new_id, purchase, reprint, reversal, sts_meter

METER = sts_meter("0123456789")
AMOUNT = 10000


def _reprint(sim: Sim, ref: str | None = None) -> httpx.Response:
    rid = new_id()
    return sim.post(f"/tokenReprints/{rid}", reprint(METER, ref, rid))


def _bought(sim: Sim, count: int) -> list[dict]:
    answers = []
    for _ in range(count):
        pid = new_id()
        r = sim.post(f"/tokenPurchases/{pid}", purchase(METER, AMOUNT, pid))
        assert r.status_code == 201, r.text
        answers.append(r.json())
    return answers


def test_a_forgotten_purchase_is_answered_as_one_never_seen(start_sim: Callable[..., Sim]) -> None:
    sim = start_sim("--retention", "3")
    first, second, *_, last = _bought(sim, 4)
    gone, kept = first["id"], second["id"]

    cid = new_id()
    r = sim.post(f"/tokenPurchases/{gone}/confirmations/{cid}", confirmation(gone, cid))
    assert r.status_code == 404 and r.json()["errorType"] == "UNABLE_TO_LOCATE_RECORD"
    rid = new_id()
    r = sim.post(f"/tokenPurchases/{gone}/reversals/{rid}", reversal(gone, rid))
    assert r.status_code == 404 and r.json()["errorType"] == "UNABLE_TO_LOCATE_RECORD"
    receipt = first["tokens"][0]["receiptNum"]
    r = _reprint(sim, receipt)
    assert r.status_code == 400 and r.json()["errorType"] == "UNABLE_TO_LOCATE_RECORD"

    r = _reprint(sim)
    assert r.status_code == 200 and r.json()["tokens"] == last["tokens"]
    cid = new_id()
    assert sim.post(f"/tokenPurchases/{kept}/confirmations/{cid}", confirmation(kept, cid)).status_code == 202
    r = _reprint(sim, second["tokens"][0]["receiptNum"])
    assert r.status_code == 200 and r.json()["tokens"] == second["tokens"]

    # Its id is free again: a retry is processed as the purchase, and the id may be used anew.
    retried = sim.post(f"/tokenPurchases/{gone}/retry", purchase(METER, AMOUNT, new_id()))
    assert retried.status_code == 202, retried.text
    assert sim.post(f"/tokenPurchases/{gone}", purchase(METER, AMOUNT, gone)).status_code == 400  # now kept again


def test_request_ids_are_remembered_up_to_the_retention(start_sim: Callable[..., Sim]) -> None:
    sim = start_sim("--retention", "2")
    ids = [new_id() for _ in range(3)]
    for lid in ids:
        assert sim.post(f"/meterLookups/{lid}", lookup(METER, lid)).status_code == 201
    assert sim.post(f"/meterLookups/{ids[-1]}", lookup(METER, ids[-1])).json()["errorType"] == "DUPLICATE_RECORD"
    assert sim.post(f"/meterLookups/{ids[0]}", lookup(METER, ids[0])).status_code == 201


def test_by_default_a_session_remembers_everything_a_test_run_makes(start_sim: Callable[..., Sim]) -> None:
    sim = start_sim()
    first, *_ = _bought(sim, 50)
    cid = new_id()
    r = sim.post(f"/tokenPurchases/{first['id']}/confirmations/{cid}", confirmation(first["id"], cid))
    assert r.status_code == 202


FORGETFUL = """
scenarios:
  - name: one-debt
    match: {meterId: DEBT1}
    meter: {arrears: 4000}
    vend:
      debtRecovery:
        - {description: Arrears, amount: 5000, balance: 4000}
  - name: refuse-the-first-confirmation
    match: {meterId: SAF1}
    respond:
      confirmTokenPurchase:
        - {times: 1, error: {status: 503, errorType: UPSTREAM_UNAVAILABLE}}
"""


def _sold(sim: Sim, meter: str, pid: str | None = None) -> dict:
    pid = pid or new_id()
    r = sim.post(f"/tokenPurchases/{pid}", purchase(meter, AMOUNT, pid))
    assert r.status_code == 201, r.text
    return r.json()


def _arrears(sim: Sim, meter: str) -> int:
    lid = new_id()
    return sim.post(f"/meterLookups/{lid}", lookup(meter, lid)).json()["arrearsAmount"]["amount"]


def test_a_forgotten_purchase_takes_the_debt_it_recovered_with_it(start_sim: Callable[..., Sim], tmp_path) -> None:
    """Its id used anew recovers nothing (the debt is paid): reversing that gives nothing back."""
    pack = tmp_path / "forgetful.yaml"
    pack.write_text(FORGETFUL)
    sim = start_sim("--retention", "2", "--scenarios", str(pack))
    first = _sold(sim, "DEBT1")
    assert [c["balance"]["amount"] for c in first["debtRecoveryCharges"]] == [0]
    for _ in range(2):
        assert _sold(sim, "DEBT1")["debtRecoveryCharges"] == []

    again = _sold(sim, "DEBT1", first["id"])
    assert again["debtRecoveryCharges"] == []
    rid = new_id()
    assert sim.post(f"/tokenPurchases/{first['id']}/reversals/{rid}", reversal(first["id"], rid)).status_code == 202
    assert _arrears(sim, "DEBT1") == 0


def test_a_forgotten_purchase_takes_its_step_counts_with_it(start_sim: Callable[..., Sim], tmp_path) -> None:
    """Counted per purchase, a script starts afresh for an id that was forgotten and used anew."""
    pack = tmp_path / "forgetful.yaml"
    pack.write_text(FORGETFUL)
    sim = start_sim("--retention", "2", "--scenarios", str(pack))

    def confirm(pid: str) -> int:
        cid = new_id()
        return sim.post(f"/tokenPurchases/{pid}/confirmations/{cid}", confirmation(pid, cid)).status_code

    pid = _sold(sim, "SAF1")["id"]
    assert [confirm(pid), confirm(pid)] == [503, 202]
    for _ in range(2):
        _sold(sim, "SAF1")

    _sold(sim, "SAF1", pid)
    assert [confirm(pid), confirm(pid)] == [503, 202]


def test_a_window_wider_than_a_chunk_forgets_in_order_and_takes_back_a_failed_claim() -> None:
    """In process: the store keeps its order of ids in chunks; the boundaries must not show."""
    store = MemoryStore(retention=1500)
    ids = [f"id-{n}" for n in range(3 * _Window.CHUNK)]
    for n, request_id in enumerate(ids):
        try:
            with store.atomic():
                assert store.claim("lookup", request_id)
                if n % _Window.CHUNK == _Window.CHUNK - 1:
                    raise RuntimeError("the unit of work fails after closing a chunk")
        except RuntimeError:
            pass
    with store.atomic():  # forgetting happens as a unit begins
        pass
    claimed = [i for n, i in enumerate(ids) if n % _Window.CHUNK != _Window.CHUNK - 1]
    with store.atomic():
        assert [store.claim("lookup", i) for i in claimed] == [True] * (len(claimed) - 1500) + [False] * 1500
