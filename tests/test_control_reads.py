"""Reading a whole journal never holds up the PoS: while the control API opens every exchange
and every purchase (reconciliation, the referee's report, a full journal listing), /health and a
lookup are answered all along. How long the server pauses meanwhile is bench/read_pauses.py's."""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest

from ppu_sim.app import create_app
from ppu_sim.config import Settings
from ppu_sim.control.reading import json_pieces
from tests.support import AUTH, BASE, Sim, lookup, new_id, purchase, while_watching

FULL = 3000  # the journal's size here: opening it all took some 0.2 s on the event loop
METER = "01234567897"
MOST = 256 * 1024  # bytes in one message of an answer


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
    answer, during = while_watching(full, lambda: send(full.client), probe)
    assert answer.status_code == 200, answer.text[:500]
    assert read_count(answer) >= FULL
    # Reading on the event loop left every probe waiting until the answer was out (none answered
    # meanwhile); beside it, a hundred or more are answered (a thousand and more for the reports).
    assert during >= 20, f"{probe.__name__} answered only {during} times while {read} was read"


def _scope(method: str, path: str, query: str = "", body: bytes = b"") -> dict[str, Any]:
    headers = [(b"authorization", b"Basic " + base64.b64encode(":".join(AUTH).encode()))]
    if body:
        headers += [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": query.encode(),
        "root_path": "",
        "headers": headers,
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 8080),
    }


async def _messages(app: Any, scope: dict[str, Any], body: bytes = b"") -> list[dict[str, Any]]:
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    await app(scope, receive, send)
    return sent


async def _pieces_of_each_read() -> dict[str, list[dict[str, Any]]]:
    app = create_app(Settings())
    for _ in range(500):
        for path, body in (("meterLookups", lookup), ("tokenPurchases", purchase)):
            rid = new_id()
            raw = json.dumps(body(METER, rid) if path == "meterLookups" else body(METER, 5000, rid)).encode()
            (start, *_) = await _messages(app, _scope("POST", f"{BASE}/{path}/{rid}", body=raw), raw)
            assert start["status"] in (200, 201), start
    return {
        name: await _messages(app, _scope("GET", path, query))
        for name, (path, query) in {
            "journal": ("/sim/journal", f"session={SESSION}&limit=10000"),
            "transactions": ("/sim/transactions", f"session={SESSION}"),
            "transactions-csv": ("/sim/transactions", f"session={SESSION}&format=csv"),
            "report": ("/sim/report", f"session={SESSION}"),
            "report-html": ("/sim/report", f"session={SESSION}&format=html"),
            "report-junit": ("/sim/report", f"session={SESSION}&format=junit"),
        }.items()
    }


def test_a_whole_journal_answer_is_written_and_sent_in_pieces() -> None:
    """In process, where each message the server sends is seen: an answer over a whole journal
    is never one buffer (building, encoding or sending 25 MB at once held the event loop up for
    tens of ms), and still has one Content-Length that its pieces add up to."""
    sizes = {}
    for name, (start, *body) in asyncio.run(_pieces_of_each_read()).items():
        assert start["status"] == 200, name
        pieces = [m["body"] for m in body if m["body"]]
        whole = b"".join(pieces)
        sizes[name] = len(whole)
        assert dict(start["headers"])[b"content-length"] == str(len(whole)).encode(), name
        assert max(map(len, pieces)) <= MOST, (name, list(map(len, pieces)))
        if name in ("journal", "transactions", "report"):
            json.loads(whole)
    assert sizes["journal"] > 2 * MOST and sizes["report-html"] > 2 * MOST, sizes  # they came in pieces


def test_writing_an_answer_in_pieces_leaves_what_the_journal_holds_alone() -> None:
    """A masked body of an exchange in flight is shared with the journal: its lists must not be
    emptied by the answer that shows it, however long they are."""
    bodies = [[{"pan": "411111******1111", "line": n} for n in range(100)] for _ in range(100)]  # JSON arrays
    kept = json.loads(json.dumps(bodies))
    listing = {"session": "s", "exchanges": [{"seq": n, "requestBody": body} for n, body in enumerate(bodies)]}
    expected = json.dumps(listing)
    assert b"".join(json_pieces(listing)).decode() == expected
    assert bodies == kept
