"""A bad-input corpus: what a client can send that the simulator must refuse (or ignore) cleanly.

Every case is sent to every operation it applies to, on a real `ppu-sim serve`, and checked for:
the status (400 FORMAT_ERROR naming the field, or the operation's success where lenient mode
ignores a field the operation does not declare); an ErrorDetail body; nothing left behind (the
same ids sent again correctly are not duplicates, and TST007's arrears are unchanged); and that
`/health` answers while a bad request is in flight (all along while a megabyte is judged: such a
body is read beside the event loop). Whether an operation declares a field is read from the
contract, so the expectation follows the spec.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from itertools import pairwise
from typing import Any
from urllib.parse import quote

import httpx
import pytest

from ppu_sim.app import load_catalogue
from ppu_sim.provider.errors import REQUEST_TYPES
from ppu_sim.provider.lifecycle import Provider
from ppu_sim.provider.store import MemoryStore
from ppu_sim.scenario.matcher import RequestFacts
from tests.support import (
    BASE,
    SPEC,
    Sim,
    advice,
    assert_conforms,
    cli,
    confirmation,
    fault_report,
    free_port,
    lookup,
    new_id,
    operation,
    purchase,
    reprint,
    reversal,
    sts_meter,
    while_watching,
)

STS_METER = sts_meter("0123456789")
DEBT_METER = "TST007"  # its arrears must not move when a purchase is refused
AMOUNT = 20000  # TST007 sells exactly this; the STS meters take it too
SUCCESS = {
    "createMeterLookup": 201,
    "createTokenPurchaseRequest": 201,
    "retryPurchaseRequest": 202,
    "retryPurchaseRequestByRetryId": 202,
    "trialTokenPurchaseRequest": 200,
    "confirmTokenPurchase": 202,
    "reverseTokenPurchase": 202,
    "requestTokenReprint": 200,
    "createFaultReport": 201,
    "createKeyChangeTokenRequest": 201,
    "confirmKeyChange": 202,
    "notifyTokenPurchase": 202,
}
OPERATIONS = tuple(SUCCESS)
# Operations whose request names a meter: their bad requests go to TST007 where it can sell.
ON_DEBT_METER = {"createMeterLookup", "createTokenPurchaseRequest", "retryPurchaseRequest"}
ON_DEBT_METER |= {"retryPurchaseRequestByRetryId", "trialTokenPurchaseRequest"}


# -- requests that are right, per operation --------------------------------------------------------


@dataclass
class Request:
    """One operation's request: its path ids, its body, and the id of the message itself."""

    op: str
    ids: dict[str, str]
    body: dict[str, Any]
    query: dict[str, str]

    def url(self, ids: dict[str, str] | None = None) -> str:
        template, _ = operation(self.op)
        path = template
        for name, value in (ids or self.ids).items():
            path = path.replace("{" + name + "}", quote(value, safe=""))
        query = "&".join(f"{k}={quote(v, safe='')}" for k, v in self.query.items())
        return BASE + path + (f"?{query}" if query else "")

    @property
    def message_id(self) -> str:
        return self.body["id"]


