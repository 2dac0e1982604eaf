"""The response side of the HTTP connection (transport/protocol.py's _Cycle), against a recording
transport: how each kind of ASGI response goes on the wire. The contract's operations always
declare a Content-Length; these cover what else an ASGI app may send."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest
from uvicorn.protocols.http.flow_control import FlowControl

from ppu_sim.transport.protocol import _Cycle


class Wire:
    """A transport that keeps each write apart."""

    def __init__(self) -> None:
        self.writes: list[bytes] = []
        self.closed = False

    def write(self, data: bytes) -> None:
        self.writes.append(data)

    def is_closing(self) -> bool:
        return self.closed

    def close(self) -> None:
        self.closed = True

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass


def cycle(method: str = "GET", keep_alive: bool = True) -> tuple[_Cycle, Wire, list[str]]:
    wire, done = Wire(), []
    scope: Any = {"type": "http", "method": method, "path": "/x", "query_string": b"", "http_version": "1.1"}
    log = logging.getLogger("test")
    made = _Cycle(
        scope, wire, FlowControl(wire), log, log, False, [(b"server", b"sim")], asyncio.Event(), False,
        keep_alive, lambda: done.append("done"),
    )  # fmt: skip
    return made, wire, done


def start(headers: list[tuple[bytes, bytes]], status: int = 200) -> dict[str, Any]:
    return {"type": "http.response.start", "status": status, "headers": headers}


def body(data: bytes, more: bool = False) -> dict[str, Any]:
    return {"type": "http.response.body", "body": data, "more_body": more}


def test_head_and_body_go_out_in_one_write() -> None:
    async def run() -> None:
        c, wire, done = cycle()
        await c.send(start([(b"Content-Type", b"application/json"), (b"content-length", b"2")]))
        await c.send(body(b"{}"))
        assert wire.writes == [
            b"HTTP/1.1 200 OK\r\nserver: sim\r\ncontent-type: application/json\r\ncontent-length: 2\r\n\r\n{}"
        ]
        assert done == ["done"] and c.response_complete and not wire.closed

    asyncio.run(run())


def test_a_head_left_alone_goes_out_at_the_end_of_the_step() -> None:
    async def run() -> None:
        c, wire, _ = cycle()
        await c.send(start([(b"content-length", b"2")]))
        assert wire.writes == []
        await asyncio.sleep(0)
        assert wire.writes == [b"HTTP/1.1 200 OK\r\nserver: sim\r\ncontent-length: 2\r\n\r\n"]
        await c.send(body(b"{}"))
        assert wire.writes[1:] == [b"{}"]

    asyncio.run(run())


def test_without_a_length_the_body_is_chunked() -> None:
    async def run() -> None:
        c, wire, done = cycle()
        await c.send(start([]))
        await c.send(body(b"abc", more=True))
        await c.send(body(b""))
        assert b"".join(wire.writes) == (
            b"HTTP/1.1 200 OK\r\nserver: sim\r\ntransfer-encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n"
        )
        assert done == ["done"]

    asyncio.run(run())


def test_a_head_request_gets_the_head_only() -> None:
    async def run() -> None:
        c, wire, done = cycle("HEAD")
        await c.send(start([(b"content-length", b"5")]))
        await c.send(body(b""))
        assert wire.writes == [b"HTTP/1.1 200 OK\r\nserver: sim\r\ncontent-length: 5\r\n\r\n"]
        assert done == ["done"]

    asyncio.run(run())


@pytest.mark.parametrize("keep_alive", [True, False])
def test_connection_close_ends_the_connection_after_the_answer(keep_alive: bool) -> None:
    """Asked for by the app's header, or because the request did not keep the connection alive."""

    async def run() -> None:
        c, wire, _ = cycle(keep_alive=keep_alive)
        headers = [(b"content-length", b"0")] + ([(b"Connection", b"Keep-Alive, Close")] if keep_alive else [])
        await c.send(start(headers, 204))
        await c.send(body(b""))
        assert wire.closed
        assert wire.writes[0].lower().count(b"connection: ") == 1

    asyncio.run(run())


@pytest.mark.parametrize(
    ("headers", "sent", "problem"),
    [
        ([(b"bad name", b"v")], b"", "Invalid HTTP header name."),
        ([(b"x", b"a\nb")], b"", "Invalid HTTP header value."),
        ([(b"content-length", b"2")], b"abc", "Response content longer than Content-Length"),
        ([(b"content-length", b"5")], b"abc", "Response content shorter than Content-Length"),
    ],
)
def test_a_response_that_breaks_http_is_an_error_of_the_app(
    headers: list[tuple[bytes, bytes]], sent: bytes, problem: str
) -> None:
    async def run() -> None:
        c, _, _ = cycle()
        with pytest.raises(RuntimeError, match=problem):
            await c.send(start(headers))
            await c.send(body(sent))

    asyncio.run(run())


def test_messages_out_of_order_are_errors_of_the_app() -> None:
    async def run() -> None:
        c, _, _ = cycle()
        with pytest.raises(RuntimeError, match="message 'http\\.response\\.start'"):
            await c.send(body(b""))
        await c.send(start([(b"content-length", b"0")]))
        with pytest.raises(RuntimeError, match="message 'http\\.response\\.body'"):
            await c.send(start([]))
        await c.send(body(b""))
        with pytest.raises(RuntimeError, match="after response already completed"):
            await c.send(body(b""))

    asyncio.run(run())
