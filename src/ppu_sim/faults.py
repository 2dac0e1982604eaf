"""Delays and transport faults, applied in the ASGI layer so a held reply costs no worker.

The provider decides *that* a reply is delayed or broken (a scenario step); the handler passes
that decision out in an internal response header, and :class:`FaultMiddleware`, the outermost
layer, strips the header and carries it out on the connection itself: it waits on the event
loop, and for faults that break the connection it reaches the socket under the ASGI server.
"""

from __future__ import annotations

import asyncio
import json
import math
import socket
import struct
from collections.abc import MutableMapping
from dataclasses import asdict
from typing import Any

from ppu_sim.runtime import simulator_of
from ppu_sim.scenario.model import Delay, Fault

DIRECTIVE_HEADER = "x-ppu-sim-directive"
_DIRECTIVE_BYTES = DIRECTIVE_HEADER.encode()
Message = MutableMapping[str, Any]


def encode_directive(delay: Delay | None, fault: Fault | None) -> dict[str, str]:
    if delay is None and fault is None:
        return {}
    value = {"delay": asdict(delay) if delay else None, "fault": asdict(fault) if fault else None}
    return {DIRECTIVE_HEADER: json.dumps(value, separators=(",", ":"))}


def sample(delay: Delay, rng: Any) -> float:
    """Seconds to wait for one reply under a delay rule."""
    if delay.kind == "uniform":
        return rng.uniform(delay.a, delay.b)
    if delay.kind == "lognormal":
        return rng.lognormvariate(math.log(delay.a), delay.b)
    return delay.a


def _transport(send: Any) -> asyncio.Transport | None:
    """The connection under uvicorn's send callable (its request cycle keeps it as .transport)."""
    return getattr(getattr(send, "__self__", None), "transport", None)


async def _break(send: Any, how: str) -> None:
    transport = _transport(send)
    if transport is None:
        raise RuntimeError("transport faults need the uvicorn server (the ASGI send has no transport)")
    if how == "reset":
        sock = transport.get_extra_info("socket")
        if sock is not None:
            # Linger 0: closing sends RST instead of FIN, which clients see as "connection reset".
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        transport.abort()
    else:
        transport.close()
    await asyncio.sleep(0)  # let the server notice the disconnect before the app returns


class FaultMiddleware:
    """Outermost ASGI layer: global latency, scripted delays and transport faults."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Message, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        held: list[Message] = []

        async def capture(message: Message) -> None:
            held.append(message)

        await self.app(scope, receive, capture)
        sim = simulator_of(scope)
        start = held[0] if held else None
        directive = _pop_directive(start) if start else None
        latency = sim.provider.catalogue.latency if scope["path"].startswith("/prepaidutility/") else None
        wait = sum(sample(d, sim.rng) for d in (latency, _delay(directive)) if d is not None)
        if wait > 0:
            await asyncio.sleep(wait)
        fault = _fault(directive)
        if fault is None:
            for message in held:
                await send(message)
            return
        await self._misbehave(fault, held, send, sim.settings.hold_seconds)

    async def _misbehave(self, fault: Fault, held: list[Message], send: Any, hold_seconds: float) -> None:
        start, body = held[0], b"".join(m.get("body", b"") for m in held[1:])
        kind = fault.kind
        if kind == "hold":
            await asyncio.sleep(fault.seconds if fault.seconds is not None else hold_seconds)
            kind = "close" if fault.then == "close" else "answer"
        if kind in ("reset", "close"):
            await _break(send, kind)
            return
        if kind == "answer":
            for message in held:
                await send(message)
            return
        if kind == "empty":
            body = b""
        elif kind == "malformed":
            body = body[: max(1, len(body) // 2)] + b"<!-- not JSON -->"
        declared = len(body)
        if kind == "truncated":
            body = body[: len(body) // 2]
        await send(_with_length(start, declared))
        if kind == "dribble":
            for i in range(0, len(body), fault.chunk):
                await send({"type": "http.response.body", "body": body[i : i + fault.chunk], "more_body": True})
                await asyncio.sleep(fault.interval)
            await send({"type": "http.response.body", "body": b""})
        elif kind == "truncated":
            await send({"type": "http.response.body", "body": body, "more_body": True})
            await _break(send, "close")
        else:
            await send({"type": "http.response.body", "body": body})


def _pop_directive(start: Message) -> dict[str, Any] | None:
    headers = start.get("headers", [])
    found = next((v for k, v in headers if k == _DIRECTIVE_BYTES), None)
    if found is None:
        return None
    start["headers"] = [(k, v) for k, v in headers if k != _DIRECTIVE_BYTES]
    return json.loads(found)


def _delay(directive: dict[str, Any] | None) -> Delay | None:
    return Delay(**directive["delay"]) if directive and directive.get("delay") else None


def _fault(directive: dict[str, Any] | None) -> Fault | None:
    return Fault(**directive["fault"]) if directive and directive.get("fault") else None


def _with_length(start: Message, length: int) -> Message:
    headers = [(k, v) for k, v in start.get("headers", []) if k.lower() != b"content-length"]
    return {**start, "headers": [*headers, (b"content-length", str(length).encode())]}
