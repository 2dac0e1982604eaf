"""Where the provider keeps what it has acknowledged: a small interface and its in-memory form.

The lifecycle talks only to :class:`Store`, so a durable store can replace the in-memory one
without touching the rules. Writes made inside :meth:`Store.atomic` stand only if the block
ends normally: a request that fails half-way leaves nothing behind.
"""

from __future__ import annotations

import copy
from collections import defaultdict
from collections.abc import Callable, Iterator, MutableMapping
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field, fields, replace
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
    def atomic(self) -> AbstractContextManager[None]:
        """A unit of work: what is written inside (records changed in place included) is undone
        if the block raises. Nested blocks belong to the outermost one."""

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
    """Everything in dicts; handlers are coroutines on one event loop, so no locks are needed.

    Inside :meth:`atomic` every write records how to undo itself, and a record looked up by id is
    copied first, since the lifecycle changes such records in place (their state, their advices)
    before saving them. The copy is one level deep: stored bodies are replayed, never edited, and
    deep-copying a large purchase on every retry would hold up the event loop.
    """

    def __init__(self) -> None:
        self._ids: dict[str, set[str]] = defaultdict(set)
        self._purchases: dict[str, PurchaseRecord] = {}
        self._by_meter: dict[str, list[str]] = defaultdict(list)  # purchase ids, oldest first
        self._key_changes: dict[str, KeyChangeRecord] = {}
        self._counters: dict[tuple[str, ...], int] = defaultdict(int)
        self._meter_state: dict[tuple[str, str], Any] = {}
        self._events: dict[str, list[dict[str, Any]]] = defaultdict(list)
        self._undo: list[Callable[[], object]] | None = None  # set inside atomic()

    @contextmanager
    def atomic(self) -> Iterator[None]:
        if self._undo is not None:
            yield
            return
        self._undo = []
        try:
            yield
        except BaseException:
            for undo in reversed(self._undo):
                undo()
            raise
        finally:
            self._undo = None

    def _on_failure(self, undo: Callable[[], object]) -> None:
        if self._undo is not None:
            self._undo.append(undo)

    def _keep(self, table: MutableMapping[Any, Any], key: Any, *, copied: bool = False) -> None:
        """Put ``table[key]`` back as it is now (or remove it) if the unit of work fails."""
        if self._undo is None:
            return
        if key not in table:
            self._undo.append(lambda: table.pop(key, None))
            return
        before = _one_level_copy(table[key]) if copied else table[key]
        self._undo.append(lambda: table.__setitem__(key, before))

    def claim(self, kind: str, request_id: str) -> bool:
        seen = self._ids[kind]
        if request_id in seen:
            return False
        seen.add(request_id)
        self._on_failure(lambda: seen.discard(request_id))
        return True

    def purchase(self, purchase_id: str) -> PurchaseRecord | None:
        if purchase_id in self._purchases:
            self._keep(self._purchases, purchase_id, copied=True)
        return self._purchases.get(purchase_id)

    def save_purchase(self, record: PurchaseRecord) -> None:
        if record.id not in self._purchases:
            ids = self._by_meter[record.meter_id]
            ids.append(record.id)
            self._on_failure(lambda: ids.remove(record.id))
        self._keep(self._purchases, record.id)
        self._purchases[record.id] = record

    def purchases_for_meter(self, meter_id: str) -> list[PurchaseRecord]:
        return [self._purchases[i] for i in self._by_meter.get(meter_id, ())]

    def purchases(self) -> list[PurchaseRecord]:
        return list(self._purchases.values())

    def key_change(self, request_id: str) -> KeyChangeRecord | None:
        if request_id in self._key_changes:
            self._keep(self._key_changes, request_id, copied=True)
        return self._key_changes.get(request_id)

    def save_key_change(self, record: KeyChangeRecord) -> None:
        self._keep(self._key_changes, record.id)
        self._key_changes[record.id] = record

    def count(self, key: tuple[str, ...]) -> int:
        self._keep(self._counters, key)
        self._counters[key] += 1
        return self._counters[key]

    def meter_value(self, meter_id: str, name: str) -> Any:
        return self._meter_state.get((meter_id, name))

    def set_meter_value(self, meter_id: str, name: str, value: Any) -> None:
        self._keep(self._meter_state, (meter_id, name))
        self._meter_state[(meter_id, name)] = value

    def add_event(self, kind: str, body: dict[str, Any]) -> None:
        events = self._events[kind]
        events.append(body)
        self._on_failure(events.pop)


def _one_level_copy(record: Any) -> Any:
    """The record with each of its dict and list fields copied (their contents shared)."""
    changed = {f.name: copy.copy(v) for f in fields(record) if isinstance(v := getattr(record, f.name), (dict, list))}
    return replace(record, **changed)
