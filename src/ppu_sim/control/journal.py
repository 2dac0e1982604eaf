"""The request journal: every exchange on the interface, per session, oldest dropped past a bound.

An exchange is entered when its request arrives (so sequence numbers follow arrival and a held
request is visible while held) and completed when the simulator has finished with it. Bodies are
kept as the bytes seen and parsed when read, unless they may hold a secret: those are parsed and
masked at once, so nothing sensitive is ever stored.

A completed exchange is kept packed, as one ``bytes`` (marshal), and rebuilt when read: bytes are
invisible to the cycle collector, while the objects of 10,000 exchanges (about 30,000) made every
full collection walk them, a pause of tens of milliseconds.
"""

from __future__ import annotations

import json
import marshal
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, replace
from datetime import datetime, timedelta, timezone
from typing import Any, NamedTuple

from ppu_sim import heap
from ppu_sim.control.masking import mask_body, mask_text, may_hold_secrets

BODY_LIMIT = 64 * 1024
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_MICROSECOND = timedelta(microseconds=1)


class Body:
    """A request or response body: parsed JSON, or text when it is not JSON; cut at 64 KiB."""

    __slots__ = ("_raw", "_value", "truncated")

    def __init__(self, raw: bytes) -> None:
        self.truncated = len(raw) > BODY_LIMIT
        self._raw: bytes | None = raw[:BODY_LIMIT] if self.truncated else raw
        self._value: Any = None
        if raw and may_hold_secrets(self._raw):
            self._parse()

    def _parse(self) -> None:
        raw, self._raw = self._raw or b"", None
        self._value = _decode(raw, self.truncated)

    @property
    def value(self) -> Any:
        if self._raw is not None:
            self._parse()
        return self._value

    def packed(self) -> Any:
        """The raw bytes while unparsed, else the (masked) value: JSON never decodes to bytes."""
        return self._raw if self._raw is not None else self._value

    @classmethod
    def unpacked(cls, kept: Any, truncated: bool) -> Body:
        body = cls.__new__(cls)
        body.truncated = truncated
        body._raw, body._value = (kept, None) if isinstance(kept, bytes) else (None, kept)
        return body


def _decode(raw: bytes, truncated: bool) -> Any:
    if not raw:
        return None
    text = raw.decode("utf-8", errors="replace")
    if not truncated:
        try:
            return mask_body(json.loads(text))
        except (ValueError, RecursionError):  # a refused body nested too deep for Python is kept as text
            pass
    return mask_text(text)


class Head(NamedTuple):
    """What the journal's filters look at, read without opening the exchange."""

    seq: int
    operation: str | None
    status: int | None
    transaction: str | None
    meter_id: str | None  # :meth:`Exchange.meter`
    path_ids: dict[str, str]


@dataclass(slots=True)
class Exchange:
    """One request and what the simulator did with it (slotted: built and filled in on every request)."""

    session: str
    received: datetime
    method: str
    path: str
    query: str
    headers: dict[str, str]
    operation: str | None
    path_ids: dict[str, str]
    request: Body
    transaction: str | None = None
    meter_id: str | None = None  # as the provider matched it (an advice: its purchase's meter)
    # Filled in once the simulator is done with the request:
    duration_ms: float | None = None
    status: int | None = None
    response: Body | None = None
    scenario: str | None = None
    pack: str | None = None
    step: int | None = None
    delay_s: float | None = None
    fault: str | None = None
    client_gone: bool = False
    seq: int = 0  # given by the journal

    @property
    def complete(self) -> bool:
        return self.duration_ms is not None

    def packed(self) -> bytes:
        """The completed exchange as one bytes object (its ``seq`` is its place in the journal)."""
        assert self.response is not None
        return heap.packed(
            (
                self.session,
                (self.received - _EPOCH) // _MICROSECOND,
                self.method,
                self.path,
                self.query,
                self.headers,
                self.operation,
                self.path_ids,
                self.request.packed(),
                self.request.truncated,
                self.transaction,
                self.meter_id,
                self.duration_ms,
                self.status,
                self.response.packed(),
                self.response.truncated,
                self.scenario,
                self.pack,
                self.step,
                self.delay_s,
                self.fault,
                self.client_gone,
            )
        )

    @classmethod
    def unpacked(cls, seq: int, packed: bytes) -> Exchange:
        (session, received, method, path, query, headers, operation, path_ids, request, request_cut, transaction,
         meter_id, duration_ms, status, response, response_cut, scenario, pack, step, delay_s, fault,
         client_gone) = marshal.loads(packed)  # fmt: skip
        return cls(
            session,
            _EPOCH + received * _MICROSECOND,
            method,
            path,
            query,
            headers,
            operation,
            path_ids,
            Body.unpacked(request, request_cut),
            transaction,
            meter_id,
            duration_ms,
            status,
            Body.unpacked(response, response_cut),
            scenario,
            pack,
            step,
            delay_s,
            fault,
            client_gone,
            seq,
        )

    def copied(self) -> Exchange:
        """A copy the recorder's later writes leave alone (its bodies too: they parse when read)."""
        response = self.response and Body.unpacked(self.response.packed(), self.response.truncated)
        return replace(self, request=Body.unpacked(self.request.packed(), self.request.truncated), response=response)

    def head(self) -> Head:
        return Head(self.seq, *self.head_fields())

    def head_fields(self) -> tuple[str | None, int | None, str | None, str | None, dict[str, str]]:
        """:class:`Head` without the sequence number, as the journal packs it."""
        return self.operation, self.status, self.transaction, self.meter(), self.path_ids

    def meter(self) -> str | None:
        """The meter the request is about: as the provider matched it, else as its body names it."""
        if self.meter_id:
            return self.meter_id
        meter = _field(self.request.value, "meter")
        return _text(_field(meter, "meterId"))

    def as_json(self) -> dict[str, Any]:
        """The exchange as the control API shows it; fields without a value are left out."""
        request = self.request.value
        response = self.response.value if self.response else None
        out = {
            "seq": self.seq,
            "session": self.session,
            "received": self.received.isoformat(timespec="milliseconds"),
            "durationMs": self.duration_ms,
            "complete": self.complete,
            "operation": self.operation,
            "method": self.method,
            "path": self.path,
            "query": self.query,
            "pathIds": self.path_ids,
            "headers": self.headers,
            "requestBody": request,
            "requestTruncated": self.request.truncated,
            "status": self.status,
            "responseBody": response,
            "responseTruncated": bool(self.response and self.response.truncated),
            "errorType": response.get("errorType") if isinstance(response, dict) else None,
            "transaction": self.transaction,
            "meterId": self.meter(),
            "requestId": _text(_field(request, "id")),
            "scenario": self.scenario,
            "pack": self.pack,
            "step": self.step,
            "delaySeconds": self.delay_s,
            "fault": self.fault,
            "clientGone": self.client_gone,
        }
        return {k: v for k, v in out.items() if v is not None}


