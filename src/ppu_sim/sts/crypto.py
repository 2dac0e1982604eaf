"""Encryption algorithms by STS code, and a decoder key bound to its algorithm."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import IntEnum
from functools import cached_property

from ppu_sim.sts.misty1 import Misty1
from ppu_sim.sts.sta import Sta


class Algorithm(IntEnum):
    """EA codes; EA09 (DEA) is deprecated by the standard and not offered."""

    STA = 7
    MISTY1 = 11

    @property
    def code(self) -> str:
        """Two digits, as the interface's ``algorithmCode`` and DKGA04 write it."""
        return f"{self.value:02d}"

    @property
    def key_bytes(self) -> int:
        return 8 if self is Algorithm.STA else 16

    @classmethod
    def of(cls, value: int | str) -> Algorithm:
        try:
            return cls(int(value))
        except ValueError:
            raise ValueError(f"encryption algorithm {value!r} is not 07 (STA) or 11 (MISTY1)") from None


@dataclass(frozen=True)
class DecoderKey:
    """A meter's decoder key. Its bytes stay out of ``repr`` so they never reach a log."""

    algorithm: Algorithm
    key: bytes = field(repr=False)

    def __post_init__(self) -> None:
        if len(self.key) != self.algorithm.key_bytes:
            raise ValueError(
                f"a {self.algorithm.name} decoder key has {self.algorithm.key_bytes} bytes, not {len(self.key)}"
            )

    @cached_property
    def _cipher(self) -> Sta | Misty1:
        if self.algorithm is Algorithm.STA:
            return Sta(int.from_bytes(self.key, "big"))
        return Misty1(self.key)

    def encrypt(self, block: int) -> int:
        return self._cipher.encrypt(block)

    def decrypt(self, block: int) -> int:
        return self._cipher.decrypt(block)
