"""STS meters in the simulator: which meters get real tokens, with which key, and their state.

A meter whose id is an STS meter number, or whose scenario gives it an STS identity, gets tokens
a meter would accept. Its identity starts from the scenario's ``sts`` section, then the meter's
codes (supplyGroupCode, keyRevisionNum, tariffIndex, algorithmCode; generated per meter and
``--seed`` when unscripted), then defaults: key type 2 (DUTK), DKGA04, base date 2014, KEN 255.
The store keeps where the vending side has got to: the current identity (moved on by key
changes) and the last TID issued.
"""

from __future__ import annotations

import zlib
from collections.abc import Mapping
from decimal import Decimal

from ppu_sim.provider.datagen import DataGenerator
from ppu_sim.provider.errors import ProviderError
from ppu_sim.provider.store import Store
from ppu_sim.scenario.matcher import is_sts_meter_number
from ppu_sim.scenario.model import StsSpec
from ppu_sim.sts.crypto import Algorithm
from ppu_sim.sts.identity import KEN_NEVER_EXPIRES, Identity
from ppu_sim.sts.keys import KeyGeneration, KeySet, KeyType
from ppu_sim.sts.meter import IIN_SHORT, MeterNumber, luhn_check_digit
from ppu_sim.sts.tid import BaseDate, this_minute
from ppu_sim.sts.vendor import Fault, Randrange, TokenRangeError, Vendor
from ppu_sim.sts.virtual_meter import Accepted, Rejected, VirtualMeter

TOKEN_TECH_NUMERIC = "02"  # tokens keyed in as digits (01 is a magnetic card)
KEY_CODES = ("supplyGroupCode", "tariffIndex", "keyRevisionNum", "algorithmCode")  # the Meter fields a key uses
IDENTITY = "sts:identity"
LAST_TID = "sts:lastTid"


def initial_identity(spec: StsSpec | None, meter_id: str, codes: Mapping[str, str], seed: int) -> Identity | None:
    """The identity a meter starts with; None for a meter that gets plain numbers.

    An STS meter whose codes the engine cannot use (algorithmCode 09, key revision 0) gets plain
    numbers too, as a meter of a kind the simulator does not make tokens for.
    """
    if spec is None and not is_sts_meter_number(meter_id):
        return None
    key_codes = {name: codes.get(name, "") for name in KEY_CODES}
    try:
        return identity_of(spec or StsSpec(), meter_id, key_codes, seed)
    except ValueError:
        return None


def identity_of(spec: StsSpec, meter_id: str, codes: Mapping[str, str], seed: int) -> Identity:
    """The identity ``spec`` gives a meter, its gaps filled from the meter's codes and the defaults;
    ValueError names what does not make an STS key."""
    if spec.meter_number or is_sts_meter_number(meter_id):
        number = MeterNumber.parse(spec.meter_number or meter_id)
    else:
        number = _generated_number(meter_id, seed)
    keys = KeySet(
        sgc=spec.sgc or codes["supplyGroupCode"],
        ti=spec.ti if spec.ti is not None else int(codes["tariffIndex"]),
        krn=spec.krn if spec.krn is not None else int(codes["keyRevisionNum"]),
        kt=KeyType(spec.kt if spec.kt is not None else KeyType.DUTK),
        algorithm=Algorithm.of(spec.ea or codes["algorithmCode"]),
        dkga=KeyGeneration(spec.dkga or KeyGeneration.DKGA04),
        base_date=BaseDate.of(spec.base_date or BaseDate.Y2014),
    )
    return Identity(number, keys, spec.ken if spec.ken is not None else KEN_NEVER_EXPIRES)


def identity_by_hand(meter_id: str, spec: StsSpec, data: DataGenerator, seed: int) -> Identity:
    """The key a meter number gets from the simulator (for ``--seed``), with what ``spec`` changes."""
    MeterNumber.parse(meter_id)  # a hand-typed number is checked, not replaced by a generated one
    return identity_of(spec, meter_id, data.meter_profile(meter_id)["meter"], seed)


def _generated_number(meter_id: str, seed: int) -> MeterNumber:
    """A stable 11-digit meter number for a meter id that is not one."""
    body = f"{zlib.crc32(f'{seed}:{meter_id}'.encode()) % 10**10:010d}"
    return MeterNumber(IIN_SHORT, body + luhn_check_digit(body))


