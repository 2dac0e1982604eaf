"""Whole tokens through keys and ciphers: generated round trips, the interface's token kinds,
and the errors a PoS developer sees for bad input."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ppu_sim.sts import codec, kinds
from ppu_sim.sts.amount import MAX_VALUE
from ppu_sim.sts.crypto import Algorithm, DecoderKey
from ppu_sim.sts.fields import KeyChangeHigh, MeterTest, Raw, Token, Transfer
from ppu_sim.sts.keys import KeyGeneration, KeySet, KeyType, decoder_key
from ppu_sim.sts.layout import PlainToken, TokenCrcError
from ppu_sim.sts.meter import MeterNumber
from ppu_sim.sts.tid import BaseDate

METER = MeterNumber.parse("600727000000000009")
VK02 = bytes.fromhex("ABABABABABABABAB")
VK04 = bytes.fromhex("ABABABABABABABAB949494949494949401234567")

algorithms = st.sampled_from(Algorithm)
keys = algorithms.flatmap(
    lambda a: st.binary(min_size=a.key_bytes, max_size=a.key_bytes).map(lambda k: DecoderKey(a, k))
)
transfers = st.builds(Transfer, st.integers(0, 15), st.integers(0, (1 << 24) - 1), st.integers(0, 0xFFFF))
transfer_tokens = st.one_of(
    st.builds(Token, st.just(0), st.integers(0, 7), transfers),
    st.builds(Token, st.just(2), st.sampled_from([0, 1, 2, 5, 6, 7]), transfers),
)


@given(transfer_tokens, keys)
def test_transfer_tokens_round_trip(token: Token, key: DecoderKey) -> None:
    digits = codec.encode(token, key)
    assert len(digits) == 20 and digits.isdigit()
    assert codec.decode(digits, key) == token


@given(st.integers(0, 1), st.integers(0, (1 << 28) - 1), st.integers(0, 0xFF))
def test_meter_test_tokens_round_trip_without_a_key(subclass: int, control: int, mfr: int) -> None:
    token = Token(1, subclass, MeterTest(control, mfr))
    assert codec.decode(codec.encode(token, None), None) == token


@given(
    st.sampled_from([8, 16]).flatmap(lambda n: st.binary(min_size=n, max_size=n)),
    st.sampled_from(KeyType),
    st.integers(1, 9),
    st.integers(0, 99),
    st.integers(0, 255),
    st.booleans(),
    st.integers(0, 999999),
    keys,
)
def test_key_change_sets_round_trip(
    new: bytes, kt: KeyType, krn: int, ti: int, ken: int, rollover: bool, sgc: int, old: DecoderKey
) -> None:
    new_key = kinds.NewKey(new, kt, krn, ti, ken, rollover, f"{sgc:06d}" if len(new) == 16 else None)
    tokens = kinds.key_change_set(new_key)
    assert len(tokens) == len(new) // 4
    decoded = [codec.decode(codec.encode(t, old), old) for t in tokens]
    assert kinds.read_key_change_set(list(reversed(decoded))) == new_key


def test_an_incomplete_key_change_set_is_refused() -> None:
    tokens = kinds.key_change_set(kinds.NewKey(bytes(16), KeyType.DUTK, 1, 1, sgc="123456"))
    with pytest.raises(ValueError, match="all four tokens"):
        kinds.read_key_change_set(tokens[:3])
    with pytest.raises(ValueError, match="1st and 2nd"):
        kinds.read_key_change_set(tokens[1:])


@given(st.decimals(min_value=0, max_value=Decimal(MAX_VALUE) / 10, places=3))
def test_credit_carries_at_least_what_was_asked(amount: Decimal) -> None:
    credited = kinds.credited_units(kinds.credit(amount, 1, 5))
    assert credited >= amount
    assert credited - amount < Decimal(100)  # the coarsest step of the amount field


def test_interface_kinds() -> None:
    assert kinds.credit("25.6", 7, 5) == Token(0, 0, Transfer(5, 7, 0x0100))
    assert kinds.credit("1", 7, 5, kinds.Utility.WATER) == Token(0, 1, Transfer(5, 7, 0x000A))
    assert kinds.power_limit(1000, 7, 5) == Token(2, 0, Transfer(5, 7, 0x03E8))
    assert kinds.clear_credit(7, 5) == Token(2, 1, Transfer(5, 7, 0xFFFF))
    assert kinds.clear_tamper(7, 5) == Token(2, 5, Transfer(5, 7, 0))
    assert kinds.credited_units(kinds.credit("2000", 7, 5)) == Decimal("2000.4")


def test_a_token_under_another_key_fails_the_crc() -> None:
    right = decoder_key(VK02, METER, KeySet("123456", 1, 1))
    wrong = decoder_key(VK02, METER, KeySet("123456", 2, 1))
    digits = codec.encode(kinds.credit("10", 1000, 5), right)
    with pytest.raises(TokenCrcError, match="CRC"):
        codec.decode(digits, wrong)


def test_encrypted_classes_need_a_key() -> None:
    with pytest.raises(ValueError, match="needs a decoder key"):
        codec.encode(kinds.credit("1", 1, 5), None)
    with pytest.raises(ValueError, match="needs a decoder key"):
        codec.decode("23716100501183194197", None)


def test_fields_must_match_class_and_subclass() -> None:
    with pytest.raises(ValueError, match="carries KeyChangeHigh fields, not Transfer"):
        Token(2, 3, Transfer(5, 1, 1))
    assert Token(3, 0, Raw(1)).plain().payload == 1
    with pytest.raises(ValueError, match=r"TID \d+ does not fit in 24 bits"):
        Transfer(5, 1 << 24, 0)
    with pytest.raises(ValueError, match="KRN 16"):
        KeyChangeHigh(0, 16, False, False, 2, 0)


@pytest.mark.parametrize(
    ("vending_key", "keyset", "message"),
    [
        (bytes(7), KeySet("123456", 1, 1), "DKGA02 vending key has 8 bytes, not 7"),
        (VK02, KeySet("123456", 1, 1, dkga=KeyGeneration.DKGA04), "DKGA04 vending key has 20 bytes, not 8"),
    ],
)
def test_vending_keys_of_the_wrong_length_are_refused(vending_key: bytes, keyset: KeySet, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        decoder_key(vending_key, METER, keyset)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"sgc": "12345"}, "supply group code '12345' must be 6 digits"),
        ({"ti": 100}, "tariff index 100"),
        ({"krn": 0}, "key revision number 0"),
        ({"kt": KeyType.DCTK}, "DCTK"),
        ({"algorithm": Algorithm.MISTY1}, "MISTY1 needs DKGA04"),
    ],
)
def test_bad_key_sets_say_what_is_wrong(kwargs: dict[str, object], message: str) -> None:
    args: dict[str, object] = {"sgc": "123456", "ti": 1, "krn": 1} | kwargs
    with pytest.raises(ValueError, match=message):
        KeySet(**args)  # type: ignore[arg-type]


def test_decoder_key_length_must_fit_its_algorithm_and_stays_out_of_repr() -> None:
    with pytest.raises(ValueError, match="MISTY1 decoder key has 16 bytes, not 8"):
        DecoderKey(Algorithm.MISTY1, bytes(8))
    key = decoder_key(VK04, METER, KeySet("123457", 1, 1, dkga=KeyGeneration.DKGA04, base_date=BaseDate.Y2014))
    assert key.key.hex() not in repr(key)
    assert Algorithm.of("11") is Algorithm.MISTY1
    with pytest.raises(ValueError, match="not 07 \\(STA\\) or 11 \\(MISTY1\\)"):
        Algorithm.of("09")


@given(st.integers(0, (1 << 66) - 1), keys)
def test_any_twenty_digits_decode_to_a_token_or_a_value_error(value: int, key: DecoderKey) -> None:
    # What a meter keypad can receive: anything. Only ValueError (incl. TokenCrcError) may come out.
    try:
        token = codec.decode(f"{value:020d}", key)
    except ValueError:
        return
    assert codec.encode(token, key) == f"{value:020d}"


@given(st.integers(0, 3), st.integers(0, 15), st.integers(0, (1 << 44) - 1), keys)
def test_every_class_and_subclass_round_trips(token_class: int, subclass: int, payload: int, key: DecoderKey) -> None:
    token = Token.of(PlainToken(token_class, subclass, payload))
    assert codec.decode(codec.encode(token, key), key) == token
    assert token.plain().payload == payload
