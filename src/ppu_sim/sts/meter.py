"""STS meter numbers: IIN 600727 with an 11-digit DRN, or IIN 0000 with a 13-digit DRN.

A DRN ends in a Luhn check digit over the digits before it; the 18-digit MeterPAN is
IIN + DRN + a Luhn digit over those 17 digits.
"""

from __future__ import annotations

from dataclasses import dataclass

IIN_SHORT = "600727"  # with an 11-digit DRN
IIN_LONG = "0000"  # with a 13-digit DRN
_IIN_OF_DRN_LENGTH = {11: IIN_SHORT, 13: IIN_LONG}
PAN_DIGITS = 18


def luhn_check_digit(payload: str) -> str:
    """The Luhn (mod 10) check digit of a string of digits."""
    total = 0
    for i, ch in enumerate(reversed(payload)):
        d = int(ch) * (2 if i % 2 == 0 else 1)
        total += d - 9 if d > 9 else d
    return str((10 - total % 10) % 10)


@dataclass(frozen=True)
class MeterNumber:
    """A meter's IIN and DRN; ``parse`` checks the form and the check digits."""

    iin: str
    drn: str

    @classmethod
    def parse(cls, text: str) -> MeterNumber:
        """From a DRN (11 or 13 digits) or a whole 18-digit MeterPAN."""
        digits = text.strip()
        if not (digits.isascii() and digits.isdigit()):
            raise ValueError(f"meter number {text!r} must contain digits only")
        if len(digits) == PAN_DIGITS:
            iin = IIN_SHORT if digits.startswith(IIN_SHORT) else IIN_LONG
            if not digits.startswith(iin):
                raise ValueError(f"MeterPAN {text!r} starts with neither IIN {IIN_SHORT} nor {IIN_LONG}")
            if luhn_check_digit(digits[:-1]) != digits[-1]:
                raise ValueError(
                    f"MeterPAN {text!r} has a wrong check digit (expected {luhn_check_digit(digits[:-1])})"
                )
            digits = digits[len(iin) : -1]
        if len(digits) not in _IIN_OF_DRN_LENGTH:
            raise ValueError(f"meter number {text!r} has {len(digits)} digits: an STS meter number has 11 or 13")
        expected = luhn_check_digit(digits[:-1])
        if digits[-1] != expected:
            raise ValueError(f"meter number {text!r} has a wrong check digit (expected {expected})")
        return cls(_IIN_OF_DRN_LENGTH[len(digits)], digits)

    @property
    def pan(self) -> str:
        """The 18-digit MeterPAN."""
        body = self.iin + self.drn
        return body + luhn_check_digit(body)

    @property
    def pan_block(self) -> int:
        """The 16 rightmost digits of IIN + DRN, read as 16 hex nibbles (DKGA02's PANBlock)."""
        return int((self.iin + self.drn)[-16:], 16)
