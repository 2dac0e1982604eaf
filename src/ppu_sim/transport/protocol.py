"""The HTTP/1.1 connection: uvicorn's httptools protocol with limits, timeouts and ErrorDetail refusals.

uvicorn answers what its parser refuses in plain text, waits for ever on a client that stops
half-way through a request, and has no bound on header fields or the request target. A PoS
under test must only ever see the contract's ErrorDetail, and one slow or hostile client must
not starve the others, so this protocol refuses such requests itself: 400 (not HTTP), 408 (too
slow), 414 (request target too long), 431 (too many or too large header fields), 501 (unknown
method), and 503 for a connection past ``max_connections``.

Only a client's own sending is timed, and an idle kept-alive connection. Once a request is
complete, the time until the answer is the provider's (a scripted delay or ``hold``), and no
deadline runs.
"""

from __future__ import annotations

import asyncio
import logging
import re
from dataclasses import dataclass
from typing import Any, ClassVar
from urllib.parse import unquote

import httptools
from uvicorn.protocols.http.httptools_impl import (
    HEADER_RE,
    HEADER_VALUE_RE,
    STATUS_LINE,
    HttpToolsProtocol,
    RequestResponseCycle,
)
from uvicorn.protocols.utils import get_client_addr, get_path_with_query_string

from ppu_sim.config import Settings
from ppu_sim.interface.http_errors import error_body
from ppu_sim.transport.responses import send_response

log = logging.getLogger("ppu_sim.transport")

