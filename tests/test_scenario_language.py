"""Each construct of the scenario language, over HTTP, from small packs passed with --scenarios.

One server loads two packs (``first`` then ``second``, so ``second`` takes precedence), each scenario
on its own meter id; every scripted reply is checked against the contract, and every purchase-like
reply against the contract's money rule.
"""

from __future__ import annotations

import re
import subprocess
import textwrap
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support import Sim, assert_conforms, cli, confirmation, lookup, new_id, purchase, sts_meter
from tests.test_edge_cases import arithmetic_breaks, conforms_as_success

FIRST = """
pack: first
scenarios:
  - name: overridden
    match: {meterId: LPREC}
    respond: {createTokenPurchaseRequest: [{error: {errorType: GENERAL_ERROR, status: 500}}]}
  - name: only-in-first
    match: {meterId: LONLYFIRST}
    respond: {createTokenPurchaseRequest: [{error: {errorType: DO_NOT_HONOR}}]}
"""

SECOND = """
pack: second
scenarios:
  # -- matching ---------------------------------------------------------------------------
  - name: winner
    match: {meterId: LPREC}
    respond: {createTokenPurchaseRequest: [{error: {errorType: SYSTEM_MALFUNCTION, status: 500}}]}
  - name: beats-built-in
    match: {meterId: TST001}
    respond: {createTokenPurchaseRequest: [{error: {errorType: METER_ID_BLOCKED}}]}
  - name: first-of-two
    match: {meterId: LFIRST}
    respond: {createTokenPurchaseRequest: [{error: {errorType: DO_NOT_HONOR}}]}
  - name: second-of-two
    match: {meterId: LFIRST}
    respond: {createTokenPurchaseRequest: [{error: {errorType: INVALID_MERCHANT}}]}
  - name: purchases-only
    match: {meterId: LOPS, operations: [createTokenPurchaseRequest]}
    respond: {"*": [{error: {errorType: TRANSACTION_DECLINED}}]}
  - name: listed
    match: {meterId: [LLISTA, LLISTB]}
    meter: {customer: {firstName: Listed}}
  - name: patterned
    match: {meterId: {pattern: "LPAT[0-9]+"}}
    meter: {customer: {firstName: Patterned}}
  - name: sts-amount
    match: {meterId: {sts: true}, amount: 777}
    respond: {createTokenPurchaseRequest: [{error: {errorType: INVALID_AMOUNT}}]}
  - name: amount-range
    match: {meterId: LAMT, amount: {min: 1000, max: 1999}}
    respond: {createTokenPurchaseRequest: [{error: {errorType: INVALID_AMOUNT}}]}
  - name: amount-exact
    match: {meterId: LAMT, amount: 5000}
    respond: {createTokenPurchaseRequest: [{error: {errorType: LIMIT_EXCEEDED}}]}
  - name: amount-other
    match: {meterId: LAMT}
  - name: currency
    match: {meterId: LCRIT, currency: "840"}
    respond: {createTokenPurchaseRequest: [{error: {errorType: TRANSACTION_NOT_SUPPORTED}}]}
  - name: utility-type
    match: {meterId: LCRIT, utilityType: Water}
    respond: {createTokenPurchaseRequest: [{error: {errorType: UTILITY_INVALID}}]}
  - name: originator
    match: {meterId: LCRIT, originatorId: "999999"}
    respond: {createTokenPurchaseRequest: [{error: {errorType: INVALID_MERCHANT}}]}
  - name: client
    match: {meterId: LCRIT, clientId: CLIENTX}
    respond: {createTokenPurchaseRequest: [{error: {errorType: ROUTING_ERROR}}]}
  - name: terminal
    match: {meterId: LCRIT, terminalId: T0000001}
    respond: {createTokenPurchaseRequest: [{error: {errorType: DO_NOT_HONOR}}]}
  - name: labels
    match: {meterId: LCRIT, transactionLabels: {channel: ussd}}
    respond: {createTokenPurchaseRequest: [{error: {errorType: INVALID_MSISDN}}]}
  - name: header
    match: {meterId: LCRIT, header: {X-Test-Mode: declined}}
    respond: {createTokenPurchaseRequest: [{error: {errorType: TRANSACTION_DECLINED}}]}
  - name: criteria-other
    match: {meterId: LCRIT}
  - name: by-name-only
    match: {meterId: NEVERSENT}
    respond: {createTokenPurchaseRequest: [{error: {errorType: INSUFFICIENT_FUNDS}}]}

  # -- what a meter and a purchase carry ------------------------------------------------------
  - name: all-tokens
    match: {meterId: LTOKENS}
    meter:
      freeUnits: {units: 30, due: always}
      keyChange: {newSupplyGroupCode: "222222", newKeyRevisionNumber: "3", newTariffIndex: "07"}
    vend:
      tokens: [KC, STD, {type: REFUND, units: 5}, {type: PWRLMT, units: 20}]
  - name: flat-tariff
    match: {meterId: LFLAT}
    vend: {tariff: 200, vatRate: 0}
  - name: block-tariff
    match: {meterId: LBLOCKS}
    vend: {tariff: [{units: 10, rate: 100}, {rate: 300}]}
  - name: charges
    match: {meterId: LCHARGES}
    vend:
      debtRecovery:
        - {description: Capped by balance, amount: 5000, balance: 3000}
        - {description: Percent, percent: 10, balance: 90000}
      serviceCharges:
        - {description: Fixed fee, amount: 700}
        - {description: Percent fee, percent: 2}
  - name: partial
    match: {meterId: LPARTIAL}
    vend: {approveMax: 3000}
  - name: free-once
    match: {meterId: LFREEONCE}
    meter: {freeUnits: {units: 30, due: once}}
  - name: free-always
    match: {meterId: LFREEALWAYS}
    meter: {freeUnits: {due: always}}
  - name: free-never
    match: {meterId: LFREENEVER}
    meter: {freeUnits: {due: never}}
  - name: limits
    match: {meterId: LLIMITS}
    meter: {minAmount: 2000, maxAmount: 9000, arrears: 4321}
  - name: overrides
    match: {meterId: LOVERRIDE}
    meter:
      supplyGroupCode: "654321"
      tariffIndex: "09"
      utilityType: Water
      customer: {firstName: Thandi, lastName: Nkosi, address: 1 Long Street, msisdn: "27821234567"}
      utility: {name: Test Water Board, vatRegNum: "4000000001", message: Save water}
      slip:
        - {text: "Thank you", fontWidthScaleFactor: 2}
        - {text: "", line: true, cut: true}

  # -- sequences ----------------------------------------------------------------------------
  - name: per-meter
    match: {meterId: LSEQMETER}
    respond:
      createTokenPurchaseRequest:
        - {times: 2, error: {status: 503, errorType: UPSTREAM_UNAVAILABLE}}
        - {times: 1, error: {status: 500, errorType: SYSTEM_MALFUNCTION}}
  - name: per-purchase
    match: {meterId: LSEQPURCHASE}
    respond:
      createTokenPurchaseRequest:
        - {vend: true, error: {status: 504, errorType: UPSTREAM_UNAVAILABLE}}
      retryPurchaseRequest:
        - {times: 1, error: {status: 503, errorType: UPSTREAM_UNAVAILABLE}}
  - name: per-scenario
    match: {meterId: {pattern: "LSEQSC[AB]"}}
    respond:
      createMeterLookup:
        - {times: 1, per: scenario, error: {status: 503, errorType: UPSTREAM_UNAVAILABLE}}
  - name: advice-per-meter
    match: {meterId: LSEQADVICE}
    respond:
      confirmTokenPurchase:
        - {times: 1, per: meter, error: {status: 503, errorType: UPSTREAM_UNAVAILABLE}}
  - name: advice-by-purchase-amount
    match: {meterId: LADVAMT, amount: 7000}
    respond:
      confirmTokenPurchase:
        - error: {status: 501, errorType: FUNCTION_NOT_SUPPORTED}
  - name: advice-amount-other
    match: {meterId: LADVAMT}
  - name: off-contract-status
    match: {meterId: LOFF}
    respond:
      createMeterLookup:
        - {status: 200, offContract: true}
  - name: delayed
    match: {meterId: LDELAY}
    respond:
      createMeterLookup:
        - delay: {uniform: [0.3, 0.4]}
"""

