"""The recording layer: the outermost ASGI layer, so it sees every exchange on the interface.

It decides the request's session, enters the exchange in that session's journal on arrival,
and completes it once the inner layers are done: with what was sent, or, when a fault broke or
changed the reply, with the fault and the status and body the simulator would have sent (the
inner layers leave that in the request's :class:`~ppu_sim.runtime.Note`). Requests refused
before any handler (401, 404, 405, 413, 415, format errors) are recorded like any other.
"""

from __future__ import annotations

import time
from collections.abc import MutableMapping
from typing import Any
from urllib.parse import parse_qsl

from ppu_sim.control.errors import CONTROL_PREFIX
from ppu_sim.control.journal import BODY_LIMIT, Body, Exchange, now
from ppu_sim.control.masking import mask_headers
from ppu_sim.control.sessions import session_name
from ppu_sim.interface import spec
from ppu_sim.runtime import NOTE_KEY, SESSION_KEY, Note, Simulator

Message = MutableMapping[str, Any]
# Not the interface: the simulator's own pages.
_UNRECORDED = ("/health", spec.BASE_PATH + "/ui", spec.BASE_PATH + "/openapi.")
# The path or query parameter naming the purchase or key change an operation belongs to.
TRANSACTION_PARAMS = {
    "createTokenPurchaseRequest": "purchaseId",
    "retryPurchaseRequest": "purchaseId",
    "retryPurchaseRequestByRetryId": "purchaseId",
    "confirmTokenPurchase": "purchaseId",
    "reverseTokenPurchase": "purchaseId",
    "notifyTokenPurchase": "purchaseId",
    "createKeyChangeTokenRequest": "requestId",
    "confirmKeyChange": "requestId",
}


_CONTROL_PATHS = CONTROL_PREFIX + "/"


def is_control(path: str) -> bool:
    return path == CONTROL_PREFIX or path.startswith(_CONTROL_PATHS)


def recorded(path: str) -> bool:
    """Interface traffic, including requests for paths it lacks; not the control API or the docs."""
    return not is_control(path) and not path.startswith(_UNRECORDED)


class Recorder:
    """Outermost layer: session and journal for interface traffic (health, docs and /sim/ have neither)."""

    def __init__(self, app: Any, simulator: Simulator) -> None:
        self.app = app
        self.simulator = simulator

    async def __call__(self, scope: Message, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or not recorded(scope["path"]):
            await self.app(scope, receive, send)
            return
        sim = self.simulator
        headers = scope["headers"]
        session = sim.sessions.get(session_name(headers, sim.settings.sessions))
        scope[SESSION_KEY] = session
        note = scope[NOTE_KEY] = Note()
        exchange = session.journal.add(_enter(session.name, scope))
        tap = _Tap(exchange, receive, send)
        try:
            if _body_will_come(headers, sim.settings.max_body_bytes):
                await tap.read_ahead()
            await self.app(scope, tap.receive, tap.send)
        finally:
            tap.complete(note)
            session.journal.settle(exchange)


class _Tap:
    """Copies what passes through one request: its body, and the reply as it is sent.

    A body that is on its way is read ahead (up to what the journal keeps) and replayed to the
    app, so it is recorded even when the request is refused before anyone reads it. Slotted and
    lean: every message of every request passes through it.
    """

    __slots__ = ("_receive", "_send", "ahead", "began", "chunks", "exchange", "kept", "sent", "status", "whole")

    def __init__(self, exchange: Exchange, receive: Any, send: Any) -> None:
        self.exchange = exchange
        self._receive, self._send = receive, send
        self.began = time.perf_counter_ns()
        self.ahead: list[Message] = []
        self.chunks: list[bytes] = []
        self.kept = 0
        self.whole = False
        self.status: int | None = None
        self.sent: list[bytes] = []

    @property
    def transport(self) -> Any:
        """That of the server's own send, so the fault layer can still reach the socket; looked up
        only when a fault asks for it."""
        return getattr(getattr(self._send, "__self__", None), "transport", None)

    async def read_ahead(self) -> None:
        while self.kept <= BODY_LIMIT and not self.whole:
            message = await self._receive()
            self.ahead.append(message)
            if message["type"] != "http.request":
                break
            self._keep(message)
        self.ahead.reverse()  # popped from the end

    async def receive(self) -> Message:
        if self.ahead:
            return self.ahead.pop()
        message = await self._receive()
        if not self.whole and message["type"] == "http.request":
            self._keep(message)
        return message

    def _keep(self, message: Message) -> None:
        body = message.get("body", b"")
        if body and self.kept <= BODY_LIMIT:
            self.chunks.append(body)
            self.kept += len(body)
        if not message.get("more_body"):
            self.whole = True
            self.exchange.request = Body(b"".join(self.chunks))  # visible while the reply is still held

    async def send(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            self.status = message["status"]
        elif message.get("body"):
            self.sent.append(message["body"])
        await self._send(message)

    def complete(self, note: Note) -> None:
        exchange = self.exchange
        if not self.whole:  # refused before all of it came (too large, or no one read it)
            exchange.request = Body(b"".join(self.chunks))
        # Whole microseconds as milliseconds: what round(ms, 3) gave, at a third of its cost.
        exchange.duration_ms = (time.perf_counter_ns() - self.began) // 1000 / 1000
        exchange.scenario, exchange.pack, exchange.step = note.scenario, note.pack, note.step
        exchange.meter_id = note.meter_id
        if note.transaction:
            exchange.transaction = note.transaction
        if note.delay:
            exchange.delay_s = round(note.delay, 6)
        exchange.fault = note.fault
        exchange.client_gone = note.client_gone
        if note.status is not None:  # the fault layer saw the reply: record it as it was meant to go
            exchange.status, exchange.response = note.status, Body(note.body)
        else:
            exchange.status, exchange.response = self.status, Body(b"".join(self.sent))


def _body_will_come(headers: list[tuple[bytes, bytes]], limit: int) -> bool:
    """Whether reading the body ahead waits only for what the client is sending anyway.

    Not when it asks to be told to go on (100-continue: reading would say "go on" to a request the
    simulator may refuse), nor when it declares more than the simulator takes (refused at once).
    """
    declared = b"0"
    for name, value in headers:
        if name == b"content-length":
            declared = value
        elif name == b"expect":
            return False
    return declared.isdigit() and int(declared) <= limit


def _enter(session: str, scope: Message) -> Exchange:
    method, path = scope["method"], scope["path"]
    query = scope.get("query_string", b"").decode("latin-1")
    operation, ids = spec.operation_for(method, path)
    if operation == "notifyTokenPurchase":
        ids = {**ids, **_query_ids(query)}
    param = TRANSACTION_PARAMS.get(operation or "")
    headers, transaction = mask_headers(scope["headers"]), ids.get(param) if param else None
    # By position, in the fields' order: keywords cost half as much again (0.2 µs a request).
    return Exchange(session, now(), method, path, query, headers, operation, ids, Body(b""), transaction)


def _query_ids(query: str) -> dict[str, str]:
    return {k: v for k, v in parse_qsl(query) if k == "purchaseId"}
