"""Numbers private to one transaction: its token and receipt numbers, RNDs and references.

The same ``--seed`` and the same request give the same numbers in any process, whatever other
requests came before; that is what makes a simulator's answers repeatable.
"""

from __future__ import annotations

from hashlib import blake2b


class Draws:
    """Numbers private to one transaction, read from a hash of its key: the same key (``--seed``
    and the transaction) draws the same numbers in any process, and no request's draws depend on
    another's, so outcomes do not depend on request order.

    Each purchase and each answer's reference needs one. A Mersenne Twister seeded per transaction
    did the same at 4 µs a seeding (624 words set up for a handful of draws); a BLAKE2b digest is
    512 bits for half a microsecond, and more follow from the key and a counter when those run out.
    ``randrange`` keeps the bits below the range and draws again above it (no modulo bias).
    """

    __slots__ = ("_bits", "_blocks", "_key", "_pool")

    def __init__(self, key: str) -> None:
        self._key = key.encode()
        self._pool = int.from_bytes(blake2b(self._key).digest(), "little")
        self._bits = 512
        self._blocks = 1

    def randrange(self, start: int, stop: int | None = None) -> int:
        """A number in ``range(start, stop)``, or ``range(start)``, like :meth:`random.Random.randrange`."""
        low, size = (0, start) if stop is None else (start, stop - start)
        if size <= 0:
            raise ValueError(f"empty range for randrange({start}, {stop})")
        width = (size - 1).bit_length()
        while True:
            if self._bits < width:
                more = blake2b(self._key, salt=self._blocks.to_bytes(16, "little")).digest()
                self._pool |= int.from_bytes(more, "little") << self._bits
                self._bits += 512
                self._blocks += 1
            drawn = self._pool & ((1 << width) - 1)
            self._pool >>= width
            self._bits -= width
            if drawn < size:
                return low + drawn


def rng_for(seed: int, *key: str) -> Draws:
    """The draws private to one transaction."""
    return Draws(":".join((str(seed), *key)))
