"""Where the provider keeps what it has acknowledged: a small interface and its in-memory form.

The lifecycle talks only to :class:`Store`, so a durable store can replace the in-memory one
without touching the rules. Writes made inside :meth:`Store.atomic` stand only if the block
ends normally: a request that fails half-way leaves nothing behind.
"""

from __future__ import annotations

import copy
import marshal
import sys
from collections import defaultdict, deque
from collections.abc import Callable, Iterator, MutableMapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field, fields, replace
from itertools import chain
from typing import Any, NamedTuple, Protocol, overload

import orjson
import zstandard

from ppu_sim.heap import packed

# A purchase's status once it issued nothing a reprint could show, or took back what it issued.
_NOT_REPRINTABLE = ("declined", "reversed")


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

    def references(self) -> tuple[str, ...]:
        """What a reprint's ``originalRef`` may name it by besides its id: the VAT invoice number,
        its tokens' receipt numbers, and every third-party reference of the answer."""
        response = self.response or {}
        refs = {response.get("vatInvoiceNumber", "")}
        for token in response.get("tokens", ()):  # loops, not generators: this runs for every purchase
            refs.add(token.get("receiptNum", ""))
        for theirs in response.get("thirdPartyIdentifiers", ()):
            refs.add(theirs.get("transactionIdentifier", ""))
        refs.discard("")
        refs.discard(self.id)
        return tuple(sorted(refs))


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

    def purchase(self, purchase_id: str) -> PurchaseRecord | None:
        """The purchase as kept; changes to the object stand only once it is saved again."""

    def save_purchase(self, record: PurchaseRecord) -> None: ...
    def purchases_for_meter(self, meter_id: str) -> list[PurchaseRecord]: ...
    def purchases(self) -> Sequence[PurchaseRecord]:
        """Every purchase kept now, in the order first seen (for reconciliation): a snapshot that
        later writes leave alone, so it may be read in a worker thread."""

    def reprintable(self, meter_id: str, reference: str | None = None) -> PurchaseRecord | None:
        """The meter's newest purchase that issued tokens and was not reversed; with a reference,
        the newest such purchase whose id or :meth:`PurchaseRecord.references` include it."""

    def key_change(self, request_id: str) -> KeyChangeRecord | None: ...
    def save_key_change(self, record: KeyChangeRecord) -> None: ...
    def count(self, key: tuple[str, ...], owner: str | None = None) -> int:
        """Increment and return the counter for key (1 on first use). A counter with an ``owner``
        (the id of the purchase or request it counts per) is forgotten with that purchase, and
        once as many newer owners as the retention have counters."""

    def meter_value(self, meter_id: str, name: str) -> Any:
        """A meter's running state (free units issued, debt still owed); None when never set."""

    def set_meter_value(self, meter_id: str, name: str, value: Any) -> None: ...
    def purchase_value(self, purchase_id: str, name: str) -> Any:
        """State kept beside a purchase (the debt it recovered), forgotten with it; None when never set."""

    def set_purchase_value(self, purchase_id: str, name: str, value: Any) -> None:
        """``value`` is plain data: numbers, strings, and lists and dicts of them."""

    def add_event(self, kind: str, body: dict[str, Any]) -> None: ...


class _Kept(NamedTuple):
    """A purchase as the in-memory store holds it: the fields it is found by, the rest as one
    compressed JSON blob."""

    meter_id: str
    scenario: str | None
    status: str
    references: tuple[str, ...]
    blob: bytes


# Tables as large as the retention window are kept in 64 dicts, a key's part chosen by its hash.
# CPython rebuilds a dict whole, in one step that holds the GIL, when it grows and (once the window
# has turned over) when its deleted slots run out: 4 ms at 100,000 keys, 11 at 300,000, and every
# table of the window at the same purchase, a pause of 10-20 ms (20-33 beside wrk). A part's
# rebuild is a 64th of that.
_PARTS = 63


def _split() -> tuple[dict[Any, Any], ...]:
    return tuple({} for _ in range(_PARTS + 1))


# Purchase ids in order (a meter's purchases, those a shared reference names), oldest first, in
# dicts of up to this many ids numbered in order. As one dict of the window's size (a single busy
# meter holds all of it) it was rebuilt whole every 250,000 purchases, 5-6 ms at the default
# window, longer with a larger one. Only the oldest id is ever forgotten (the window goes in the
# order purchases came) and only the newest taken back (its unit of work failed).
_CHUNK = 1024
_Ids = dict[int, dict[str, None]]


