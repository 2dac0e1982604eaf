"""What a full garbage collection walks after N purchases, and what recording costs a purchase.

In-process: the whole ASGI application (recorder, journal, Connexion, provider, store) with default
settings, driven by purchases like bench/ppu_load.lua's (a fresh id each, one meter), without
sockets. After start-up the heap is settled as `ppu-sim serve` does (collected, frozen), so what a
full pass walks is what the requests left behind: the journal, the store, the sessions. At each
quarter it prints the objects the collector tracks, a full pass's time, RSS, and the median time
of a purchase with the recorder's own share of it (the outer layer's time less the layers inside).

    .venv/bin/python bench/gc_census.py [--purchases 20000] [--top 12]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import statistics
import time
from collections import Counter
from typing import Any

from asgi_calls import one, request
from journal_memory import rss_mib

from ppu_sim.app import create_app
from ppu_sim.config import Settings


class Timed:
    """An ASGI layer that adds up the time spent in the app it wraps."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.seconds = 0.0

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        began = time.perf_counter()
        try:
            await self.app(scope, receive, send)
        finally:
            self.seconds += time.perf_counter() - began


def full_pass_ms() -> float:
    began = time.perf_counter()
    gc.collect()
    return (time.perf_counter() - began) * 1000


async def run(purchases: int, top: int) -> None:
    recorder = create_app(Settings())
    outer = Timed(recorder)
    inner = recorder.app = Timed(recorder.app)
    gc.collect()
    gc.freeze()
    marks = sorted({purchases * k // 4 for k in range(1, 5)})
    done = 0
    for mark in marks:
        whole, own = [], []
        while done < mark:
            outer.seconds = inner.seconds = 0.0
            status = await one(outer, *request("purchase"))
            assert status == 201, status
            whole.append(outer.seconds * 1e6)
            own.append((outer.seconds - inner.seconds) * 1e6)
            done += 1
        gc.collect()  # what is left untrackable is untracked by this pass; the next one is steady state
        counts = Counter(type(o).__name__ for o in gc.get_objects())
        print(
            f"{done:>9,} purchases: {sum(counts.values()):>9,} tracked objects, full pass {full_pass_ms():6.1f} ms,"
            f" RSS {rss_mib():.0f} MiB; a purchase {statistics.median(whole):.0f} us,"
            f" recording {statistics.median(own):.1f} us of it"
        )
    print("  tracked by type:", ", ".join(f"{name} {n:,}" for name, n in counts.most_common(top)))
    sizes = sorted(((len(o), type(o).__name__) for o in gc.get_objects() if hasattr(o, "__len__")), reverse=True)
    print("  largest containers:", ", ".join(f"{name} {n:,}" for n, name in sizes[:top]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--purchases", type=int, default=20_000, choices=range(4, 1_000_001), metavar="N")
    parser.add_argument("--top", type=int, default=12)
    args = parser.parse_args()
    asyncio.run(run(args.purchases, args.top))


if __name__ == "__main__":
    main()
