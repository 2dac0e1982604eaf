"""The HTTP/1.1 connection: uvicorn's httptools protocol with limits, timeouts and ErrorDetail refusals.

uvicorn answers what its parser refuses in plain text, waits for ever on a client that stops
half-way through a request, and has no bound on header fields or the request target. A PoS
under test must only ever see the contract's ErrorDetail, and one slow or hostile client must
not starve the others, so this protocol refuses such requests itself: 400 (not HTTP), 408 (too
slow), 414 (request target too long), 431 (too many or too large header fields), 501 (unknown
method), and 503 for a connection past ``max_connections``.

Only a client's own sending is timed. Once a request is complete, the time until the answer is
the provider's (a scripted delay or ``hold``), and no timer here runs.
"""

from __future__ import annotations

import asyncio
import logging
import re
import weakref
from dataclasses import dataclass
from typing import Any, ClassVar

import httptools
from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol

from ppu_sim.config import Settings
from ppu_sim.interface.http_errors import error_body
from ppu_sim.transport.responses import send_response

log = logging.getLogger("ppu_sim.transport")

# Longest request path worth routing to name the operation in a refusal; longer ones name none.
_ROUTABLE_PATH = 2_048
# How long a refused connection stays open to read (and drop) what the client is still sending.
_LINGER_SECONDS = 2.0
_REQUEST_LINE = re.compile(rb"[!#$%&'*+.^_`|~0-9A-Za-z-]+ \S+ HTTP/\d\.\d\r?$")


@dataclass
class Refusal(Exception):
    """Why a request is answered by the connection itself; raised inside parser callbacks."""

    status: int
    error_type: str
    message: str  # the ErrorDetail's errorMessage: at most 20 characters
    reason: str


def not_http(reason: str) -> Refusal:
    return Refusal(400, "FORMAT_ERROR", "Bad HTTP request", reason)


def too_slow(reason: str) -> Refusal:
    return Refusal(408, "FORMAT_ERROR", "Request timeout", reason)


def headers_too_large(reason: str) -> Refusal:
    return Refusal(431, "FORMAT_ERROR", "Headers too large", reason)


