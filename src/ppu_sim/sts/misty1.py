"""EA11: the MISTY1 block cipher (64-bit block, 128-bit key, 8 rounds), written from RFC 2994.

STS encrypts its 64-bit token block as 8 big-endian bytes with the 16-byte DKGA04 key.
"""

from __future__ import annotations

# RFC 2994 section 2.3, S7TABLE (128 entries) and S9TABLE (512 entries), row by row.
S7 = bytes.fromhex(
    "1b32335a3b1017545b1a72736b2c6649"
    "1f24136c372e3f4a5d0f405625511c04"
    "0b46200d7b3544422b1e41144b79156f"
    "0e550936740c6753280a7e3802076029"
    "1912652f303908685f782a4c6445753d"
    "594803577c4f623c1d215e276a704d3a"
    "016d6e6318772305267600312d7a7f61"
    "502211064716524e713e6943345c587d"
)
_S9_HEX = (
    "1c30cb15319f1e30e90fb0351810b91171eb13300902d0d3"
    "0c714a03707e0eb1641931d80a311e05502c01d1a2163118"
    "14b1521d200f02b03013a0e511113818e0630e30c81f401b"
    "00109d0f81a016d1f301c14607d0d10821ea18312d0f419e"
    "1d30dd1e21281e00ec05909101112f0260dc0b018c10f1f7"
    "0e716c0b60f90d815110114c1030b815412b1ae01707100c"
    "04705807f1a413412908415d19d1b21a304807c0511ca023"
    "13d1a716503b0420da1920ce0c106b09f1f112c1840fa196"
    "1e116917d03118010a0941da18613e11c0601751cf067119"
    "06506809915000800717c0b70240190de1270db0e41a9052"
    "10909019c1c10281b313516a1760df1e51880c516e1de1b1"
    "0c31df0360ee1ee0f009304909a1b606908112500b05e0b4"
    "1491c717403e13b1b708e1c60ae0100951ef04e0f21fd085"
    "0fd0f60a016f08308a15609b13c1071670981d01e90031fe"
    "0bd1220890d218f01203306a1420ed17011b0e214f158131"
    "14705d1131cd0791611a517909e1b40cc02213201a0e8004"
    "1871ed1970391bf1d702718b0c609c0d014e06c0341f206e"
    "0ca0250ba1910fe01310602f1ad1721db0c010b1d60f51ec"
    "10d0761141ab07510c1e415905411f04b0c41be0f70290a4"
    "00e1f007704d17a08608b0b31710bf10e10409715b160168"
    "0d70bb0661ce0fc0921c506f01604a0a11390af0f119000a"
    "1aa14317b05618d1660d41fb14d19419a0871f81230a71b8"
    "14103c1f914002a15511a1a11980d51261af06112e1571dc"
    "07218a0aa0961150ef04507b08d14505305f1780b202e020"
    "1d503f1c91e71ac0440380140b116b0ab0b505a1821c81d4"
    "0181770640cf06d10019913015a0051201bb1bd0e004f0d6"
    "13f1c412a0150060ff19b0a604308805015f1e812107317e"
    "0bc0c20c91731891f50741cc1e61a819501f04100d1ba032"
    "03d1d10800a80571b91621480d910506207a0211ff112108"
    "1c00a911d1b01a60cd0f305c10205b1d91441f60ad0a503a"
    "1cb13617f0460e101e1dd0e61371fa18508c08f0401b50be"
    "0780000ac11015e1240021bc0a20ea0701fc11615c04c1c2"
)
S9 = tuple(int(_S9_HEX[i : i + 3], 16) for i in range(0, len(_S9_HEX), 3))
ROUNDS = 8


def fi(value: int, key: int) -> int:
    """The 16-bit FI function: two S9 layers around one S7, keyed in the middle."""
    d9, d7 = value >> 7, value & 0x7F
    d9 = S9[d9] ^ d7
    d7 = (S7[d7] ^ d9) & 0x7F
    d7 ^= key >> 9
    d9 ^= key & 0x1FF
    d9 = S9[d9] ^ d7
    return d7 << 9 | d9


class Misty1:
    """MISTY1 with one 128-bit key; the expanded key EK[0..31] is computed once."""

    __slots__ = ("_ek",)

    def __init__(self, key: bytes) -> None:
        if len(key) != 16:
            raise ValueError("a MISTY1 key has 16 bytes")
        ek = [int.from_bytes(key[2 * i : 2 * i + 2], "big") for i in range(8)] + [0] * 24
        for i in range(8):
            ek[i + 8] = fi(ek[i], ek[(i + 1) % 8])
            ek[i + 16] = ek[i + 8] & 0x1FF
            ek[i + 24] = ek[i + 8] >> 9
        self._ek = tuple(ek)

    def _fo(self, value: int, k: int) -> int:
        ek = self._ek
        t0, t1 = value >> 16, value & 0xFFFF
        t0 = fi(t0 ^ ek[k], ek[(k + 5) % 8 + 8]) ^ t1
        t1 = fi(t1 ^ ek[(k + 2) % 8], ek[(k + 1) % 8 + 8]) ^ t0
        t0 = fi(t0 ^ ek[(k + 7) % 8], ek[(k + 3) % 8 + 8]) ^ t1
        t1 ^= ek[(k + 4) % 8]
        return t1 << 16 | t0

    def _fl_keys(self, k: int) -> tuple[int, int]:
        """The AND key and the OR key of FL layer ``k``."""
        ek, half = self._ek, k // 2
        if k % 2 == 0:
            return ek[half], ek[(half + 6) % 8 + 8]
        return ek[(half + 2) % 8 + 8], ek[(half + 4) % 8]

    def _fl(self, value: int, k: int) -> int:
        and_key, or_key = self._fl_keys(k)
        d0, d1 = value >> 16, value & 0xFFFF
        d1 ^= d0 & and_key
        d0 ^= d1 | or_key
        return d0 << 16 | d1

    def _fl_inverse(self, value: int, k: int) -> int:
        and_key, or_key = self._fl_keys(k)
        d0, d1 = value >> 16, value & 0xFFFF
        d0 ^= d1 | or_key
        d1 ^= d0 & and_key
        return d0 << 16 | d1

    def encrypt(self, block: int) -> int:
        d0, d1 = block >> 32, block & 0xFFFFFFFF
        for r in range(0, ROUNDS, 2):
            d0, d1 = self._fl(d0, r), self._fl(d1, r + 1)
            d1 ^= self._fo(d0, r)
            d0 ^= self._fo(d1, r + 1)
        d0, d1 = self._fl(d0, ROUNDS), self._fl(d1, ROUNDS + 1)
        return d1 << 32 | d0

    def decrypt(self, block: int) -> int:
        d1, d0 = block >> 32, block & 0xFFFFFFFF
        d0, d1 = self._fl_inverse(d0, ROUNDS), self._fl_inverse(d1, ROUNDS + 1)
        for r in range(ROUNDS - 2, -1, -2):
            d0 ^= self._fo(d1, r + 1)
            d1 ^= self._fo(d0, r)
            d0, d1 = self._fl_inverse(d0, r), self._fl_inverse(d1, r + 1)
        return d0 << 32 | d1