def _request(server: Sim, op: str, meter: str) -> Request:
    """A correct request for op, after whatever must exist before it (a purchase, a key change)."""
    pid, own = new_id(), new_id()
    if op in ("confirmTokenPurchase", "reverseTokenPurchase", "notifyTokenPurchase", "requestTokenReprint"):
        bought = server.post(f"/tokenPurchases/{pid}", purchase(STS_METER, AMOUNT, pid))
        assert bought.status_code == 201, bought.text
    if op == "createMeterLookup":
        return Request(op, {"lookupId": own}, lookup(meter, own), {})
    if op in ("createTokenPurchaseRequest", "trialTokenPurchaseRequest"):
        name = "purchaseId" if op == "createTokenPurchaseRequest" else "trialId"
        return Request(op, {name: own}, purchase(meter, AMOUNT, own), {})
    if op == "retryPurchaseRequest":
        return Request(op, {"purchaseId": own}, purchase(meter, AMOUNT, own), {})
    if op == "retryPurchaseRequestByRetryId":
        return Request(op, {"purchaseId": pid, "retryId": own}, purchase(meter, AMOUNT, own), {})
    if op == "confirmTokenPurchase":
        return Request(op, {"purchaseId": pid, "confirmationId": own}, confirmation(pid, own, AMOUNT), {})
    if op == "reverseTokenPurchase":
        return Request(op, {"purchaseId": pid, "reversalId": own}, reversal(pid, own), {})
    if op == "requestTokenReprint":
        return Request(op, {"reprintId": own}, reprint(STS_METER, pid, own), {})
    if op == "createFaultReport":
        return Request(op, {"requestId": own}, fault_report(meter, own), {})
    if op == "createKeyChangeTokenRequest":
        return Request(op, {"requestId": own}, lookup(meter, own), {})
    if op == "confirmKeyChange":
        made = server.post(f"/keyChangeTokenRequests/{pid}", lookup(STS_METER, pid))
        assert made.status_code == 201, made.text
        return Request(op, {"requestId": pid, "confirmationId": own}, advice(pid, own), {})
    assert op == "notifyTokenPurchase"
    return Request(op, {}, bought.json(), {"purchaseId": pid})


def _declares(op: str, field: str) -> bool:
    """Whether op's request body declares the top-level field of a dotted path."""
    _, spec_op = operation(op)
    ref = spec_op["requestBody"]["content"]["application/json"]["schema"]["$ref"]
    model = SPEC["components"]["schemas"][ref.rsplit("/", 1)[1]]
    return field.split(".")[0].split("[")[0] in model["properties"]


# -- sending a bad request while watching /health --------------------------------------------------


def _send_raw(server: Sim, url: str, raw: bytes) -> Callable[[], httpx.Response]:
    return lambda: server.client.post(url, content=raw, headers={"Content-Type": "application/json"})


def _arrears(server: Sim) -> int:
    lid = new_id()
    r = server.post(f"/meterLookups/{lid}", lookup(DEBT_METER, lid))
    assert r.status_code == 201, r.text
    return r.json()["arrearsAmount"]["amount"]


def assert_error_detail(r: httpx.Response, op: str, status: int, error_type: str) -> dict[str, Any]:
    assert r.status_code == status, r.text[:2000]
    assert r.headers["content-type"].startswith("application/json")
    err = r.json()  # also: the answer is JSON (json.loads refuses nothing Python wrote, so check strictly)
    json.loads(r.text, parse_constant=lambda c: pytest.fail(f"non-JSON constant {c} in {r.text[:200]}"))
    assert err["errorType"] == error_type, err
    assert 0 < len(err["errorMessage"]) <= 20, err
    assert err["requestType"] == REQUEST_TYPES[op], err
    assert isinstance(err["id"], str), err
    assert_conforms(op, r)
    return err


def _fields(err: dict[str, Any]) -> list[str]:
    return [e["field"] for e in err["detailMessage"]["formatErrors"]]


def _resend_is_not_a_duplicate(server: Sim, request: Request) -> None:
    """Nothing of the refused request stayed: its ids, sent again correctly, are taken afresh."""
    body = request.body
    if request.op in ON_DEBT_METER:  # a correct resend elsewhere: TST007's debt stays for the next case
        body = {**body, "meter": {"meterId": STS_METER}}
    r = server.client.post(request.url(), json=body)
    assert r.status_code == SUCCESS[request.op], r.text[:2000]
    assert_conforms(request.op, r)


def _refused_and_forgotten(
    server: Sim, request: Request, raw: bytes, url: str | None = None
) -> tuple[dict[str, Any], int]:
    """The bad request's ErrorDetail, and how many /health probes were answered while it was handled."""
    before = _arrears(server)
    r, during = while_watching(server, _send_raw(server, url or request.url(), raw))
    err = assert_error_detail(r, request.op, 400, "FORMAT_ERROR")
    assert _arrears(server) == before
    _resend_is_not_a_duplicate(server, request)
    return err, during