class GuardedProtocol(HttpToolsProtocol):
    """One client connection; :func:`guarded_protocol` binds the limits (uvicorn builds one per connection)."""

    settings: ClassVar[Settings]
    max_connections: ClassVar[int]

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self.url = b""
        self._in_head = True  # waiting for (the rest of) a request line and header fields
        self._head_bytes = 0  # bytes received since the head began, while it is incomplete
        self._header_count = 0
        self._header_bytes = 0
        self._messages = 0  # requests begun on this connection
        self._timer: asyncio.TimerHandle | None = None
        self._lingering = False  # refused: draining what the client still sends, then closing
        self._unparsed_body: int | None = None  # bytes of body to take past the parser (see _take_body)
        # A client that connects and sends nothing is idle, like a kept-alive connection.
        self.timeout_keep_alive_task = self.loop.call_later(self.timeout_keep_alive, self.timeout_keep_alive_handler)
        if len(self.connections) > self.max_connections:
            log.warning("more than %d connections open: answering 503 on a new one", self.max_connections)
            self.app = _too_many_connections(self.max_connections)

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_timer()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self._lingering:
            return
        if self._unparsed_body is not None:
            self._take_body(data)
            return
        self._unset_keepalive_if_required()
        if self._in_head:
            self._start_header_timer()
        head_only, messages = self._in_head, self._messages
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade as upgrade:
            # The parser stopped after the head, taking the rest for another protocol.
            self._take_body(data[upgrade.args[0] :])
            return
        except httptools.HttpParserInvalidMethodError:
            # RFC 9112 §3: an unknown method in a well-formed request line is 501, anything else 400.
            well_formed = _REQUEST_LINE.match(data.partition(b"\n")[0])
            refusal = Refusal(501, "FUNCTION_NOT_SUPPORTED", "Method not supported", "unknown HTTP method")
            self._refuse(refusal if well_formed else not_http("malformed request line"))
            return
        except httptools.HttpParserError as exc:
            cause = exc.__context__
            self._refuse(cause if isinstance(cause, Refusal) else not_http(str(exc) or "malformed request"))
            return
        if head_only and self._in_head and messages == self._messages:
            # All of this was head. A header line that never ends is held inside the parser, out of
            # the callbacks' sight: count it here (a head that began mid-chunk is counted from the next).
            self._head_bytes += len(data)
            if self._head_bytes > self.settings.max_url_bytes + self.settings.max_header_bytes:
                self._refuse(headers_too_large(f"request head over {self._head_bytes} bytes"))

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._messages += 1
        self._start_header_timer()  # also for a request that follows another in the same read
        self._head_bytes = self._header_count = self._header_bytes = 0

    def on_url(self, url: bytes) -> None:
        super().on_url(url)
        if len(self.url) > self.settings.max_url_bytes:
            reason = f"request target over {self.settings.max_url_bytes} bytes"
            raise Refusal(414, "FORMAT_ERROR", "URI too long", reason)

    def on_header(self, name: bytes, value: bytes) -> None:
        self._header_count += 1
        self._header_bytes += len(name) + len(value) + 4  # "name: value\r\n"
        if self._header_count > self.settings.max_headers:
            raise headers_too_large(f"more than {self.settings.max_headers} header fields")
        if self._header_bytes > self.settings.max_header_bytes:
            raise headers_too_large(f"header fields over {self.settings.max_header_bytes} bytes")
        super().on_header(name, value)

    def on_headers_complete(self) -> None:
        self._in_head = False
        self._cancel_timer()
        if self.parser.should_upgrade():
            self._unparsed_body = _declared_length(self.headers)
        super().on_headers_complete()
        self.cycle.transport = _OneWrite(self.transport, self.cycle, self.loop)
        self._timer = self.loop.call_later(self._timeout()[1], self._timed_out)

    def on_message_complete(self) -> None:
        if self._unparsed_body:  # the parser skipped the body of an Upgrade request; not complete yet
            return
        self._in_head = True
        self._cancel_timer()
        super().on_message_complete()

    def _take_body(self, data: bytes) -> None:
        """The body of a request that asked to upgrade (``Upgrade: h2c``, as Java's HttpClient
        sends, or ``websocket``), read past the parser, then HTTP/1.1 again on a fresh parser.

        There is no other protocol here, and RFC 9110 §7.8 lets a server ignore Upgrade; but the
        parser gives up on the connection after such a head, and skips any body it announced.
        """
        if self._unparsed_body is None:
            self._refuse(not_http("Upgrade with a chunked body"))
            return
        remaining = self._unparsed_body
        body, rest = data[:remaining], data[remaining:]
        self._unparsed_body = remaining - len(body)
        if body:
            self.on_body(body)
        if self._unparsed_body:
            return
        self._unparsed_body = None
        if remaining:  # held back while the body was outstanding
            self.on_message_complete()
        self.parser = httptools.HttpRequestParser(self)
        self.parser.set_dangerous_leniencies(lenient_data_after_close=True)  # as uvicorn's own parser
        if rest:
            self.data_received(rest)

    def _start_header_timer(self) -> None:
        if self._timer is None:
            self._timer = self.loop.call_later(self.settings.header_timeout, self._timed_out)

    def _cancel_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _timed_out(self) -> None:
        self._timer = None
        if self._answering_earlier_request():
            # Pipelined behind a request still being answered (perhaps held): uvicorn is not reading,
            # so the client is not the slow one.
            self._timer = self.loop.call_later(self._timeout()[1], self._timed_out)
            return
        if not self._in_head and self.cycle is not None and self.cycle.response_started:
            # Answered without the whole body (e.g. 401): nothing more to say, stop waiting for the rest.
            self.transport.close()
            return
        where, limit = self._timeout()
        self._refuse(too_slow(f"request {where} not received within {limit:g} s"))

    def _timeout(self) -> tuple[str, float]:
        """What the client is sending now, and how long it may take."""
        return ("headers", self.settings.header_timeout) if self._in_head else ("body", self.settings.body_timeout)

    def _answering_earlier_request(self) -> bool:
        if self._in_head:  # self.cycle is still the previous request's
            return self.cycle is not None and not self.cycle.response_complete
        return bool(self.pipeline)

    def _refuse(self, refusal: Refusal) -> None:
        """Answer with an ErrorDetail and close: what follows on this connection cannot be trusted.

        The close lingers: a client still sending (a long request target, a large header) would
        otherwise get a reset instead of the answer, so what it sends is read and dropped until it
        closes its side, for a moment at most.
        """
        if self._lingering or self.transport.is_closing():
            return
        self._cancel_timer()
        if self.cycle is not None and self.cycle.response_started and not self.cycle.response_complete:
            self.transport.close()  # half an answer is on the wire: another would garble it
            return
        if self.cycle is not None and not self.cycle.response_complete:
            # The application still at work on this connection sees a disconnect; its answer is dropped.
            self.cycle.disconnected = True
            self.cycle.message_event.set()
        log.warning("%s: %d %s", self.client or "client", refusal.status, refusal.reason)
        body = _error(_path(self.url), refusal)
        head = [STATUS_LINE[refusal.status]]
        for name, value in [
            *self.server_state.default_headers,
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
            (b"connection", b"close"),
        ]:
            head += [name, b": ", value, b"\r\n"]
        self.transport.write(b"".join([*head, b"\r\n", body]))
        self._lingering = True
        if self.transport.can_write_eof():
            self.transport.write_eof()
        self.flow.resume_reading()
        self._timer = self.loop.call_later(_LINGER_SECONDS, self.transport.close)