ERROR_STATUSES = (400, 500, 501, 503, 504)


def error_pack() -> str:
    """One scenario per errorType of the contract, each answering a purchase with some status."""
    from ppu_sim.provider.errors import ERROR_TYPES  # the list of the contract, as the simulator knows it

    lines = ["pack: errors", "scenarios:"]
    for i, error_type in enumerate(sorted(ERROR_TYPES)):
        lines += [
            f"  - name: err-{i}",
            f"    match: {{meterId: LERR{i}}}",
            f"    respond: {{createTokenPurchaseRequest: [{{error: {{errorType: {error_type}, "
            f"status: {ERROR_STATUSES[i % len(ERROR_STATUSES)]}}}}}]}}",
        ]
    return "\n".join(lines) + "\n"


@pytest.fixture(scope="module")
def lang(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sim]:
    folder = tmp_path_factory.mktemp("packs")
    paths = []
    for name, text in (("1-first.yaml", FIRST), ("2-second.yaml", SECOND), ("3-errors.yaml", error_pack())):
        (folder / name).write_text(text)
        paths.append(str(folder / name))
    server = Sim(["--scenarios", *paths, "--no-watch", "--hold-seconds", "1"])
    yield server
    server.stop()


# -- helpers ---------------------------------------------------------------------------------