# -- the corpus ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Raw:
    """JSON text put into a body as is (what json.dumps would never write)."""

    text: str


@dataclass(frozen=True)
class Case:
    """Put ``value`` at ``where`` (a dotted path, ``[i]`` for list items) in a correct body.

    ``everywhere``: refused whatever the operation declares (the body cannot be read faithfully).
    Otherwise refused where the operation declares the field, and ignored (success) where not.
    ``field``: the field the FORMAT_ERROR must name, when not ``where`` itself.
    """

    name: str
    where: str
    value: Any
    everywhere: bool = False
    field: str | None = None


FONT = "slipData.messageLines[0].fontWidthScaleFactor"
SLIP = {"messageLines": [{"line": False, "cut": False, "fontWidthScaleFactor": 1.0, "text": "x"}]}
CASES = [
    Case("overflowing number", FONT, Raw("1e400"), everywhere=True),
    Case("NaN", FONT, Raw("NaN"), everywhere=True),
    Case("Infinity", FONT, Raw("Infinity"), everywhere=True),
    Case("minus Infinity", "stan", Raw("-Infinity"), everywhere=True),
    Case("5000-digit integer", "purchaseAmount.amount", Raw("9" * 5000), everywhere=True),
    Case("5000-digit negative integer", "x", Raw("-" + "1" * 5000), everywhere=True),
    Case("600 levels of objects", "slipData.x", Raw('{"a":' * 600 + "1" + "}" * 600), everywhere=True),
    Case("10,000 levels of lists", "slipData", Raw("[" * 10_000 + "]" * 10_000), everywhere=True, field="body"),
    Case("transactionLabels a string", "transactionLabels", "abc"),
    Case("transactionLabels a number", "transactionLabels", 5),
    Case("transactionLabels of numbers", "transactionLabels", [1, 2], field="transactionLabels[0]"),
    Case(
        "transactionLabels of bad labels", "transactionLabels", [{"name": 5, "value": []}], field="transactionLabels[0]"
    ),
    Case("purchaseAmount a string", "purchaseAmount", "abc"),
    Case(
        "purchaseAmount amount a word",
        "purchaseAmount",
        {"amount": "abc", "currency": "710"},
        field="purchaseAmount.amount",
    ),
    Case("meter a number", "meter", 5),
    Case("meter a list", "meter", ["TST007"]),
    Case("originator a list", "originator", []),
    Case("client a string", "client", "001"),
    Case("utilityType an object", "utilityType", {"x": 1}),
    Case("slipData a string", "slipData", "slip"),
    Case("numeric string too big for a float", FONT, "1e400"),
    Case("time not a time", "time", "not-a-time"),
    Case("time without a zone", "time", "2026-11-21T10:15:30"),
    Case("meter id with a final newline", "meter.meterId", "01234567897\n"),
    Case("meter id with a final CRLF", "meter.meterId", "TST007\r\n"),
    Case("half a megabyte of digits for a meter id", "meter.meterId", "1" * 500_000),
    Case("thirdPartyIdentifiers null", "thirdPartyIdentifiers", None),
    Case("tenders a string", "tenders", "CASH"),
]


def _put(body: dict[str, Any], where: str, value: Any) -> dict[str, Any]:
    """A copy of body with value at where; parents are created, and slipData gets a line to point into."""
    out = json.loads(json.dumps(body))
    if where.startswith("slipData.messageLines"):
        out["slipData"] = json.loads(json.dumps(SLIP))
    node: Any = out
    parts = [p for chunk in where.split(".") for p in chunk.replace("]", "").split("[")]
    for part, after in pairwise(parts):
        key: str | int = int(part) if part.isdigit() else part
        if isinstance(node, dict) and not isinstance(node.get(key), (dict, list)):
            node[key] = [] if after.isdigit() else {}
        node = node[key]
    last = parts[-1]
    node[int(last) if last.isdigit() else last] = value
    return out


