"""Whole tokens: fields -> encrypt -> transpose -> 20 digits, and back."""

from __future__ import annotations

from ppu_sim.sts.crypto import DecoderKey
from ppu_sim.sts.fields import Token
from ppu_sim.sts.layout import PlainToken, parse_digits, plain_block, to_digits, transpose, untranspose

UNENCRYPTED_CLASS = 1  # class 1 (meter test) tokens are not encrypted


def _cipher_for(token_class: int, key: DecoderKey | None) -> DecoderKey | None:
    if token_class == UNENCRYPTED_CLASS:
        return None
    if key is None:
        raise ValueError(f"a class {token_class} token needs a decoder key")
    return key


def encode(token: Token, key: DecoderKey | None, *, bad_crc: bool = False) -> str:
    """The 20 digits of ``token`` under ``key`` (None only for class 1).

    ``bad_crc`` spoils one CRC bit before encryption: a token every meter refuses, for PoS tests.
    """
    block = plain_block(token.token_class, token.subclass, token.fields.payload(token.subclass)) ^ int(bad_crc)
    cipher = _cipher_for(token.token_class, key)
    if cipher is not None:
        block = cipher.encrypt(block)
    return to_digits(transpose(token.token_class, block))


def decode(digits: str, key: DecoderKey | None) -> Token:
    """The token in ``digits``; ValueError on a malformed token, TokenCrcError on a wrong key or CRC."""
    token_class, block = untranspose(parse_digits(digits))
    cipher = _cipher_for(token_class, key)
    if cipher is not None:
        block = cipher.decrypt(block)
    return Token.of(PlainToken.from_block(token_class, block))