def _append(chunks: _Ids, purchase_id: str) -> None:
    last = next(reversed(chunks), None)
    if last is None:
        chunks[0] = {purchase_id: None}
    elif len(chunks[last]) >= _CHUNK:
        chunks[last + 1] = {purchase_id: None}
    else:
        chunks[last][purchase_id] = None


def _take_end(chunks: _Ids, purchase_id: str, *, newest: bool) -> None:
    """Take off the oldest id (forgotten with the window) or the newest (a unit of work undone)."""
    end = next(reversed(chunks)) if newest else next(iter(chunks))
    chunk = chunks[end]
    del chunk[purchase_id]
    if not chunk:
        del chunks[end]


def _oldest_first(chunks: _Ids) -> Iterator[str]:
    for chunk in chunks.values():
        yield from chunk


def _newest_first(chunks: _Ids) -> Iterator[str]:
    for chunk in reversed(chunks.values()):
        yield from reversed(chunk)


class _KeptTable:
    """Purchases by id, each row packed as bytes (marshal, in a block of its own size: see
    :func:`ppu_sim.heap.packed`), named as a :class:`_Kept` when read; in parts by the id's hash,
    as every table of the window's size (:data:`_PARTS`).

    A dict of strings and bytes is not tracked by the cycle collector, so a full collection does
    not grow with the store. (A dict of tuples is: every new tuple makes the dict tracked again,
    until a full collection has walked all of it.)
    """

    def __init__(self) -> None:
        self._rows: tuple[dict[str, bytes], ...] = _split()

    def __contains__(self, purchase_id: str) -> bool:
        return purchase_id in self._rows[hash(purchase_id) & _PARTS]

    def __getitem__(self, purchase_id: str) -> _Kept:
        return _Kept._make(marshal.loads(self._rows[hash(purchase_id) & _PARTS][purchase_id]))

    def __setitem__(self, purchase_id: str, kept: _Kept) -> None:
        self._rows[hash(purchase_id) & _PARTS][purchase_id] = packed(tuple(kept))

    def get(self, purchase_id: str) -> _Kept | None:
        row = self._rows[hash(purchase_id) & _PARTS].get(purchase_id)
        return None if row is None else _Kept._make(marshal.loads(row))

    def pop(self, purchase_id: str) -> _Kept | None:
        row = self._rows[hash(purchase_id) & _PARTS].pop(purchase_id, None)
        return None if row is None else _Kept._make(marshal.loads(row))

    def copy(self) -> _KeptTable:
        """The rows as they are now (they are bytes: copying the dicts is enough)."""
        table = _KeptTable()
        table._rows = tuple(part.copy() for part in self._rows)
        return table


