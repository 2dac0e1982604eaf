"""Microseconds per request of the recording layer's own work (session, journal, masking, taps).

``asgi_calls.py`` times the whole stack, where the recorder's share (some 15 µs of a lookup's 60)
moves with everything else. Here the :class:`~ppu_sim.control.recorder.Recorder` of a real
simulator (default settings: one session, the journal on) wraps a stand-in for the layers inside
it, which reads the body, fills in the request's note as a handler does and sends the reply the
real stack gave to the same request (captured first, ``ppu_load.lua``'s bodies), with the
collector set as the server sets it. The stand-in is timed alone as well, alternately with the
recorder over it; the difference of the best rounds is the recorder's own cost.

    .venv/bin/python bench/recorder_cost.py                  # 7 rounds of 5,000 requests
    .venv/bin/python bench/recorder_cost.py --count 20000    # longer, e.g. under py-spy
"""

from __future__ import annotations

import argparse
import asyncio
import time
from typing import Any

from asgi_calls import one, replied, request

from ppu_sim.app import create_app
from ppu_sim.config import Settings
from ppu_sim.control.recorder import Recorder
from ppu_sim.runtime import NOTE_KEY
from ppu_sim.transport.server import settle_heap

KINDS = ("lookup", "purchase")


async def reply_of(app: Any, kind: str) -> list[dict[str, Any]]:
    """The messages the whole stack sends for one request of this kind."""
    return await replied(app, *request(kind))


class Inner:
    """The layers inside the recorder, reduced to what it sees of them."""

    def __init__(self, reply: list[dict[str, Any]]) -> None:
        self.reply = reply

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        await receive()
        note = scope.get(NOTE_KEY)
        if note is not None:
            note.meter_id, note.scenario, note.pack, note.step = "01234567897", "bench", "bench", 1
        for message in self.reply:
            await send(message)


async def per_request(app: Any, kind: str, count: int) -> float:
    """Thread CPU µs per request; the requests are made before the clock starts."""
    requests = [request(kind) for _ in range(count)]
    start = time.thread_time()
    for scope, raw in requests:
        await one(app, scope, raw)
    return (time.thread_time() - start) / count * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=5000, help="requests per round (max 100000)")
    parser.add_argument("--repeats", type=int, default=7, help="rounds; the best is taken (max 50)")
    args = parser.parse_args()
    count, repeats = min(args.count, 100_000), min(args.repeats, 50)
    app = create_app(Settings())
    settle_heap()  # as the server does: start-up frozen, collections rarer
    for kind in KINDS:
        inner = Inner(asyncio.run(reply_of(app, kind)))
        recorder = Recorder(inner, app.simulator)
        asyncio.run(per_request(recorder, kind, 500))  # warm-up
        alone = recorded = float("inf")
        for _ in range(repeats):
            alone = min(alone, asyncio.run(per_request(inner, kind, count)))
            recorded = min(recorded, asyncio.run(per_request(recorder, kind, count)))
        own = recorded - alone
        print(f"{kind:9s} {own:6.2f} us per request in the recorder ({recorded:.2f} with it, {alone:.2f} without)")


if __name__ == "__main__":
    main()
