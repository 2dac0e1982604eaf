"""The virtual meter as a domain object: what it accepts, what it refuses and why, and its register."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from random import Random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ppu_sim.sts import codec, kinds
from ppu_sim.sts.amount import MAX_VALUE
from ppu_sim.sts.crypto import Algorithm
from ppu_sim.sts.fields import MeterTest, Raw, Token, Transfer
from ppu_sim.sts.identity import DEFAULT_VENDING_KEY, Identity
from ppu_sim.sts.keys import KeyGeneration, KeySet
from ppu_sim.sts.meter import MeterNumber
from ppu_sim.sts.tid import BaseDate
from ppu_sim.sts.vendor import Vendor
from ppu_sim.sts.virtual_meter import TID_MEMORY, Accepted, Reason, Rejected, VirtualMeter

METER = MeterNumber.parse("600727000000000009")
STA = Identity(METER, KeySet("123457", 1, 1, dkga=KeyGeneration.DKGA04, base_date=BaseDate.Y2014))
MISTY = Identity(
    METER, KeySet("123457", 1, 1, algorithm=Algorithm.MISTY1, dkga=KeyGeneration.DKGA04, base_date=BaseDate.Y2014)
)
TID = 6_790_000  # 4715 days and 400 minutes after 2014-01-01: 2026-11-29 06:40


def make(identity: Identity, token: Token) -> str:
    return codec.encode(token, identity.decoder_key(DEFAULT_VENDING_KEY))


def fresh(identity: Identity = STA) -> VirtualMeter:
    return VirtualMeter.installed(identity, DEFAULT_VENDING_KEY)


def test_credit_is_added_and_a_tid_is_taken_once() -> None:
    meter = fresh()
    shown = meter.key_in(make(STA, kinds.credit("12.5", TID, 3)))
    assert shown == Accepted(kinds.credit("12.5", TID, 3), TID, units=Decimal("12.5"))
    assert meter.key_in(make(STA, kinds.credit("1", TID, 4))) == Rejected(Reason.USED)  # same TID, other token
    assert meter.credit == Decimal("12.5")
    assert meter.register()["acceptedTids"] == [{"tid": TID, "issued": "2026-11-29T06:40:00"}]


def test_a_token_older_than_everything_remembered_is_old() -> None:
    meter = fresh()
    for i in range(TID_MEMORY):
        assert isinstance(meter.key_in(make(STA, kinds.credit(1, TID + 10 + i, 0))), Accepted)
    assert meter.key_in(make(STA, kinds.credit(1, TID, 0))) == Rejected(Reason.OLD)
    assert isinstance(meter.key_in(make(STA, kinds.credit(1, TID + 100, 0))), Accepted)


def test_key_expiry() -> None:
    expiring = Identity(METER, STA.keys, ken=TID >> 16)
    meter = fresh(expiring)
    assert isinstance(meter.key_in(make(expiring, kinds.credit(1, TID, 0))), Accepted)
    late = ((TID >> 16) + 1) << 16
    assert meter.key_in(make(expiring, kinds.credit(1, late, 0))) == Rejected(Reason.KEY_EXPIRED)


def test_a_typo_or_another_meters_token_is_an_authentication_error() -> None:
    digits = make(STA, kinds.credit(5, TID, 0))
    typo = digits[:-1] + str((int(digits[-1]) + 1) % 10)
    other = Identity(MeterNumber.parse("0100000000008"), STA.keys)
    assert fresh().key_in(typo) == Rejected(Reason.AUTHENTICATION)
    assert fresh().key_in(make(other, kinds.credit(5, TID, 0))) == Rejected(Reason.AUTHENTICATION)


@pytest.mark.parametrize(
    "token",
    [Token(0, 5, Transfer(0, TID, 10)), Token(2, 12, Raw(0)), Token(3, 0, Raw(0))],
    ids=["currency credit", "class 2 subclass 12", "class 3"],
)
def test_tokens_the_meter_does_not_take_are_a_format_error(token: Token) -> None:
    assert fresh().key_in(make(STA, token)) == Rejected(Reason.FORMAT)


def test_malformed_digits_are_not_a_token_at_all() -> None:
    for digits in ("1234", "73786976294838206464", "1234567890123456789x"):
        with pytest.raises(ValueError):
            fresh().key_in(digits)


def test_power_limit_clear_credit_and_meter_test() -> None:
    meter = fresh()
    meter.key_in(make(STA, kinds.credit(10, TID, 0)))
    assert meter.key_in(make(STA, kinds.power_limit(20000, TID + 1, 0))) == Accepted(
        kinds.power_limit(20000, TID + 1, 0), TID + 1, limit=20004
    )
    assert isinstance(meter.key_in(make(STA, kinds.clear_credit(TID + 2, 0))), Accepted)
    assert isinstance(meter.key_in(codec.encode(Token(1, 0, MeterTest(0, 7)), None)), Accepted)
    assert (meter.credit, meter.power_limit) == (0, 20004)


@pytest.mark.parametrize(("identity", "size"), [(STA, 2), (MISTY, 4)], ids=["STA", "MISTY1"])
def test_a_key_change_set_is_staged_then_installed_and_the_old_key_is_refused(identity: Identity, size: int) -> None:
    meter = fresh(identity)
    before = make(identity, kinds.credit(1, TID, 0))
    new = identity.moved_to("123457", 2, 3)
    kc = [
        make(identity, t)
        for t in kinds.key_change_set(kinds.new_key_for(new.decoder_key(DEFAULT_VENDING_KEY).key, new.keys))
    ]
    assert len(kc) == size
    for digits in kc[:-1]:
        assert meter.key_in(digits).key_change == "staged"  # type: ignore[union-attr]
    assert meter.register()["pendingKeyChange"]
    assert meter.key_in(kc[-1]).key_change == "installed"  # type: ignore[union-attr]
    key_data = meter.register()["keyData"]
    assert (key_data["keyRevisionNumber"], key_data["tariffIndex"]) == (2, "03")  # type: ignore[index]
    assert meter.key_in(before) == Rejected(Reason.WRONG_KEY)
    assert isinstance(meter.key_in(make(new, kinds.credit(1, TID, 0))), Accepted)


@given(tenths=st.integers(0, MAX_VALUE), base_minute=st.integers(0, 60))
def test_a_vended_credit_token_carries_the_units_it_states_rounded_up_never_down(tenths: int, base_minute: int) -> None:
    asked = Decimal(tenths) / 10
    vendor = Vendor(
        STA, DEFAULT_VENDING_KEY, issued=datetime(2026, 11, 29, 10, base_minute % 60), last_tid=None, rng=Random(tenths)
    )
    ((digits, stated),) = vendor.issue("STD", asked)
    shown = fresh().key_in(digits)
    assert isinstance(shown, Accepted) and shown.units == stated
    assert asked <= stated < asked + 100  # the coarsest step of the amount field is 100 units