def _encoded(body: dict[str, Any]) -> bytes:
    """JSON text of body with every Raw value spliced in literally."""
    raws: list[str] = []

    def default(value: Any) -> str:
        raws.append(value.text)
        return f"\u0000raw{len(raws) - 1}\u0000"

    text = json.dumps(body, default=default)
    for i, raw in enumerate(raws):
        text = text.replace(json.dumps(f"\u0000raw{i}\u0000"), raw)
    return text.encode()


@pytest.fixture(scope="module")
def lenient() -> Iterator[Sim]:
    server = Sim()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def strict() -> Iterator[Sim]:
    server = Sim(["--strict"])
    yield server
    server.stop()


@pytest.mark.parametrize("op", OPERATIONS)
@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_bad_field(lenient: Sim, case: Case, op: str) -> None:
    request = _request(lenient, op, DEBT_METER if op in ON_DEBT_METER else STS_METER)
    raw = _encoded(_put(request.body, case.where, case.value))
    if case.everywhere or _declares(op, case.where):
        err, _ = _refused_and_forgotten(lenient, request, raw)
        assert any(f.startswith(case.field or case.where) for f in _fields(err)), err
        if "body" not in _fields(err):  # the body was read: the error carries its id
            assert err["id"] == request.message_id, err
        return
    # Lenient mode ignores what the operation does not declare, as the Jackson provider does.
    r = _send_raw(lenient, request.url(), raw)()
    assert r.status_code == SUCCESS[op], r.text[:2000]
    assert_conforms(op, r)


@pytest.mark.parametrize("op", OPERATIONS)
@pytest.mark.parametrize(
    "case", [c for c in CASES if c.name in ("meter id with a final newline", "transactionLabels a string", "NaN")]
)
def test_bad_field_in_strict_mode_is_always_refused(strict: Sim, case: Case, op: str) -> None:
    request = _request(strict, op, DEBT_METER if op in ON_DEBT_METER else STS_METER)
    err, _ = _refused_and_forgotten(strict, request, _encoded(_put(request.body, case.where, case.value)))
    top = case.where.split(".")[0]
    assert any(f.startswith(case.field or case.where) or f == top for f in _fields(err)), err


# A path id that is not a UUID, with control characters the router does not take, for each parameter.
CONTROL = ["\x0b\n{id}", "{id}\n", "{id}\r\n", "\t{id}", "{id}\x00"]


def _path_cases() -> Iterator[tuple[str, str, str]]:
    for op in OPERATIONS:
        _, spec_op = operation(op)
        for param in spec_op.get("parameters", []):
            for shape in CONTROL:
                yield op, param["name"], shape


@pytest.mark.parametrize(("op", "param", "shape"), list(_path_cases()))
def test_control_characters_in_a_path_or_query_id(lenient: Sim, op: str, param: str, shape: str) -> None:
    request = _request(lenient, op, STS_METER)
    where = "query" if param in request.query else "path"
    source = request.query if where == "query" else request.ids
    bad = shape.format(id=source[param])
    if where == "query":
        url = Request(op, request.ids, request.body, {**request.query, param: bad}).url()
    else:
        url = request.url({**request.ids, param: bad})
    err, _ = _refused_and_forgotten(lenient, request, json.dumps(request.body).encode(), url)
    problems = err["detailMessage"]["formatErrors"]
    assert [p["field"] for p in problems] == [f"{where}:{param}"], err
    assert problems[0]["value"] == bad


def test_a_wrong_method_on_a_path_with_a_line_break_is_405(lenient: Sim) -> None:
    r = lenient.client.get(f"{BASE}/tokenReprints/{quote(chr(10) + new_id())}")
    assert r.status_code == 405 and r.headers["Allow"] == "POST", r.text
    assert r.json()["errorType"] == "FUNCTION_NOT_SUPPORTED"


