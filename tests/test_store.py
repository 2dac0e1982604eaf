"""The in-memory store: a purchase reads back exactly as saved, and a long run's C heap does not creep.

Records are kept compressed (JSON, zstd against the first purchase kept); every way of reading
one back must give the record that was saved, types and key order included.
"""

from __future__ import annotations

import gc
import subprocess
import sys
from collections import deque

from ppu_sim.provider.store import Advice, MemoryStore, PurchaseRecord

METER = "01234567897"


def _declined(purchase_id: str) -> PurchaseRecord:
    """A record of another shape than the next ones: the compressor's dictionary is made from it."""
    error = {"status": 400, "errorType": "FORMAT_ERROR", "detail": {}, "message": "bad meter"}
    return PurchaseRecord(purchase_id, "TST001", None, "declined", error=error, request={"id": purchase_id})


def _vended(purchase_id: str) -> PurchaseRecord:
    token = {"units": 40.0, "token": "27294519400625135248", "receiptNum": "RCT1", "tariffCalc": [{"rate": 0.1}]}
    response = {
        "id": purchase_id,
        "customer": {"lastName": "Nzamela", "address": "Umgwaqo 1, eThekwini ✓"},
        "vatInvoiceNumber": "INV1",
        "tokens": [token, {**token, "receiptNum": "RCT2", "units": 2}],
        "thirdPartyIdentifiers": [{"transactionIdentifier": "tx-1"}],
        "amounts": {"approved": 9_223_372_036_854_775_807, "change": -5},
        "flags": [True, False, None],
        "debtRecoveryCharges": [],
        "zeta": {},
        "alpha": "keys stay in the order saved",
    }
    request = {"id": purchase_id, "meter": {"meterId": METER}, "purchaseAmount": {"amount": 10000}}
    return PurchaseRecord(purchase_id, METER, "sts-meter", "vended", response=response, request=request)


def test_a_purchase_reads_back_exactly_as_saved_however_it_is_read() -> None:
    store = MemoryStore(retention=10)
    saved = _vended("p-2")
    with store.atomic():
        store.save_purchase(_declined("p-1"))
        store.save_purchase(saved)
    # repr tells 40.0 from 40, True from 1 and one key order from another; == does not.
    assert repr(store.purchase("p-2")) == repr(saved)
    assert repr(store.reprintable(METER)) == repr(saved)
    assert repr(store.reprintable(METER, "RCT2")) == repr(saved)
    assert [repr(r) for r in store.purchases_for_meter(METER)] == [repr(saved)]
    assert [repr(r) for r in store.purchases()] == [repr(_declined("p-1")), repr(saved)]

    with store.atomic():
        confirmed = store.purchase("p-2")
        assert confirmed is not None
        confirmed.status = "confirmed"
        confirmed.advices["a-1"] = Advice("confirmation", {"id": "a-1", "amount": 10000})
        store.save_purchase(confirmed)
    assert repr(store.purchase("p-2")) == repr(confirmed)
    assert repr(store.reprintable(METER, "INV1")) == repr(confirmed)  # still found by what it was saved with


# Run in a process of its own: the threshold is the C library's, for the whole process.
_LARGE_BLOCK_AFTER_A_FREE = """
import ctypes
from ppu_sim.transport.server import settle_heap

libc = ctypes.CDLL(None)
libc.malloc.restype, libc.malloc.argtypes = ctypes.c_void_p, (ctypes.c_size_t,)
libc.free.argtypes = (ctypes.c_void_p,)
libc.sbrk.restype, libc.sbrk.argtypes = ctypes.c_void_p, (ctypes.c_ssize_t,)
settle_heap()
libc.free(libc.malloc(8 << 20))  # a table of 8 MB, mapped and freed: glibc alone now keeps up to 8 MB in its heap
table = libc.malloc(1 << 20)
print("mapped" if table > libc.sbrk(0) else "in the heap")  # the heap ends at the program break
"""