def buy(
    sim: Sim,
    meter: str,
    amount: int = 10000,
    pid: str | None = None,
    headers: dict[str, str] | None = None,
    **extra: Any,
) -> httpx.Response:
    pid = pid or new_id()
    r = sim.post(f"/tokenPurchases/{pid}", purchase(meter, amount, pid, **extra), headers=headers or {})
    assert_conforms("createTokenPurchaseRequest", r)
    if r.status_code == 201:
        assert not arithmetic_breaks(r.json()), arithmetic_breaks(r.json())
    return r


def look(sim: Sim, meter: str) -> httpx.Response:
    lid = new_id()
    r = sim.post(f"/meterLookups/{lid}", lookup(meter, lid))
    assert_conforms("createMeterLookup", r)
    return r


def error_type(r: httpx.Response) -> str | None:
    return r.json().get("errorType") if r.content else None


def tokens(r: httpx.Response) -> list[tuple[str, float]]:
    assert r.status_code in (200, 201, 202), r.text
    return [(t["tokenType"], t["units"]) for t in r.json()["tokens"]]


# -- matching ---------------------------------------------------------------------------------


def test_a_later_pack_wins_and_user_packs_beat_the_built_in_ones(lang: Sim) -> None:
    assert error_type(buy(lang, "LPREC")) == "SYSTEM_MALFUNCTION"
    assert error_type(buy(lang, "LONLYFIRST")) == "DO_NOT_HONOR"
    assert error_type(buy(lang, "TST001")) == "METER_ID_BLOCKED"


def test_within_a_pack_the_first_match_wins(lang: Sim) -> None:
    assert error_type(buy(lang, "LFIRST")) == "DO_NOT_HONOR"


def test_operations_limit_what_a_scenario_answers(lang: Sim) -> None:
    assert error_type(buy(lang, "LOPS")) == "TRANSACTION_DECLINED"
    # The lookup is not this scenario's: it falls through to the default pack (not an STS number).
    assert error_type(look(lang, "LOPS")) == "UNKNOWN_METER_ID"


@pytest.mark.parametrize(("meter", "name"), [("LLISTA", "Listed"), ("LLISTB", "Listed"), ("LPAT42", "Patterned")])
def test_meter_id_lists_and_patterns(lang: Sim, meter: str, name: str) -> None:
    r = look(lang, meter)
    assert r.status_code == 201 and r.json()["customer"]["firstName"] == name


def test_a_pattern_must_match_the_whole_meter_id(lang: Sim) -> None:
    assert error_type(look(lang, "LPAT42X")) == "UNKNOWN_METER_ID"


