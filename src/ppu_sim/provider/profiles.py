"""What a meter shows: its codes, STS identity, customer, utility and limits.

A meter's profile is the scenario's meter section over the data generated for the meter, with
the codes of the key it has now. It depends only on the scenario, the meter and that key, yet
every lookup and purchase needs it, and building it (merging, checking the STS identity, making
an e-mail address) was a tenth of a lookup: so it is built once and shared. A profile is never
edited: answers copy the parts they change.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any, Generic, TypeVar

from ppu_sim.provider.datagen import DataGenerator, email_for
from ppu_sim.provider.store import Store
from ppu_sim.provider.sts_meters import IDENTITY, initial_identity, meter_codes
from ppu_sim.scenario.model import MeterSpec
from ppu_sim.sts.identity import Identity

CACHED_METERS = 4096  # per session: the meters a test run uses, with room to spare

T = TypeVar("T")


class Same(Generic[T]):
    """A cache key that is one object, not an equal one: scenario parts hold dicts, so they have
    no hash, and a reloaded scenario is a new object (what was cached for the old one ages out)."""

    __slots__ = ("obj",)

    def __init__(self, obj: T) -> None:
        self.obj = obj

    def __hash__(self) -> int:
        return id(self.obj)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Same) and other.obj is self.obj


class Profiles:
    """One session's meter profiles (their key moves on with the session's key changes)."""

    def __init__(self, data: DataGenerator, seed: int) -> None:
        self.data = data
        self.seed = seed
        self._codes = lru_cache(maxsize=CACHED_METERS)(self._build_codes)
        self._profiles = lru_cache(maxsize=CACHED_METERS)(self._build_profile)

    def codes(self, spec: MeterSpec | None, meter_id: str) -> tuple[dict[str, Any], Identity | None]:
        """The meter's codes as scripted or generated (shared: not to be edited), and the STS identity it
        starts with (None: plain tokens)."""
        return self._codes(Same(spec), meter_id)

    def profile(self, spec: MeterSpec | None, meter_id: str, store: Store) -> dict[str, Any]:
        """With the key the meter has now: the one it started with until a key change moves it."""
        return self._profiles(Same(spec), meter_id, store.meter_value(meter_id, IDENTITY))

    def _build_codes(self, key: Same[MeterSpec | None], meter_id: str) -> tuple[dict[str, Any], Identity | None]:
        spec = key.obj
        codes = {**self.data.meter_profile(meter_id)["meter"], **(spec.meter if spec else {})}
        return codes, initial_identity(spec.sts if spec else None, meter_id, codes, self.seed)

    def _build_profile(self, key: Same[MeterSpec | None], meter_id: str, moved: Identity | None) -> dict[str, Any]:
        spec = key.obj
        generated = self.data.meter_profile(meter_id)
        codes, initial = self._codes(key, meter_id)
        codes = dict(codes)
        identity = moved or initial
        if identity is not None:
            codes.update(meter_codes(identity))
        if spec is None:
            return {
                **generated,
                "meter": codes,
                "sts": identity,
                "utilityType": "Electricity",
                "minAmount": 100,
                "maxAmount": 500_000,
                "arrears": None,
            }
        customer = {**generated["customer"], **spec.customer}
        if "emailAddress" not in spec.customer:
            customer["emailAddress"] = email_for(customer["firstName"], customer["lastName"])
        return {
            "meter": codes,
            "sts": identity,
            "customer": customer,
            "utility": {**generated["utility"], **spec.utility},
            "utilityType": spec.utility_type or "Electricity",
            "minAmount": spec.min_amount,
            "maxAmount": spec.max_amount,
            "arrears": spec.arrears,
        }
