"""The vending side: the STS tokens of one purchase (or key change) for one meter.

The interface names token types and units; this turns them into 20 digits under the meter's
current key, with a TID that moves forward for every token (a meter refuses a TID it has seen),
and says what each token really carries after the amount field's rounding. Deliberate faults
make tokens a meter refuses, so a PoS can rehearse "the meter rejects it".
"""

from __future__ import annotations

import math
from collections.abc import Callable
from datetime import datetime
from decimal import Decimal
from enum import Enum
from typing import Protocol

from ppu_sim.sts import codec, kinds
from ppu_sim.sts.amount import MAX_VALUE, decode_amount, encode_amount, units
from ppu_sim.sts.fields import Token
from ppu_sim.sts.identity import Identity
from ppu_sim.sts.meter import MeterNumber, luhn_check_digit
from ppu_sim.sts.tid import tid_of

WATTS_PER_KW = 1000
MAX_UNITS = units(MAX_VALUE)


class Fault(str, Enum):
    """Tokens a meter refuses, on purpose."""

    BAD_CRC = "bad-crc"  # the CRC does not match: the meter shows a CRC (authentication) error
    OTHER_METER = "other-meter"  # made with another meter's key: the same error on this meter
    REUSED_TID = "reused-tid"  # the TID of the meter's previous token: the meter says "used"


class Randrange(Protocol):
    """Where a token's random digit (RND) comes from: a ``random.Random``, or anything that draws alike."""

    def randrange(self, start: int, stop: int | None = None, /) -> int: ...


class TokenRangeError(ValueError):
    """A token that cannot be made: more units (or watts) than it can carry, or a TID out of range."""


HAND_KINDS = ("credit", "power-limit", "clear-credit", "clear-tamper")


def hand_token(kind: str, amount: Decimal, tid: int, rnd: int) -> Token:
    """A token made by hand (``ppu-sim token encode``): credit in units, a power limit in kW."""
    if kind == "credit":
        return kinds.credit(amount, tid, rnd)
    if kind == "power-limit":
        return kinds.power_limit(math.ceil(amount * WATTS_PER_KW), tid, rnd)
    if kind == "clear-credit":
        return kinds.clear_credit(tid, rnd)
    if kind == "clear-tamper":
        return kinds.clear_tamper(tid, rnd)
    raise ValueError(f"token kind {kind!r} is not one of {', '.join(HAND_KINDS)}")


def neighbour(meter: MeterNumber) -> MeterNumber:
    """Another valid meter number of the same form: the meter an OTHER_METER token is made for."""
    body = meter.drn[:-1]
    other = f"{(int(body) + 1) % 10 ** len(body):0{len(body)}d}"
    return MeterNumber(meter.iin, other + luhn_check_digit(other))


class Vendor:
    """Issues the tokens of one transaction for one meter; ``identity`` and ``last_tid`` are what it leaves.

    ``dry`` answers what the tokens would carry without making any (a trial purchase).
    """

    def __init__(
        self,
        identity: Identity,
        vending_key: bytes,
        *,
        issued: datetime,
        last_tid: int | None,
        rng: Randrange,
        fault: Fault | None = None,
        next_identity: Callable[[], Identity] | None = None,
        dry: bool = False,
    ) -> None:
        self.identity = identity
        self.vending_key = vending_key
        try:
            self.now_tid = tid_of(issued, identity.keys.base_date)
        except ValueError as exc:  # base date 1993 ran out in 2024; 2035 has not begun
            raise TokenRangeError(f"no token can be made today for this meter: {exc}") from None
        self.last_tid = last_tid
        self.rng = rng
        self.fault = fault
        self.next_identity = next_identity
        self.dry = dry

    def issue(self, token_type: str, amount: Decimal) -> list[tuple[str, Decimal]]:
        """The digits of the token(s) for an interface token type, each with the units it carries.

        STD, BSST and REFUND are credit in units; PWRLMT is a power limit in kW (sent in watts);
        KC is the key change set to ``next_identity``, two or four tokens.
        """
        if token_type == "KC":
            return [(digits, Decimal(0)) for digits in self.key_change()]
        if token_type == "PWRLMT":
            watts = math.ceil(Decimal(amount) * WATTS_PER_KW)
            if watts > MAX_VALUE:
                raise TokenRangeError(f"a power limit of {amount} kW is more than one token can carry")
            token = kinds.power_limit(watts, self._tid(), self.rng.randrange(16))
            return [(self._seal(token), Decimal(decode_amount(encode_amount(watts))) / WATTS_PER_KW)]
        if Decimal(amount) > MAX_UNITS:
            raise TokenRangeError(f"{amount} units are more than one token can carry ({MAX_UNITS})")
        token = kinds.credit(amount, self._tid(), self.rng.randrange(16))
        return [(self._seal(token), kinds.credited_units(token))]

    def key_change(self) -> list[str]:
        """A key change set to the next identity, under the current key; later tokens use the new key."""
        if self.next_identity is None:
            raise ValueError("no new key data for a key change")
        new = self.next_identity()
        new_key = new.decoder_key(self.vending_key)
        digits = [self._seal(t) for t in kinds.key_change_set(kinds.new_key_for(new_key.key, new.keys, new.ken))]
        self.identity = new
        return digits

    def _tid(self) -> int:
        """The next TID: now, or a minute after the last one (two tokens never share a TID)."""
        if self.fault is Fault.REUSED_TID and self.last_tid is not None:
            return self.last_tid
        tid = self.now_tid if self.last_tid is None else max(self.now_tid, self.last_tid + 1)
        if not self.dry:
            self.last_tid = tid
        return tid

    def _seal(self, token: Token) -> str:
        if self.dry:
            return ""
        identity = self.identity
        if self.fault is Fault.OTHER_METER:
            identity = Identity(neighbour(identity.meter), identity.keys, identity.ken)
        return codec.encode(token, identity.decoder_key(self.vending_key), bad_crc=self.fault is Fault.BAD_CRC)
