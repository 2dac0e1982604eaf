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


def token_crc(data50: int, currency: bool = False) -> int:
    """The CRC field of a token whose bits 65..16 (class to amount) are ``data50``."""
    data = data50.to_bytes(7, "big") + (b"\x01" if currency else b"")
    reg = crc16_modbus(data)
    return (reg & 0xFF) << 8 | reg >> 8
