"""How long each whole-journal read of the control API pauses the event loop, at a full journal.

In process, without sockets: the application ``ppu-sim serve`` runs (default settings, the heap
settled as the server settles it) gets a session's journal filled with purchases and lookups
(``ppu_load.lua``'s bodies), then each read that opens every exchange is sent to it while a probe
task on the same event loop sleeps a millisecond at a time and records how late it wakes. A late
wake is a pause: time in which the loop could answer nothing, the PoS's requests included. The
reads already run in a worker thread; what still pauses the loop is what they do on it (taking
the snapshot) and any single step in the worker that holds the GIL for long (Python hands the GIL
to the waiting loop only between bytecodes, at most every ``sys.getswitchinterval()``, 5 ms).

With ``--http``, the same over sockets, as a PoS meets it: ``ppu-sim serve`` under
``probed_serve.py`` (whose watcher thread logs every stall of the process over 5 ms), filled over
HTTP, and while each read is answered a client thread sends ``GET /health`` every millisecond on
a kept-alive connection; printed are the slowest ``/health`` and the longest stall the watcher
logged meanwhile (the client shares the two cores, so these carry its noise too).

Each read is repeated and the best round is printed (the VM is shared: a pause can be another
process's turn on the CPU, never less than the read's own), with the median beside it.

    .venv/bin/python bench/read_pauses.py                       # 10,000 exchanges, 3 rounds
    .venv/bin/python bench/read_pauses.py --exchanges 3000 --rounds 5
    .venv/bin/python bench/read_pauses.py --http                # over HTTP, about a minute more
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
from asgi_calls import one, request

from ppu_sim.app import create_app
from ppu_sim.config import Settings
from ppu_sim.process import free_port, stop
from ppu_sim.transport.server import _settle_heap

TICK = 0.001
SESSION = "bench"  # the Basic-auth user of asgi_calls' requests
READS = {
    "transactions": "/sim/transactions",
    "transactions csv": "/sim/transactions?format=csv",
    "journal (limit 10000)": "/sim/journal?limit=10000",
    "report": "/sim/report",
    "report html": "/sim/report?format=html",
    "report junit": "/sim/report?format=junit",
}


def in_session(target: str) -> tuple[str, str]:
    path, _, query = target.partition("?")
    return path, "&".join(q for q in (query, f"session={SESSION}") if q)


def control_get(target: str) -> dict[str, Any]:
    path, query = in_session(target)
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": query.encode(),
        "root_path": "",
        "headers": [(b"host", b"127.0.0.1")],
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 8080),
    }


async def answer(app: Any, target: str) -> tuple[int, bytes]:
    """The status and whole body of a GET, however many messages the body comes in."""
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    await app(control_get(target), receive, send)
    return sent[0]["status"], b"".join(m.get("body", b"") for m in sent[1:])


async def probed(app: Any, target: str) -> tuple[float, float, float, float, int]:
    """The read's duration; the longest pause of the loop while it ran, in wall time and in the
    process's CPU time (what the process itself spent meanwhile: the part of a pause that is not
    the machine running something else); the longest garbage collection pass meanwhile (any
    thread's: a pass holds the GIL); and the answer's size."""
    done = asyncio.Event()
    longest = longest_cpu = 0.0
    passes = _CollectionTimer()

    async def probe() -> None:
        nonlocal longest, longest_cpu
        while not done.is_set():
            before, cpu_before = time.perf_counter(), time.process_time()
            await asyncio.sleep(TICK)
            longest = max(longest, time.perf_counter() - before - TICK)
            longest_cpu = max(longest_cpu, time.process_time() - cpu_before)

    watcher = asyncio.create_task(probe())
    await asyncio.sleep(0.01)  # the probe is running
    gc.callbacks.append(passes)
    began = time.perf_counter()
    status, body = await answer(app, target)
    took = time.perf_counter() - began
    gc.callbacks.remove(passes)
    done.set()
    await watcher
    if status != 200:
        raise SystemExit(f"{target}: {status} {body[:300]!r}")
    return took, longest, longest_cpu, passes.longest, len(body)


class _CollectionTimer:
    """A ``gc.callbacks`` entry keeping the longest pass."""

    def __init__(self) -> None:
        self.longest = 0.0
        self._began = 0.0

    def __call__(self, phase: str, _info: dict[str, int]) -> None:
        if phase == "start":
            self._began = time.perf_counter()
        else:
            self.longest = max(self.longest, time.perf_counter() - self._began)


async def run(exchanges: int, rounds: int) -> None:
    app = create_app(Settings())
    _settle_heap()
    for n in range(exchanges):
        kind = "purchase" if n % 2 else "lookup"
        status = await one(app, *request(kind))
        assert status < 300, (kind, status)
    print(f"{exchanges:,} exchanges (half purchases, half lookups); best of {rounds} rounds (median)")
    print(f"{'read':22s} {'duration':>16s} {'longest pause':>18s} {'of it CPU':>18s} {'GC pass':>18s} {'answer':>8s}")
    for name, target in READS.items():
        results = [await probed(app, target) for _ in range(rounds)]
        figures = [sorted(r[i] * 1000 for r in results) for i in range(4)]
        shown = " ".join(
            f"{f[0]:{8 if i else 6}.{i and 1}f} ms ({statistics.median(f):5.{i and 1}f})" for i, f in enumerate(figures)
        )
        print(f"{name:22s} {shown} {results[-1][4] / 1e6:5.1f} MB")


def over_http(exchanges: int, rounds: int) -> None:
    with tempfile.TemporaryDirectory() as tmp, served(stalls := Path(tmp) / "stalls.txt") as client:
        for n in range(exchanges):
            scope, raw = request("purchase" if n % 2 else "lookup")
            headers = {k.decode(): v.decode() for k, v in scope["headers"] if k != b"host"}
            assert client.post(scope["path"], content=raw, headers=headers).status_code < 300
        print(f"over HTTP: {exchanges:,} exchanges (half purchases, half lookups); best of {rounds} rounds (median)")
        print(f"{'read':22s} {'duration':>16s} {'slowest /health':>18s} {'longest stall':>18s}")
        for name, target in READS.items():
            results = []
            for _ in range(rounds):
                began = time.time()
                with probing(client.base_url) as slowest:
                    path, query = in_session(target)
                    assert client.get(f"{path}?{query}").status_code == 200
                ended = time.time()
                logged = [line.split() for line in stalls.read_text().splitlines()]
                stall = max(
                    (float(f[1]) for f in logged if not f[1].startswith("gc") and began <= float(f[0]) <= ended),
                    default=0,
                )
                results.append((ended - began, slowest[0], stall / 1000))
            figures = [sorted(r[i] * 1000 for r in results) for i in range(3)]
            shown = " ".join(
                f"{f[0]:{8 if i else 6}.{i and 1}f} ms ({statistics.median(f):5.{i and 1}f})"
                for i, f in enumerate(figures)
            )
            print(f"{name:22s} {shown}")


@contextmanager
def served(stalls: Path) -> Iterator[httpx.Client]:
    """``ppu-sim serve`` under the stall probe, logging every stall over the switch interval."""
    port = free_port()
    probe = Path(__file__).with_name("probed_serve.py")
    command = [sys.executable, str(probe), "--stall-log", str(stalls), "--stall-floor-ms", "0"]
    command += ["--", "--port", str(port), "--no-watch"]
    proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=60) as client:
            for _ in range(300):
                try:
                    client.get("/health")
                    break
                except httpx.TransportError:
                    time.sleep(0.1)
            yield client
    finally:
        stop(proc)


@contextmanager
def probing(base: httpx.URL) -> Iterator[list[float]]:
    """``GET /health`` every millisecond from a thread until the block ends; the slowest, in seconds."""
    slowest, done = [0.0], threading.Event()

    def probe() -> None:
        with httpx.Client(base_url=base) as client:
            while not done.is_set():
                began = time.perf_counter()
                client.get("/health")
                slowest[0] = max(slowest[0], time.perf_counter() - began)
                time.sleep(TICK)

    thread = threading.Thread(target=probe)
    thread.start()
    try:
        yield slowest
    finally:
        done.set()
        thread.join()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--exchanges", type=int, default=10_000, choices=range(2, 100_001), metavar="N")
    parser.add_argument("--rounds", type=int, default=3, choices=range(1, 51), metavar="N")
    parser.add_argument("--http", action="store_true", help="over sockets, against ppu-sim serve")
    args = parser.parse_args()
    if args.http:
        over_http(args.exchanges, args.rounds)
    else:
        asyncio.run(run(args.exchanges, args.rounds))


if __name__ == "__main__":
    main()