class _Window:
    """The last ``size`` keys of one kind, oldest forgotten first (size 0: keep every one).

    Kept where the cycle collector does not look: who is in it as a dict of strings and counts,
    the order as chunks of 1,024 keys, each packed as bytes (a set or a deque of keys is walked key
    by key by every full collection; two dicts, place to key and back, took twice the memory). Not
    as tuples: a tuple stays tracked until a collection passes, and with next to nothing left over
    per request that is rare, so a young collection walked every chunk made since the last one,
    8-14 ms after 220,000 purchases (`bench/longest_steps.py --retention 300000`). Only the oldest
    chunk is unpacked, while its keys are forgotten. A key added again stays until its last
    addition is forgotten.
    """

    CHUNK = _CHUNK

    def __init__(self, size: int, over: set[_Window]) -> None:
        self.size = size
        self._over = over  # the store's windows holding more than their size, to trim
        self._count = _split()  # key -> additions in the window, in parts by the key's hash
        self._chunks: deque[bytes] = deque()  # full chunks, oldest first, packed
        self._front: list[str] = []  # the oldest chunk unpacked, once keys are forgotten from it
        self._newest: list[str] = []  # the chunk being filled
        self._forgotten = 0  # keys already forgotten from the front of the oldest chunk
        self._length = 0

    def __contains__(self, key: str) -> bool:
        return key in self._count[hash(key) & _PARTS]

    def add(self, key: str) -> None:
        count = self._count[hash(key) & _PARTS]
        count[key] = count.get(key, 0) + 1
        self._newest.append(key)
        self._length += 1
        if self.size and self._length > self.size:
            self._over.add(self)
        if len(self._newest) == self.CHUNK:
            self._chunks.append(packed(self._newest))
            self._newest = []

    def keys(self) -> list[str]:
        """The keys in the window, oldest first (a key added twice, twice)."""
        chunks = [marshal.loads(chunk) for chunk in self._chunks]
        first = chunks[0][self._forgotten :] if chunks else []
        return [*first, *(key for chunk in chunks[1:] for key in chunk), *self._newest]

    def remove_newest(self, key: str) -> None:
        """Undo the last add (the unit of work that made it failed)."""
        if not self._newest:  # it closed a chunk: open that chunk again
            chunk = marshal.loads(self._chunks.pop())
            if self._chunks:
                skip = 0
            else:  # it was the oldest chunk too
                skip, self._forgotten, self._front = self._forgotten, 0, []
            self._newest = chunk[skip:]
        assert self._newest[-1] == key, "only the newest key can be taken back"
        self._newest.pop()
        self._length -= 1
        self._drop(key)

    def trim(self) -> list[str]:
        """Forget the oldest keys past the size; those no longer in the window are returned."""
        gone = []
        while self.size and self._length > self.size:
            if self._chunks:
                if not self._front:
                    self._front = marshal.loads(self._chunks[0])
                key, self._forgotten = self._front[self._forgotten], self._forgotten + 1
                if self._forgotten == len(self._front):
                    self._chunks.popleft()
                    self._front, self._forgotten = [], 0
            else:
                key = self._newest.pop(0)  # a window smaller than a chunk
            self._length -= 1
            if self._drop(key):
                gone.append(key)
        return gone

    def _drop(self, key: str) -> bool:
        """One addition of the key fewer; True when that was its last."""
        count = self._count[hash(key) & _PARTS]
        left = count[key] - 1
        if left:
            count[key] = left
            return False
        del count[key]
        return True


class _UnitOfWork:
    """:meth:`MemoryStore.atomic`: a class, as a generator context manager cost a microsecond more
    on every request. Only the outermost block begins and ends the unit; nested ones belong to it."""

    __slots__ = ("_outer", "_store")

    def __init__(self, store: MemoryStore) -> None:
        self._store = store
        self._outer = False

    def __enter__(self) -> None:
        store = self._store
        if store._undo is None:
            self._outer = True
            store._forget_oldest()
            store._undo = []

    def __exit__(self, kind: type[BaseException] | None, *_: object) -> None:
        if not self._outer:
            return
        store = self._store
        try:
            if kind is not None:
                for undo in reversed(store._undo or ()):
                    undo()
        finally:
            store._undo = None


