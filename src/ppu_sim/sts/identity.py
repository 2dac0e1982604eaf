"""A meter's STS identity: the meter number and key set its tokens are made for.

The simulator holds one vending key of 160 bits (DKGA04's length). DKGA02 meters use its first
64 bits, which is how the reference's two public test keys relate: ``ABABABABABABABAB`` for
DKGA02 and ``ABABABABABABABAB949494949494949401234567`` for DKGA04.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from functools import lru_cache

from ppu_sim.sts.crypto import DecoderKey
from ppu_sim.sts.keys import DKGA02_VENDING_KEY_BYTES, DKGA04_VENDING_KEY_BYTES, KeyGeneration, KeySet, decoder_key
from ppu_sim.sts.meter import MeterNumber

DEFAULT_VENDING_KEY_HEX = "ABABABABABABABAB949494949494949401234567"
KEN_NEVER_EXPIRES = 0xFF


def parse_vending_key(text: str, *, lengths: tuple[int, ...] = (DKGA04_VENDING_KEY_BYTES,)) -> bytes:
    """A vending key from hex; ValueError naming the length it should have."""
    digits = text.strip().replace(" ", "")
    wanted = " or ".join(f"{n * 2} hex digits ({n * 8} bits)" for n in lengths)
    try:
        key = bytes.fromhex(digits)
    except ValueError:
        raise ValueError(
            f"vending key must be {wanted}, not {len(digits)} characters of which some are not hex"
        ) from None
    if len(key) not in lengths or len(digits) != 2 * len(key):
        raise ValueError(f"vending key must be {wanted}, not {len(digits)} digits")
    return key


DEFAULT_VENDING_KEY = parse_vending_key(DEFAULT_VENDING_KEY_HEX)


@dataclass(frozen=True)
class Identity:
    """What makes a meter's decoder key, plus its key expiry number (KEN)."""

    meter: MeterNumber
    keys: KeySet
    ken: int = KEN_NEVER_EXPIRES

    def __post_init__(self) -> None:
        if not 0 <= self.ken <= 0xFF:
            raise ValueError(f"key expiry number {self.ken} is not 0..255")

    def __hash__(self) -> int:
        # Remembered like the decoder key: a meter's profile is cached by its identity, which every
        # request on the meter hashes (a nested dataclass: a tenth of a microsecond per field).
        memo = self.__dict__.get("_hash")
        if memo is None:
            memo = hash((self.meter, self.keys, self.ken))
            object.__setattr__(self, "_hash", memo)
        return memo

    def decoder_key(self, vending_key: bytes) -> DecoderKey:
        # Remembered on the object too: a meter's requests share its identity object, and hashing
        # it (nested dataclasses) to find the key in the shared cache took a microsecond a token.
        memo = self.__dict__.get("_decoder_key")
        if memo is None or memo[0] != vending_key:
            memo = (vending_key, _decoder_key(self, vending_key))
            object.__setattr__(self, "_decoder_key", memo)
        return memo[1]

    def moved_to(self, sgc: str, krn: int, ti: int) -> Identity:
        """The identity after a key change to a new supply group, key revision and tariff index."""
        return replace(self, keys=replace(self.keys, sgc=sgc, krn=krn, ti=ti))


@lru_cache(maxsize=4096)
def _decoder_key(identity: Identity, vending_key: bytes) -> DecoderKey:
    """Cached: a meter's key is derived once, and its cipher tables are built once with it."""
    if identity.keys.dkga is KeyGeneration.DKGA02 and len(vending_key) > DKGA02_VENDING_KEY_BYTES:
        vending_key = vending_key[:DKGA02_VENDING_KEY_BYTES]
    return decoder_key(vending_key, identity.meter, identity.keys)