def test_the_server_maps_every_large_table_even_after_freeing_a_larger_one() -> None:
    """A table rebuilt as the retention window turns over must not go into the heap, where its
    old copies left holes that kept the process growing past a full window."""
    out = subprocess.run([sys.executable, "-c", _LARGE_BLOCK_AFTER_A_FREE], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "mapped"


def _containers(value: object, seen: set[int]) -> list[dict | list | tuple | deque]:
    """Every dict, list, tuple and deque the store holds, however deep (in its tables, windows
    and their parts)."""
    if id(value) in seen or isinstance(value, (str, bytes)):
        return []
    seen.add(id(value))
    if isinstance(value, dict):
        return [value, *(c for item in value.values() for c in _containers(item, seen))]
    if isinstance(value, (list, tuple, deque)):
        return [value, *(c for item in value for c in _containers(item, seen))]
    inner = getattr(value, "__dict__", None) or {
        name: getattr(value, name) for name in getattr(type(value), "__slots__", ()) if hasattr(value, name)
    }
    return [c for item in inner.values() for c in _containers(item, seen)]


def _dicts(value: object, seen: set[int]) -> list[dict]:
    return [c for c in _containers(value, seen) if isinstance(c, dict)]


def test_no_table_as_large_as_the_window_is_one_dict() -> None:
    """CPython rebuilds a dict whole, in one step that holds the GIL, whenever it grows or runs out
    of deleted slots: at 100,000 keys and more (the window), a pause of several milliseconds for
    everyone, every table of the window at the same purchase. So the tables by purchase id,
    reference and request id, the step counts of scripts counted per purchase and the debt each
    purchase recovered are kept in parts by hash, and a meter's own list (a single busy meter may
    hold the whole window) in chunks of 1,024 in order."""
    store = MemoryStore(retention=100_000)
    for n in range(10_240):
        record = _vended(f"p-{n}")
        meter = "BUSY" if n % 2 else f"M{n % 64}"
        store.save_purchase(PurchaseRecord(record.id, meter, "sts-meter", "vended", response=record.response))
        assert store.claim("purchase", record.id)
        assert store.count(("pack", "scenario", "retryPurchaseRequest", record.id), owner=record.id) == 1
        store.set_purchase_value(record.id, "recovered", {0: 100})  # a meter with debt
    largest = max(len(d) for d in _dicts(store, set()))
    assert largest <= 1_024, f"a dict of {largest} keys"


def test_no_large_table_is_tracked_by_the_collector_when_references_repeat() -> None:
    """Random receipt and invoice numbers do repeat over a long run, and a reference named by two
    purchases must lead to both. A tuple of ids in a table made the cycle collector track that
    table until its next full pass, and every pass walked it whole: 14 ms after 240,000 purchases
    kept. The window's order in tuples of 1,024 ids was tracked until a young collection passed,
    rare with next to nothing left over per request, and that one walked every chunk since: 8 ms.
    The step counts of scripts counted per purchase and each purchase's recovered debt were dicts
    in dicts, tracked too. Only the chunk being filled (a list) may be tracked; a reprint by a
    shared reference still finds the meter's purchase among those it names, and what was kept
    beside a purchase reads back as it was set. The collector is paused meanwhile, so none of
    its passes can untrack what the store left tracked."""
    store = MemoryStore(retention=100_000)
    gc.disable()
    try:
        for n in range(5_000):
            record = _vended(f"p-{n}")
            shared = f"RCT-{n % 4_950}"  # fifty receipt numbers come round twice
            response = {**record.response, "vatInvoiceNumber": f"INV-{n}", "tokens": [{"receiptNum": shared}]}
            response["thirdPartyIdentifiers"] = [{"transactionIdentifier": f"tx-{n}"}]
            store.save_purchase(PurchaseRecord(record.id, f"M{n % 8}", "sts-meter", "vended", response=response))
            assert store.claim("purchase", record.id)
            assert store.count(("pack", "scenario", "retryPurchaseRequest", record.id), owner=record.id) == 1
            store.set_purchase_value(record.id, "recovered", {0: 100, 1: n})  # a meter with debts
        tracked = [
            f"{type(c).__name__} of {len(c)}"
            for c in _containers(store, set())
            if len(c) > 100 and gc.is_tracked(c) and not isinstance(c, list)
        ]
    finally:
        gc.enable()
    assert not tracked, f"containers the collector tracks: {tracked}"
    first, second = store.reprintable("M0", "RCT-0"), store.reprintable("M6", "RCT-0")
    assert first is not None and first.id == "p-0"  # the meter's purchase of the two, M0 then M6
    assert second is not None and second.id == "p-4950"
    assert store.purchase_value("p-4321", "recovered") == {0: 100, 1: 4321}
    assert store.count(("pack", "scenario", "retryPurchaseRequest", "p-4321"), owner="p-4321") == 2


def test_a_meters_purchases_keep_their_order_across_chunks_forgetting_and_undoing() -> None:
    """The meter's list and a reference's (these purchases all name the same ones) in chunks:
    oldest first for the meter's history, newest first for a reprint, the oldest forgotten with
    the window, and a purchase whose unit of work failed taken off again, including one that had
    opened a new chunk."""
    store = MemoryStore(retention=3_000)
    for n in range(5_120):  # five chunks' worth; the first 2,120 forgotten
        with store.atomic():
            store.save_purchase(_vended(f"p-{n}"))
    with store.atomic():  # forgetting happens as a unit of work begins
        pass
    kept = [record.id for record in store.purchases_for_meter(METER)]
    assert kept == [f"p-{n}" for n in range(2_120, 5_120)]
    try:
        with store.atomic():
            store.save_purchase(_vended("undone"))  # the first of a new chunk (5,120 = 5 x 1,024)
            raise RuntimeError("the unit of work fails")
    except RuntimeError:
        pass
    for reprint in (store.reprintable(METER), store.reprintable(METER, "RCT1")):  # every purchase names RCT1
        assert reprint is not None and reprint.id == "p-5119"
    with store.atomic():
        store.save_purchase(_vended("after"))
    assert [record.id for record in store.purchases_for_meter(METER)][-2:] == ["p-5119", "after"]
    assert store.purchase("undone") is None
    reprint = store.reprintable(METER, "INV1")
    assert reprint is not None and reprint.id == "after"
    for n in range(5_121, 8_121):  # the window turns over once more: every purchase named above is forgotten
        with store.atomic():
            store.save_purchase(_vended(f"p-{n}"))
    with store.atomic():
        pass
    reprint = store.reprintable(METER, "tx-1")
    assert reprint is not None and reprint.id == "p-8120"
    assert store.reprintable(METER, "p-5119") is None


def test_the_windows_packed_chunks_read_back_in_order_when_one_is_reopened() -> None:
    """The window packs each full chunk of 1,024 ids: a failed save that had closed a chunk opens
    it again, and the keys read back oldest first, with what was forgotten from the front gone."""
    store = MemoryStore(retention=1_500)
    for n in range(2_047):
        with store.atomic():
            store.save_purchase(_vended(f"p-{n}"))
    try:
        with store.atomic():  # forgets down to 1,500 first, then closes the second chunk
            store.save_purchase(_vended("undone"))
            raise RuntimeError("the unit of work fails")
    except RuntimeError:
        pass
    assert [record.id for record in store.purchases()] == [f"p-{n}" for n in range(547, 2_047)]
    for n in range(2_047, 3_100):
        with store.atomic():
            store.save_purchase(_vended(f"p-{n}"))
    with store.atomic():
        pass
    assert [record.id for record in store.purchases()] == [f"p-{n}" for n in range(1_600, 3_100)]
