"""The live state of one simulator instance, reachable from any request's ASGI scope."""

from __future__ import annotations

import asyncio
from collections.abc import MutableMapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ppu_sim.config import Settings

if TYPE_CHECKING:
    from ppu_sim.control.sessions import Session, Sessions

SCOPE_KEY = "ppu_sim"
SESSION_KEY = "ppu_sim.session"
NOTE_KEY = "ppu_sim.note"


@dataclass
class Simulator:
    settings: Settings
    sessions: Sessions
    # Set when the server shuts down: delays end at once and held requests are closed.
    stopping: asyncio.Event = field(default_factory=asyncio.Event)


@dataclass
class Note:
    """What the layers of one request found out about it, for the journal.

    The handler fills in who answered; the fault layer what it was told to send and what it did.
    """

    scenario: str | None = None
    pack: str | None = None
    step: int | None = None
    transaction: str | None = None
    meter_id: str | None = None
    # The reply as the handler gave it, before any fault; None when no fault layer saw it.
    status: int | None = None
    body: bytes = b""
    delay: float = 0.0
    fault: str | None = None
    client_gone: bool = False


def simulator_of(scope: MutableMapping[str, Any]) -> Simulator:
    return scope[SCOPE_KEY]


def session_of(scope: MutableMapping[str, Any]) -> Session:
    """The session a request belongs to (the recording layer decided it on arrival)."""
    return scope[SESSION_KEY]


def note_of(scope: MutableMapping[str, Any]) -> Note:
    """This request's note; a throwaway one for requests nobody records (the docs, /health)."""
    return scope.get(NOTE_KEY) or Note()
