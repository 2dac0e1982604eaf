"""Microseconds per request through the whole ASGI stack, in process, without sockets.

wrk on a shared 2-core VM measures the machine as much as the server; this drives the app that
``ppu-sim serve`` runs (journal, sessions, faults, fast path or Connexion) with the bench's own
lookup and purchase bodies (``ppu_load.lua``'s), one request after another on one event loop, and prints the best of
several rounds. What it leaves out (uvicorn, HTTP parsing, the socket) is the same for every
server, so it isolates what ppu-sim's own code costs.

    .venv/bin/python bench/asgi_calls.py                  # lookups and purchases, fast path on
    .venv/bin/python bench/asgi_calls.py --no-fast-path   # everything through Connexion
"""

from __future__ import annotations

import argparse
import asyncio
import time
import uuid
from typing import Any

from provider_calls import METERS, body_text

from ppu_sim.app import create_app
from ppu_sim.config import Settings

BODIES = {kind: body_text("{id}", METERS["STS meter"], kind == "purchase").encode() for kind in ("lookup", "purchase")}
PATHS = {"lookup": "/prepaidutility/v3/meterLookups/", "purchase": "/prepaidutility/v3/tokenPurchases/"}


def request(kind: str) -> tuple[dict[str, Any], bytes]:
    """One request as uvicorn hands it over: the scope and the body."""
    id_ = str(uuid.uuid4())
    raw = BODIES[kind].replace(b"{id}", id_.encode())
    return scope("POST", PATHS[kind] + id_, raw), raw


def scope(method: str, path: str, raw: bytes = b"", query: bytes = b"") -> dict[str, Any]:
    """The ASGI scope of a request with the bench's credentials (a body, if any, is JSON)."""
    headers = [(b"host", b"127.0.0.1"), (b"authorization", b"Basic YmVuY2g6YmVuY2g=")]
    if raw:
        headers += [(b"content-type", b"application/json"), (b"content-length", str(len(raw)).encode())]
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": query,
        "root_path": "",
        "headers": headers,
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 8080),
    }


async def replied(app: Any, scope: dict[str, Any], raw: bytes) -> list[dict[str, Any]]:
    """The messages the app sends for one request with this body."""
    sent: list[dict[str, Any]] = []
    messages = [{"type": "http.request", "body": raw, "more_body": False}]

    async def receive() -> dict[str, Any]:
        return messages.pop() if messages else {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    await app(scope, receive, send)
    return sent


async def one(app: Any, scope: dict[str, Any], raw: bytes) -> int:
    return (await replied(app, scope, raw))[0]["status"]


async def rounds(app: Any, kind: str, count: int, repeats: int) -> float:
    """The best round's time per request; the requests are made before a round is timed."""
    best = float("inf")
    for _ in range(repeats):
        requests = [request(kind) for _ in range(count)]
        start = time.perf_counter()
        for scope, raw in requests:
            status = await one(app, scope, raw)
        best = min(best, (time.perf_counter() - start) / count)
        if status >= 300:
            raise SystemExit(f"{kind}: unexpected status {status}")
    return best * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=2000, help="requests per round (max 100000)")
    parser.add_argument("--repeats", type=int, default=5, help="rounds; the best is printed (max 50)")
    parser.add_argument("--no-fast-path", action="store_true", help="every request through Connexion")
    args = parser.parse_args()
    app = create_app(Settings(fast_path=not args.no_fast_path))
    count, repeats = min(args.count, 100_000), min(args.repeats, 50)
    for kind in ("lookup", "purchase"):
        asyncio.run(rounds(app, kind, 50, 1))  # first requests build the validators
        print(f"{kind:9s} {asyncio.run(rounds(app, kind, count, repeats)):7.1f} us per request")


if __name__ == "__main__":
    main()
