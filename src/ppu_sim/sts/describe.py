"""A decoded token as plain data: what `ppu-sim token decode` prints and the control API answers."""

from __future__ import annotations

from typing import Any

from ppu_sim.sts.amount import decode_amount, units
from ppu_sim.sts.fields import KeyChangeHigh, KeyChangeLow, KeyChangeMiddle, MeterTest, Token, Transfer
from ppu_sim.sts.tid import BaseDate, issued_at

NAMES = {
    (0, 0): "electricity credit",
    (0, 1): "water credit",
    (0, 2): "gas credit",
    (0, 3): "time credit",
    (1, 0): "meter test (2-digit manufacturer code)",
    (1, 1): "meter test (4-digit manufacturer code)",
    (2, 0): "set maximum power limit",
    (2, 1): "clear credit",
    (2, 2): "set tariff rate",
    (2, 3): "key change, 1st token",
    (2, 4): "key change, 2nd token",
    (2, 5): "clear tamper",
    (2, 6): "set maximum phase power unbalance limit",
    (2, 7): "set water meter factor",
    (2, 8): "key change, 3rd token",
    (2, 9): "key change, 4th token",
}


def describe(token: Token, base: BaseDate) -> dict[str, Any]:
    """Class, subclass, what it is, and its fields by name (TIDs with the minute they name)."""
    out: dict[str, Any] = {
        "class": token.token_class,
        "subclass": token.subclass,
        "kind": NAMES.get((token.token_class, token.subclass), "not defined by the standard"),
    }
    f = token.fields
    if isinstance(f, Transfer):
        out.update(rnd=f.rnd, tid=f.tid, issued=issued_at(f.tid, base).isoformat(timespec="minutes"))
        if token.token_class == 0:
            out["units"] = float(units(decode_amount(f.value)))
        elif token.subclass in (0, 6):
            out["limitWatts"] = decode_amount(f.value)
        else:
            out["register"] = f.value
    elif isinstance(f, KeyChangeHigh):
        out.update(kenHigh=f.ken_high, krn=f.krn, rollover=f.rollover, kt=f.kt)  # the key bits stay unshown
    elif isinstance(f, KeyChangeLow):
        out.update(kenLow=f.ken_low, ti=f.ti)
    elif isinstance(f, KeyChangeMiddle):
        out.update(sgcBits=f.sgc_bits)
    elif isinstance(f, MeterTest):
        out.update(control=f.control, manufacturerCode=f.mfr_code)
    else:
        out["payload"] = f"{f.bits:011X}"
    return out
