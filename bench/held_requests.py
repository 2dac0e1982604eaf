"""Do held requests slow other traffic? Lookup latency on an idle simulator vs one holding 1,000 purchases.

Starts `ppu-sim serve` on a free loopback port with a pack whose HOLD meters hold every purchase
(the provider vends, then keeps the connection silent past the client's timeout), measures
lookups on another meter, opens the held purchases over raw sockets, checks the provider has
processed every one of them, measures lookups again while they are held, releases them and
measures once more; prints p50/p99 per phase and the loaded/idle ratio (idle = both idle phases).
Everything it starts, it stops; it runs for well under a minute.

    .venv/bin/python bench/held_requests.py [--held 1000] [--samples 2000]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import httpx

from ppu_sim.process import free_port, stop

HOST = "127.0.0.1"
BASE = "/prepaidutility/v3"
AUTH = ("bench", "bench")
LOOKUP_METER = "BENCHLOOKUP01"
PACK = """
pack: bench-held
scenarios:
  - name: held-purchase
    summary: Vends, then holds the reply for {hold} s
    match: {{meterId: {{pattern: "HOLD[0-9]+"}}}}
    respond:
      createTokenPurchaseRequest:
        - fault: {{kind: hold, seconds: {hold}}}
  - name: bench-lookup
    summary: An ordinary meter, for the latency figures
    match: {{meterId: {lookup}}}
