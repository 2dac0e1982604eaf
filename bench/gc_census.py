"""What a full garbage collection walks after N purchases, what recording costs a purchase, and
which heap holds the process's memory.

In-process: the whole ASGI application (recorder, journal, Connexion, provider, store) with default
settings, driven by purchases like bench/ppu_load.lua's (a fresh id each, one meter), without
sockets. After start-up the heap is settled as `ppu-sim serve` does (collected, frozen, large
blocks mapped), so what a full pass walks is what the requests left behind: the journal, the
store, the sessions. At each checkpoint (quarters by default) it prints the objects the collector
tracks, a full pass's time, RSS, and the median time of a purchase with the recorder's own share
of it (the outer layer's time less the layers inside). With --heap, also where the memory is:
glibc's heap (in use and free: free space it keeps is fragmentation), its mapped blocks, and
Python's small-object arenas (1 MiB each). With --reads, each checkpoint first reads the whole
journal and every purchase back through the control API, as a CI job might.

    .venv/bin/python bench/gc_census.py [--purchases 20000] [--top 12]
    .venv/bin/python bench/gc_census.py --purchases 1000000 --checkpoints 20 --heap   # about 5 minutes
"""

from __future__ import annotations

import argparse
import asyncio
import ctypes
import gc
import os
import platform
import re
import statistics
import sys
import tempfile
import time
from collections import Counter
from typing import Any

from asgi_calls import one, request, scope
from journal_memory import rss_mib

from ppu_sim.app import create_app
from ppu_sim.config import Settings
from ppu_sim.transport.server import settle_heap


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


class _MallInfo2(ctypes.Structure):
    _FIELDS = (
        "arena",
        "ordblks",
        "smblks",
        "hblks",
        "hblkhd",
        "usmblks",
        "fsmblks",
        "uordblks",
        "fordblks",
        "keepcost",
    )
    _fields_ = [(name, ctypes.c_size_t) for name in _FIELDS]


def python_arenas_mib() -> float:
    """Python's small-object arenas now (sys._debugmallocstats writes to the C stderr)."""
    with tempfile.TemporaryFile() as out:
        saved = os.dup(2)
        os.dup2(out.fileno(), 2)
        try:
            sys._debugmallocstats()
        finally:
            os.dup2(saved, 2)
            os.close(saved)
        out.seek(0)
        found = re.search(rb"([\d,]+) arenas \* ([\d,]+) bytes/arena", out.read())
    assert found, "no arena line in sys._debugmallocstats()"
    arenas, size = (int(n.replace(b",", b"")) for n in found.groups())
    return arenas * size / 2**20


def heap_figures() -> str:
    """Where the memory is: glibc's main heap in use and free, its mapped blocks, Python's arenas."""
    if platform.libc_ver()[0] != "glibc":
        return f"Python arenas {python_arenas_mib():.0f} MiB"
    mallinfo2 = ctypes.CDLL(None).mallinfo2
    mallinfo2.restype = _MallInfo2
    info = mallinfo2()
    mib = 2**20
    return (
        f"C heap {info.uordblks / mib:.1f} MiB used, {info.fordblks / mib:.1f} free;"
        f" mapped {info.hblkhd / mib:.1f} MiB in {info.hblks}; Python arenas {python_arenas_mib():.0f} MiB"
    )


async def run(purchases: int, checkpoints: int, retention: int, heap: bool, reads: bool, top: int) -> None:
    recorder = create_app(Settings(retention=retention))
    outer = Timed(recorder)
    inner = recorder.app = Timed(recorder.app)
    settle_heap()
    marks = sorted({purchases * k // checkpoints for k in range(1, checkpoints + 1)})
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
        if reads:  # what a CI run reads at the end of a job: every exchange, every purchase
            for path in ("/sim/transactions", "/sim/report"):
                assert await one(recorder, scope("GET", path, query=b"session=bench"), b"") == 200, path
        gc.collect()  # what is left untrackable is untracked by this pass; the next one is steady state
        counts = Counter(type(o).__name__ for o in gc.get_objects())
        print(
            f"{done:>9,} purchases: {sum(counts.values()):>9,} tracked objects, full pass {full_pass_ms():6.1f} ms,"
            f" RSS {rss_mib():.1f} MiB; a purchase {statistics.median(whole):.0f} us,"
            f" recording {statistics.median(own):.1f} us of it",
            flush=True,
        )
        if heap:
            print(f"{'':>21}{heap_figures()}", flush=True)
    print("  tracked by type:", ", ".join(f"{name} {n:,}" for name, n in counts.most_common(top)))
    sizes = sorted(((len(o), type(o).__name__) for o in gc.get_objects() if hasattr(o, "__len__")), reverse=True)
    print("  largest containers:", ", ".join(f"{name} {n:,}" for n, name in sizes[:top]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--purchases", type=int, default=20_000, choices=range(4, 5_000_001), metavar="N")
    parser.add_argument("--checkpoints", type=int, default=4, choices=range(1, 1001), metavar="K")
    parser.add_argument(
        "--retention", type=int, default=Settings.retention, metavar="N", help="purchases a session keeps (0: all)"
    )
    parser.add_argument("--heap", action="store_true", help="also glibc's heap and Python's arenas at each checkpoint")
    parser.add_argument(
        "--reads", action="store_true", help="read /sim/transactions and /sim/report at each checkpoint"
    )
    parser.add_argument("--top", type=int, default=12)
    args = parser.parse_args()
    asyncio.run(run(args.purchases, args.checkpoints, args.retention, args.heap, args.reads, args.top))


if __name__ == "__main__":
    main()