# Longest request path worth routing to name the operation in a refusal; longer ones name none.
_ROUTABLE_PATH = 2_048
# How long a refused connection stays open to read (and drop) what the client is still sending.
_LINGER_SECONDS = 2.0
# The response header fields that frame it, or end the connection.
_FRAMING = frozenset((b"content-length", b"transfer-encoding", b"connection"))
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
        self._waiting: str | None = None  # what the deadline is for: idle, headers, body or linger
        self._deadline = 0.0
        self._alarm: asyncio.TimerHandle | None = None  # rings at or before the deadline
        self._lingering = False  # refused: draining what the client still sends, then closing
        self._unparsed_body: int | None = None  # bytes of body to take past the parser (see _take_body)
        # A client that connects and sends nothing is idle, like a kept-alive connection.
        self._wait("idle", self.timeout_keep_alive)
        if len(self.connections) > self.max_connections:
            log.warning("more than %d connections open: answering 503 on a new one", self.max_connections)
            self.app = _too_many_connections(self.max_connections)

    def connection_lost(self, exc: Exception | None) -> None:
        self._waiting = None
        if self._alarm is not None:
            self._alarm.cancel()
            self._alarm = None
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self._lingering:
            return
        if self._unparsed_body is not None:
            self._take_body(data)
            return
        if self._in_head:
            self._expect_head()
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
        self._expect_head()  # also for a request that follows another in the same read
        self._head_bytes = self._header_count = self._header_bytes = 0

    def on_url(self, url: bytes) -> None:
        super().on_url(url)
        if len(self.url) > self.settings.max_url_bytes:
            reason = f"request target over {self.settings.max_url_bytes} bytes"
            raise Refusal(414, "FORMAT_ERROR", "URI too long", reason)

    def on_header(self, name: bytes, value: bytes) -> None:
        # uvicorn's (lower-case names, note Expect: 100-continue) with the limits, in one call.
        self._header_count += 1
        self._header_bytes += len(name) + len(value) + 4  # "name: value\r\n"
        if self._header_count > self.settings.max_headers:
            raise headers_too_large(f"more than {self.settings.max_headers} header fields")
        if self._header_bytes > self.settings.max_header_bytes:
            raise headers_too_large(f"header fields over {self.settings.max_header_bytes} bytes")
        name = name.lower()
        if name == b"expect" and value.lower() == b"100-continue":
            self.expect_100_continue = True
        self.headers.append((name, value))

    def on_headers_complete(self) -> None:
        """The scope's method, version and path, and the request's cycle, as uvicorn's (there is no
        WebSocket here, and the connection limit is this protocol's own), with :class:`_Cycle`."""
        self._in_head = False
        parser, scope = self.parser, self.scope
        if parser.should_upgrade():
            self._unparsed_body = _declared_length(self.headers)
        version = parser.get_http_version()
        scope["method"] = parser.get_method().decode("ascii")
        if version != "1.1":
            scope["http_version"] = version
        url = httptools.parse_url(self.url)
        path = url.path.decode("ascii")
        scope["path"] = self.root_path + (unquote(path) if "%" in path else path)
        scope["raw_path"] = self.root_path.encode("ascii") + url.path
        scope["query_string"] = url.query or b""
        earlier = self.cycle
        self.cycle = cycle = _Cycle(
            scope,
            self.transport,
            self.flow,
            self.logger,
            self.access_logger,
            self.access_log,
            self.server_state.default_headers,
            asyncio.Event(),
            self.expect_100_continue,
            version != "1.0" and parser.should_keep_alive(),
            self.on_response_complete,
        )
        if earlier is None or earlier.response_complete:
            self._start_asgi_task(cycle, self.app)
        else:  # pipelined: answered once the requests before it are
            self.flow.pause_reading()
            self.pipeline.appendleft((cycle, self.app))
        self._wait("body", self.settings.body_timeout)

    def on_message_complete(self) -> None:
        if self._unparsed_body:  # the parser skipped the body of an Upgrade request; not complete yet
            return
        self._in_head = True
        self._waiting = None  # the answer's time is the provider's
        super().on_message_complete()

    def on_response_complete(self) -> None:
        # uvicorn's, with the idle deadline for its keep-alive timer.
        self.server_state.total_requests += 1
        if self.transport.is_closing():
            return
        self.flow.resume_reading()
        if self.pipeline:
            cycle, app = self.pipeline.pop()
            self._start_asgi_task(cycle, app)
        elif self._waiting is None:
            self._wait("idle", self.timeout_keep_alive)

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

    def _expect_head(self) -> None:
        """A head is arriving: its time runs from its first byte, across as many reads as it takes."""
        if self._waiting != "headers":
            self._wait("headers", self.settings.header_timeout)

    def _wait(self, what: str, seconds: float) -> None:
        """Set the connection's one deadline.

        One alarm serves every deadline of the connection: a deadline that moves later (each new
        request) leaves the alarm as it is, and when it rings early it is set again for the rest.
        A timer set and cancelled three times a request (head, body, idle) cost 5 us of a
        purchase's 160; a request now usually sets two attributes and reads the alarm's time.
        """
        self._waiting, self._deadline = what, self.loop.time() + seconds
        if self._alarm is None or self._alarm.when() > self._deadline:
            if self._alarm is not None:
                self._alarm.cancel()
            self._alarm = self.loop.call_at(self._deadline, self._ring)

    def _ring(self) -> None:
        self._alarm = None
        if self._waiting is None:
            return
        if self.loop.time() < self._deadline:
            self._alarm = self.loop.call_at(self._deadline, self._ring)
            return
        what, self._waiting = self._waiting, None
        if what == "linger":
            self.transport.close()
        elif what == "idle":
            self.timeout_keep_alive_handler()
        else:
            self._timed_out()

    def _timed_out(self) -> None:
        if self._answering_earlier_request():
            # Pipelined behind a request still being answered (perhaps held): uvicorn is not reading,
            # so the client is not the slow one.
            self._wait(*self._timeout())
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
        self._waiting = None
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
        self._wait("linger", _LINGER_SECONDS)