# -- limits ------------------------------------------------------------------------------------------


def _megabyte_of_empty_objects(request: Request) -> bytes:
    count = 1_000_000 // 3  # "{}," each
    return _encoded({**request.body, "thirdPartyIdentifiers": Raw("[" + ",".join(["{}"] * count) + "]")})


@pytest.mark.parametrize("op", OPERATIONS)
def test_a_megabyte_of_offending_objects_gets_a_short_capped_list(lenient: Sim, op: str) -> None:
    """...and is read and judged beside the event loop: /health is answered all the while (a check
    on the loop left it unanswered until the refusal was out)."""
    request = _request(lenient, op, DEBT_METER if op in ON_DEBT_METER else STS_METER)
    err, during = _refused_and_forgotten(lenient, request, _megabyte_of_empty_objects(request))
    assert during >= 10, f"/health answered only {during} times while a megabyte was judged"
    assert len(err["detailMessage"]["formatErrors"]) == 50
    assert err["detailMessage"]["formatErrorsTruncated"] is True
    assert all(f.startswith("thirdPartyIdentifiers[") for f in _fields(err))


def test_the_format_error_cap_is_a_setting_and_a_list_that_fits_is_whole(start_sim) -> None:
    server = start_sim("--max-format-errors", "3")
    for missing, truncated in (
        (("time", "client", "originator"), False),
        (("time", "client", "originator", "meter"), True),
    ):
        lid = new_id()
        body = {k: v for k, v in lookup(STS_METER, lid).items() if k not in missing}
        err = assert_error_detail(server.post(f"/meterLookups/{lid}", body), "createMeterLookup", 400, "FORMAT_ERROR")
        assert len(_fields(err)) == 3
        assert err["detailMessage"].get("formatErrorsTruncated", False) is truncated
        assert set(_fields(err)) <= set(missing)


def test_the_nesting_bound_is_a_setting_and_the_contract_depth_passes_it(start_sim) -> None:
    # body > slipData > messageLines > [0] and body > originator > merchant > merchantName: four levels.
    server = start_sim("--max-json-depth", "4")
    pid = new_id()
    fits = _put(purchase(STS_METER, AMOUNT, pid), FONT, 1.5)
    assert server.post(f"/tokenPurchases/{pid}", fits).status_code == 201
    server = start_sim("--max-json-depth", "3")
    pid = new_id()
    r = server.post(f"/tokenPurchases/{pid}", _put(purchase(STS_METER, AMOUNT, pid), FONT, 1.5))
    err = assert_error_detail(r, "createTokenPurchaseRequest", 400, "FORMAT_ERROR")
    assert _fields(err) == ["originator.merchant.merchantName", "slipData.messageLines[0]"]


def test_a_limit_below_one_is_refused_at_start() -> None:
    run = subprocess.run([cli(), "serve", "--max-format-errors", "0"], capture_output=True, text=True, timeout=60)
    assert run.returncode == 2 and "--max-format-errors: must be a whole number of at least 1" in run.stderr, run.stderr


# -- what a refused purchase leaves behind ----------------------------------------------------------


def test_a_deeply_nested_purchase_and_its_retry_take_no_debt_and_burn_no_id(lenient: Sim) -> None:
    """The defect as found: a 500 on TST007 took the debt, its retry took it again, and the id was burned."""
    pid = new_id()
    nested = _put(purchase(DEBT_METER, AMOUNT, pid), "slipData.x", Raw('{"a":' * 600 + "1" + "}" * 600))
    before = _arrears(lenient)
    for path in (f"/tokenPurchases/{pid}", f"/tokenPurchases/{pid}/retry"):
        r = lenient.client.post(BASE + path, content=_encoded(nested), headers={"Content-Type": "application/json"})
        assert r.status_code == 400, r.text
        assert _arrears(lenient) == before
    r = lenient.post(f"/tokenPurchases/{pid}", purchase(DEBT_METER, AMOUNT, pid))
    assert r.status_code == 201, r.text
    taken = r.json()["debtRecoveryCharges"][0]["amount"]
    assert _arrears(lenient) == before - taken["amount"] - taken["tax"]
    retried = lenient.post(f"/tokenPurchases/{pid}/retry", purchase(DEBT_METER, AMOUNT, pid))
    assert retried.status_code == 202 and retried.json()["tokens"] == r.json()["tokens"]
    assert _arrears(lenient) == before - taken["amount"] - taken["tax"]