def test_no_pattern_can_stall_the_server(start_sim: Any, tmp_path: Path) -> None:
    """A backtracking engine spent minutes on this pattern and a 20-character id, blocking /health too."""
    pack = tmp_path / "redos.yaml"
    pack.write_text('scenarios:\n  - name: redos\n    match: {meterId: {pattern: "((\\\\w+)+)+!"}}\n')
    sim = start_sim("--scenarios", str(pack), "--no-watch")
    meter = "a" * 20  # the longest id the contract allows
    answers: list[httpx.Response] = []
    lid = new_id()
    slow = threading.Thread(target=lambda: answers.append(sim.post(f"/meterLookups/{lid}", lookup(meter, lid))))
    slow.start()

    def health_seconds() -> float:
        started = time.monotonic()
        assert httpx.get(f"{sim.base}/health", timeout=5).status_code == 200
        return time.monotonic() - started

    assert min(health_seconds() for _ in range(3)) < 0.1  # the best of three: other work shares the machine
    slow.join(timeout=10)
    assert answers and error_type(answers[0]) == "UNKNOWN_METER_ID"  # no match: the default pack answers


def test_the_documented_way_to_let_the_first_requests_through_before_a_fault(start_sim: Any, tmp_path: Path) -> None:
    docs = (Path(__file__).parents[1] / "docs" / "scenarios.md").read_text()
    block = next(b for b in re.findall(r"```yaml\n(.*?)```", docs, re.S) if "three-then-reset" in b)
    pack = tmp_path / "example.yaml"
    pack.write_text(block)
    sim = start_sim("--scenarios", str(pack), "--no-watch")
    assert [buy(sim, "AFTER3").status_code for _ in range(3)] == [201, 201, 201]
    pid = new_id()
    with pytest.raises(httpx.ReadError):  # connection reset
        sim.post(f"/tokenPurchases/{pid}", purchase("AFTER3", 10000, pid))
    retried = sim.post(f"/tokenPurchases/{pid}/retry", purchase("AFTER3", 10000, pid))
    assert retried.status_code == 202 and tokens(retried), retried.text


def test_sts_and_exact_amount_together(lang: Sim) -> None:
    meter = sts_meter("4004004004")
    assert error_type(buy(lang, meter, 777)) == "INVALID_AMOUNT"
    assert buy(lang, meter, 778).status_code == 201
    assert error_type(buy(lang, "LSTSNOT", 777)) == "UNKNOWN_METER_ID"  # not an STS number


@pytest.mark.parametrize(
    ("amount", "expected"),
    [(999, None), (1000, "INVALID_AMOUNT"), (1999, "INVALID_AMOUNT"), (2000, None), (5000, "LIMIT_EXCEEDED")],
)
def test_amount_range_and_exact_amount(lang: Sim, amount: int, expected: str | None) -> None:
    r = buy(lang, "LAMT", amount)
    assert (error_type(r) if r.status_code != 201 else None) == expected


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({}, None),
        ({"purchaseAmount": {"amount": 10000, "currency": "840"}}, "TRANSACTION_NOT_SUPPORTED"),
        ({"utilityType": "Water"}, "UTILITY_INVALID"),
        ({"originator": "999999"}, "INVALID_MERCHANT"),
        ({"client": {"id": "CLIENTX", "name": "X"}}, "ROUTING_ERROR"),
        ({"terminal": "T0000001"}, "DO_NOT_HONOR"),
        ({"transactionLabels": [{"name": "channel", "value": "ussd"}, {"name": "x", "value": "y"}]}, "INVALID_MSISDN"),
        ({"header": "declined"}, "TRANSACTION_DECLINED"),
        ({"header": "approved"}, None),
    ],
)
def test_request_criteria(lang: Sim, change: dict[str, Any], expected: str | None) -> None:
    pid = new_id()
    body = purchase("LCRIT", 10000, pid)
    headers = {"X-Test-Mode": change.pop("header")} if "header" in change else {}
    if "originator" in change:
        body["originator"]["institution"]["id"] = change.pop("originator")
    if "terminal" in change:
        body["originator"]["terminalId"] = change.pop("terminal")
    body.update(change)
    r = lang.post(f"/tokenPurchases/{pid}", body, headers=headers)
    assert_conforms("createTokenPurchaseRequest", r)
    assert (error_type(r) if r.status_code != 201 else None) == expected, r.text


