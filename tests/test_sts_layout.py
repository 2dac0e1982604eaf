"""The token layout without ciphers: amount field, TID, CRC, transposition and the 20 digits."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ppu_sim.sts.amount import MAX_VALUE, decode_amount, encode_amount, tenths
from ppu_sim.sts.crc import crc16_modbus, token_crc
from ppu_sim.sts.layout import (
    TOKEN_LIMIT,
    PlainToken,
    TokenCrcError,
    parse_digits,
    to_digits,
    transpose,
    untranspose,
)
from ppu_sim.sts.tid import BaseDate, issued_at, tid_of


def test_every_amount_field_decodes_to_a_value_that_encodes_back_to_it() -> None:
    assert all(encode_amount(decode_amount(field)) == field for field in range(1 << 16))


@given(st.integers(0, MAX_VALUE))
def test_encoding_rounds_up_to_the_nearest_value_the_field_holds(value: int) -> None:
    field = encode_amount(value)
    assert decode_amount(field) >= value
    assert field == 0 or decode_amount(field - 1) < value


@pytest.mark.parametrize(
    ("units", "field"),
    [("0.1", 0x0001), ("1638.3", 0x3FFF), ("1638.4", 0x4000), ("2000.0", 0x416A), ("18022.3", 0x8000)],
)
def test_amount_boundaries(units: str, field: int) -> None:
    assert encode_amount(tenths(units)) == field


def test_units_to_tenths_round_up_in_the_customers_favour() -> None:
    assert tenths("1.82") == 19
    assert tenths(Decimal("0.01")) == 1
    assert tenths(5) == 50
    assert tenths(0.1) == 1  # a float counts by its decimal form, not its binary expansion
    assert tenths(2000.04) == 20001


@pytest.mark.parametrize("bad", [-1, MAX_VALUE + 1])
def test_amount_out_of_range_is_refused(bad: int) -> None:
    with pytest.raises(ValueError, match="outside"):
        encode_amount(bad)


@pytest.mark.parametrize("bad", ["-1", "NaN", "Infinity"])
def test_units_must_be_finite_and_not_negative(bad: str) -> None:
    with pytest.raises(ValueError, match="finite, non-negative"):
        tenths(bad)


def test_tid_counts_whole_minutes_from_the_base_date() -> None:
    assert tid_of(datetime(2004, 3, 1, 13, 55), BaseDate.Y1993) == 5871715
    assert tid_of(datetime(2006, 4, 23, 23, 10, 3), BaseDate.Y1993) == 6999790
    assert tid_of(datetime(2014, 1, 1, 8, 0), BaseDate.Y2014) == 480
    assert issued_at(5871715, BaseDate.Y1993) == datetime(2004, 3, 1, 13, 55)


def test_tid_counts_the_wall_clock_of_an_aware_time() -> None:
    """The same instant in two zones is two wall-clock minutes, whichever was asked first."""
    utc = datetime(2026, 11, 29, 12, 0, tzinfo=timezone.utc)
    sast = utc.astimezone(timezone(timedelta(hours=2)))
    assert tid_of(utc, BaseDate.Y2014) + 120 == tid_of(sast, BaseDate.Y2014)
    assert tid_of(sast, BaseDate.Y2014) == tid_of(datetime(2026, 11, 29, 14, 0), BaseDate.Y2014)


def test_the_last_tid_of_a_base_date() -> None:
    assert issued_at((1 << 24) - 1, BaseDate.Y1993) == datetime(2024, 11, 24, 20, 15)
    assert issued_at((1 << 24) - 1, BaseDate.Y2014) == datetime(2045, 11, 24, 20, 15)


@pytest.mark.parametrize("when", [datetime(2026, 11, 29), datetime(2013, 12, 31, 23, 59)])
def test_a_time_outside_the_base_dates_range_is_refused(when: datetime) -> None:
    with pytest.raises(ValueError, match="does not fit a 24-bit TID"):
        tid_of(when, BaseDate.Y2014 if when.year == 2013 else BaseDate.Y1993)


def test_base_date_by_year_or_code() -> None:
    assert BaseDate.of("14") is BaseDate.Y2014
    assert BaseDate.of(2035) is BaseDate.Y2035
    with pytest.raises(ValueError, match="not one of 1993, 2014, 2035"):
        BaseDate.of(2000)


@given(st.integers(0, (1 << 50) - 1), st.booleans())
def test_crc_field_leaves_a_zero_modbus_residue(data50: int, currency: bool) -> None:
    suffix = b"\x01" if currency else b""
    crc = token_crc(data50, currency)
    assert crc16_modbus(data50.to_bytes(7, "big") + suffix + crc.to_bytes(2, "big")) == 0


@given(st.integers(0, 3), st.integers(0, 15), st.integers(0, (1 << 44) - 1))
def test_plain_token_block_round_trip(token_class: int, subclass: int, payload: int) -> None:
    token = PlainToken(token_class, subclass, payload)
    assert PlainToken.from_block(token_class, token.block()) == token


def test_a_flipped_bit_fails_the_crc() -> None:
    block = PlainToken(0, 0, 0x5_599863_0001).block()
    with pytest.raises(TokenCrcError, match="CRC"):
        PlainToken.from_block(0, block ^ (1 << 20))


@given(st.integers(0, 3), st.integers(0, (1 << 64) - 1))
def test_transposition_round_trip(token_class: int, block: int) -> None:
    value = transpose(token_class, block)
    assert value < TOKEN_LIMIT
    assert untranspose(value) == (token_class, block)
    assert parse_digits(to_digits(value)) == value


def test_transposition_moves_bits_28_and_27_to_65_and_64() -> None:
    # Worked example of the reference: ciphertext 492083C0AE7CE455, class 0.
    assert transpose(0, 0x492083C0AE7CE455) == 0x1492083C0A67CE455


@pytest.mark.parametrize(
    ("token", "message"),
    [
        ("1234567890123456789", "has 19 digits, not 20"),
        ("123456789012345678901", "has 21 digits"),
        ("7378697629483820646a", "digits only"),
        ("73786976294838206464", "above 2\\^66"),
        ("99999999999999999999", "above 2\\^66"),
        ("", "digits only"),
    ],
)
def test_malformed_tokens_are_refused_with_the_reason(token: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_digits(token)


def test_display_groups_are_accepted_and_the_largest_token_is_allowed() -> None:
    assert parse_digits("7378-6976-2948-3820-6463") == TOKEN_LIMIT - 1
    assert parse_digits("0598 3059 7576 0091 8504") == 5983059757600918504
