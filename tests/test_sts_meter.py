"""STS meter numbers: the two IIN forms, Luhn check digits, MeterPAN and PANBlock."""

from __future__ import annotations

import pytest

from ppu_sim.scenario.matcher import is_sts_meter_number
from ppu_sim.sts.meter import MeterNumber, luhn_check_digit


@pytest.mark.parametrize(
    ("text", "iin", "drn", "pan"),
    [
        ("00000000000", "600727", "00000000000", "600727000000000009"),
        ("600727000000000009", "600727", "00000000000", "600727000000000009"),
        ("0100000000008", "0000", "0100000000008", "000001000000000082"),
        ("000001000000000082", "0000", "0100000000008", "000001000000000082"),
        ("12345678903", "600727", "12345678903", "600727123456789030"),
    ],
)
def test_parse(text: str, iin: str, drn: str, pan: str) -> None:
    meter = MeterNumber.parse(text)
    assert (meter.iin, meter.drn, meter.pan) == (iin, drn, pan)


def test_pan_block_is_the_sixteen_rightmost_digits_of_iin_and_drn() -> None:
    assert MeterNumber.parse("12345678903").pan_block == 0x0072712345678903
    assert MeterNumber.parse("0100000000008").pan_block == 0x0000100000000008


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("12345678904", "wrong check digit \\(expected 3\\)"),
        ("600727000000000008", "MeterPAN .* wrong check digit"),
        ("1234567890", "has 10 digits"),
        ("0123456789012", "wrong check digit"),
        ("1234567890a", "digits only"),
        ("", "digits only"),
    ],
)
def test_bad_meter_numbers_say_what_is_wrong(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        MeterNumber.parse(text)


def test_the_scenario_matcher_and_the_token_engine_agree_on_meter_numbers() -> None:
    for drn in ("00000000000", "0100000000008", "12345678903"):
        assert is_sts_meter_number(drn)
        assert luhn_check_digit(drn[:-1]) == drn[-1]
    assert not is_sts_meter_number("12345678904")
