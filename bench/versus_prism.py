"""ppu-sim beside Prism 5 (`-v silent`) and a bare uvicorn app, on the same contract and bodies.

One command (after the README's install):

    .venv/bin/python bench/versus_prism.py                 # 5 repeats of 10 s, then the memory run
    .venv/bin/python bench/versus_prism.py --memory-purchases 0 --repeats 1 --seconds 5   # quick look

Needs `wrk` (Debian: `apt-get install -y wrk`) and Node.js with npm: Prism 5
(`@stoplight/prism-cli`) is installed with npm into ~/.cache/ppu-sim-bench on first use. Every
server listens on 127.0.0.1 and runs alone; wrk drives it with 16 connections, lookups then
purchases, each request with a fresh id in the path and the body (bench/ppu_load.lua). Repeats
interleave the servers (ppu-sim, Prism, floor, ppu-sim, ...), so a change in the machine's own
load hits all of them alike; the figures are medians over the repeats (five by default: on a shared
VM one round's purchases moved by 10 % from the next, and a median of three moved with them).

Printed: requests/s per server and operation, ppu-sim / Prism and ppu-sim / floor, the ratio to
Prism round by round, p50/p99, and each server's start-up time (from its process's start to its first answer).
ppu-sim runs in those rounds as users run it (``python -m ppu_sim serve``): the stall probe costs
it 5-15 % of its purchases (a thread waking a thousand times a second, taking the GIL each time),
which Prism does not pay. Then a fresh ppu-sim with default settings and the probe
(bench/probed_serve.py: a watcher thread inside the process, late only while one step holds the
GIL, and every garbage collection pass, timed) takes lookups for ``--seconds`` and then purchases up
to --memory-purchases: its RSS at 0 purchases and at each checkpoint, and the longest stall of each
slice. On a machine with two CPUs or more that run pins the server (and its watcher) to the first
CPU and wrk to the others, so a late watcher means a long step of the server's own, not a CPU that
wrk had taken (unpinned, the probe cannot tell the two apart); each slice also prints the time the
host of a virtual machine took from the server's CPU in it (/proc/stat's steal), which stops the
watcher and the server alike and so reads as a stall the server did not make.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from machine import stolen_ms

from ppu_sim.process import free_port, stop

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
CONTRACT = ROOT / "openapi" / "prepaidutility-v3.yaml"
LUA = HERE / "ppu_load.lua"
PRISM_CACHE = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "ppu-sim-bench" / "prism"
PRISM_PACKAGE = "@stoplight/prism-cli@5"
CONNECTIONS = 16
THREADS = 2
WARM_UP_SECONDS = 2
MAX_SECONDS = 120
MAX_REPEATS = 20
MAX_PURCHASES = 5_000_000
MEMORY_CHECKPOINTS = (100_000, 250_000, 500_000, 750_000, 1_000_000, 1_250_000, 1_500_000)
OPERATIONS = ("lookup", "purchase")


@dataclass
class Run:
    rate: float
    p50_ms: float
    p99_ms: float
    failed: int


@dataclass
class Server:
    name: str
    base: str  # the contract's paths under this prefix ("" for Prism, which ignores `servers`)
    command: list[str]
    ready_path: str


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=10, help="per operation and server, each repeat (max 120)")
    parser.add_argument("--repeats", type=int, default=5, help="interleaved rounds over the servers (max 20)")
    parser.add_argument(
        "--memory-purchases", type=int, default=1_000_000, help="purchases for the RSS run (0: skip; max 5,000,000)"
    )
    parser.add_argument("--no-prism", action="store_true", help="ppu-sim and the floor only (no Node.js needed)")
    args = parser.parse_args()
    seconds = max(1, min(args.seconds, MAX_SECONDS))
    repeats = max(1, min(args.repeats, MAX_REPEATS))
    if shutil.which("wrk") is None:
        sys.exit("wrk is not installed (Debian: apt-get install -y wrk)")
    with tempfile.TemporaryDirectory(prefix="ppu-bench-") as tmp:
        stall_log = Path(tmp) / "stalls.txt"
        servers = [_ppu_sim(), _floor()]
        if not args.no_prism:
            servers.insert(1, _prism(_install_prism()))
        results: dict[tuple[str, str], list[Run]] = {}
        starts: dict[str, list[float]] = {}
        for repeat in range(repeats):
            for server in servers:
                runs, started = _measure(server, seconds, repeat)
                starts.setdefault(server.name, []).append(started)
                for op, run in runs.items():
                    results.setdefault((server.name, op), []).append(run)
                    print(f"  round {repeat + 1} {server.name:7} {op:8} {run.rate:8.0f}/s", flush=True)
        _report(results, [s.name for s in servers])
        longest = ", ".join(f"{name} {max(times):.2f} s" for name, times in starts.items())
        print(f"start-up to the first answer, longest of the rounds: {longest}")
        if args.memory_purchases > 0:
            _memory(min(args.memory_purchases, MAX_PURCHASES), seconds, stall_log)
    return 0


def _ppu_sim(stall_log: Path | None = None) -> Server:
    """ppu-sim as users run it, or with the stall probe (logging to ``stall_log``)."""
    serve = [sys.executable, "-m", "ppu_sim", "serve"]
    if stall_log is not None:
        serve = [sys.executable, str(HERE / "probed_serve.py"), "--stall-log", str(stall_log), "--"]
    return Server("ppu-sim", "/prepaidutility/v3", [*serve, "--no-watch", "--log-level", "warning"], "/health")


def _pinning() -> tuple[set[int], set[int]] | None:
    """(the server's CPU, wrk's CPUs) for the probed run, or None where the machine cannot pin."""
    if not hasattr(os, "sched_getaffinity"):
        return None
    cpus = sorted(os.sched_getaffinity(0))
    return ({cpus[0]}, set(cpus[1:])) if len(cpus) >= 2 else None


def _on(cpus: set[int] | None) -> Callable[[], None] | None:
    """A pre-exec hook that runs the child on ``cpus`` (None: wherever the machine likes)."""
    return None if cpus is None else lambda: os.sched_setaffinity(0, cpus)


def _floor() -> Server:
    return Server("floor", "/prepaidutility/v3", [sys.executable, str(HERE / "floor_app.py")], "/")


def _prism(prism: Path) -> Server:
    return Server("prism", "", [str(prism), "mock", "-h", "127.0.0.1", "-v", "silent", str(CONTRACT), "-p"], "/")


def _install_prism() -> Path:
    prism = PRISM_CACHE / "node_modules" / ".bin" / "prism"
    if not prism.exists():
        if shutil.which("npm") is None:
            sys.exit("npm is not installed: Prism needs Node.js and npm (or run with --no-prism)")
        print(f"installing {PRISM_PACKAGE} into {PRISM_CACHE} (first run only)", flush=True)
        PRISM_CACHE.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            ["npm", "install", "--silent", "--no-audit", "--no-fund", "--prefix", str(PRISM_CACHE), PRISM_PACKAGE],
            check=True,
        )
    return prism


def _start(server: Server, cpus: set[int] | None = None) -> tuple[subprocess.Popen[bytes], int, float]:
    """The server's process, its port, and the seconds from its start to its first answer."""
    port = free_port()
    command = [*server.command, "--port", str(port)] if server.name == "ppu-sim" else [*server.command, str(port)]
    process = subprocess.Popen(
        command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=ROOT, preexec_fn=_on(cpus)
    )
    began = time.monotonic()
    while time.monotonic() < began + 60:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}{server.ready_path}", timeout=1):
                return process, port, time.monotonic() - began
        except OSError as exc:
            # Prism answers an unrouted / with a 404 once it listens: that is ready too.
            if getattr(exc, "code", None):
                return process, port, time.monotonic() - began
            if process.poll() is not None:
                sys.exit(f"{server.name} exited during start-up: {' '.join(command)}")
            time.sleep(0.01)
    process.kill()
    sys.exit(f"{server.name} did not start within 60 s")


