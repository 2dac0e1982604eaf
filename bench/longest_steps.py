"""The longest single requests of a long run, in process: the pauses issue 9 bounds, without a
shared machine's scheduling in the figure.

Over HTTP the stall probe (``probed_serve.py``) only bounds a pause from above: a watcher that the
machine does not run, or a virtual CPU the host takes away, is late just as it is during a long
step. Here the whole application that ``ppu-sim serve`` runs (journal, sessions, faults, fast path,
the heap settled as at start-up) takes purchases one after another on one event loop, and each is
timed by the wall clock and by the thread's CPU clock, with any garbage collection pass inside it.
The requests are made a hundred at a time, so the driver itself adds next to nothing for the
collector to walk (made 5,000 at a time, they gave 9-40 ms collection passes of their own). The
process runs on one CPU, and for each hundred purchases the time the host of a virtual machine
took from that CPU is read (/proc/stat's steal): a long purchase in a hundred with as much stolen
is the host's doing, not the simulator's.

    .venv/bin/python bench/longest_steps.py                        # a million purchases, ~3 minutes
    .venv/bin/python bench/longest_steps.py --purchases 250000 --show 5
    .venv/bin/python bench/longest_steps.py --retention 1000000 --purchases 2000000   # a larger store
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import heapq
import os
import time
from typing import Any

from asgi_calls import one, request
from machine import stolen_ms

from ppu_sim.app import create_app
from ppu_sim.config import Settings
from ppu_sim.transport.server import settle_heap

BATCH = 100
MAX_PURCHASES = 5_000_000


class _Passes:
    """Garbage collection time since the last reset (a ``gc.callbacks`` entry), and the oldest generation."""

    def __init__(self) -> None:
        self.took = 0.0
        self.generation = -1
        self._began = 0.0
        gc.callbacks.append(self)

    def __call__(self, phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            self._began = time.perf_counter()
        else:
            self.took += time.perf_counter() - self._began
            self.generation = max(self.generation, info["generation"])

    def reset(self) -> None:
        self.took, self.generation = 0.0, -1


def _one_cpu() -> int | None:
    """Run on the first CPU the process may use, so the steal read is that CPU's (None: cannot pin)."""
    if not hasattr(os, "sched_setaffinity"):
        return None
    cpu = min(os.sched_getaffinity(0))
    os.sched_setaffinity(0, {cpu})
    return cpu


async def _drive(app: Any, purchases: int, show: int) -> list[tuple[float, float, int, float, int, float]]:
    """The ``show`` longest purchases: (wall s, CPU s, number, GC s, oldest generation collected,
    ms stolen from the CPU in the hundred purchases around it)."""
    passes, longest, cpu = _Passes(), [], _one_cpu()
    done = 0
    while done < purchases:
        stolen_before, batch = stolen_ms(cpu), []
        for scope, raw in [request("purchase") for _ in range(min(BATCH, purchases - done))]:
            passes.reset()
            wall, cpu_time = time.perf_counter(), time.thread_time()
            status = await one(app, scope, raw)
            wall, cpu_time = time.perf_counter() - wall, time.thread_time() - cpu_time
            done += 1
            if status >= 300:
                raise SystemExit(f"purchase {done}: unexpected status {status}")
            batch.append((wall, cpu_time, done, passes.took, passes.generation))
        stolen = stolen_ms(cpu) - stolen_before
        for entry in batch:
            if len(longest) < show:
                heapq.heappush(longest, (*entry, stolen))
            elif entry[0] > longest[0][0]:
                heapq.heapreplace(longest, (*entry, stolen))
        if done % 100_000 < BATCH:
            print(f"  {done:>10,} purchases", flush=True)
    return sorted(longest, reverse=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--purchases", type=int, default=1_000_000, help="max 5,000,000")
    parser.add_argument("--show", type=int, default=10, help="how many of the longest to print (max 100)")
    parser.add_argument("--retention", type=int, default=Settings().retention, help="purchases kept (the setting)")
    args = parser.parse_args()
    app = create_app(Settings(retention=args.retention))
    settle_heap()
    longest = asyncio.run(_drive(app, min(args.purchases, MAX_PURCHASES), max(1, min(args.show, 100))))
    print(f"\nthe longest purchases (default settings but --retention {args.retention:,}, in process):")
    for wall, cpu, number, took, generation, stolen in longest:
        collected = f", of it a generation {generation} collection {took * 1000:.1f} ms" if generation >= 0 else ""
        taken = f" (the host took {stolen:.0f} ms of the CPU in its hundred)" if stolen else ""
        print(f"  purchase {number:>9,}: {wall * 1000:5.1f} ms wall, {cpu * 1000:5.1f} ms CPU{collected}{taken}")


if __name__ == "__main__":
    main()
