"""Decoder key generation: DKGA02 (DES) and DKGA04 (HMAC-SHA-256 KDF), IEC 62055-41 6.5.3.

A decoder key is unique to one meter (its PAN) and one key set (key type, supply group,
tariff index, key revision; with DKGA04 also base date and algorithm); a vending key makes
them all.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from enum import IntEnum

from cryptography.hazmat.decrepit.ciphers.algorithms import TripleDES
from cryptography.hazmat.primitives.ciphers import Cipher, modes

from ppu_sim.sts.crypto import Algorithm, DecoderKey
from ppu_sim.sts.meter import MeterNumber
from ppu_sim.sts.tid import BaseDate

DKGA02_VENDING_KEY_BYTES = 8
DKGA04_VENDING_KEY_BYTES = 20  # 160 bits, as in the published DKGA04 vectors


class KeyType(IntEnum):
    DITK = 0  # initialisation (factory)
    DDTK = 1  # default
    DUTK = 2  # unique
    DCTK = 3  # common


class KeyGeneration(IntEnum):
    DKGA02 = 2
    DKGA04 = 4


@dataclass(frozen=True)
class KeySet:
    """What besides the meter number and the vending key picks a decoder key."""

    sgc: str
    ti: int
    krn: int
    kt: KeyType = KeyType.DUTK
    algorithm: Algorithm = Algorithm.STA
    dkga: KeyGeneration = KeyGeneration.DKGA02
    base_date: BaseDate = BaseDate.Y1993

    def __post_init__(self) -> None:
        if not (len(self.sgc) == 6 and self.sgc.isascii() and self.sgc.isdigit()):
            raise ValueError(f"supply group code {self.sgc!r} must be 6 digits")
        if not 0 <= self.ti <= 99:
            raise ValueError(f"tariff index {self.ti} is not 0..99")
        if not 1 <= self.krn <= 9:
            raise ValueError(f"key revision number {self.krn} is not 1..9")
        if self.kt is KeyType.DCTK:
            raise ValueError(
                "common keys (DCTK, key type 3) are not supported: no published vector fixes their PANBlock"
            )
        if self.dkga is KeyGeneration.DKGA02 and self.algorithm is not Algorithm.STA:
            raise ValueError("DKGA02 makes 64-bit keys, which only STA (EA07) uses; MISTY1 needs DKGA04")


def _des_encrypt(key: bytes, block: bytes) -> bytes:
    # Single DES is TripleDES with K1 = K2 = K3 (a 24-byte key, which the library takes without warning).
    encryptor = Cipher(TripleDES(key * 3), modes.ECB()).encryptor()
    return encryptor.update(block) + encryptor.finalize()


def control_block(keys: KeySet) -> int:
    """CONTROLBlock: KT, SGC, TI, KRN and FFFFFF as 16 hex nibbles (decimal digits as nibbles)."""
    return int(f"{keys.kt.value}{keys.sgc}{keys.ti:02d}{keys.krn}FFFFFF", 16)


def dkga02(vending_key: bytes, meter: MeterNumber, keys: KeySet) -> bytes:
    """DK = DES_VK(PANBlock ^ CONTROLBlock) ^ (PANBlock ^ CONTROLBlock) ^ VK."""
    if len(vending_key) != DKGA02_VENDING_KEY_BYTES:
        raise ValueError(f"a DKGA02 vending key has {DKGA02_VENDING_KEY_BYTES} bytes, not {len(vending_key)}")
    data = (meter.pan_block ^ control_block(keys)).to_bytes(8, "big")
    cipher = _des_encrypt(vending_key, data)
    return bytes(c ^ d ^ v for c, d, v in zip(cipher, data, vending_key, strict=True))


def _fields(*values: str) -> bytes:
    """A field count, then each field as its length and its ASCII text."""
    return bytes([len(values)]) + b"".join(bytes([len(v)]) + v.encode("ascii") for v in values)


def dkga04_data(meter: MeterNumber, keys: KeySet) -> bytes:
    """The KDF input: label fields, a zero separator, context fields, then L in bits."""
    label = _fields("04", keys.base_date.code, keys.algorithm.code, f"{keys.ti:02d}")
    context = _fields(keys.sgc, f"{keys.kt.value:X}", str(keys.krn), meter.pan)
    length_bits = keys.algorithm.key_bytes * 8
    return label + b"\x00" + context + length_bits.to_bytes(4, "big")


def dkga04(vending_key: bytes, meter: MeterNumber, keys: KeySet) -> bytes:
    """NIST SP 800-108 feedback KDF with HMAC-SHA-256; one block covers 64 or 128 bits."""
    if len(vending_key) != DKGA04_VENDING_KEY_BYTES:
        raise ValueError(f"a DKGA04 vending key has {DKGA04_VENDING_KEY_BYTES} bytes, not {len(vending_key)}")
    mac = hmac.new(vending_key, dkga04_data(meter, keys), hashlib.sha256).digest()
    return mac[: keys.algorithm.key_bytes]


def decoder_key(vending_key: bytes, meter: MeterNumber, keys: KeySet) -> DecoderKey:
    derive = dkga02 if keys.dkga is KeyGeneration.DKGA02 else dkga04
    return DecoderKey(keys.algorithm, derive(vending_key, meter, keys))
