"""Does the journal stay bounded? RSS while 200,000 exchanges go through one session, and while
2,000 sessions are created, with the default limits (10,000 exchanges per session, 256 sessions).

In-process: the exchanges are the journal's own objects built from the bytes of a real purchase
and its answer, entered and completed (packed) as the recording layer does, so the figures are
what the server's journal holds, without the minutes of HTTP traffic 200,000 requests would
take on two cores.

    .venv/bin/python bench/journal_memory.py [--exchanges 200000] [--sessions 2000]
"""

from __future__ import annotations

import argparse
import json
import resource
import uuid

from ppu_sim.app import load_catalogue
from ppu_sim.config import Settings
from ppu_sim.control.journal import Body, Exchange, now
from ppu_sim.control.sessions import Sessions


def rss_mib() -> float:
    """Resident set size now (Linux: /proc), in MiB."""
    with open("/proc/self/statm") as statm:
        pages = int(statm.read().split()[1])
    return pages * resource.getpagesize() / 2**20


def sample_bodies() -> tuple[bytes, bytes]:
    """A purchase request and a tokens answer of typical size (about 1 KB and 2 KB)."""
    request = {
        "id": str(uuid.uuid4()),
        "time": "2026-11-21T10:15:30.123Z",
        "originator": {"institution": {"id": "123456", "name": "Test"}, "terminalId": "12345678"},
        "client": {"id": "001", "name": "PoS"},
        "thirdPartyIdentifiers": [{"institutionId": "123456", "transactionIdentifier": "tx-1"}],
        "meter": {"meterId": "01234567897"},
        "purchaseAmount": {"amount": 5000, "currency": "710"},
    }
    token = {"tokenType": "STD", "units": 21.3, "token": "12345678901234567890", "receiptNum": "R123456789"}
    response = {**request, "tokens": [token] * 4, "customer": {"firstName": "Thandi", "lastName": "Nkosi"}}
    return json.dumps(request).encode(), json.dumps(response).encode()


def exchange(session: str, request: bytes, response: bytes) -> Exchange:
    """Bodies copied, as each request brings its own bytes."""
    e = Exchange(session, now(), "POST", "/prepaidutility/v3/tokenPurchases/x", "", {"authorization": "pos"},
                 "createTokenPurchaseRequest", {"purchaseId": "x"}, Body(bytes(bytearray(request))))  # fmt: skip
    e.status, e.response, e.duration_ms = 201, Body(bytes(bytearray(response))), 3.0
    return e


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--exchanges", type=int, default=200_000, choices=range(1, 1_000_001), metavar="N")
    parser.add_argument("--sessions", type=int, default=2_000, choices=range(1, 100_001), metavar="N")
    args = parser.parse_args()
    defaults = Settings()
    request, response = sample_bodies()
    catalogue = load_catalogue()

    def fresh() -> Sessions:
        return Sessions(catalogue, journal_size=defaults.journal_size, max_sessions=defaults.max_sessions)

    sessions = fresh()
    base = rss_mib()
    print(
        f"one session, {args.exchanges:,} exchanges (journal size {defaults.journal_size:,}); "
        f"RSS at start {base:.0f} MiB"
    )
    one = sessions.get("one")
    marks = sorted({args.exchanges * k // 10 for k in range(1, 11)})
    for n in range(1, args.exchanges + 1):
        one.journal.settle(one.journal.add(exchange("one", request, response)))
        if n in marks:
            print(
                f"  {n:>9,} exchanges: RSS {rss_mib():6.0f} MiB, "
                f"kept {len(one.journal):,}, dropped {one.journal.dropped:,}"
            )

    sessions = fresh()
    print(f"{args.sessions:,} sessions, 50 exchanges each (at most {defaults.max_sessions} kept)")
    marks = sorted({args.sessions * k // 10 for k in range(1, 11)})
    for n in range(1, args.sessions + 1):
        session = sessions.get(f"s{n}")
        for _ in range(50):
            session.journal.settle(session.journal.add(exchange(session.name, request, response)))
        if n in marks:
            print(f"  {n:>9,} sessions: RSS {rss_mib():6.0f} MiB, live {len(sessions)}, evicted {sessions.evicted:,}")


if __name__ == "__main__":
    main()