def test_the_override_header_picks_a_scenario_by_name(lang: Sim) -> None:
    meter = sts_meter("5005005005")
    assert error_type(buy(lang, meter, headers={"X-PPU-Scenario": "by-name-only"})) == "INSUFFICIENT_FUNDS"
    assert buy(lang, meter).status_code == 201
    r = buy(lang, meter, headers={"X-PPU-Scenario": "no-such-scenario"})
    assert error_type(r) == "FORMAT_ERROR" and "X-PPU-Scenario" in r.text


# -- responses ----------------------------------------------------------------------------------


def test_every_token_type_in_order_and_only_the_standard_token_costs_money(lang: Sim) -> None:
    r = buy(lang, "LTOKENS")
    # An unlisted free token follows the key change pair (the meter must take the new keys first).
    assert tokens(r) == [("KC", 0), ("KC", 0), ("BSST", 30), ("STD", 40.0), ("REFUND", 5), ("PWRLMT", 20)]
    body = r.json()
    assert all(t["amount"]["amount"] == 0 for t in body["tokens"] if t["tokenType"] != "STD")
    assert body["meter"]["keyChangeData"] == {
        "newSupplyGroupCode": "222222",
        "newKeyRevisionNumber": "3",
        "newTariffIndex": "07",
    }
    assert len({t["token"] for t in body["tokens"]}) == 6 and all(t["receiptNum"] for t in body["tokens"])


def test_flat_tariff_without_vat(lang: Sim) -> None:
    token = buy(lang, "LFLAT", 10000).json()["tokens"][0]
    assert token["units"] == 50.0 and token["tariffCalc"] == [{"units": 50.0, "rate": 200.0}]
    assert token["amount"]["amount"] == 10000 and token["amount"]["tax"] == 0


def test_block_tariff_and_vat(lang: Sim) -> None:
    token = buy(lang, "LBLOCKS", 10000).json()["tokens"][0]
    assert token["tariffCalc"] == [{"units": 10.0, "rate": 100.0}, {"units": 30.0, "rate": 300.0}]
    assert token["units"] == 40.0
    assert (token["amount"]["amount"], token["amount"]["tax"], token["amount"]["taxRate"]) == (8696, 1304, 15.0)


def test_debt_recovery_and_service_charges_come_off_the_amount(lang: Sim) -> None:
    body = buy(lang, "LCHARGES", 20000).json()
    fees = [c["amount"]["amount"] + c["amount"]["tax"] for c in body["serviceCharges"]]
    debts = [(c["amount"]["amount"] + c["amount"]["tax"], c["balance"]["amount"]) for c in body["debtRecoveryCharges"]]
    assert fees == [700, 400]  # fixed, then 2% of the approved amount
    assert debts == [(3000, 0), (2000, 88000)]  # capped by what is owed; 10% of the approved amount
    std = body["tokens"][0]["amount"]
    assert std["amount"] + std["tax"] == 20000 - 700 - 400 - 3000 - 2000


def test_partial_approval(lang: Sim) -> None:
    body = buy(lang, "LPARTIAL", 10000).json()
    assert body["amounts"]["requestAmount"]["amount"] == 10000
    assert body["amounts"]["approvedAmount"]["amount"] == 3000


def test_a_free_token_due_once(lang: Sim) -> None:
    assert look(lang, "LFREEONCE").json()["bsstDue"] is True
    assert tokens(buy(lang, "LFREEONCE", 0)) == [("BSST", 30)]
    assert look(lang, "LFREEONCE").json()["bsstDue"] is False
    r = buy(lang, "LFREEONCE", 0)
    assert (r.status_code, error_type(r)) == (400, "NO_FREE_UNITS_DUE")
    assert [kind for kind, _ in tokens(buy(lang, "LFREEONCE"))] == ["STD"]


