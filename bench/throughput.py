"""How much traffic can a PoS load test push through one simulator? Requests per second and latency.

Starts `ppu-sim serve` on a free loopback port with the built-in packs, then runs N virtual
terminals at once, each doing lookup -> purchase -> confirmation on its own meter, and prints
requests per second and p50/p99 latency per operation. With ``--meters sts`` each terminal has a
valid STS meter number (real STS tokens); with ``--meters tst`` a plain id (random token
numbers), to see what the STS tokens cost. Loopback only, bounded in count, stops everything it
started.

    .venv/bin/python bench/throughput.py [--terminals 16] [--flows 1000] [--meters sts|tst]
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
import uuid
from collections import defaultdict
from pathlib import Path

import httpx
from held_requests import BASE, HOST, percentile, start_server, transaction

from ppu_sim.process import free_port, stop
from ppu_sim.scenario.matcher import luhn_check_digit

AUTH = ("bench", "bench")


async def flow(client: httpx.AsyncClient, meter: str, timings: dict[str, list[float]]) -> None:
    """One sale as a PoS makes it; each step must succeed."""
    pid, cid = str(uuid.uuid4()), str(uuid.uuid4())
    lookup_id = str(uuid.uuid4())
    purchase = {**transaction(pid, meter), "purchaseAmount": {"amount": 5000, "currency": "710"}}
    confirmation = {
        "id": cid,
        "requestId": pid,
        "time": "2026-11-21T10:16:00Z",
        "thirdPartyIdentifiers": [],
        "tenders": [{"amount": {"amount": 5000, "currency": "710"}, "tenderType": "CASH"}],
    }
    steps = (
        ("lookup", f"{BASE}/meterLookups/{lookup_id}", transaction(lookup_id, meter), 201),
        ("purchase", f"{BASE}/tokenPurchases/{pid}", purchase, 201),
        ("confirm", f"{BASE}/tokenPurchases/{pid}/confirmations/{cid}", confirmation, 202),
    )
    for name, path, body, expected in steps:
        began = time.perf_counter()
        r = await client.post(path, json=body)
        timings[name].append(time.perf_counter() - began)
        if r.status_code != expected:
            raise SystemExit(f"{name} answered {r.status_code}: {r.text}")


def meter_of(kind: str, number: int) -> str:
    payload = f"{7_000_000_000 + number}"
    return payload + luhn_check_digit(payload) if kind == "sts" else f"BENCH{payload}"


async def terminal(port: int, meter: str, flows: int, timings: dict[str, list[float]]) -> None:
    async with httpx.AsyncClient(base_url=f"http://{HOST}:{port}", auth=AUTH, timeout=30) as client:
        for _ in range(flows):
            await flow(client, meter, timings)


async def measure(port: int, terminals: int, flows: int, kind: str) -> None:
    await terminal(port, meter_of(kind, 9999), 20, defaultdict(list))  # warm-up
    timings: dict[str, list[float]] = defaultdict(list)
    per_terminal = max(1, flows // terminals)
    began = time.perf_counter()
    await asyncio.gather(*(terminal(port, meter_of(kind, n), per_terminal, timings) for n in range(terminals)))
    elapsed = time.perf_counter() - began
    total = sum(len(v) for v in timings.values())
    print(
        f"{kind} meters, {terminals} terminals, {per_terminal * terminals} sales, {total} requests in {elapsed:.1f} s: "
        f"{total / elapsed:.0f} requests/s"
    )
    for name, values in timings.items():
        print(f"  {name:<9} p50 {percentile(values, 50) * 1000:6.1f} ms   p99 {percentile(values, 99) * 1000:6.1f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--terminals", type=int, default=16, choices=range(1, 257), metavar="1..256")
    parser.add_argument("--flows", type=int, default=1000, choices=range(1, 20_001), metavar="1..20000")
    parser.add_argument("--meters", choices=("sts", "tst"), default="sts", help="STS meter numbers or plain ids")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        pack = Path(tmp) / "empty.yaml"
        # Plain ids behave as the generated STS meters do, but get random token numbers.
        pack.write_text(
            "pack: bench-throughput\nscenarios:\n"
            "  - {name: plain, summary: plain meters, match: {meterId: {pattern: '^BENCH[0-9]+$'}}}\n"
        )
        port = free_port()
        proc = start_server(port, pack, Path(tmp) / "server.log")
        try:
            asyncio.run(measure(port, args.terminals, args.flows, args.meters))
        finally:
            stop(proc, 10)


if __name__ == "__main__":
    main()
