"""Sessions: one simulated provider per PoS test, so CI jobs sharing a simulator never collide.

A session owns everything a test can change or observe: the provider's store (ids, purchases,
sequence counters, running meter balances), its journal, the packs uploaded to it, and the
generator that draws its delays. The scenario files and the generated meter data are shared:
the same ``--seed`` gives every session the same customers and utilities.
"""

from __future__ import annotations

import random
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime

from ppu_sim.control.journal import Journal, now
from ppu_sim.control.masking import basic_user
from ppu_sim.provider.datagen import DataGenerator
from ppu_sim.provider.lifecycle import Provider
from ppu_sim.provider.store import MemoryStore
from ppu_sim.scenario.matcher import Catalogue
from ppu_sim.scenario.model import Pack
from ppu_sim.sts.identity import DEFAULT_VENDING_KEY

SESSION_HEADER = "x-ppu-session"
DEFAULT_SESSION = "default"
MAX_NAME = 128
_HEADER = SESSION_HEADER.encode()


@dataclass
class Session:
    name: str
    provider: Provider
    journal: Journal
    rng: random.Random
    packs: dict[str, Pack] = field(default_factory=dict)  # uploaded at run time, in upload order
    created: datetime = field(default_factory=now)
    last_used: float = 0.0


def session_name(headers: Iterable[tuple[bytes, bytes]], mode: str) -> str:
    """Which session a request belongs to: the X-PPU-Session header, else the Basic-auth user.

    ``user`` mode ignores the header; ``off`` puts everything in the default session.
    """
    if mode == "off":
        return DEFAULT_SESSION
    named = user = None
    for key, value in headers:
        if key == _HEADER and mode == "header":
            named = value.decode("latin-1").strip()
        elif key == b"authorization":
            user = basic_user(value.decode("latin-1"))
    return (named or user or DEFAULT_SESSION)[:MAX_NAME]


class Sessions:
    """The live sessions, least recently used first; idle ones expire and the count is bounded."""

    def __init__(
        self,
        catalogue: Catalogue,
        *,
        seed: int = 0,
        journal_size: int = 10_000,
        ttl: float = 3600.0,
        max_sessions: int = 256,
        retention: int = 0,
        clock: Callable[[], float] = time.monotonic,
        vending_key: bytes = DEFAULT_VENDING_KEY,
    ) -> None:
        self.catalogue = catalogue
        self.seed = seed
        self.vending_key = vending_key
        self.journal_size = journal_size
        self.ttl = ttl
        self.max_sessions = max_sessions
        self.retention = retention  # what each session's store remembers (0: everything)
        self.evicted = 0
        self._clock = clock
        self._data = DataGenerator(seed)
        self._live: OrderedDict[str, Session] = OrderedDict()

    def get(self, name: str) -> Session:
        """The named session, created on first use; using it keeps it alive."""
        self._expire()
        session = self._live.get(name)
        if session is None:
            session = self._live[name] = self._new(name)
            while len(self._live) > self.max_sessions:
                self._live.popitem(last=False)
                self.evicted += 1
        else:
            self._live.move_to_end(name)
        session.last_used = self._clock()
        return session

    def find(self, name: str) -> Session | None:
        """A live session without creating it (reads of an unknown session are the caller's error)."""
        self._expire()
        return self._live.get(name)

    def reset(self, name: str) -> Session:
        """A fresh session under the same name: state, journal, counters and uploaded packs gone."""
        self._live.pop(name, None)
        return self.get(name)

    def set_catalogue(self, catalogue: Catalogue) -> None:
        """New scenario files: every session now answers from them, its own uploads still on top."""
        self.catalogue = catalogue
        for session in self._live.values():
            self._refresh(session)

    def add_pack(self, session: Session, pack: Pack) -> None:
        session.packs.pop(pack.name, None)  # an upload under the same name replaces it, and goes on top
        session.packs[pack.name] = pack
        self._refresh(session)

    def remove_pack(self, session: Session, name: str) -> bool:
        if session.packs.pop(name, None) is None:
            return False
        self._refresh(session)
        return True

    def idle(self, session: Session) -> float:
        """Seconds since the session was last used."""
        return self._clock() - session.last_used

    def __iter__(self) -> Iterator[Session]:
        self._expire()
        return iter(tuple(self._live.values()))

    def __len__(self) -> int:
        return len(self._live)

    def _new(self, name: str) -> Session:
        store = MemoryStore(self.retention)
        provider = Provider(self.catalogue, store, self.seed, self._data, vending_key=self.vending_key)
        return Session(name, provider, Journal(self.journal_size), random.Random(self.seed))

    def _refresh(self, session: Session) -> None:
        packs = (*self.catalogue.packs, *session.packs.values())
        session.provider.catalogue = Catalogue(packs) if session.packs else self.catalogue

    def _expire(self) -> None:
        oldest = self._clock() - self.ttl
        while self._live:
            first = next(iter(self._live.values()))
            if first.last_used >= oldest:
                return
            self._live.popitem(last=False)
            self.evicted += 1