def test_a_free_token_due_always_and_never(lang: Sim) -> None:
    for _ in range(2):
        assert tokens(buy(lang, "LFREEALWAYS", 0)) == [("BSST", 50)]
    assert [kind for kind, _ in tokens(buy(lang, "LFREEALWAYS"))] == ["BSST", "STD"]
    assert look(lang, "LFREENEVER").json()["bsstDue"] is False
    assert error_type(buy(lang, "LFREENEVER", 0)) == "NO_FREE_UNITS_DUE"


def test_minimum_and_maximum_amounts(lang: Sim) -> None:
    body = look(lang, "LLIMITS").json()
    limits = (body["minAmount"]["amount"], body["maxAmount"]["amount"], body["arrearsAmount"]["amount"])
    assert limits == (2000, 9000, 4321)
    assert error_type(buy(lang, "LLIMITS", 1999)) == "AMOUNT_TOO_LOW"
    assert error_type(buy(lang, "LLIMITS", 9001)) == "AMOUNT_TOO_HIGH"
    assert buy(lang, "LLIMITS", 9000).status_code == 201


def test_customer_utility_meter_and_slip_overrides(lang: Sim) -> None:
    body = buy(lang, "LOVERRIDE").json()
    assert body["customer"]["firstName"] == "Thandi" and body["customer"]["msisdn"] == "27821234567"
    assert body["utility"]["name"] == "Test Water Board" and body["utility"]["message"] == "Save water"
    assert (body["meter"]["supplyGroupCode"], body["meter"]["tariffIndex"]) == ("654321", "09")
    assert body["utilityType"] == "Water"
    lines = body["slipData"]["messageLines"]
    assert [line["text"] for line in lines] == ["Thank you", ""] and lines[1]["cut"] is True
    assert look(lang, "LOVERRIDE").json()["customer"]["lastName"] == "Nkosi"


def test_any_error_type_with_any_error_status(lang: Sim) -> None:
    from ppu_sim.provider.errors import ERROR_TYPES

    seen = set()
    for i, expected in enumerate(sorted(ERROR_TYPES)):
        r = buy(lang, f"LERR{i}")
        assert (r.status_code, error_type(r)) == (ERROR_STATUSES[i % len(ERROR_STATUSES)], expected)
        seen.add(r.status_code)
    assert seen == set(ERROR_STATUSES)


# -- sequences and counters ---------------------------------------------------------------


def test_a_sequence_counted_per_meter_then_normal(lang: Sim) -> None:
    answers = [buy(lang, "LSEQMETER") for _ in range(4)]
    assert [(r.status_code, error_type(r)) for r in answers[:3]] == [
        (503, "UPSTREAM_UNAVAILABLE"),
        (503, "UPSTREAM_UNAVAILABLE"),
        (500, "SYSTEM_MALFUNCTION"),
    ]
    assert answers[3].status_code == 201


def retry(sim: Sim, meter: str, pid: str) -> httpx.Response:
    r = sim.post(f"/tokenPurchases/{pid}/retry", purchase(meter, 10000, pid))
    assert_conforms("retryPurchaseRequest", r)
    return r


def test_retries_count_per_purchase_and_return_the_tokens_of_the_lost_reply(lang: Sim) -> None:
    for _ in range(2):
        pid = new_id()
        assert buy(lang, "LSEQPURCHASE", pid=pid).status_code == 504
        assert error_type(retry(lang, "LSEQPURCHASE", pid)) == "UPSTREAM_UNAVAILABLE"
        first, second = retry(lang, "LSEQPURCHASE", pid), retry(lang, "LSEQPURCHASE", pid)
        assert first.status_code == second.status_code == 202
        assert first.json()["tokens"] == second.json()["tokens"] and first.json()["tokens"]


def test_a_sequence_counted_per_scenario_spans_meters(lang: Sim) -> None:
    assert error_type(look(lang, "LSEQSCA")) == "UPSTREAM_UNAVAILABLE"
    assert look(lang, "LSEQSCB").status_code == 201
    assert look(lang, "LSEQSCA").status_code == 201


def confirm(sim: Sim, pid: str, cid: str | None = None) -> httpx.Response:
    cid = cid or new_id()
    r = sim.post(f"/tokenPurchases/{pid}/confirmations/{cid}", confirmation(pid, cid))
    assert_conforms("confirmTokenPurchase", r)
    return r