def _wrk(port: int, base: str, op: str, tag: int, seconds: int, cpus: set[int] | None = None) -> tuple[Run, int]:
    """One wrk run of ``seconds`` (on ``cpus``, if given); the figures and how many requests were answered."""
    command = ["wrk", f"-t{THREADS}", f"-c{CONNECTIONS}", f"-d{seconds}s", "--timeout", "10s", "-s", str(LUA)]
    command += [f"http://127.0.0.1:{port}", "--", op, str(tag), base]
    out = subprocess.run(command, capture_output=True, text=True, check=True, preexec_fn=_on(cpus)).stdout
    line = next(x for x in out.splitlines() if x.startswith("RESULT "))
    fields = dict(part.split("=") for part in line.split()[1:])
    requests = int(fields["requests"])
    run = Run(
        rate=requests / (int(fields["duration_us"]) / 1e6),
        p50_ms=int(fields["p50_us"]) / 1000,
        p99_ms=int(fields["p99_us"]) / 1000,
        failed=int(fields["errors"]) + int(fields["non2xx"]),
    )
    return run, requests


def _stalls(stall_log: Path, start: float, end: float) -> tuple[float, float, float, float]:
    """Logged between start and end, in ms: the longest stall, the most the serving thread ran
    within any stall (the bound on the server's own longest step), and the longest garbage
    collection pass and full (oldest generation) pass."""
    worst = {"stall": 0.0, "ran": 0.0, "gc": 0.0, "gc2": 0.0}
    if stall_log.exists():
        for line in stall_log.read_text().splitlines():
            parts = line.split()
            if not start <= float(parts[0]) <= end:
                continue
            if parts[1].startswith("gc"):
                for kind in ("gc", parts[1]):
                    worst[kind] = max(worst.get(kind, 0.0), float(parts[2]))
            else:
                worst["stall"] = max(worst["stall"], float(parts[1]))
                worst["ran"] = max(worst["ran"], float(parts[2]))
    return worst["stall"], worst["ran"], worst["gc"], worst["gc2"]


