"""Reading a whole journal never holds up the PoS: while the control API opens every exchange
and every purchase (reconciliation, the referee's report, a full journal listing), /health and a
lookup are still answered within the budget the bad-input corpus holds the server to."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from tests.support import BASE, HEALTH_BUDGET, Sim, lookup, new_id, purchase, while_watching

FULL = 3000  # the journal's size here: opening it all took some 0.2 s on the event loop
METER = "01234567897"


def _buy(server: Sim, count: int) -> None:
    with httpx.Client(base_url=server.base + BASE, auth=server.client.auth, timeout=30) as client:
        for _ in range(count):
            pid = new_id()
            assert client.post(f"/tokenPurchases/{pid}", json=purchase(METER, 5000, pid)).status_code == 201


@pytest.fixture(scope="module")
def full() -> Iterator[Sim]:
    """A server whose journal is full of purchases (each also kept by the store)."""
    server = Sim(["--journal-size", str(FULL)])
    with ThreadPoolExecutor(4) as pool:
        list(pool.map(lambda _: _buy(server, FULL // 4), range(4)))
    yield server
    server.stop()


def _health(client: httpx.Client) -> httpx.Response:
    return client.get("/health")


def _lookup(client: httpx.Client) -> httpx.Response:
    lid = new_id()
    return client.post(f"{BASE}/meterLookups/{lid}", json=lookup(METER, lid))


SESSION = "test"  # the Basic-auth user names the PoS's session
IN_FULL = {"session": SESSION}
# How each read is sent, and how many exchanges (or purchases) its answer shows it read.
READS: dict[str, tuple[Callable[[httpx.Client], httpx.Response], Callable[[httpx.Response], int]]] = {
    "transactions": (lambda c: c.get("/sim/transactions", params=IN_FULL), lambda r: r.json()["count"]),
    "transactions-csv": (
        lambda c: c.get("/sim/transactions", params={**IN_FULL, "format": "csv"}),
        lambda r: r.text.count(METER),
    ),
    "report": (lambda c: c.get("/sim/report", params=IN_FULL), lambda r: r.json()["exchanges"]),
    # the probes' lookups push the oldest purchases out of the journal, so not all have a story
    "report-html": (
        lambda c: c.get("/sim/report", params={**IN_FULL, "format": "html"}),
        lambda r: 2 * r.text.count('class="story"'),
    ),
    "report-junit": (
        lambda c: c.get("/sim/report", params={**IN_FULL, "format": "junit"}),
        lambda r: FULL * r.text.startswith("<?xml"),
    ),
    "journal": (
        lambda c: c.get("/sim/journal", params={**IN_FULL, "limit": 10000}),
        lambda r: len(r.json()["exchanges"]),
    ),
}


@pytest.mark.parametrize("probe", [_health, _lookup], ids=["health", "lookup"])
@pytest.mark.parametrize("read", READS)
def test_a_whole_journal_read_does_not_hold_up_other_requests(
    full: Sim, read: str, probe: Callable[[httpx.Client], httpx.Response]
) -> None:
    send, read_count = READS[read]
    answer, times = while_watching(full, lambda: send(full.client), probe)
    assert answer.status_code == 200, answer.text[:500]
    assert read_count(answer) >= FULL
    assert max(times) < HEALTH_BUDGET, f"{probe.__name__} took {max(times):.3f} s while {read} was read"