"""


def transaction(id_: str, meter: str) -> dict[str, Any]:
    return {
        "id": id_,
        "time": "2026-11-21T10:15:30.123+02:00",
        "originator": {
            "institution": {"id": "123456", "name": "Bench"},
            "terminalId": "12345678",
            "merchant": {
                "merchantType": "5411",
                "merchantId": "123456789012345",
                "merchantName": {"name": "Bench", "city": "Cape Town", "region": "WC", "country": "ZA"},
            },
        },
        "client": {"id": "001", "name": "Bench"},
        "settlementEntity": {"id": "000", "name": "None"},
        "receiver": {"id": "999", "name": "ppu-sim"},
        "thirdPartyIdentifiers": [{"institutionId": "123456", "transactionIdentifier": "bench"}],
        "meter": {"meterId": meter},
    }


def raise_file_limit(needed: int) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < needed:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(needed, hard), hard))


def start_server(port: int, pack: Path, log: Path) -> subprocess.Popen[bytes]:
    args = [
        sys.executable,
        "-m",
        "ppu_sim",
        "serve",
        "--host",
        HOST,
        "--port",
        str(port),
        "--scenarios",
        str(pack),
        "--no-watch",
        "--log-level",
        "warning",
    ]
    proc = subprocess.Popen(args, stdout=log.open("wb"), stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"simulator exited {proc.returncode}:\n{log.read_text()}")
        try:
            if httpx.get(f"http://{HOST}:{port}/health", timeout=1).status_code == 200:
                return proc
        except httpx.TransportError:
            time.sleep(0.1)
    proc.kill()
    raise SystemExit("simulator did not start")


async def lookup_latencies(client: httpx.AsyncClient, count: int) -> list[float]:
    """Seconds per lookup, one after another on a kept-alive connection (after a short warm-up)."""
    out = []
    for i in range(count + 50):
        id_ = str(uuid.uuid4())
        began = time.perf_counter()
        r = await client.post(f"{BASE}/meterLookups/{id_}", json=transaction(id_, LOOKUP_METER))
        took = time.perf_counter() - began
        if r.status_code != 201:
            raise SystemExit(f"lookup answered {r.status_code}: {r.text}")
        if i >= 50:
            out.append(took)
    return out


async def hold_one(port: int, meter: str) -> tuple[asyncio.StreamWriter, asyncio.Task[bytes]]:
    """A purchase over a raw socket (the cheapest client), and a task that ends when any reply byte arrives."""
    id_ = str(uuid.uuid4())
    body = json.dumps({**transaction(id_, meter), "purchaseAmount": {"amount": 1000, "currency": "710"}}).encode()
    head = (
        f"POST {BASE}/tokenPurchases/{id_} HTTP/1.1\r\nHost: {HOST}\r\nAuthorization: Basic YmVuY2g6YmVuY2g=\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    )
    reader, writer = await asyncio.open_connection(HOST, port)
    writer.write(head.encode() + body)
    await writer.drain()
    return writer, asyncio.create_task(reader.read(1))


async def all_vended(client: httpx.AsyncClient, meters: list[str], deadline: float) -> None:
    """Wait until the provider has processed every held purchase (a reprint finds its token)."""
    pending = list(meters)
    while pending:
        if time.monotonic() > deadline:
            raise SystemExit(f"{len(pending)} held purchases were never processed")
        still = []
        for meter in pending:
            id_ = str(uuid.uuid4())
            r = await client.post(f"{BASE}/tokenReprints/{id_}", json=transaction(id_, meter))
            if r.status_code != 200:
                still.append(meter)
        pending = still
        await asyncio.sleep(0.2 if pending else 0)


def percentile(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1] if q < 100 else max(values)


def figures(values: list[float]) -> tuple[float, float]:
    return percentile(values, 50) * 1000, percentile(values, 99) * 1000


async def measure(port: int, held: int, samples: int, hold: float) -> None:
    async with httpx.AsyncClient(base_url=f"http://{HOST}:{port}", auth=AUTH, timeout=10) as client:
        before = await lookup_latencies(client, samples)
        began = time.monotonic()
        meters = [f"HOLD{i:06d}" for i in range(held)]
        connections = await asyncio.gather(*(hold_one(port, m) for m in meters))
        await all_vended(client, meters, began + hold / 2)
        ready = time.monotonic() - began
        loaded = await lookup_latencies(client, samples)
        # Every purchase must still be held: no byte of any reply has arrived.
        answered = sum(1 for _, first_byte in connections if first_byte.done())
        if time.monotonic() - began >= hold:
            raise SystemExit("the measurement outlasted the hold; use fewer --samples or a longer --hold")
        for writer, first_byte in connections:
            first_byte.cancel()
            writer.close()
        # Idle again once the holds are released: with the first idle phase, this evens out drift in
        # the machine's own load between the phases.
        after = await lookup_latencies(client, samples)
    if answered:
        raise SystemExit(f"{answered} held requests were answered or closed before the hold ended")
    print(f"held purchases   {held}, all processed {ready:.1f} s after the first connect, none answered early")
    print(f"lookups          {samples} per phase, one at a time on a kept-alive connection")
    for name, values in (("idle (before)", before), ("loaded", loaded), ("idle (after)", after)):
        p50, p99 = figures(values)
        print(f"{name:<16} p50 {p50:6.2f} ms   p99 {p99:6.2f} ms")
    (i50, i99), (l50, l99) = figures(before + after), figures(loaded)
    verdict = "met" if l99 <= 2 * i99 else "MISSED"
    print(f"loaded / idle    p50 {l50 / i50:5.2f}x      p99 {l99 / i99:5.2f}x    (target p99 <= 2x: {verdict})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--held", type=int, default=1000, help="purchases to hold (at most 5000)")
    parser.add_argument("--samples", type=int, default=2000, help="lookups measured per phase (at most 20000)")
    parser.add_argument("--hold", type=float, default=60.0, help="seconds each purchase is held")
    args = parser.parse_args()
    held, samples = min(args.held, 5000), min(args.samples, 20000)
    raise_file_limit(held + 256)
    port = free_port()
    with tempfile.TemporaryDirectory() as tmp:
        pack = Path(tmp) / "bench.yaml"
        pack.write_text(PACK.format(hold=args.hold, lookup=LOOKUP_METER))
        proc = start_server(port, pack, Path(tmp) / "server.log")
        try:
            asyncio.run(measure(port, held, samples, args.hold))
        finally:
            stop(proc)
            errors = [line for line in (Path(tmp) / "server.log").read_text().splitlines() if "ERROR" in line]
            if errors:
                print("server logged errors:", *errors[:5], sep="\n  ", file=sys.stderr)


if __name__ == "__main__":
    main()
