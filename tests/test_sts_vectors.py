"""Every published STS vector of tests/data/sts-vectors.json reproduces, both ways.

Encoding builds the 20 digits from the stated fields; decoding the published digits with the
meter's key gives those fields back.
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from ppu_sim.sts import codec, kinds
from ppu_sim.sts.amount import encode_amount, tenths
from ppu_sim.sts.crc import token_crc
from ppu_sim.sts.crypto import Algorithm, DecoderKey
from ppu_sim.sts.fields import MeterTest, Token, Transfer
from ppu_sim.sts.keys import KeyGeneration, KeySet, KeyType, decoder_key, dkga04_data
from ppu_sim.sts.layout import PlainToken
from ppu_sim.sts.meter import MeterNumber
from ppu_sim.sts.tid import BaseDate, tid_of

VECTORS = json.loads((Path(__file__).parent / "data" / "sts-vectors.json").read_text(encoding="utf-8"))


def by_kind(kind: str) -> list[Any]:
    return [pytest.param(v, id=v["id"]) for v in VECTORS["tokens"] if v["kind"] == kind]


def key_set(k: dict[str, Any]) -> KeySet:
    return KeySet(
        k["sgc"],
        k["ti"],
        k["krn"],
        KeyType(k["kt"]),
        Algorithm(k["ea"]),
        KeyGeneration(k["dkga"]),
        BaseDate(k["base"]),
    )


def key_of(k: dict[str, Any]) -> DecoderKey:
    return decoder_key(bytes.fromhex(k["vending_key"]), MeterNumber.parse(k["meter"]), key_set(k))


def stated_tid(v: dict[str, Any]) -> int:
    """The vector's TID: from its issue time, which must agree with a TID it also states."""
    if "issued" not in v:
        return v["tid"]
    tid = tid_of(datetime.fromisoformat(v["issued"]), BaseDate(v["key"]["base"]))
    assert tid == v.get("tid", tid), "the stated time and the stated TID disagree"
    return tid


def test_the_data_holds_every_published_vector() -> None:
    tokens = sum(len(v.get("sections", [])) or 1 for v in VECTORS["tokens"])
    assert (len(VECTORS["tokens"]), tokens) == (145, 153)
    assert all(v["source"] and v["reference"] for v in VECTORS["tokens"])


@pytest.mark.parametrize("v", by_kind("transfer"))
def test_transfer_token_encodes(v: dict[str, Any]) -> None:
    token = Token(v["class"], v["subclass"], Transfer(v["rnd"], stated_tid(v), int(v["value"], 16)))
    assert codec.encode(token, key_of(v["key"])) == v["token"]


@pytest.mark.parametrize("v", by_kind("transfer"))
def test_transfer_token_decodes(v: dict[str, Any]) -> None:
    token = codec.decode(v["token"], key_of(v["key"]))
    assert (token.token_class, token.subclass) == (v["class"], v["subclass"])
    assert token.fields == Transfer(v["rnd"], stated_tid(v), int(v["value"], 16))
    if "crc" in v:
        assert f"{token.plain().crc:04X}" == v["crc"]


@pytest.mark.parametrize("v", [p for p in by_kind("transfer") if "units" in p.values[0] or "watts" in p.values[0]])
def test_stated_amount_gives_the_amount_field(v: dict[str, Any]) -> None:
    value = tenths(v["units"]) if "units" in v else v["watts"]
    assert f"{encode_amount(value):04X}" == v["value"]


@pytest.mark.parametrize("v", [p for p in by_kind("transfer") if p.values[0]["class"] == 0])
def test_credit_kind_builds_the_published_token(v: dict[str, Any]) -> None:
    token = kinds.credit(v["units"], stated_tid(v), v["rnd"], kinds.Utility(v["subclass"]))
    assert codec.encode(token, key_of(v["key"])) == v["token"]


@pytest.mark.parametrize("v", by_kind("key_change"))
def test_key_change_set_encodes(v: dict[str, Any]) -> None:
    new = v["new_key"]
    new_key = kinds.new_key_for(key_of(new["key"]).key, key_set(new["key"]), new["ken"], new["rollover"])
    made = {t.subclass: codec.encode(t, key_of(v["key"])) for t in kinds.key_change_set(new_key)}
    assert {s["subclass"]: made[s["subclass"]] for s in v["sections"]} == {
        s["subclass"]: s["token"] for s in v["sections"]
    }


@pytest.mark.parametrize("v", by_kind("key_change"))
def test_key_change_set_decodes(v: dict[str, Any]) -> None:
    old = key_of(v["key"])
    tokens = [codec.decode(s["token"], old) for s in v["sections"]]
    assert [(t.token_class, t.subclass) for t in tokens] == [(2, s["subclass"]) for s in v["sections"]]
    new = v["new_key"]
    expected = key_of(new["key"])
    if len(tokens) * 4 == len(expected.key):  # every section published: the whole key comes back
        got = kinds.read_key_change_set(tokens)
        assert got == kinds.new_key_for(expected.key, key_set(new["key"]), new["ken"], new["rollover"])
    else:
        high, low = tokens[0].fields, tokens[1].fields
        assert (high.krn, high.kt, high.rollover, low.ti) == (
            new["key"]["krn"],
            new["key"]["kt"],
            new["rollover"],
            new["key"]["ti"],
        )
        assert high.ken_high << 4 | low.ken_low == new["ken"]
        assert high.key_bits.to_bytes(4, "big") == expected.key[:4]
        assert low.key_bits.to_bytes(4, "big") == expected.key[-4:]


@pytest.mark.parametrize("v", by_kind("meter_test"))
def test_meter_test_token_both_ways(v: dict[str, Any]) -> None:
    token = Token(1, v["subclass"], MeterTest(v["control"], v["mfr_code"]))
    assert codec.encode(token, None) == v["token"]
    assert codec.decode(v["token"], None) == token


@pytest.mark.parametrize("v", [pytest.param(v, id=v["id"]) for v in VECTORS["crc"]])
def test_crc_examples(v: dict[str, Any]) -> None:
    if "data50" in v:
        crc = token_crc(int(v["data50"], 16), v["currency"])
    else:
        tid = tid_of(datetime.fromisoformat(v["issued"]), BaseDate(v["base"]))
        assert tid == v["tid"]
        crc = PlainToken(v["class"], v["subclass"], v["rnd"] << 40 | tid << 16 | int(v["value"], 16)).crc
    assert f"{crc:04X}" == v["crc"]


@pytest.mark.parametrize("v", [pytest.param(v, id=v["id"]) for v in VECTORS["decoder_keys"]])
def test_decoder_keys(v: dict[str, Any]) -> None:
    assert key_of(v["key"]).key.hex().upper() == v["decoder_key"]
    if "kdf_input" in v:
        assert dkga04_data(MeterNumber.parse(v["key"]["meter"]), key_set(v["key"])).hex() == v["kdf_input"]
