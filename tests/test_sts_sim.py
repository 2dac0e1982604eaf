"""Real STS tokens over HTTP: purchases and key changes on STS meters, keyed into a virtual meter.

The virtual meter here is built from what the replies say (the meter's codes) and the defaults
docs/sts.md documents (key type 2, DKGA04, base date 2014, the public test vending key), not from
the simulator's own helpers, so a reply that misstates the meter's key fails these tests.
"""

from __future__ import annotations

import re
import subprocess
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from ppu_sim.sts.crypto import Algorithm
from ppu_sim.sts.identity import DEFAULT_VENDING_KEY, Identity, parse_vending_key
from ppu_sim.sts.keys import KeyGeneration, KeySet, KeyType
from ppu_sim.sts.meter import MeterNumber
from ppu_sim.sts.tid import BaseDate
from ppu_sim.sts.virtual_meter import Accepted, Reason, Rejected, VirtualMeter
from tests.support import Sim, cli, lookup, new_id, purchase, reprint, sts_meter

OTHER_KEY = "0123456789ABCDEF0123456789ABCDEF01234567"


def buy(sim: Sim, meter: str, amount: int = 5000) -> dict[str, Any]:
    pid = new_id()
    r = sim.post(f"/tokenPurchases/{pid}", purchase(meter, amount, pid))
    assert r.status_code == 201, r.text
    return {**r.json(), "purchaseId": pid}


def meter_from(reply: dict[str, Any], vending_key: bytes = DEFAULT_VENDING_KEY) -> VirtualMeter:
    """A meter set up with the key a reply's Meter describes."""
    codes = reply["meter"]
    keys = KeySet(
        sgc=codes["supplyGroupCode"],
        ti=int(codes["tariffIndex"]),
        krn=int(codes["keyRevisionNum"]),
        kt=KeyType.DUTK,
        algorithm=Algorithm.of(codes["algorithmCode"]),
        dkga=KeyGeneration.DKGA04,
        base_date=BaseDate.Y2014,
    )
    return VirtualMeter.installed(Identity(MeterNumber.parse(codes["meterId"]), keys), vending_key)


def accepted(result: Accepted | Rejected) -> Accepted:
    assert isinstance(result, Accepted), result
    return result


def test_a_purchase_token_is_accepted_once_and_credits_the_units_the_reply_states(sim: Sim) -> None:
    meter_id = sts_meter("0420000001")
    first, second = buy(sim, meter_id, 5000), buy(sim, meter_id, 12345)
    assert first["meter"]["tokenTechCode"] == "02"
    meter = meter_from(first)
    credited = Decimal(0)
    for reply in (first, second):  # two purchases in the same minute: still two TIDs
        (token,) = reply["tokens"]
        shown = accepted(meter.key_in(token["token"]))
        assert (shown.token.token_class, shown.token.subclass) == (0, 0)
        assert shown.units == Decimal(str(token["units"])) > 0
        credited += shown.units
    assert meter.credit == credited
    assert meter.key_in(first["tokens"][0]["token"]) == Rejected(Reason.USED)
    assert meter.credit == credited


def test_the_reply_states_the_units_after_the_standards_rounding_up(sim: Sim) -> None:
    reply = buy(sim, sts_meter("0420000002"), 500000)  # 2000.0 units at the default 2.50: the field steps by 1
    (token,) = reply["tokens"]
    assert token["units"] == 2000.4
    assert accepted(meter_from(reply).key_in(token["token"])).units == Decimal("2000.4")


def test_reprints_and_retries_give_the_same_tokens(sim: Sim) -> None:
    meter_id = sts_meter("0420000003")
    reply = buy(sim, meter_id)
    rid = new_id()
    again = sim.post(f"/tokenReprints/{rid}", reprint(meter_id, id_=rid)).json()
    retry = sim.post(f"/tokenPurchases/{reply['purchaseId']}/retry", purchase(meter_id, 5000, reply["purchaseId"]))
    assert again["tokens"] == reply["tokens"] == retry.json()["tokens"]


