"""Realistic, stable data for meters nobody scripted: South African (zu_ZA) customers and utilities.

Each meter's data comes from Faker seeded with (run seed, meter id), so the same meter always
shows the same customer and utility, across restarts, for a given ``--seed``.
"""

from __future__ import annotations

import zlib
from functools import lru_cache
from typing import Any

from faker import Faker

UTILITIES = (
    ("Eskom Holdings SOC Ltd", "Megawatt Park, Maxwell Drive, Sunninghill, Johannesburg", "4740101508"),
    ("City of Cape Town", "Civic Centre, 12 Hertzog Boulevard, Cape Town", "4500193497"),
    ("City Power Johannesburg", "40 Heronmere Road, Reuven, Johannesburg", "4710183453"),
    ("eThekwini Electricity", "1 Jelf Taylor Crescent, Durban", "4860117937"),
    ("City of Tshwane", "Tshwane House, 320 Madiba Street, Pretoria", "4940104575"),
    ("Nelson Mandela Bay Municipality", "Lillian Diedricks Building, Gqeberha", "4300108659"),
)


def email_for(first: str, last: str) -> str:
    local = ".".join("".join(ch for ch in name.lower() if ch.isalnum()) for name in (first, last))
    return f"{local.strip('.') or 'customer'}@example.co.za"


class DataGenerator:
    """Generates meter profiles; one instance per simulator, safe to share (results are cached)."""

    def __init__(self, seed: int) -> None:
        self._seed = seed
        self._faker = Faker("zu_ZA")
        self.meter_profile = lru_cache(maxsize=65536)(self._meter_profile)

    def _meter_profile(self, meter_id: str) -> dict[str, Any]:
        fake = self._faker
        fake.seed_instance(zlib.crc32(f"{self._seed}:{meter_id}".encode()))
        first, last = fake.first_name()[:40], fake.last_name()[:40]
        name, address, vat = fake.random_element(UTILITIES)
        return {
            "meter": {
                "supplyGroupCode": f"{fake.random_int(100000, 999999)}",
                "keyRevisionNum": str(fake.random_int(1, 3)),
                "tariffIndex": f"{fake.random_int(1, 5):02d}",
                "tokenTechCode": "02",
                "algorithmCode": "07",
            },
            "customer": {
                "firstName": first,
                "lastName": last,
                "address": fake.street_address()[:40] + ", " + fake.city()[:30],
                "msisdn": "27" + str(fake.random_int(600000000, 849999999)),
                "emailAddress": email_for(first, last),
            },
            "utility": {
                "name": name[:40],
                "address": address[:80],
                "vatRegNum": vat,
                "clientId": f"PPU{fake.random_int(1000, 9999)}",
                "message": "Thank you for your purchase",
            },
        }
