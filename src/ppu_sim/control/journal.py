"""The request journal: every exchange on the interface, per session, oldest dropped past a bound.

An exchange is entered when its request arrives (so sequence numbers follow arrival and a held
request is visible while held) and completed when the simulator has finished with it. Bodies are
kept as the bytes seen and parsed when read, unless they may hold a secret: those are parsed and
masked at once, so nothing sensitive is ever stored.
"""

from __future__ import annotations

import json
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from ppu_sim.control.masking import mask_body, mask_text, may_hold_secrets

BODY_LIMIT = 64 * 1024


class Body:
    """A request or response body: parsed JSON, or text when it is not JSON; cut at 64 KiB."""

    __slots__ = ("_raw", "_value", "truncated")

    def __init__(self, raw: bytes) -> None:
        self.truncated = len(raw) > BODY_LIMIT
        self._raw: bytes | None = raw[:BODY_LIMIT] if self.truncated else raw
        self._value: Any = None
        if may_hold_secrets(self._raw):
            self._parse()

    def _parse(self) -> None:
        raw, self._raw = self._raw or b"", None
        self._value = _decode(raw, self.truncated)

    @property
    def value(self) -> Any:
        if self._raw is not None:
            self._parse()
        return self._value


def _decode(raw: bytes, truncated: bool) -> Any:
    if not raw:
        return None
    text = raw.decode("utf-8", errors="replace")
    if not truncated:
        try:
            return mask_body(json.loads(text))
        except ValueError:
            pass
    return mask_text(text)


@dataclass
class Exchange:
    """One request and what the simulator did with it."""

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
    """A bounded ring of exchanges; sequence numbers keep counting when the oldest are dropped."""

    def __init__(self, size: int) -> None:
        self._ring: deque[Exchange] = deque(maxlen=size)
        self._next = 1
        self.dropped = 0

    def add(self, exchange: Exchange) -> Exchange:
        """Number the exchange and keep it, dropping the oldest when full."""
        exchange.seq, self._next = self._next, self._next + 1
        if len(self._ring) == self._ring.maxlen:
            self.dropped += 1
        self._ring.append(exchange)
        return exchange

    def get(self, seq: int) -> Exchange | None:
        if not self._ring:
            return None
        index = seq - self._ring[0].seq
        return self._ring[index] if 0 <= index < len(self._ring) else None

    def clear(self) -> int:
        count = len(self._ring)
        self._ring.clear()
        return count

    def __iter__(self) -> Iterator[Exchange]:
        return iter(tuple(self._ring))

    def __len__(self) -> int:
        return len(self._ring)

    @property
    def last_seq(self) -> int:
        return self._next - 1