def test_a_unit_of_work_that_fails_leaves_the_store_as_it_was() -> None:
    """Whatever fails half-way through answering (here: after a purchase took TST007's debt and its
    advices were recorded), the store keeps nothing: ids unclaimed, debt, counters and records as before."""
    provider = Provider(load_catalogue(), MemoryStore())
    pid, cid, rid = new_id(), new_id(), new_id()
    assert provider.purchase(pid, purchase(DEBT_METER, AMOUNT, pid), {}).status == 201
    owed = provider.store.meter_value(DEBT_METER, "debt:0")
    with pytest.raises(RuntimeError), provider.atomic():
        second = new_id()
        assert provider.purchase(second, purchase(DEBT_METER, AMOUNT, second), {}).status == 201
        assert provider.confirm(pid, cid, confirmation(pid, cid), {}).status == 202
        assert provider.store.meter_value(DEBT_METER, "debt:0") < owed
        raise RuntimeError("the answer could not be produced")
    assert provider.store.meter_value(DEBT_METER, "debt:0") == owed
    assert provider.store.purchase(pid).status == "vended" and not provider.store.purchase(pid).advices
    assert provider.store.purchase(second) is None
    assert [r.id for r in provider.store.purchases_for_meter(DEBT_METER)] == [pid]
    # The ids are free, and the confirmation sequence did not advance: a reversal is still allowed.
    assert provider.purchase(second, purchase(DEBT_METER, AMOUNT, second), {}).status == 201
    assert provider.reverse(pid, rid, reversal(pid, rid), {}).status == 202


def test_without_the_date_time_checker_the_server_refuses_to_start(tmp_path) -> None:
    """jsonschema checks date-time only when rfc3339-validator imports; without it every time passed."""
    (tmp_path / "rfc3339_validator.py").write_text("raise ImportError('hidden by the test')\n")
    run = subprocess.run(
        [cli(), "serve", "--port", str(free_port())],
        capture_output=True,
        text=True,
        timeout=30,  # a server that starts anyway runs until this
        env={**os.environ, "PYTHONPATH": str(tmp_path)},
    )
    assert run.returncode != 0 and "rfc3339-validator" in run.stderr, run.stderr


def test_request_facts_read_any_shape_as_missing_facts() -> None:
    """Scenario matching never trusts a body's shapes: a value of the wrong type is a fact the request lacks."""
    odd = {
        "transactionLabels": "abc",
        "purchaseAmount": "abc",
        "meter": 5,
        "originator": [],
        "client": {"id": 1},
        "utilityType": {"x": 1},
    }
    facts = RequestFacts.of("createMeterLookup", odd, {})
    assert (facts.meter_id, facts.amount, facts.currency, facts.originator_id) == (None, None, None, None)
    assert (facts.client_id, facts.utility_type, facts.terminal_id, facts.labels) == (None, None, None, frozenset())
    labels = [{"name": "lane", "value": "7"}, {"name": 5, "value": []}, "x", {"name": "a"}]
    assert RequestFacts.of("createTokenPurchaseRequest", {"transactionLabels": labels}, {}).labels == {("lane", "7")}
    assert RequestFacts.of("createTokenPurchaseRequest", {"purchaseAmount": {"amount": True}}, {}).amount is None
