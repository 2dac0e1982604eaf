"""`ppu-sim serve` with a stall probe inside the process, for bench/versus_prism.py.

A stall is time in which nothing else in the process could run: a garbage collection, a long
parse, any one step that holds the GIL. A watcher thread wakes every millisecond; Python hands the
GIL over to a waiting thread every 5 ms (``sys.getswitchinterval``) unless one step keeps it, so
the watcher is late by more than that only while such a step runs (or the machine itself gave the
process no CPU). A saturated event loop is not a stall: it works through its queue step by step,
and the watcher runs between steps. Each lateness beyond ``--stall-floor-ms`` is appended to
``--stall-log`` as ``<unix time> <milliseconds> <milliseconds the serving thread ran meanwhile>``
(the second figure bounds the longest step of the server's own in that stall: while the machine
ran something else, the serving thread did not run either), and every garbage collection pass longer than
the floor as ``<unix time> gc<generation> <milliseconds>``, so the bench can take the longest of
each phase by its time window. Everything after ``--`` goes to ``ppu-sim serve``.

    python bench/probed_serve.py --stall-log /tmp/stalls.txt -- --port 18080 --no-watch
"""

from __future__ import annotations

import argparse
import gc
import sys
import threading
import time
from typing import TextIO

from ppu_sim import cli

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
    threading.Thread(target=_watch, args=(log, floor + sys.getswitchinterval()), daemon=True).start()
    serve_args = [a for a in args.serve if a != "--"]
    return cli.main(["serve", *serve_args])


def _watch(log: TextIO, floor: float) -> None:
    # The serving thread's own CPU clock: during a late wake-up, how long it ran tells a step that
    # kept the GIL (it ran all along) from the machine running something else (it did not run).
    serving = time.pthread_getcpuclockid(threading.main_thread().ident)
    while True:
        before, ran_before = time.perf_counter(), time.clock_gettime(serving)
        time.sleep(TICK)
        late = time.perf_counter() - before - TICK
        if late > floor:
            ran = min(time.clock_gettime(serving) - ran_before, late)
            log.write(f"{time.time():.3f} {late * 1000:.1f} {ran * 1000:.1f}\n")


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