def test_a_key_change_moves_the_meter_to_its_new_key_and_old_key_tokens_are_refused(sim: Sim) -> None:
    meter_id = sts_meter("0420000004")
    before = buy(sim, meter_id)
    meter = meter_from(before)
    rid = new_id()
    r = sim.post(f"/keyChangeTokenRequests/{rid}", lookup(meter_id, rid))
    assert r.status_code == 201, r.text
    new = r.json()["meter"]["keyChangeData"]
    kc = [t["token"] for t in r.json()["tokens"]]
    assert len(kc) == 2  # a 64-bit (STA) key: two tokens
    assert accepted(meter.key_in(kc[0])).key_change == "staged"
    assert accepted(meter.key_in(kc[1])).key_change == "installed"
    assert (meter.keys.krn, meter.keys.ti) == (int(new["newKeyRevisionNumber"]), int(new["newTariffIndex"]))
    after = buy(sim, meter_id)
    accepted(meter.key_in(after["tokens"][0]["token"]))  # made with the new key
    assert meter.key_in(before["tokens"][0]["token"]) == Rejected(Reason.WRONG_KEY)
    codes = sim.post(f"/meterLookups/{(i := new_id())}", lookup(meter_id, i)).json()["meter"]
    assert (codes["supplyGroupCode"], codes["keyRevisionNum"], codes["tariffIndex"]) == (
        new["newSupplyGroupCode"],
        new["newKeyRevisionNumber"],
        new["newTariffIndex"],
    )
    assert accepted(meter_from({"meter": codes}).key_in(buy(sim, meter_id)["tokens"][0]["token"]))


def test_the_vending_key_is_a_setting_and_never_shown(start_sim: Callable[..., Sim]) -> None:
    server = start_sim(env={"PPU_SIM_VENDING_KEY": OTHER_KEY})
    meter_id = sts_meter("0420000005")
    reply = buy(server, meter_id)
    token = reply["tokens"][0]["token"]
    assert meter_from(reply).key_in(token) == Rejected(Reason.AUTHENTICATION)
    accepted(meter_from(reply, parse_vending_key(OTHER_KEY)).key_in(token))
    server.stop()
    assert OTHER_KEY.lower() not in server.log.read_text().lower()
    assert OTHER_KEY.lower() not in str(reply).lower()


def test_a_pack_with_a_bad_sts_section_is_refused_naming_each_problem(tmp_path: Path) -> None:
    pack = tmp_path / "bad.yaml"
    pack.write_text(
        "scenarios:\n"
        "  - name: bad\n"
        "    match: {meterId: SHOP9}\n"
        "    meter:\n"
        "      keyChange: {newKeyRevisionNumber: '0'}\n"
        "      sts: {meterNumber: '01234567890', ea: 11, dkga: 2}\n"
        "  - name: typo\n"
        "    meter: {sts: {fault: typo}}\n"
    )
    run = subprocess.run([cli(), "scenarios", "validate", str(pack)], capture_output=True, text=True, timeout=60)
    assert run.returncode == 1
    assert "wrong check digit (expected 7)" in run.stderr
    assert "MISTY1 needs dkga 4" in run.stderr
    assert "newKeyRevisionNumber: an STS key revision number is 1..9" in run.stderr
    assert "sts.fault" in run.stderr


def test_a_scenario_gives_a_tst_meter_an_sts_identity_and_a_fault(
    start_sim: Callable[..., Sim], tmp_path: Path
) -> None:
    pack = tmp_path / "sts.yaml"
    pack.write_text(
        "scenarios:\n"
        "  - name: tst-sts\n"
        "    match: {meterId: TSTSTS1}\n"
        "    meter: {sts: {meterNumber: '0100000000008', sgc: '123457', krn: 1, ti: 1, dkga: 2}}\n"
        "  - name: tst-other\n"
        "    match: {meterId: TSTSTS2}\n"
        "    meter: {sts: {meterNumber: '0100000000016', fault: other-meter}}\n"
    )
    server = start_sim("--scenarios", str(pack))
    reply = buy(server, "TSTSTS1")
    keys = KeySet(sgc="123457", ti=1, krn=1, dkga=KeyGeneration.DKGA02, base_date=BaseDate.Y2014)
    identity = Identity(MeterNumber.parse("0100000000008"), keys)
    meter = VirtualMeter.installed(identity, DEFAULT_VENDING_KEY[:8])  # DKGA02: the key's first 64 bits
    assert accepted(meter.key_in(reply["tokens"][0]["token"])).units == Decimal(str(reply["tokens"][0]["units"]))
    other = buy(server, "TSTSTS2")
    assert meter_from({"meter": {**other["meter"], "meterId": "0100000000016"}}).key_in(
        other["tokens"][0]["token"]
    ) == Rejected(Reason.AUTHENTICATION)


