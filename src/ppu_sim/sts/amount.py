"""The 16-bit amount field: a 2-bit decimal exponent and a 14-bit mantissa.

A value ``v`` (tenths of a unit for credit, watts for power limits) is stored as
``m * 10**e`` plus an offset that makes the four ranges follow on from each other.
Conversions round up, in the customer's favour (IEC 62055-41 6.3.6.2).
"""

from __future__ import annotations

import math
from decimal import Decimal
from functools import lru_cache

MANTISSA_BITS = 14
MANTISSA_LIMIT = 1 << MANTISSA_BITS
# Where each exponent's range starts: the end of the previous range.
OFFSETS = (0, 16384, 180224, 1818624)
MAX_VALUE = OFFSETS[3] + (MANTISSA_LIMIT - 1) * 1000


def decode_amount(field: int) -> int:
    """The value a 16-bit amount field stands for."""
    if not 0 <= field <= 0xFFFF:
        raise ValueError(f"amount field {field} is not a 16-bit number")
    exponent, mantissa = field >> MANTISSA_BITS, field & (MANTISSA_LIMIT - 1)
    return OFFSETS[exponent] + mantissa * 10**exponent


@lru_cache(maxsize=4096)
def encode_amount(value: int) -> int:
    """The 16-bit field for ``value``, rounded up to the next value the field can hold.

    Cached: every credit token encodes its amount, and a PoS buys the same few amounts."""
    if not 0 <= value <= MAX_VALUE:
        raise ValueError(f"amount {value} is outside 0..{MAX_VALUE}")
    exponent = max(e for e in range(4) if value >= OFFSETS[e])
    mantissa = math.ceil((value - OFFSETS[exponent]) / 10**exponent)
    if mantissa == MANTISSA_LIMIT:  # rounding up crossed into the next range
        exponent, mantissa = exponent + 1, 0
    return exponent << MANTISSA_BITS | mantissa


def tenths(units: Decimal | int | float | str) -> int:
    """Units (kWh, m³, minutes) as whole tenths, rounded up like the amount field itself.

    A float goes through its shortest decimal form: 0.1 is one tenth, not the binary
    0.1000000000000000055..., which would round up to two.
    """
    scaled = Decimal(str(units) if isinstance(units, float) else units) * 10
    if not scaled.is_finite() or scaled < 0:
        raise ValueError(f"units {units!r} must be a finite, non-negative number")
    return math.ceil(scaled)


def units(value_tenths: int) -> Decimal:
    """Tenths back to units, exactly."""
    return Decimal(value_tenths) / 10
