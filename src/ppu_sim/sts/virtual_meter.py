"""A virtual STS meter: keys in tokens the way a prepaid meter does, and says what it would show.

The checks follow the decoder's order (IEC 62055-41, sts-tokens.md section 6): the 20 digits,
decryption with the meter's key and the CRC, the token's class and subclass, key expiry, the TID
against the meter's memory of accepted TIDs, then the token's effect. Key change tokens carry no
TID; they are staged and the new key is installed once the whole set is in.

A real meter shows the same "CRC error" for a typo, a token for another meter and a token made
with a key it no longer has. This one says ``wrong-key`` when a key it had before opens the
token, which is what a PoS test wants to know after a key change.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from enum import Enum
from typing import Any

from ppu_sim.sts import codec, kinds
from ppu_sim.sts.amount import decode_amount
from ppu_sim.sts.crypto import Algorithm, DecoderKey
from ppu_sim.sts.describe import describe
from ppu_sim.sts.fields import Token, Transfer
from ppu_sim.sts.identity import Identity
from ppu_sim.sts.kinds import Management
from ppu_sim.sts.layout import TokenCrcError
from ppu_sim.sts.meter import MeterNumber
from ppu_sim.sts.tid import BaseDate, issued_at

TID_MEMORY = 50  # TIDs a meter remembers; the standard leaves the size to the maker
_CREDIT_SUBCLASSES = frozenset(range(4))  # electricity, water, gas, time
_KEY_CHANGE = frozenset(
    {Management.KEY_CHANGE_1, Management.KEY_CHANGE_2, Management.KEY_CHANGE_3, Management.KEY_CHANGE_4}
)
_TID_MANAGEMENT = frozenset(
    {Management.MAX_POWER_LIMIT, Management.CLEAR_CREDIT, Management.CLEAR_TAMPER, Management.MAX_PHASE_POWER_UNBALANCE}
)


class Reason(str, Enum):
    """Why a meter refuses a token, in the words a meter display uses."""

    AUTHENTICATION = "authentication"  # CRC error: a typo, or a token for another meter or key
    WRONG_KEY = "wrong-key"  # made with a key this meter had before a key change
    FORMAT = "format"  # a class or subclass this meter does not take
    USED = "used"  # its TID was accepted before
    OLD = "old"  # older than every TID the meter still remembers
    KEY_EXPIRED = "key-expired"  # issued after the meter's key expiry number


MESSAGES = {
    Reason.AUTHENTICATION: "CRC error: the token does not fit this meter's key (mistyped, or for another meter)",
    Reason.WRONG_KEY: "key error: the token was made with a key this meter no longer uses",
    Reason.FORMAT: "format error: this meter does not take tokens of this class and subclass",
    Reason.USED: "used: this token was keyed in before",
    Reason.OLD: "old: the token is older than every token this meter remembers",
    Reason.KEY_EXPIRED: "key expired: the token was issued after the meter's key expired",
}


@dataclass(frozen=True)
class Rejected:
    reason: Reason

    @property
    def message(self) -> str:
        return MESSAGES[self.reason]


@dataclass(frozen=True)
class Accepted:
    """What the meter shows for a token it took. ``units`` for credit, ``limit`` (watts) for limits."""

    token: Token
    tid: int | None = None
    units: Decimal | None = None
    limit: int | None = None
    key_change: str | None = None  # "staged" while a set is incomplete, "installed" when it completes


@dataclass
class KeyData:
    """The key a meter holds and what it knows about it (the SGC only travels in 128-bit sets)."""

    key: DecoderKey
    krn: int
    ti: int
    kt: int
    ken: int
    sgc: str | None


@dataclass
class VirtualMeter:
    meter: MeterNumber
    keys: KeyData
    base_date: BaseDate
    credit: Decimal = Decimal(0)
    power_limit: int | None = None
    phase_unbalance_limit: int | None = None
    tids: list[int] = field(default_factory=list)  # accepted, oldest first, at most TID_MEMORY
    staged: dict[int, Token] = field(default_factory=dict)
    old_keys: list[DecoderKey] = field(default_factory=list)

    @classmethod
    def installed(cls, identity: Identity, vending_key: bytes) -> VirtualMeter:
        """A meter as it leaves the factory set up for ``identity``."""
        k = identity.keys
        key = KeyData(identity.decoder_key(vending_key), k.krn, k.ti, k.kt, identity.ken, k.sgc)
        return cls(identity.meter, key, k.base_date)

    def key_in(self, digits: str) -> Accepted | Rejected:
        """Key in 20 digits; ValueError when they are not a token at all (not 20 digits, above 2^66)."""
        try:
            token = codec.decode(digits, self.keys.key)
        except TokenCrcError:
            return Rejected(self._why_not_mine(digits))
        if token.token_class == 0 and token.subclass in _CREDIT_SUBCLASSES:
            return self._transfer(token, self._credit)
        if token.token_class == 2 and token.subclass in _TID_MANAGEMENT:
            return self._transfer(token, self._manage)
        if token.token_class == 2 and token.subclass in _KEY_CHANGE:
            return self._stage(token)
        if token.token_class == 1:
            return Accepted(token)  # a meter test: shown, nothing changes
        return Rejected(Reason.FORMAT)

    def _why_not_mine(self, digits: str) -> Reason:
        for key in self.old_keys:
            try:
                codec.decode(digits, key)
            except TokenCrcError:
                continue
            return Reason.WRONG_KEY
        return Reason.AUTHENTICATION

    def _transfer(self, token: Token, apply: Callable[[Token, int], Accepted]) -> Accepted | Rejected:
        assert isinstance(token.fields, Transfer)
        tid = token.fields.tid
        if self.keys.ken != kinds.KEN_NEVER_EXPIRES and tid >> 16 > self.keys.ken:
            return Rejected(Reason.KEY_EXPIRED)
        if tid in self.tids:
            return Rejected(Reason.USED)
        if len(self.tids) >= TID_MEMORY and tid < self.tids[0]:
            return Rejected(Reason.OLD)
        self.tids = sorted([*self.tids, tid])[-TID_MEMORY:]
        return apply(token, tid)

    def _credit(self, token: Token, tid: int) -> Accepted:
        added = kinds.credited_units(token)
        self.credit += added
        return Accepted(token, tid, units=added)

    def _manage(self, token: Token, tid: int) -> Accepted:
        assert isinstance(token.fields, Transfer)
        value = token.fields.value
        if token.subclass == Management.CLEAR_CREDIT:
            self.credit = Decimal(0)
            return Accepted(token, tid)
        if token.subclass == Management.CLEAR_TAMPER:
            return Accepted(token, tid)
        limit = decode_amount(value)
        if token.subclass == Management.MAX_POWER_LIMIT:
            self.power_limit = limit
        else:
            self.phase_unbalance_limit = limit
        return Accepted(token, tid, limit=limit)

    def _stage(self, token: Token) -> Accepted:
        self.staged[token.subclass] = token
        wanted = 4 if self.keys.key.algorithm is Algorithm.MISTY1 else 2
        if len(self.staged) < wanted:
            return Accepted(token, key_change="staged")
        try:
            new = kinds.read_key_change_set(list(self.staged.values()))
        except ValueError:
            return Accepted(token, key_change="staged")  # e.g. two 3rd tokens: still waiting for a 4th
        self.staged.clear()
        self.old_keys.append(self.keys.key)
        key = DecoderKey(Algorithm.MISTY1 if len(new.key) == 16 else Algorithm.STA, new.key)
        self.keys = KeyData(key, new.krn, new.ti, int(new.kt), new.ken, new.sgc)
        if new.rollover:
            self.tids.clear()
        return Accepted(token, key_change="installed")

    def display(self, shown: Accepted | Rejected) -> dict[str, Any]:
        """What the meter shows for a token it was given, as plain data."""
        if isinstance(shown, Rejected):
            return {"accepted": False, "reason": shown.reason.value, "message": shown.message}
        out: dict[str, Any] = {"accepted": True, "decoded": describe(shown.token, self.base_date)}
        if shown.units is not None:
            out.update(units=float(shown.units), message=f"accepted: {shown.units} units, credit {self.credit}")
        elif shown.limit is not None:
            out.update(limitWatts=shown.limit, message=f"accepted: limit {shown.limit} W")
        elif shown.key_change is not None:
            waiting = "stored, waiting for the rest of the key change set"
            out.update(
                keyChange=shown.key_change, message="new key installed" if shown.key_change == "installed" else waiting
            )
        else:
            out["message"] = f"accepted: {out['decoded']['kind']}"
        return out

    def register(self) -> dict[str, Any]:
        """What the meter's display menus would show, as plain data."""
        return {
            "meterNumber": self.meter.drn,
            "credit": float(self.credit),
            "powerLimit": self.power_limit,
            "keyData": {
                "algorithmCode": self.keys.key.algorithm.code,
                "supplyGroupCode": self.keys.sgc,
                "keyRevisionNumber": self.keys.krn,
                "tariffIndex": f"{self.keys.ti:02d}",
                "keyType": self.keys.kt,
                "keyExpiryNumber": self.keys.ken,
                "baseDate": self.base_date.value,
            },
            "acceptedTids": [{"tid": t, "issued": issued_at(t, self.base_date).isoformat()} for t in self.tids],
            "pendingKeyChange": sorted(self.staged),
        }