class MemoryStore:
    """Everything in memory; handlers are coroutines on one event loop, so no locks are needed.

    A session remembers the last ``retention`` purchases, key changes, request ids of each kind and
    events (0: all of them). Past that the oldest is forgotten, as if it had never been seen: a
    long run keeps flat memory, and the store's operations cost the same at any size. Forgetting
    happens when the next unit of work begins, so a unit that fails never needs to bring a
    forgotten record back.

    Inside :meth:`atomic` every write records how to undo itself. Purchases are decoded afresh on
    every lookup, so the lifecycle may change the object it got and nothing is kept until it is
    saved; key change records are copied one level deep before they are handed out.
    """

    def __init__(self, retention: int = 0) -> None:
        self.retention = retention
        self._over: set[_Window] = set()
        self._ids: dict[str, _Window] = defaultdict(lambda: _Window(retention, self._over))
        self._purchases = _KeptTable()
        self._purchase_order = _Window(retention, self._over)
        self._by_meter: dict[str, _Ids] = {}  # purchase ids, oldest first, in chunks
        # reference -> the one purchase naming it, in parts by hash. Strings only: a table holding a
        # tuple is tracked by the collector until a full pass, and each pass walked such a part
        # whole (37 parts of 11,000 references, 14 ms, with 240,000 purchases kept).
        self._by_reference: tuple[dict[str, str], ...] = _split()
        # A reference two purchases or more name -> their ids in order: random receipt numbers do
        # repeat, and a PoS may send the same third-party reference every time (a tuple of them,
        # copied for each new one, made every purchase cost more the more were kept).
        self._shared_references: dict[str, _Ids] = {}
        self._key_changes: dict[str, KeyChangeRecord] = {}
        self._key_change_order = _Window(retention, self._over)
        self._counters: dict[tuple[str, ...], int] = defaultdict(int)
        # Counters per purchase or request: owner -> {marshalled key: count}, marshalled; as large as
        # the window with a script counted per purchase, so in parts by the owner's hash, and bytes
        # rather than dicts, which the collector would track and walk.
        self._owned_counters: tuple[dict[str, bytes], ...] = _split()
        self._owners = _Window(retention, self._over)
        self._meter_state: dict[tuple[str, str], Any] = {}
        # purchase id -> {name: value} (e.g. the debt it recovered), marshalled, in parts as above
        self._purchase_state: tuple[dict[str, bytes], ...] = _split()
        self._events: dict[str, deque[dict[str, Any]]] = defaultdict(lambda: deque(maxlen=retention or None))
        self._codec = _Codec()
        self._undo: list[Callable[[], object]] | None = None  # set inside atomic()

    def atomic(self) -> _UnitOfWork:
        return _UnitOfWork(self)

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

    def _forget_oldest(self) -> None:
        if not self._over:  # nothing was added past a window's size since the last time
            return
        self._over.clear()
        for window in self._ids.values():
            window.trim()
        for purchase_id in self._purchase_order.trim():
            kept = self._purchases.pop(purchase_id)
            assert kept is not None  # the order holds exactly the ids kept
            self._unlist(kept.meter_id, purchase_id, newest=False)
            for ref in kept.references:
                self._unindex(ref, purchase_id, newest=False)
            self._purchase_state[hash(purchase_id) & _PARTS].pop(purchase_id, None)
            self._owned_counters[hash(purchase_id) & _PARTS].pop(purchase_id, None)
        for owner in self._owners.trim():
            self._owned_counters[hash(owner) & _PARTS].pop(owner, None)  # gone already if a purchase forgotten
        for request_id in self._key_change_order.trim():
            del self._key_changes[request_id]

    def claim(self, kind: str, request_id: str) -> bool:
        seen = self._ids[kind]
        if request_id in seen:
            return False
        seen.add(request_id)
        self._on_failure(lambda: seen.remove_newest(request_id))
        return True

    def purchase(self, purchase_id: str) -> PurchaseRecord | None:
        kept = self._purchases.get(purchase_id)
        return None if kept is None else self._codec.decoded(purchase_id, kept)

    def save_purchase(self, record: PurchaseRecord) -> None:
        before = self._purchases.get(record.id)
        blob = self._codec.encoded(record)
        if before is None:
            meter_id = sys.intern(record.meter_id)  # one string per meter, not one per purchase
            kept = _Kept(meter_id, record.scenario, record.status, record.references(), blob)
            self._purchase_order.add(record.id)
            _append(self._by_meter.setdefault(meter_id, {}), record.id)
            for ref in kept.references:
                self._index(ref, record.id)
            self._on_failure(lambda: self._unsave(record.id, meter_id, kept.references))
        else:
            kept = _Kept(before.meter_id, record.scenario, record.status, before.references, blob)
            self._on_failure(lambda: self._purchases.__setitem__(record.id, before))
        self._purchases[record.id] = kept

    def _unsave(self, purchase_id: str, meter_id: str, references: tuple[str, ...]) -> None:
        self._purchases.pop(purchase_id)
        self._purchase_order.remove_newest(purchase_id)
        self._unlist(meter_id, purchase_id, newest=True)
        for ref in references:
            self._unindex(ref, purchase_id, newest=True)

    def _unlist(self, meter_id: str, purchase_id: str, *, newest: bool) -> None:
        chunks = self._by_meter[meter_id]
        _take_end(chunks, purchase_id, newest=newest)
        if not chunks:
            del self._by_meter[meter_id]

    def _index(self, ref: str, purchase_id: str) -> None:
        shared = self._shared_references.get(ref)
        if shared is not None:
            _append(shared, purchase_id)
            return
        refs = self._by_reference[hash(ref) & _PARTS]
        first = refs.pop(ref, None)
        if first is None:
            refs[ref] = purchase_id
        else:
            shared = self._shared_references[ref] = {}
            _append(shared, first)
            _append(shared, purchase_id)

    def _unindex(self, ref: str, purchase_id: str, *, newest: bool) -> None:
        shared = self._shared_references.get(ref)
        if shared is None:
            refs = self._by_reference[hash(ref) & _PARTS]
            if refs.get(ref) == purchase_id:
                del refs[ref]
            return
        _take_end(shared, purchase_id, newest=newest)
        if not shared:
            del self._shared_references[ref]

    def _named(self, ref: str) -> Iterator[str]:
        """The ids of the purchases a reference names, newest first."""
        shared = self._shared_references.get(ref)
        if shared is not None:
            return _newest_first(shared)
        one = self._by_reference[hash(ref) & _PARTS].get(ref)
        return iter(() if one is None else (one,))

    def purchases_for_meter(self, meter_id: str) -> list[PurchaseRecord]:
        return [self._codec.decoded(i, self._purchases[i]) for i in _oldest_first(self._by_meter.get(meter_id, {}))]

    def reprintable(self, meter_id: str, reference: str | None = None) -> PurchaseRecord | None:
        if reference:
            # The purchase's own id first, then what the reference names, newest first.
            candidates = (i for i in chain((reference,), self._named(reference)) if i in self._purchases)
        else:
            candidates = _newest_first(self._by_meter.get(meter_id, {}))
        for purchase_id in candidates:
            kept = self._purchases[purchase_id]
            if kept.meter_id == meter_id and kept.status not in _NOT_REPRINTABLE:
                return self._codec.decoded(purchase_id, kept)
        return None

    def purchases(self) -> Sequence[PurchaseRecord]:
        return _Purchases(self._purchase_order.keys(), self._purchases.copy(), self._codec.reader())

    def key_change(self, request_id: str) -> KeyChangeRecord | None:
        if request_id in self._key_changes:
            self._keep(self._key_changes, request_id, copied=True)
        return self._key_changes.get(request_id)

    def save_key_change(self, record: KeyChangeRecord) -> None:
        if record.id not in self._key_changes:
            self._key_change_order.add(record.id)
            self._on_failure(lambda: self._key_change_order.remove_newest(record.id))
        self._keep(self._key_changes, record.id)
        self._key_changes[record.id] = record

    def count(self, key: tuple[str, ...], owner: str | None = None) -> int:
        if owner is None:
            self._keep(self._counters, key)
            self._counters[key] += 1
            return self._counters[key]
        owned = self._owned_counters[hash(owner) & _PARTS]
        kept = owned.get(owner)
        if kept is None:
            counters: dict[bytes, int] = {}
            self._owners.add(owner)
            self._on_failure(lambda: self._forget_owner(owner))
        else:
            counters = marshal.loads(kept)
            self._keep(owned, owner)
        flat = packed(key)
        counters[flat] = counters.get(flat, 0) + 1
        owned[owner] = packed(counters)
        return counters[flat]

    def _forget_owner(self, owner: str) -> None:
        del self._owned_counters[hash(owner) & _PARTS][owner]
        self._owners.remove_newest(owner)

    def meter_value(self, meter_id: str, name: str) -> Any:
        return self._meter_state.get((meter_id, name))

    def set_meter_value(self, meter_id: str, name: str, value: Any) -> None:
        self._keep(self._meter_state, (meter_id, name))
        self._meter_state[(meter_id, name)] = value

    def purchase_value(self, purchase_id: str, name: str) -> Any:
        kept = self._purchase_state[hash(purchase_id) & _PARTS].get(purchase_id)
        return None if kept is None else marshal.loads(kept).get(name)

    def set_purchase_value(self, purchase_id: str, name: str, value: Any) -> None:
        states = self._purchase_state[hash(purchase_id) & _PARTS]
        kept = states.get(purchase_id)
        state = {} if kept is None else marshal.loads(kept)
        state[name] = value
        self._keep(states, purchase_id)
        states[purchase_id] = packed(state)

    def add_event(self, kind: str, body: dict[str, Any]) -> None:
        events = self._events[kind]
        if events.maxlen is not None and len(events) == events.maxlen:
            oldest = events[0]
            self._on_failure(lambda: events.appendleft(oldest))
        events.append(body)
        self._on_failure(events.pop)