def meter_codes(identity: Identity) -> dict[str, str]:
    """The contract's Meter fields that describe the key: what a PoS prints and a utility checks."""
    keys = identity.keys
    return {
        "supplyGroupCode": keys.sgc,
        "keyRevisionNum": str(keys.krn),
        "tariffIndex": f"{keys.ti:02d}",
        "tokenTechCode": TOKEN_TECH_NUMERIC,
        "algorithmCode": keys.algorithm.code,
    }


def moved(identity: Identity, key_change: Mapping[str, str]) -> Identity:
    """The identity named by a keyChangeData (parts it leaves out stay as they are)."""
    keys = identity.keys
    try:
        return identity.moved_to(
            key_change.get("newSupplyGroupCode", keys.sgc),
            int(key_change.get("newKeyRevisionNumber", keys.krn)),
            int(key_change.get("newTariffIndex", keys.ti)),
        )
    except ValueError as exc:
        raise ProviderError(400, "TRANSACTION_NOT_SUPPORTED", {"reason": f"no key change to that key: {exc}"}) from None


class StsIssuer:
    """Tokens for one transaction on one STS meter; ``commit`` records where the meter's keys and TIDs got to."""

    def __init__(
        self,
        store: Store,
        meter_id: str,
        identity: Identity,
        vending_key: bytes,
        rng: Randrange,
        *,
        fault: str | None = None,
        key_change: Mapping[str, str] | None = None,
        dry: bool = False,
    ) -> None:
        self.store = store
        self.meter_id = meter_id
        try:
            self.vendor = Vendor(
                identity,
                vending_key,
                issued=this_minute(),
                last_tid=store.meter_value(meter_id, LAST_TID),
                rng=rng,
                fault=Fault(fault) if fault else None,
                next_identity=(lambda: moved(identity, key_change)) if key_change is not None else None,
                dry=dry,
            )
        except TokenRangeError as exc:
            raise _unmakeable(exc) from None

    def issue(self, token_type: str, units: Decimal) -> list[tuple[str, Decimal]]:
        try:
            return self.vendor.issue(token_type, units)
        except TokenRangeError as exc:
            raise _unmakeable(exc) from None

    def key_change(self) -> list[str]:
        return self.vendor.key_change()

    def commit(self) -> None:
        self.store.set_meter_value(self.meter_id, IDENTITY, self.vendor.identity)
        if self.vendor.last_tid is not None:
            self.store.set_meter_value(self.meter_id, LAST_TID, self.vendor.last_tid)


def _unmakeable(exc: TokenRangeError) -> ProviderError:
    return ProviderError(400, "TRANSACTION_NOT_SUPPORTED", {"reason": str(exc)}, "No token possible")


class UnknownMeter(LookupError):
    """A meter with no STS identity: the virtual meter cannot be set up for it."""


class VirtualMeters:
    """One session's virtual meters, each installed on first use with the key its meter started
    with, and the tokens they have accepted (reconciliation shows which vended tokens were keyed in)."""

    def __init__(self, vending_key: bytes) -> None:
        self.vending_key = vending_key
        self._meters: dict[str, VirtualMeter] = {}
        self.keyed: set[str] = set()

    def get(self, meter_id: str, identity: Identity | None) -> VirtualMeter:
        meter = self._meters.get(meter_id)
        if meter is None:
            if identity is None:
                raise UnknownMeter(_no_identity(meter_id))
            meter = self._meters[meter_id] = VirtualMeter.installed(identity, self.vending_key)
        return meter

    def key_in(self, meter: VirtualMeter, digits: str) -> Accepted | Rejected:
        """What the meter shows; ValueError when the digits are not a token at all."""
        shown = meter.key_in(digits)
        if isinstance(shown, Accepted):
            self.keyed.add(digits.replace(" ", "").replace("-", ""))
        return shown


def _no_identity(meter_id: str) -> str:
    try:
        MeterNumber.parse(meter_id)
    except ValueError as exc:
        return f"{exc}, and no scenario gives meter {meter_id!r} an STS identity"
    return f"meter {meter_id!r} has codes the token engine cannot use (algorithmCode, keyRevisionNum)"