def test_an_advice_sequence_counted_per_meter(lang: Sim) -> None:
    first, second = (new_id(), new_id())
    buy(lang, "LSEQADVICE", pid=first)
    buy(lang, "LSEQADVICE", pid=second)
    assert confirm(lang, first).status_code == 503
    assert confirm(lang, second).status_code == 202  # the meter's one refusal is spent
    assert confirm(lang, first).status_code == 202


def test_advices_match_on_what_their_purchase_asked(lang: Sim) -> None:
    scripted, other = new_id(), new_id()
    buy(lang, "LADVAMT", 7000, pid=scripted)
    buy(lang, "LADVAMT", 8000, pid=other)
    assert error_type(confirm(lang, scripted)) == "FUNCTION_NOT_SUPPORTED"
    assert confirm(lang, other).status_code == 202


def test_an_off_contract_status_still_carries_a_contract_body(lang: Sim) -> None:
    lid = new_id()
    r = lang.post(f"/meterLookups/{lid}", lookup("LOFF", lid))
    assert r.status_code == 200
    conforms_as_success("createMeterLookup", r)


def test_a_step_delay(lang: Sim) -> None:
    started = time.monotonic()
    assert look(lang, "LDELAY").status_code == 201
    assert 0.3 <= time.monotonic() - started < 2


def test_a_pack_latency_delays_every_api_reply_but_not_health(start_sim: Any, tmp_path: Path) -> None:
    pack = tmp_path / "latency.yaml"
    pack.write_text("latency: {uniform: [0.4, 0.5]}\nscenarios: []\n")
    sim = start_sim("--scenarios", str(pack), "--no-watch")
    started = time.monotonic()
    look(sim, "TST001")
    assert time.monotonic() - started >= 0.4
    started = time.monotonic()
    assert httpx.get(f"{sim.base}/health").status_code == 200
    assert time.monotonic() - started < 0.4


# -- what the loader refuses ------------------------------------------------------------------

REFUSED = {
    "status not listed": ("respond: {retryPurchaseRequest: [{status: 201}]}", "retryPurchaseRequest[0].status"),
    "status with error": (
        "respond: {createMeterLookup: [{status: 201, error: {errorType: GENERAL_ERROR}}]}",
        "createMeterLookup[0].status",
    ),
    "per on a later step": (
        "respond: {createMeterLookup: [{times: 1, delay: 1}, {per: meter, delay: 2}]}",
        "createMeterLookup[1].per",
    ),
    "unreachable step": ("respond: {createMeterLookup: [{delay: 1}, {delay: 2}]}", "createMeterLookup[1]"),
    "unused operation": (
        "match: {operations: [createMeterLookup]}\nrespond: {createFaultReport: [{delay: 1}]}",
        "respond.createFaultReport",
    ),
    "no STD with money": ("vend: {tokens: [BSST]}", "vend.tokens"),
    "two STD": ("vend: {tokens: [STD, STD]}", "vend.tokens"),
    "vend without purchases": ("match: {operations: [createMeterLookup]}\nvend: {tokens: [STD]}", "vend"),
    "option of another fault": ("respond: {createMeterLookup: [{fault: {kind: reset, chunk: 4}}]}", "fault.chunk"),
    "charge both ways": ("vend: {serviceCharges: [{description: x, amount: 1, percent: 2}]}", "serviceCharges[0]"),
}


@pytest.mark.parametrize("case", REFUSED)
def test_the_loader_refuses_what_cannot_render_a_contract_message(case: str, tmp_path: Path) -> None:
    body, field = REFUSED[case]
    pack = tmp_path / "bad.yaml"
    pack.write_text("scenarios:\n  - name: bad\n" + textwrap.indent(body, "    ") + "\n")
    run = subprocess.run([cli(), "scenarios", "validate", str(pack)], capture_output=True, text=True)
    assert run.returncode == 1, run.stdout
    assert f"{pack}:3: " in run.stderr or f"{pack}:4: " in run.stderr, run.stderr
    assert field in run.stderr, run.stderr
