"""The token CRC: CRC-16 with polynomial x^16 + x^15 + x^2 + 1 (the MODBUS parameters).

The standard stores the register low byte first, so the 16-bit field is the MODBUS value
byte-swapped. Class 0 currency subclasses (4-7) use CRC_C: one extra byte 0x01 at the end.
"""

from __future__ import annotations


def _table() -> tuple[int, ...]:
    rows = []
    for byte in range(256):
        reg = byte
        for _ in range(8):
            reg = (reg >> 1) ^ 0xA001 if reg & 1 else reg >> 1
        rows.append(reg)
    return tuple(rows)


_TABLE = _table()


def crc16_modbus(data: bytes) -> int:
    """The raw reflected CRC-16 register (init 0xFFFF, no final XOR)."""
    reg = 0xFFFF
    for byte in data:
        reg = (reg >> 8) ^ _TABLE[(reg ^ byte) & 0xFF]
    return reg


def _swapped(reg: int) -> int:
    return (reg & 0xFF) << 8 | reg >> 8


def _field_tables(suffix: bytes) -> tuple[int, tuple[tuple[int, ...], ...]]:
    """The CRC field of 7 data bytes (then ``suffix``) as a constant XOR one entry per byte.

    A CRC is affine in its input of a fixed length: the field of any 7 bytes is the field of seven
    zero bytes XOR, for each byte, what that byte alone changes (its register from zero, moved on by
    the bytes after it). Seven lookups, not a loop of seven steps: a token's CRC costs half as much."""
    tables = []
    alone = list(_TABLE)  # a byte's effect on a register that starts at zero, then zero bytes after it
    for _ in range(len(suffix)):
        alone = [(reg >> 8) ^ _TABLE[reg & 0xFF] for reg in alone]
    for _ in range(7):
        tables.append(tuple(_swapped(reg) for reg in alone))
        alone = [(reg >> 8) ^ _TABLE[reg & 0xFF] for reg in alone]
    return _swapped(crc16_modbus(bytes(7) + suffix)), tuple(reversed(tables))


_FIELD = {False: _field_tables(b""), True: _field_tables(b"\x01")}


def token_crc(data50: int, currency: bool = False) -> int:
    """The CRC field of a token whose bits 65..16 (class to amount) are ``data50``: the MODBUS
    register over its 7 bytes (and the byte 0x01 for a currency token), low byte first."""
    zero, (t0, t1, t2, t3, t4, t5, t6) = _FIELD[currency]
    b0, b1, b2, b3, b4, b5, b6 = data50.to_bytes(7, "big")
    return zero ^ t0[b0] ^ t1[b1] ^ t2[b2] ^ t3[b3] ^ t4[b4] ^ t5[b5] ^ t6[b6]
