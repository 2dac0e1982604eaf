"""Delays and transport faults, applied in the ASGI layer so a held reply blocks nothing.

The provider decides *that* a reply is delayed or broken (a scenario step); the handler passes
that decision out in an internal response header, and :class:`FaultMiddleware`, the outermost
layer, strips the header and carries it out on the connection itself. The handler has finished
by then: a delay or hold is only a timer on the event loop, and a fault that breaks the
connection reaches the socket under the ASGI server.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import math
import socket
import struct
from collections.abc import MutableMapping
from dataclasses import asdict
from typing import Any

from ppu_sim.interface import spec
from ppu_sim.runtime import SESSION_KEY, Note, note_of, session_of, simulator_of
from ppu_sim.scenario.model import Delay, Fault

DIRECTIVE_HEADER = "x-ppu-sim-directive"
_DIRECTIVE_BYTES = DIRECTIVE_HEADER.encode()
# After breaking a connection, how long to wait for the server to notice before returning anyway.
_BREAK_GRACE = 5.0
Message = MutableMapping[str, Any]

log = logging.getLogger("ppu_sim.transport.faults")


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


class FaultMiddleware:
    """The interface's outer ASGI layer: global latency, scripted delays and transport faults.

    ``stopping`` is set when the server shuts down: waits end at once and held requests are
    closed, so stopping the simulator never waits out a hold.
    """

    def __init__(self, app: Any, stopping: asyncio.Event) -> None:
        self.app = app
        self.stopping = stopping

    async def __call__(self, scope: Message, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        held: list[Message] = []

        async def capture(message: Message) -> None:
            held.append(message)

        await self.app(scope, receive, capture)
        directive = _pop_directive(held[0]) if held else None
        latency = _latency(scope)
        if directive is None and latency is None:  # the usual reply: the journal records it as sent
            for message in held:
                await send(message)
            return
        delay, fault = _delay(directive), _fault(directive)
        # Drawn in request order from the session's seeded generator: the same traffic replays the same timings.
        wait = sum(sample(d, session_of(scope).rng) for d in (latency, delay) if d is not None)
        note = note_of(scope)
        _plan(note, held, wait, fault)
        if delay or fault or wait:
            level = logging.INFO if delay or fault else logging.DEBUG
            kind = fault.kind if fault else "-"
            log.log(level, "%s %s: delay %.3f s, fault %s", scope["method"], scope["path"], wait, kind)
        if wait > 0 and not await self._pause(wait, receive):
            note.client_gone = True
            return
        if fault is None:
            for message in held:
                await send(message)
            return
        await self._misbehave(fault, held, receive, send, simulator_of(scope).settings.hold_seconds, note)

    async def _pause(self, seconds: float, receive: Any) -> bool:
        """Wait out ``seconds`` on the event loop; False if the client left meanwhile.

        Shutting down ends the wait early (True), so the request finishes promptly.
        """
        gone = asyncio.ensure_future(_client_gone(receive))
        stop = asyncio.ensure_future(self.stopping.wait())
        try:
            await asyncio.wait((gone, stop), timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
        finally:
            gone.cancel()
            stop.cancel()
        return not (gone.done() and not gone.cancelled())

    async def _misbehave(
        self, fault: Fault, held: list[Message], receive: Any, send: Any, hold: float, note: Note
    ) -> None:
        start, body = held[0], note.body
        kind = fault.kind
        if kind == "hold":
            if not await self._pause(fault.seconds if fault.seconds is not None else hold, receive):
                note.client_gone = True
                return
            kind = "close" if fault.then == "close" or self.stopping.is_set() else "answer"
            note.fault = f"hold-{kind}"
        if kind in ("reset", "close"):
            await _break(send, receive, kind)
            return
        if kind == "answer":
            for message in held:
                await send(message)
            return
        if kind == "empty":
            body = b""
        elif kind == "malformed":
            # Half a JSON document followed by markup: no JSON parser accepts it.
            body = body[: len(body) // 2] + b"<!-- not JSON -->"
        declared = len(body)
        if kind == "truncated":
            body = body[: len(body) // 2]
        await send(_with_length(start, declared))
        if kind == "dribble":
            for i in range(0, len(body), fault.chunk):
                await send({"type": "http.response.body", "body": body[i : i + fault.chunk], "more_body": True})
                if not self.stopping.is_set() and not await self._pause(fault.interval, receive):
                    note.client_gone = True
                    return
            await send({"type": "http.response.body", "body": b""})
        elif kind == "truncated":
            await send({"type": "http.response.body", "body": body, "more_body": True})
            await _break(send, receive, "close")
        else:
            await send({"type": "http.response.body", "body": body})


async def _client_gone(receive: Any) -> None:
    """Return once the client has disconnected (any request body the app left unread is dropped)."""
    while (await receive())["type"] != "http.disconnect":
        pass


def _latency(scope: Message) -> Delay | None:
    """The catalogue's latency, if one is set, for a request to one of the contract's operations.

    Only those have a session (the UI's pages do not); the path is matched only when there is a
    latency to apply, as that is rare and the match ran on every request."""
    session = scope.get(SESSION_KEY)
    latency = session.provider.catalogue.latency if session is not None else None
    return latency if latency is not None and _is_api(scope["path"]) else None


def _is_api(path: str) -> bool:
    """The global latency is the provider's: it slows the contract's operations, not /health or the docs."""
    return path.startswith(spec.BASE_PATH + "/") and bool(spec.methods_for_path(path))


def _transport(send: Any) -> asyncio.Transport | None:
    """The connection under uvicorn's send callable (its request cycle keeps it as .transport)."""
    return getattr(getattr(send, "__self__", None), "transport", None)


async def _break(send: Any, receive: Any, how: str) -> None:
    transport = _transport(send)
    if transport is None:
        raise RuntimeError("transport faults need uvicorn's own send (not wrapped, as it is at --log-level trace)")
    if how == "reset":
        sock = transport.get_extra_info("socket")
        if sock is not None:
            # Linger 0: closing sends RST instead of FIN, which clients see as "connection reset".
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        transport.abort()
    else:
        transport.close()
    # Return only once the server has seen the connection go, or it would report an unfinished response.
    with contextlib.suppress(asyncio.TimeoutError):
        await asyncio.wait_for(_client_gone(receive), _BREAK_GRACE)


def _plan(note: Note, held: list[Message], wait: float, fault: Fault | None) -> None:
    """What the handler answered and what happens to it, before anything is sent."""
    note.status = held[0]["status"] if held else None
    note.body = b"".join(m.get("body", b"") for m in held[1:])
    note.delay = wait
    note.fault = fault.kind if fault else None


def _pop_directive(start: Message) -> dict[str, Any] | None:
    headers = start.get("headers", [])
    for name, value in headers:  # a loop, not next() over a generator: this runs for every reply
        if name == _DIRECTIVE_BYTES:
            start["headers"] = [(k, v) for k, v in headers if k != _DIRECTIVE_BYTES]
            return json.loads(value)
    return None


def _delay(directive: dict[str, Any] | None) -> Delay | None:
    return Delay(**directive["delay"]) if directive and directive.get("delay") else None


def _fault(directive: dict[str, Any] | None) -> Fault | None:
    return Fault(**directive["fault"]) if directive and directive.get("fault") else None


def _with_length(start: Message, length: int) -> Message:
    headers = [(k, v) for k, v in start.get("headers", []) if k.lower() != b"content-length"]
    return {**start, "headers": [*headers, (b"content-length", str(length).encode())]}