class _OneWrite:
    """The connection as one response sees it: its status line and header fields wait for the
    first piece of body and go out with it in one write.

    uvicorn writes the head and the body apart, and a write to a socket is a system call that
    took a quarter of a request's time here. A head with no body after it in the same step of
    the event loop (a HEAD request, a response held by a fault) goes out at the end of that step.
    Everything else passes through to the transport.
    """

    def __init__(self, transport: asyncio.Transport, cycle: Any, loop: asyncio.AbstractEventLoop) -> None:
        self._transport = transport
        # Weak: the cycle holds this object, and a reference back would make each response a
        # reference cycle that only a garbage collection pass frees.
        self._cycle = weakref.ref(cycle)
        self._loop = loop
        self._head: bytes | None = None
        self._started = False

    def write(self, data: bytes) -> None:
        cycle = self._cycle()
        if cycle is not None and cycle.response_started and not self._started:
            self._started = True  # the first write once the response has begun is its head
            self._head = data
            self._loop.call_soon(self._flush)
            return
        if self._head is not None:
            data, self._head = self._head + data, None
        self._transport.write(data)

    def _flush(self) -> None:
        if self._head is not None and not self._transport.is_closing():
            self._transport.write(self._head)
        self._head = None

    def close(self) -> None:
        self._flush()
        self._transport.close()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)


def guarded_protocol(settings: Settings, max_connections: int) -> type[GuardedProtocol]:
    """The protocol class uvicorn instantiates per connection, bound to this server's limits."""
    attrs = {"settings": settings, "max_connections": max_connections}
    return type("BoundGuardedProtocol", (GuardedProtocol,), attrs)


def _declared_length(headers: list[tuple[bytes, bytes]]) -> int | None:
    """The body length a head declares (0 for none), or None for a chunked body."""
    length = 0
    for name, value in headers:
        if name == b"transfer-encoding":
            return None
        if name == b"content-length":
            length = int(value)
    return length


def _path(url: bytes) -> str:
    """The request's path, if it is short plain ASCII, so the refusal can name the operation aimed at."""
    path = url.partition(b"?")[0]
    return path.decode("ascii") if len(path) <= _ROUTABLE_PATH and path.isascii() else ""


def _error(path: str, refusal: Refusal) -> bytes:
    return error_body(
        path, refusal.status, error_type=refusal.error_type, message=refusal.message, detail={"reason": refusal.reason}
    )


def _too_many_connections(limit: int) -> Any:
    """The application for a connection past the limit: 503 (the request was not processed), then close."""
    refusal = Refusal(503, "GENERAL_ERROR", "Too many connections", f"more than {limit} connections open")

    async def refuse(scope: dict[str, Any], receive: Any, send: Any) -> None:
        headers = [(b"retry-after", b"1"), (b"connection", b"close")]
        await send_response(send, 503, _error(scope["path"], refusal), headers)

    return refuse