class _Cycle(RequestResponseCycle):
    """uvicorn's request cycle, whose response head waits for the first piece of body and goes out
    with it in one write.

    uvicorn writes the head and the body apart, and a write to a socket is a system call that
    took a quarter of a request's time here. A head with no body after it in the same step of
    the event loop (a response held by a fault) goes out at the end of that step. Its own
    ``send`` (not uvicorn's with the writes gathered behind it) checks all header names in one
    search and all values in another, where uvicorn's searched twice per field.
    """

    _head: bytes | None = None  # written with the body, or at the end of the step

    async def send(self, message: Any) -> None:
        if self.flow.write_paused and not self.disconnected:
            await self.flow.drain()
        if self.disconnected:
            return
        kind = message["type"]
        if not self.response_started:
            if kind != "http.response.start":
                raise RuntimeError(f"Expected ASGI message 'http.response.start', but got '{kind}'.")
            self._head = self._head_of(message["status"], message.get("headers", ()))
            asyncio.get_running_loop().call_soon(self._flush)
            return
        if self.response_complete:
            raise RuntimeError(f"Unexpected ASGI message '{kind}' sent, after response already completed.")
        if kind != "http.response.body":
            raise RuntimeError(f"Expected ASGI message 'http.response.body', but got '{kind}'.")
        body, more = message.get("body", b""), message.get("more_body", False)
        if self.scope["method"] == "HEAD":
            self.expected_content_length, data = 0, b""
        elif self.chunked_encoding:
            data = (b"%x\r\n%s\r\n" % (len(body), body) if body else b"") + (b"" if more else b"0\r\n\r\n")
        elif len(body) > self.expected_content_length:
            raise RuntimeError("Response content longer than Content-Length")
        else:
            self.expected_content_length -= len(body)
            data = body
        if self._head is not None:
            data, self._head = self._head + data, None
        if data:
            self.transport.write(data)
        if more:
            return
        if self.expected_content_length:
            raise RuntimeError("Response content shorter than Content-Length")
        self.response_complete = True
        self.message_event.set()
        if not self.keep_alive:
            self.transport.close()
        self.on_response()

    def _head_of(self, status: int, extra: Any) -> bytes:
        """The status line and header fields; notes the framing and whether the connection stays open."""
        self.response_started = True
        self.waiting_for_100_continue = False
        headers = [*self.default_headers, *extra]
        if HEADER_RE.search(b"".join([name for name, _ in headers])):
            raise RuntimeError("Invalid HTTP header name.")
        if HEADER_VALUE_RE.search(b"\t".join([value for _, value in headers])):  # a tab is allowed in a value
            raise RuntimeError("Invalid HTTP header value.")
        if self.access_log:
            scope = self.scope
            line = '%s - "%s %s HTTP/%s" %d'
            address, target = get_client_addr(scope), get_path_with_query_string(scope)
            self.access_logger.info(line, address, scope["method"], target, scope["http_version"], status)
        head = [STATUS_LINE[status]]
        closes = False
        for name, value in headers:
            name = name.lower()
            if name in _FRAMING:
                if name == b"content-length":
                    if self.chunked_encoding is None:
                        self.expected_content_length, self.chunked_encoding = int(value), False
                elif name == b"transfer-encoding":
                    if value.lower() == b"chunked":
                        self.expected_content_length, self.chunked_encoding = 0, True
                elif b"close" in [token.strip().lower() for token in value.split(b",")]:
                    self.keep_alive, closes = False, True
            head += (name, b": ", value, b"\r\n")
        if not self.keep_alive and not closes:
            head.append(b"connection: close\r\n")
        if self.chunked_encoding is None and self.scope["method"] != "HEAD" and status not in (204, 304):
            self.chunked_encoding = True  # neither a length nor chunks declared
            head.append(b"transfer-encoding: chunked\r\n")
        head.append(b"\r\n")
        return b"".join(head)

    def _flush(self) -> None:
        if self._head is not None and not self.transport.is_closing():
            self.transport.write(self._head)
        self._head = None


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