def _field(value: Any, name: str) -> Any:
    return value.get(name) if isinstance(value, dict) else None


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def now() -> datetime:
    return datetime.now(timezone.utc)


class Journal:
    """A bounded ring of exchanges; sequence numbers keep counting when the oldest are dropped.

    Exchanges in flight are objects in one dict, completed ones packed (:meth:`Exchange.packed`) in
    another, both by sequence number, with their :class:`Head` packed apart, so a filter opens only
    what it chose (opening all 10,000 takes some 60 ms). The packed dicts only ever hold numbers
    and bytes, so the cycle collector never tracks them: a full collection does not walk the
    journal at all (a deque is walked entry by entry, whatever it holds).
    """

    def __init__(self, size: int) -> None:
        self.size = size
        self._live: dict[int, Exchange] = {}
        self._packed: dict[int, bytes] = {}
        self._heads: dict[int, bytes] = {}
        self._first = self._next = 1
        self.dropped = 0

    def add(self, exchange: Exchange) -> Exchange:
        """Number the exchange and keep it, dropping the oldest when full."""
        seq = exchange.seq = self._next
        self._next = seq + 1
        self._live[seq] = exchange
        if seq - self._first >= self.size:
            if self._live.pop(self._first, None) is None:
                del self._packed[self._first], self._heads[self._first]
            self._first += 1
            self.dropped += 1
        return exchange

    def settle(self, exchange: Exchange) -> None:
        """Pack a completed exchange in its place, unless it was dropped or cleared meanwhile."""
        if self._live.get(exchange.seq) is exchange:
            del self._live[exchange.seq]
            self._packed[exchange.seq] = exchange.packed()
            self._heads[exchange.seq] = heap.packed(exchange.head_fields())

    def get(self, seq: int) -> Exchange | None:
        return _opened(seq, self._entry(seq)) if self._first <= seq < self._next else None

    def clear(self) -> int:
        count = len(self)
        self._live.clear()
        self._packed.clear()
        self._heads.clear()
        self._first = self._next
        return count

    def __iter__(self) -> Iterator[Exchange]:
        return iter(self.snapshot())

    def snapshot(self) -> Snapshot:
        """The journal as it is now, to be read in any thread: packed exchanges never change, so
        copying its dicts (a copy of references, in C: some 0.1 ms for 10,000) is enough; those in
        flight are copied themselves. A lookup per exchange took 2.4 ms on the event loop."""
        live = {n: e.copied() for n, e in self._live.items()}
        return Snapshot(self._packed.copy(), self._heads.copy(), live, range(self._first, self._next), self.dropped)

    def __len__(self) -> int:
        return self._next - self._first

    @property
    def last_seq(self) -> int:
        return self._next - 1

    def _entry(self, seq: int) -> Exchange | bytes:
        return self._packed.get(seq) or self._live[seq]


class Snapshot:
    """Exchanges taken from the journal (:meth:`Journal.snapshot`), each opened as it is read.

    Reading the heads of a full journal takes some 10 ms, opening and reading every exchange up to
    seconds: a snapshot is read in a worker thread, never on the event loop.
    """

    def __init__(
        self, packed: dict[int, bytes], heads: dict[int, bytes], live: dict[int, Exchange], seqs: range, dropped: int
    ) -> None:
        self._packed, self._heads, self._live = packed, heads, live
        self.seqs = seqs
        self.dropped = dropped

    def __iter__(self) -> Iterator[Exchange]:
        return self.opened(self.seqs)

    def heads(self, since: int | None = None) -> list[Head]:
        """The heads of the exchanges numbered above ``since`` (all of them for None)."""
        first = self.seqs.start if since is None else max(self.seqs.start, since + 1)
        out = []
        for n in range(first, self.seqs.stop):
            head = self._heads.get(n)
            out.append(self._live[n].head() if head is None else Head(n, *marshal.loads(head)))
        return out

    def opened(self, seqs: Iterable[int]) -> Iterator[Exchange]:
        return (_opened(n, self._packed.get(n) or self._live[n]) for n in seqs)


def _opened(seq: int, entry: Exchange | bytes) -> Exchange:
    return Exchange.unpacked(seq, entry) if isinstance(entry, bytes) else entry
