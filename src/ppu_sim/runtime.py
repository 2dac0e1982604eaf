"""The live state of one simulator instance, reachable from any request's ASGI scope."""

from __future__ import annotations

import random
from collections.abc import MutableMapping
from dataclasses import dataclass, field
from typing import Any

from ppu_sim.config import Settings
from ppu_sim.provider.lifecycle import Provider

SCOPE_KEY = "ppu_sim"


@dataclass
class Simulator:
    settings: Settings
    provider: Provider
    # Delays and faults draw from here, so a --seed replays the same timings for the same traffic.
    rng: random.Random = field(default_factory=random.Random)


def simulator_of(scope: MutableMapping[str, Any]) -> Simulator:
    return scope[SCOPE_KEY]
