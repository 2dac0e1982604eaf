"""The 66-bit token: class, subclass, 44 payload bits and CRC; its transposition and 20 digits.

Bits 63..0 (subclass, payload, CRC) form the block a cipher encrypts. The class is not
encrypted: after encryption it is swapped into bits 28 and 27 of the block, and the bits it
displaces move to 65 and 64 (IEC 62055-41 6.4.2). The 20 digits are the decimal value of the
result, zero-padded.
"""

from __future__ import annotations

from dataclasses import dataclass

from ppu_sim.sts.crc import token_crc

TOKEN_DIGITS = 20
TOKEN_LIMIT = 1 << 66
BLOCK_MASK = (1 << 64) - 1
PAYLOAD_BITS = 44
PAYLOAD_LIMIT = 1 << PAYLOAD_BITS
_CLASS_BITS = (1 << 28) | (1 << 27)


class TokenCrcError(ValueError):
    """The CRC of a (decrypted) token does not match its contents: wrong key, or a typo."""


def _uses_currency_crc(token_class: int, subclass: int) -> bool:
    return token_class == 0 and 4 <= subclass <= 7


def plain_block(token_class: int, subclass: int, payload: int) -> int:
    """Bits 63..0 of a token (subclass, payload and CRC), ready for the cipher; ValueError for parts out of range.

    What :class:`PlainToken` holds, without making one: encoding a token needs only its block."""
    _check_parts(token_class, subclass, payload)
    return (subclass << 60) | (payload << 16) | _crc(token_class, subclass, payload)


def _check_parts(token_class: int, subclass: int, payload: int) -> None:
    if not 0 <= token_class <= 3:
        raise ValueError(f"token class {token_class} is not 0..3")
    if not 0 <= subclass <= 15:
        raise ValueError(f"subclass {subclass} is not 0..15")
    if not 0 <= payload < PAYLOAD_LIMIT:
        raise ValueError(f"payload {payload:#x} does not fit in 44 bits")


def _crc(token_class: int, subclass: int, payload: int) -> int:
    return token_crc((token_class << 48) | (subclass << 44) | payload, _uses_currency_crc(token_class, subclass))


@dataclass(frozen=True)
class PlainToken:
    """A token before encryption: what the CRC covers."""

    token_class: int
    subclass: int
    payload: int

    def __post_init__(self) -> None:
        _check_parts(self.token_class, self.subclass, self.payload)

    @property
    def crc(self) -> int:
        return _crc(self.token_class, self.subclass, self.payload)

    def block(self) -> int:
        """Bits 63..0: subclass, payload and CRC, ready for the cipher."""
        return plain_block(self.token_class, self.subclass, self.payload)

    @classmethod
    def from_block(cls, token_class: int, block: int) -> PlainToken:
        """The token in a decrypted block; raises TokenCrcError when its CRC does not match."""
        token = cls(token_class, block >> 60, (block >> 16) & (PAYLOAD_LIMIT - 1))
        if token.crc != block & 0xFFFF:
            raise TokenCrcError(f"CRC {block & 0xFFFF:04X} does not match the token (expected {token.crc:04X})")
        return token


def transpose(token_class: int, block: int) -> int:
    """The 66-bit token: the class goes into bits 28..27, their old bits to 65..64."""
    displaced = (block >> 27) & 0b11
    return (displaced << 64) | (block & ~_CLASS_BITS & BLOCK_MASK) | (token_class << 27)


def untranspose(value: int) -> tuple[int, int]:
    """The class and the (still encrypted) 64-bit block of a 66-bit token."""
    token_class = (value >> 27) & 0b11
    block = (value & BLOCK_MASK & ~_CLASS_BITS) | ((value >> 64) << 27)
    return token_class, block


def to_digits(value: int) -> str:
    if not 0 <= value < TOKEN_LIMIT:
        raise ValueError(f"{value} is not a 66-bit number")
    return f"{value:0{TOKEN_DIGITS}d}"


def parse_digits(token: str) -> int:
    """A token's 66-bit value; spaces and dashes (4-4-4-4-4 display) are allowed."""
    digits = token.replace(" ", "").replace("-", "")
    if not (digits.isascii() and digits.isdigit()):
        raise ValueError(f"token {token!r} must contain digits only")
    if len(digits) != TOKEN_DIGITS:
        raise ValueError(f"token {token!r} has {len(digits)} digits, not {TOKEN_DIGITS}")
    value = int(digits)
    if value >= TOKEN_LIMIT:
        raise ValueError(f"token {token!r} is above 2^66 - 1, the largest STS token")
    return value