class _Purchases(Sequence[PurchaseRecord]):
    """The purchases kept when it was made, each decoded only when read: counting them costs nothing."""

    def __init__(self, ids: list[str], kept: _KeptTable, codec: _Codec) -> None:
        self._ids = ids  # oldest first
        self._kept = kept
        self._codec = codec

    def __len__(self) -> int:
        return len(self._ids)

    @overload
    def __getitem__(self, index: int) -> PurchaseRecord: ...
    @overload
    def __getitem__(self, index: slice) -> list[PurchaseRecord]: ...
    def __getitem__(self, index: int | slice) -> PurchaseRecord | list[PurchaseRecord]:
        if isinstance(index, slice):
            return [self._codec.decoded(i, self._kept[i]) for i in self._ids[index]]
        purchase_id = self._ids[index]
        return self._codec.decoded(purchase_id, self._kept[purchase_id])


class _Codec:
    """A purchase's blob: JSON, compressed with zstd against the first purchase the store kept.

    Purchases share their field names and most of their shape, so with the first one as a raw
    dictionary a 2 KB record compresses to about 125 bytes, in about 1.4 µs (zlib's fastest level
    with a preset dictionary took 7 to 11 µs and left 145 bytes). zstd's fast strategy with a 4 KB
    window and a 1,024-entry hash table keeps the compressor of each session's store at about
    43 KB (its defaults for level 1 take 580 KB); a target length of 1 rather than 0 halves the
    time (2.9 µs before) for some 25 bytes more a purchase. Other table sizes and minimum matches
    changed neither figure by much.

    orjson writes and reads the JSON (2 µs for a purchase against 25 for the stdlib's). It takes
    integers of up to 64 bits, which is all a record can hold: requests and packs are checked
    for the 64-bit range before they get here.
    """

    PARAMETERS = zstandard.ZstdCompressionParameters(
        window_log=12, hash_log=10, chain_log=10, search_log=1, min_match=5, target_length=1,
        strategy=zstandard.STRATEGY_FAST, write_checksum=0, write_dict_id=0,
    )  # fmt: skip

    def __init__(self) -> None:
        self._dictionary: zstandard.ZstdCompressionDict | None = None
        self._compressor: zstandard.ZstdCompressor | None = None
        self._decompressor: zstandard.ZstdDecompressor | None = None

    def encoded(self, record: PurchaseRecord) -> bytes:
        """What :meth:`decoded` needs besides the fields a :class:`_Kept` holds apart."""
        text = orjson.dumps(
            {
                "response": record.response,
                "error": record.error,
                "advices": {i: [a.kind, a.body] for i, a in record.advices.items()},
                "request": record.request,
            }
        )
        if self._compressor is None:
            self._dictionary = dictionary = zstandard.ZstdCompressionDict(
                text, dict_type=zstandard.DICT_TYPE_RAWCONTENT
            )
            dictionary.precompute_compress(compression_params=self.PARAMETERS)
            self._compressor = zstandard.ZstdCompressor(dict_data=dictionary, compression_params=self.PARAMETERS)
            self._decompressor = zstandard.ZstdDecompressor(dict_data=dictionary)
        return self._compressor.compress(text)

    def reader(self) -> _Codec:
        """A codec that only decodes, with a decompressor of its own: one zstd object must not be
        used by two threads at once, and a snapshot of the store is decoded in a worker thread."""
        codec = _Codec()
        if self._dictionary is not None:
            codec._decompressor = zstandard.ZstdDecompressor(dict_data=self._dictionary)
        return codec

    def decoded(self, purchase_id: str, kept: _Kept) -> PurchaseRecord:
        assert self._decompressor is not None  # made with the first purchase encoded
        rest = orjson.loads(self._decompressor.decompress(kept.blob))
        advices = {i: Advice(kind, body) for i, (kind, body) in rest["advices"].items()}
        return PurchaseRecord(
            purchase_id,
            kept.meter_id,
            kept.scenario,
            kept.status,
            response=rest["response"],
            error=rest["error"],
            advices=advices,
            request=rest["request"],
        )


def _one_level_copy(record: Any) -> Any:
    """The record with each of its dict and list fields copied (their contents shared)."""
    changed = {f.name: copy.copy(v) for f in fields(record) if isinstance(v := getattr(record, f.name), (dict, list))}
    return replace(record, **changed)
