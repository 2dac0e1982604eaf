"""Where the provider keeps what it has acknowledged: a small interface and its in-memory form.

The lifecycle talks only to :class:`Store`, so a durable store can replace the in-memory one
without touching the rules.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any, Protocol


@dataclass
class Advice:
    kind: str  # "confirmation" | "reversal"
    body: dict[str, Any]


@dataclass
class PurchaseRecord:
    """A purchase the provider processed: what it answered, so retries and reprints replay it."""

    id: str
    meter_id: str
    scenario: str | None
    status: str  # vended | declined | confirmed | reversed
    response: dict[str, Any] | None = None  # the PurchaseResponse, when tokens were issued
    error: dict[str, Any] | None = None  # status + ErrorDetail fields, when declined
    advices: dict[str, Advice] = field(default_factory=dict)
    request: dict[str, Any] | None = None  # the PurchaseRequest, so follow-ups match on what it asked


@dataclass
class KeyChangeRecord:
    id: str
    meter_id: str
    response: dict[str, Any]
    confirmations: dict[str, dict[str, Any]] = field(default_factory=dict)


class Store(Protocol):
    def claim(self, kind: str, request_id: str) -> bool:
        """Record a request id of a kind; False if it was seen before (a duplicate)."""

    def purchase(self, purchase_id: str) -> PurchaseRecord | None: ...
    def save_purchase(self, record: PurchaseRecord) -> None: ...
    def purchases_for_meter(self, meter_id: str) -> list[PurchaseRecord]: ...
    def purchases(self) -> list[PurchaseRecord]:
        """Every purchase processed, in the order first seen (for reconciliation)."""

    def key_change(self, request_id: str) -> KeyChangeRecord | None: ...
    def save_key_change(self, record: KeyChangeRecord) -> None: ...
    def count(self, key: tuple[str, ...]) -> int:
        """Increment and return the counter for key (1 on first use)."""

    def meter_value(self, meter_id: str, name: str) -> Any:
        """A meter's running state (free units issued, debt still owed); None when never set."""

    def set_meter_value(self, meter_id: str, name: str, value: Any) -> None: ...
    def add_event(self, kind: str, body: dict[str, Any]) -> None: ...


class MemoryStore:
    """Everything in dicts; handlers are coroutines on one event loop, so no locks are needed."""

    def __init__(self) -> None:
        self._ids: dict[str, set[str]] = defaultdict(set)
        self._purchases: dict[str, PurchaseRecord] = {}
        self._by_meter: dict[str, list[PurchaseRecord]] = defaultdict(list)
        self._key_changes: dict[str, KeyChangeRecord] = {}
        self._counters: dict[tuple[str, ...], int] = defaultdict(int)
        self._meter_state: dict[tuple[str, str], Any] = {}
        self._events: dict[str, list[dict[str, Any]]] = defaultdict(list)

    def claim(self, kind: str, request_id: str) -> bool:
        seen = self._ids[kind]
        if request_id in seen:
            return False
        seen.add(request_id)
        return True

    def purchase(self, purchase_id: str) -> PurchaseRecord | None:
        return self._purchases.get(purchase_id)

    def save_purchase(self, record: PurchaseRecord) -> None:
        if record.id not in self._purchases:
            self._by_meter[record.meter_id].append(record)
        self._purchases[record.id] = record

    def purchases_for_meter(self, meter_id: str) -> list[PurchaseRecord]:
        return list(self._by_meter.get(meter_id, ()))

    def purchases(self) -> list[PurchaseRecord]:
        return list(self._purchases.values())

    def key_change(self, request_id: str) -> KeyChangeRecord | None:
        return self._key_changes.get(request_id)

    def save_key_change(self, record: KeyChangeRecord) -> None:
        self._key_changes[record.id] = record

    def count(self, key: tuple[str, ...]) -> int:
        self._counters[key] += 1
        return self._counters[key]

    def meter_value(self, meter_id: str, name: str) -> Any:
        return self._meter_state.get((meter_id, name))

    def set_meter_value(self, meter_id: str, name: str, value: Any) -> None:
        self._meter_state[(meter_id, name)] = value

    def add_event(self, kind: str, body: dict[str, Any]) -> None:
        self._events[kind].append(body)
