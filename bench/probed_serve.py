"""`ppu-sim serve` with a stall probe inside the process, for bench/versus_prism.py.

A stall is any time the event loop could not run: a timer due every millisecond is late by that
much (a full garbage collection, a long handler, anything holding the GIL). Each stall longer than
``--stall-floor-ms`` is appended to ``--stall-log`` as ``<unix time> <milliseconds>``, and so is
every garbage collection pass longer than that floor (``gc <generation> <milliseconds>``), so the
bench can take the longest stall of each phase by its time window. Everything after ``--`` goes to
``ppu-sim serve``.

    python bench/probed_serve.py --stall-log /tmp/stalls.txt -- --port 18080 --no-watch
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import sys
import time
from typing import Any, TextIO

from ppu_sim import cli
from ppu_sim.transport import server

TICK = 0.001


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stall-log", required=True)
    parser.add_argument("--stall-floor-ms", type=float, default=5.0)
    parser.add_argument("serve", nargs=argparse.REMAINDER)
    args = parser.parse_args()
    log = open(args.stall_log, "a", buffering=1)  # noqa: SIM115 - open for the life of the process
    floor = args.stall_floor_ms / 1000
    _time_collections(log, floor)
    startup = server._Server.startup

    async def probed_startup(self: Any, sockets: Any = None) -> None:
        await startup(self, sockets)
        self.probe = asyncio.create_task(_probe(log, floor))

    server._Server.startup = probed_startup  # type: ignore[method-assign]
    serve_args = [a for a in args.serve if a != "--"]
    return cli.main(["serve", *serve_args])


async def _probe(log: TextIO, floor: float) -> None:
    while True:
        before = time.perf_counter()
        await asyncio.sleep(TICK)
        late = time.perf_counter() - before - TICK
        if late > floor:
            log.write(f"{time.time():.3f} {late * 1000:.1f}\n")


def _time_collections(log: TextIO, floor: float) -> None:
    started: list[float] = [0.0]

    def timed(phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            started[0] = time.perf_counter()
            return
        took = time.perf_counter() - started[0]
        if took > floor:
            log.write(f"{time.time():.3f} gc{info['generation']} {took * 1000:.1f}\n")

    gc.callbacks.append(timed)


if __name__ == "__main__":
    sys.exit(main())
