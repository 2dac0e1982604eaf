"""Reads of a whole journal: worked out in a worker thread, answered in pieces.

Opening a full journal (or every purchase) and writing the answer takes up to seconds of CPU; on
the event loop no other request, the PoS's included, would be answered meanwhile. But a worker
thread leaves the loop its turns only while Python can switch threads, between bytecodes: one C
call over a whole answer (encoding 25 MB of JSON as one string, joining it, freeing 10,000 parsed
exchanges at once, a fresh 25 MB buffer's page faults, a collection walking everything the read
holds) keeps the GIL throughout, 10 to 30 ms each. Here every such step is one piece's worth.
"""

from __future__ import annotations

import gc
import json
import sys
from collections.abc import Callable, Iterable, Iterator, MutableSequence
from typing import Any, TypeVar

import anyio
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

T = TypeVar("T")

PIECE = 128 * 1024  # characters: one piece's encoding and sending are each well under a millisecond
LONG = 64  # items: a list longer than this is written an item at a time
SWITCH_S = 0.001  # how often Python switches threads while a read runs (its default: 5 ms)
_READERS = anyio.CapacityLimiter(1)  # one whole-journal read at a time: the rest of the server keeps a core


async def off_loop(work: Callable[..., T], *args: Any) -> T:
    """Run work in a worker thread; callers hand it snapshots taken on the loop, which later
    writes leave alone, and it answers in :class:`Pieces`."""
    return await anyio.to_thread.run_sync(_yielding, work, *args, limiter=_READERS)


def _yielding(work: Callable[..., T], *args: Any) -> T:
    """Run work so that the loop gets the GIL soon whenever it asks.

    The cycle collector is off meanwhile: what the work builds (10,000 parsed exchanges, a row per
    purchase) is freed by reference counting, but while it lives every collection walks it, one
    pass holding the GIL for 10 to 30 ms. And Python switches threads every millisecond: the loop
    waits for the GIL up to the switch interval each time it wakes, which is two or three times
    a request (with 5 ms, a busy worker made every pause 10 to 15 ms). One read runs at a time,
    so these process-wide settings are put back as they were.
    """
    collecting, interval = gc.isenabled(), sys.getswitchinterval()
    gc.disable()
    sys.setswitchinterval(min(interval, SWITCH_S))
    try:
        return work(*args)
    finally:
        sys.setswitchinterval(interval)
        if collecting:
            gc.enable()


class Pieces(Response):
    """A body of known length sent as several messages: the same headers (Content-Length
    included) and bytes as one body would be, without ever being one buffer."""

    def __init__(self, pieces: list[bytes], media_type: str, status_code: int = 200) -> None:
        self.pieces = pieces
        headers = {"content-type": media_type, "content-length": str(sum(map(len, pieces)))}  # no charset added
        super().__init__(None, status_code, headers)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": self.status_code, "headers": self.raw_headers})
        for piece in self.pieces:
            await send({"type": "http.response.body", "body": piece, "more_body": True})
        await send({"type": "http.response.body", "body": b""})


def json_pieces(payload: Any) -> list[bytes]:
    """``json.dumps(payload)`` as UTF-8 pieces. A list (or generator) is written an item at a time,
    and so is a dict holding a long list (a rule with 10,000 findings); the rest goes to
    ``json.dumps`` whole, one small value at a time. The payload's own lists, and those of its
    fields, are the read's: each item is freed once written. Deeper ones may be a body an exchange
    in flight still holds, and are left alone."""
    return _grouped(_texts(payload, 0))


def text_pieces(text: str) -> list[bytes]:
    return [text[i : i + PIECE].encode() for i in range(0, len(text), PIECE)]


def release(items: MutableSequence[Any]) -> None:
    """Free the items one at a time: 10,000 parsed exchanges freed at once hold the GIL for
    some 90 ms; freed one by one, the event loop gets its turns."""
    while items:
        items.pop()


def _texts(value: Any, depth: int) -> Iterator[str]:
    if isinstance(value, Iterator) or (isinstance(value, list) and (depth == 0 or len(value) > LONG)):
        yield "["
        for i, item in enumerate(_taken(value) if isinstance(value, list) and depth <= 1 else value):
            if i:
                yield ", "
            yield from _texts(item, depth + 1)
        yield "]"
    elif isinstance(value, dict) and (depth == 0 or any(isinstance(v, list) and len(v) > LONG for v in value.values())):
        yield "{"
        for i, (key, item) in enumerate(value.items()):  # keys are strings: JSON's, or the simulator's own
            yield f"{', ' if i else ''}{json.dumps(key)}: "
            yield from _texts(item, depth + 1)
        yield "}"
    else:
        yield json.dumps(value)


def _taken(items: list[Any]) -> Iterator[Any]:
    """The items in order, each dropped from the list as it is handed out."""
    for i in range(len(items)):
        item, items[i] = items[i], None
        yield item
    items.clear()


def _grouped(texts: Iterable[str]) -> list[bytes]:
    pieces: list[bytes] = []
    held: list[str] = []
    size = 0
    for text in texts:
        held.append(text)
        size += len(text)
        if size >= PIECE:
            pieces.append("".join(held).encode())
            held, size = [], 0
    if held:
        pieces.append("".join(held).encode())
    return pieces