def token_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([cli(), "token", *args], capture_output=True, text=True, timeout=60)


def test_the_cli_decodes_a_published_vector() -> None:
    run = token_cli(
        "decode", "2371-6100-5011-8319-4197", "--meter", "00000000000", "--sgc", "123456", "--ti", "1", "--krn", "1",
        "--dkga", "2", "--base-date", "1993", "--vending-key", "ABABABABABABABAB",
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    fields = dict(line.split(None, 1) for line in run.stdout.splitlines())
    assert (fields["class"], fields["subclass"], fields["tid"], fields["units"]) == ("0", "0", "5871715", "0.1")
    assert fields["issued"] == "2004-03-01T13:55"


def test_the_cli_reads_a_vended_token_with_the_simulators_key_for_the_meter(sim: Sim) -> None:
    meter_id = sts_meter("0420000006")
    (token,) = buy(sim, meter_id)["tokens"]
    run = token_cli("decode", token["token"], "--meter", meter_id)  # the session simulator runs with --seed 0
    assert run.returncode == 0, run.stderr
    assert f"units             {token['units']}" in run.stdout.splitlines()
    made = token_cli("encode", "credit", "--units", "2000", "--tid", "6790000", "--meter", meter_id)
    assert made.returncode == 0, made.stderr
    shown = accepted(meter_from(buy(sim, meter_id)).key_in(made.stdout.strip()))
    assert (shown.tid, shown.units) == (6790000, Decimal("2000.4"))


@pytest.mark.parametrize(
    ("args", "named"),
    [
        (["decode", "1234", "--meter", "01234567897"], "token '1234' has 4 digits, not 20"),
        (["decode", "73786976294838206464", "--meter", "01234567897"], "above 2^66 - 1"),
        (["decode", "0" * 20, "--meter", "01234567890"], "wrong check digit (expected 7)"),
        (["decode", "0" * 20, "--meter", "01234567897", "--vending-key", "ABCD"], "vending key must be 16 hex"),
        (["encode", "credit", "--units", "1", "--meter", "1234"], "has 4 digits: an STS meter number has 11 or 13"),
    ],
)
def test_cli_bad_input_is_one_line_naming_it_exit_2(args: list[str], named: str) -> None:
    run = token_cli(*args)
    assert run.returncode == 2
    assert len(run.stderr.splitlines()) == 1 and named in run.stderr, run.stderr


def test_cli_a_token_for_another_key_is_a_crc_error_exit_1() -> None:
    made = token_cli("encode", "credit", "--units", "5", "--tid", "6790000", "--meter", "01234567897", "--krn", "3")
    run = token_cli("decode", made.stdout.strip(), "--meter", "01234567897", "--krn", "4")
    assert run.returncode == 1 and "CRC error" in run.stderr


def test_the_pos_test_example_in_docs_sts_runs_against_a_simulator(sim: Sim) -> None:
    page = (Path(__file__).parent.parent / "docs" / "sts.md").read_text()
    (example,) = re.findall(r"```py\n(.*?)```", page, re.S)
    exec(compile(example.replace("http://127.0.0.1:8080", sim.base), "docs/sts.md", "exec"), {})


def test_a_trial_states_the_units_the_token_would_carry_and_makes_none(sim: Sim) -> None:
    meter_id = sts_meter("0420000007")
    tid = new_id()
    r = sim.post(f"/tokenPurchases/{tid}/trial", purchase(meter_id, 500000, tid))
    assert r.status_code == 200, r.text
    (token,) = r.json()["tokens"]
    assert (token["units"], token["token"]) == (2000.4, "")
    sold = buy(sim, meter_id, 500000)
    assert accepted(meter_from(sold).key_in(sold["tokens"][0]["token"])).units == Decimal("2000.4")