def _measure(server: Server, seconds: int, repeat: int) -> tuple[dict[str, Run], float]:
    """One round of a server: its runs by operation, and its start-up time."""
    process, port, started = _start(server)
    try:
        _wrk(port, server.base, "lookup", 1000 + repeat, WARM_UP_SECONDS)
        runs = {}
        for number, op in enumerate(OPERATIONS):
            run, _ = _wrk(port, server.base, op, 2000 + 10 * repeat + number, seconds)
            runs[op] = run
        return runs, started
    finally:
        stop(process)


def _median(runs: list[Run], attr: str) -> float:
    return statistics.median(getattr(r, attr) for r in runs)


def _report(results: dict[tuple[str, str], list[Run]], names: list[str]) -> None:
    print("\nrequests/s (median of the repeats), latency at 16 connections")
    print(f"{'':18}" + "".join(f"{n:>22}" for n in names))
    for op in OPERATIONS:
        row = [results[(n, op)] for n in names]
        print(f"{op + 's/s':18}" + "".join(f"{_median(r, 'rate'):>22,.0f}" for r in row))
        print(
            f"{'  p50 / p99 ms':18}"
            + "".join(f"{_median(r, 'p50_ms'):>13.1f} /{_median(r, 'p99_ms'):>6.1f}" for r in row)
        )
        failed = sum(run.failed for r in row for run in r)
        if failed:
            print(f"  ({failed} requests failed or were not 2xx: the figures above are not comparable)")
    print()
    for op in OPERATIONS:
        ppu = _median(results[("ppu-sim", op)], "rate")
        parts = [f"{op}s: ppu-sim / {n} = {ppu / _median(results[(n, op)], 'rate'):.2f}" for n in names[1:]]
        ppu_runs = results[("ppu-sim", op)]
        ratio = _median(ppu_runs, "p99_ms") / _median(ppu_runs, "p50_ms")
        print("; ".join(parts) + f"; ppu-sim p99/p50 = {ratio:.1f}")
        if len(ppu_runs) > 1:  # each round's pair ran back to back, on the machine as it was then
            rounds = ", ".join(f"{p.rate / o.rate:.2f}" for p, o in zip(ppu_runs, results[(names[1], op)], strict=True))
            print(f"  {op}s, ppu-sim / {names[1]} round by round: {rounds}")


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _memory(purchases: int, seconds: int, stall_log: Path) -> None:
    pinned = _pinning()
    server_cpus, wrk_cpus = pinned or (None, None)
    where = f"pinned to CPU {min(server_cpus)}, wrk on the others" if server_cpus else "not pinned"
    print(f"\nmemory and stalls: one ppu-sim with default settings and the probe ({where}), 16 connections")
    process, port, _ = _start(_ppu_sim(stall_log), server_cpus)
    worst: dict[str, float] = {}
    try:
        print(f"  {0:>10,} purchases  RSS {_rss_mb(process.pid):7.1f} MB", flush=True)
        _wrk(port, "/prepaidutility/v3", "lookup", 8000, WARM_UP_SECONDS, wrk_cpus)
        start, stolen = time.time(), stolen_ms(_cpu(process.pid))
        run, _ = _wrk(port, "/prepaidutility/v3", "lookup", 8001, seconds, wrk_cpus)
        label = f"{'lookups':>10} {seconds} s"
        worst["lookups"] = _slice_line(label, process.pid, [run], stall_log, start, stolen)
        done, rate, tag = 0, max(run.rate / 2, 1.0), 9000  # a purchase costs about twice a lookup
        for checkpoint in [c for c in MEMORY_CHECKPOINTS if c < purchases] + [purchases]:
            start, runs, stolen = time.time(), [], stolen_ms(_cpu(process.pid))
            while done < checkpoint:  # slices of at most 30 s, sized by the last rate, so the overshoot is small
                tag += 1
                length = max(1, min(30, int((checkpoint - done) / rate)))
                run, answered = _wrk(port, "/prepaidutility/v3", "purchase", tag, length, wrk_cpus)
                done, rate = done + answered, max(run.rate, 1.0)
                runs.append(run)
            stall = _slice_line(f"{done:>10,} purchases", process.pid, runs, stall_log, start, stolen)
            worst["purchases"] = max(worst.get("purchases", 0.0), stall)
    finally:
        stop(process)
    print("longest stall: " + "; ".join(f"{what} {ms:.1f} ms" for what, ms in worst.items()))


def _slice_line(label: str, pid: int, runs: list[Run], stall_log: Path, start: float, stolen: float) -> float:
    """Print one slice of the probed run (RSS, rate, latency, stalls, and the time the host took
    from the server's CPU since ``stolen`` was read) and return its longest stall."""
    stall, ran, gc_pause, full = _stalls(stall_log, start, time.time())
    print(
        f"  {label}  RSS {_rss_mb(pid):7.1f} MB  ({_median(runs, 'rate'):,.0f}/s,"
        f" p50 {_median(runs, 'p50_ms'):.1f} ms, p99 {max(r.p99_ms for r in runs):.1f} ms,"
        f" longest stall {stall:.1f} ms (server ran {ran:.1f}), GC pass {gc_pause:.1f} ms,"
        f" full pass {full:.1f} ms, stolen {stolen_ms(_cpu(pid)) - stolen:.0f} ms)",
        flush=True,
    )
    return stall


def _cpu(pid: int) -> int | None:
    """The one CPU the process is pinned to, else None."""
    cpus = os.sched_getaffinity(pid) if hasattr(os, "sched_getaffinity") else set()
    return next(iter(cpus)) if len(cpus) == 1 else None


if __name__ == "__main__":
    sys.exit(main())
