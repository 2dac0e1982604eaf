"""The token kinds the Electrum interface names, built as STS tokens.

- STD, BSST and REFUND are class 0 credit tokens. STS has no refund or free-units token:
  BSST (free basic electricity) is ordinary credit whose price is zero, and a REFUND gives
  the customer units back, which a meter can only receive as credit. (Taking credit off a
  meter is ClearCredit, a different thing, offered below as ``clear_credit``.)
- PWRLMT is class 2 subclass 0, SetMaximumPowerLimit, in watts.
- KC is the key change set: class 2 subclasses 3 and 4 for a 64-bit key, plus 8 and 9 for a
  128-bit key, all encrypted under the meter's current key and carrying the new one.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from enum import IntEnum
from functools import lru_cache

from ppu_sim.sts.amount import decode_amount, encode_amount, tenths, units
from ppu_sim.sts.fields import KeyChangeHigh, KeyChangeLow, KeyChangeMiddle, Token, Transfer
from ppu_sim.sts.keys import KeySet, KeyType

KEN_NEVER_EXPIRES = 0xFF
CLEAR_ALL_REGISTERS = 0xFFFF


class Utility(IntEnum):
    """Class 0 subclasses for credit in units (0.1 kWh, 0.1 m³, 0.1 minute)."""

    ELECTRICITY = 0
    WATER = 1
    GAS = 2
    TIME = 3


class Management(IntEnum):
    """Class 2 subclasses."""

    MAX_POWER_LIMIT = 0
    CLEAR_CREDIT = 1
    SET_TARIFF_RATE = 2
    KEY_CHANGE_1 = 3
    KEY_CHANGE_2 = 4
    CLEAR_TAMPER = 5
    MAX_PHASE_POWER_UNBALANCE = 6
    WATER_METER_FACTOR = 7
    KEY_CHANGE_3 = 8
    KEY_CHANGE_4 = 9


def credit(amount: Decimal | int | float | str, tid: int, rnd: int, utility: Utility = Utility.ELECTRICITY) -> Token:
    """Credit of ``amount`` units, rounded up to what the amount field can carry."""
    return Token(0, utility, Transfer(rnd, tid, _credit_field(amount)))


@lru_cache(maxsize=4096, typed=True)
def _credit_field(amount: Decimal | int | float | str) -> int:
    """Cached: every credit token needs it, a PoS buys the same few amounts, and the decimal
    arithmetic cost more than making the rest of the token. Typed: a float and a Decimal can be
    equal yet round differently (a float goes through its shortest decimal form)."""
    return encode_amount(tenths(amount))


def credited_units(token: Token) -> Decimal:
    """The units a class 0 credit token gives: what a response should say it carries."""
    if token.token_class != 0 or not isinstance(token.fields, Transfer):
        raise ValueError("not a credit token")
    return units(decode_amount(token.fields.value))


def power_limit(watts: int, tid: int, rnd: int) -> Token:
    """Maximum power limit in watts, rounded up like an amount."""
    return Token(2, Management.MAX_POWER_LIMIT, Transfer(rnd, tid, encode_amount(watts)))


def clear_credit(tid: int, rnd: int, register: int = CLEAR_ALL_REGISTERS) -> Token:
    return Token(2, Management.CLEAR_CREDIT, Transfer(rnd, tid, register))


def clear_tamper(tid: int, rnd: int) -> Token:
    return Token(2, Management.CLEAR_TAMPER, Transfer(rnd, tid, 0))


@dataclass(frozen=True)
class NewKey:
    """What a key change set installs. ``sgc`` travels only in 128-bit (4-token) sets."""

    key: bytes
    kt: KeyType
    krn: int
    ti: int
    ken: int = KEN_NEVER_EXPIRES
    rollover: bool = False
    sgc: str | None = None


def key_change_set(new: NewKey) -> list[Token]:
    """The KC tokens carrying ``new``: two for a 64-bit key, four for a 128-bit key."""
    if len(new.key) not in (8, 16):
        raise ValueError(f"a decoder key has 8 or 16 bytes, not {len(new.key)}")
    if not 0 <= new.ken <= 0xFF:
        raise ValueError(f"key expiry number {new.ken} is not 0..255")
    words = [int.from_bytes(new.key[i : i + 4], "big") for i in range(0, len(new.key), 4)]
    high = KeyChangeHigh(new.ken >> 4, new.krn, new.rollover, False, new.kt, words[0])
    low = KeyChangeLow(new.ken & 0xF, new.ti, words[-1])
    tokens = [Token(2, Management.KEY_CHANGE_1, high), Token(2, Management.KEY_CHANGE_2, low)]
    if len(words) == 4:
        if new.sgc is None:
            raise ValueError("a 128-bit key change set carries the supply group code")
        sgc = int(new.sgc)
        tokens.append(Token(2, Management.KEY_CHANGE_3, KeyChangeMiddle(sgc & 0xFFF, words[1])))
        tokens.append(Token(2, Management.KEY_CHANGE_4, KeyChangeMiddle(sgc >> 12, words[2])))
    return tokens


def read_key_change_set(tokens: list[Token]) -> NewKey:
    """The new key in a complete KC set, in any order; ValueError if a section is missing."""
    by_sub = {t.subclass: t.fields for t in tokens if t.token_class == 2}
    high, low = by_sub.get(Management.KEY_CHANGE_1), by_sub.get(Management.KEY_CHANGE_2)
    if not (isinstance(high, KeyChangeHigh) and isinstance(low, KeyChangeLow)):
        raise ValueError("a key change set needs its 1st and 2nd tokens")
    third, fourth = by_sub.get(Management.KEY_CHANGE_3), by_sub.get(Management.KEY_CHANGE_4)
    ken = high.ken_high << 4 | low.ken_low
    if third is None and fourth is None:
        key = (high.key_bits << 32 | low.key_bits).to_bytes(8, "big")
        return NewKey(key, KeyType(high.kt), high.krn, low.ti, ken, high.rollover)
    if not (isinstance(third, KeyChangeMiddle) and isinstance(fourth, KeyChangeMiddle)):
        raise ValueError("a 128-bit key change set needs all four tokens")
    words = (high.key_bits, third.key_bits, fourth.key_bits, low.key_bits)
    key = b"".join(w.to_bytes(4, "big") for w in words)
    sgc = f"{fourth.sgc_bits << 12 | third.sgc_bits:06d}"
    return NewKey(key, KeyType(high.kt), high.krn, low.ti, ken, high.rollover, sgc)


def new_key_for(key: bytes, keys: KeySet, ken: int = KEN_NEVER_EXPIRES, rollover: bool = False) -> NewKey:
    """The NewKey announcing ``key`` made for ``keys`` (the SGC rides along for 128-bit keys)."""
    return NewKey(key, keys.kt, keys.krn, keys.ti, ken, rollover, keys.sgc if len(key) == 16 else None)
