"""What the 44 payload bits between subclass and CRC mean, by class and subclass.

IEC 62055-41 6.3: class 0 and most class 2 tokens carry RND, TID and a 16-bit value; the key
change tokens (class 2, subclasses 3, 4, 8, 9) carry pieces of the new key; class 1 (meter
test) tokens carry a control field and a manufacturer code. Anything else is kept raw.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from ppu_sim.sts.layout import PlainToken


def _check(name: str, value: int, bits: int) -> None:
    if not 0 <= value < 1 << bits:
        raise ValueError(f"{name} {value} does not fit in {bits} bits")


@dataclass(frozen=True)
class Transfer:
    """RND (4 bits), TID (24) and a 16-bit value: an amount, a power limit or a register."""

    rnd: int
    tid: int
    value: int

    def __post_init__(self) -> None:
        if not (0 <= self.rnd < 1 << 4 and 0 <= self.tid < 1 << 24 and 0 <= self.value < 1 << 16):  # one test, usually
            _check("RND", self.rnd, 4)
            _check("TID", self.tid, 24)
            _check("value field", self.value, 16)

    def payload(self, subclass: int) -> int:
        return self.rnd << 40 | self.tid << 16 | self.value

    @classmethod
    def from_payload(cls, payload: int, subclass: int) -> Transfer:
        return cls(payload >> 40, (payload >> 16) & 0xFFFFFF, payload & 0xFFFF)


@dataclass(frozen=True)
class KeyChangeHigh:
    """1st key change token (2/3): KEN high nibble, KRN, rollover, 3KCT, key type, key bits."""

    ken_high: int
    krn: int
    rollover: bool
    kct3: bool
    kt: int
    key_bits: int

    def __post_init__(self) -> None:
        _check("KENHO", self.ken_high, 4)
        _check("KRN", self.krn, 4)
        _check("KT", self.kt, 2)
        _check("key section", self.key_bits, 32)

    def payload(self, subclass: int) -> int:
        flags = int(self.rollover) << 3 | int(self.kct3) << 2 | self.kt
        return self.ken_high << 40 | self.krn << 36 | flags << 32 | self.key_bits

    @classmethod
    def from_payload(cls, payload: int, subclass: int) -> KeyChangeHigh:
        flags = (payload >> 32) & 0xF
        return cls(
            payload >> 40, (payload >> 36) & 0xF, bool(flags & 8), bool(flags & 4), flags & 3, payload & 0xFFFFFFFF
        )


@dataclass(frozen=True)
class KeyChangeLow:
    """2nd key change token (2/4): KEN low nibble, the new tariff index (binary), key bits."""

    ken_low: int
    ti: int
    key_bits: int

    def __post_init__(self) -> None:
        _check("KENLO", self.ken_low, 4)
        _check("TI", self.ti, 8)
        _check("key section", self.key_bits, 32)

    def payload(self, subclass: int) -> int:
        return self.ken_low << 40 | self.ti << 32 | self.key_bits

    @classmethod
    def from_payload(cls, payload: int, subclass: int) -> KeyChangeLow:
        return cls(payload >> 40, (payload >> 32) & 0xFF, payload & 0xFFFFFFFF)


@dataclass(frozen=True)
class KeyChangeMiddle:
    """3rd/4th key change token (2/8, 2/9) of a 128-bit key: 12 SGC bits and 32 key bits."""

    sgc_bits: int
    key_bits: int

    def __post_init__(self) -> None:
        _check("SGC section", self.sgc_bits, 12)
        _check("key section", self.key_bits, 32)

    def payload(self, subclass: int) -> int:
        return self.sgc_bits << 32 | self.key_bits

    @classmethod
    def from_payload(cls, payload: int, subclass: int) -> KeyChangeMiddle:
        return cls(payload >> 32, payload & 0xFFFFFFFF)


@dataclass(frozen=True)
class MeterTest:
    """Class 1: a control bit field and the manufacturer code (2 digits in subclass 0, 4 in 1)."""

    MFR_BITS: ClassVar[dict[int, int]] = {0: 8, 1: 16}

    control: int
    mfr_code: int

    def payload(self, subclass: int) -> int:
        mfr_bits = self.MFR_BITS[subclass]
        _check("control field", self.control, 44 - mfr_bits)
        _check("manufacturer code", self.mfr_code, mfr_bits)
        return self.control << mfr_bits | self.mfr_code

    @classmethod
    def from_payload(cls, payload: int, subclass: int) -> MeterTest:
        mfr_bits = cls.MFR_BITS[subclass]
        return cls(payload >> mfr_bits, payload & ((1 << mfr_bits) - 1))


@dataclass(frozen=True)
class Raw:
    """A payload this engine does not interpret (proprietary or undefined subclasses)."""

    bits: int

    def __post_init__(self) -> None:
        _check("payload", self.bits, 44)

    def payload(self, subclass: int) -> int:
        return self.bits

    @classmethod
    def from_payload(cls, payload: int, subclass: int) -> Raw:
        return cls(payload)


Fields = Transfer | KeyChangeHigh | KeyChangeLow | KeyChangeMiddle | MeterTest | Raw
_KEY_CHANGE: dict[int, type[Fields]] = {3: KeyChangeHigh, 4: KeyChangeLow, 8: KeyChangeMiddle, 9: KeyChangeMiddle}
_TRANSFER_CLASS2 = frozenset({0, 1, 2, 5, 6, 7})


def fields_type(token_class: int, subclass: int) -> type[Fields]:
    """Which payload layout a (class, subclass) uses."""
    return _LAYOUTS.get((token_class, subclass), Raw)


def _layout(token_class: int, subclass: int) -> type[Fields]:
    if token_class == 0 and subclass <= 7:
        return Transfer
    if token_class == 1 and subclass in MeterTest.MFR_BITS:
        return MeterTest
    if token_class == 2:
        if subclass in _TRANSFER_CLASS2:
            return Transfer
        return _KEY_CHANGE.get(subclass, Raw)
    return Raw


# Every token checks its layout when made: one lookup, not the rules above each time.
_LAYOUTS = {(c, s): _layout(c, s) for c in range(4) for s in range(16)}


@dataclass(frozen=True)
class Token:
    """A token with its payload read by class and subclass; ``plain`` is what gets encrypted."""

    token_class: int
    subclass: int
    fields: Fields

    def __post_init__(self) -> None:
        expected = fields_type(self.token_class, self.subclass)
        if not isinstance(self.fields, expected):
            raise ValueError(
                f"class {self.token_class} subclass {self.subclass} carries {expected.__name__} fields, "
                f"not {type(self.fields).__name__}"
            )

    def plain(self) -> PlainToken:
        return PlainToken(self.token_class, self.subclass, self.fields.payload(self.subclass))

    @classmethod
    def of(cls, plain: PlainToken) -> Token:
        kind = fields_type(plain.token_class, plain.subclass)
        return cls(plain.token_class, plain.subclass, kind.from_payload(plain.payload, plain.subclass))
