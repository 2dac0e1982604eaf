"""What a client sees at the HTTP level: auth, routing errors, validation errors, leniency, strictness."""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Callable

import httpx
import pytest
import yaml
from openapi_spec_validator import validate

from tests.support import BASE, ROOT, SPEC, Sim, assert_conforms, cli, lookup, new_id, purchase, sts_meter

METER = sts_meter("5555555555")


def errors_of(r: httpx.Response) -> dict[str, dict]:
    assert r.status_code == 400, r.text
    body = r.json()
    assert body["errorType"] == "FORMAT_ERROR", body
    return {e["field"]: e for e in body["detailMessage"]["formatErrors"]}


def test_request_without_credentials_is_401_error_detail(sim: Sim) -> None:
    lid = new_id()
    r = httpx.post(f"{sim.base}{BASE}/meterLookups/{lid}", json=lookup(METER, lid))
    assert r.status_code == 401
    assert r.json()["errorType"] and r.json()["requestType"] == "METER_LOOKUP_REQUEST"
    assert_conforms("createMeterLookup", r)


def test_any_credentials_and_any_bearer_token_when_no_users_are_configured(sim: Sim) -> None:
    for auth in (("someone", "anything"), None):
        lid = new_id()
        headers = {} if auth else {"Authorization": "Bearer whatever"}
        r = httpx.post(f"{sim.base}{BASE}/meterLookups/{lid}", json=lookup(METER, lid), auth=auth, headers=headers)
        assert r.status_code == 201, r.text


def test_configured_users_and_tokens_are_enforced(start_sim: Callable[..., Sim]) -> None:
    server = start_sim("--users", "alice:secret", "--tokens", "tok-1")

    def status(**kwargs) -> int:
        lid = new_id()
        return httpx.post(f"{server.base}{BASE}/meterLookups/{lid}", json=lookup(METER, lid), **kwargs).status_code

    assert status(auth=("alice", "secret")) == 201
    assert status(auth=("alice", "wrong")) == 401
    assert status(auth=("test", "test")) == 401
    assert status(headers={"Authorization": "Bearer tok-1"}) == 201
    assert status(headers={"Authorization": "Bearer tok-2"}) == 401


def test_users_can_come_from_the_environment(start_sim: Callable[..., Sim]) -> None:
    server = start_sim(env={"PPU_SIM_USERS": "bob:pw"})
    lid = new_id()
    assert (
        httpx.post(f"{server.base}{BASE}/meterLookups/{lid}", json=lookup(METER, lid), auth=("bob", "pw")).status_code
        == 201
    )
    lid = new_id()
    r = httpx.post(f"{server.base}{BASE}/meterLookups/{lid}", json=lookup(METER, lid), auth=("test", "test"))
    assert r.status_code == 401


def test_unknown_path_is_404_error_detail(sim: Sim) -> None:
    r = sim.client.post(f"{BASE}/meterLookupz/{new_id()}", json={})
    assert r.status_code == 404
    assert r.json()["errorType"] == "ROUTING_ERROR"
    assert r.headers["content-type"].startswith("application/json")


def test_wrong_method_is_405_with_allow(sim: Sim) -> None:
    r = sim.client.get(f"{BASE}/tokenPurchases/{new_id()}")
    assert r.status_code == 405
    assert r.headers["allow"] == "POST"
    assert r.json()["requestType"] == "TOKEN_PURCHASE_REQUEST"


def test_wrong_content_type_is_415_error_detail(sim: Sim) -> None:
    lid = new_id()
    r = sim.client.post(f"{BASE}/meterLookups/{lid}", content=b"meter=1", headers={"Content-Type": "text/plain"})
    assert r.status_code == 415, r.text
    assert_conforms("createMeterLookup", r)


def sized_lookup(size: int) -> tuple[str, bytes]:
    """A valid lookup body of exactly ``size`` bytes (padded in a field lenient mode ignores)."""
    lid = new_id()
    body = lookup(METER, lid)
    body["padding"] = ""
    raw = json.dumps(body).encode()
    body["padding"] = "x" * (size - len(raw))
    raw = json.dumps(body).encode()
    assert len(raw) == size
    return lid, raw


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
def test_a_body_of_exactly_the_size_limit_is_accepted_one_byte_more_is_413(
    start_sim: Callable[..., Sim], chunked: bool
) -> None:
    server = start_sim("--max-body-bytes", "4096")
    headers = {"Content-Type": "application/json"}

    def send(size: int) -> httpx.Response:
        lid, raw = sized_lookup(size)
        # An iterator has no length: httpx sends it with Transfer-Encoding: chunked.
        content = iter([raw[:1000], raw[1000:]]) if chunked else raw
        return server.client.post(f"{BASE}/meterLookups/{lid}", content=content, headers=headers)

    assert send(4096).status_code == 201
    r = send(4097)
    assert r.status_code == 413, r.text
    assert_conforms("createMeterLookup", r)


@pytest.mark.parametrize("strict", [False, True], ids=["lenient", "strict"])
def test_json_media_types_are_case_insensitive_and_a_missing_one_is_415(
    sim: Sim, start_sim: Callable[..., Sim], strict: bool
) -> None:
    server = start_sim("--strict") if strict else sim
    for content_type, status in (("APPLICATION/JSON", 201), ("application/json; charset=UTF-8", 201), (None, 415)):
        lid = new_id()
        headers = {"Content-Type": content_type} if content_type else {}
        r = server.client.post(f"{BASE}/meterLookups/{lid}", content=json.dumps(lookup(METER, lid)), headers=headers)
        assert r.status_code == status, (content_type, r.text)
        assert_conforms("createMeterLookup", r)


def test_too_large_a_body_is_413_error_detail(sim: Sim) -> None:
    lid = new_id()
    body = lookup(METER, lid)
    body["padding"] = "x" * 2_000_000
    r = sim.post(f"/meterLookups/{lid}", body)
    assert r.status_code == 413, r.text
    assert_conforms("createMeterLookup", r)


def test_malformed_json_is_a_format_error(sim: Sim) -> None:
    lid = new_id()
    headers = {"Content-Type": "application/json"}
    r = sim.client.post(f"{BASE}/meterLookups/{lid}", content=b'{"meter": ', headers=headers)
    assert "body" in errors_of(r)


def test_every_offending_field_is_named_by_its_json_path(sim: Sim) -> None:
    pid = new_id()
    body = purchase(METER, 5000, pid)
    del body["client"]
    body["meter"]["meterId"] = "not-a-meter!"
    body["purchaseAmount"]["currency"] = "ZAR"
    body["originator"]["terminalId"] = "123"
    body["msisdn"] = "abc"
    r = sim.post(f"/tokenPurchases/{pid}", body)
    assert_conforms("createTokenPurchaseRequest", r)
    found = errors_of(r)
    expected = {"client", "meter.meterId", "purchaseAmount.currency", "originator.terminalId", "msisdn"}
    assert expected <= set(found), found
    assert found["purchaseAmount.currency"]["value"] == "ZAR"
    assert r.json()["id"] == pid and r.json()["requestType"] == "TOKEN_PURCHASE_REQUEST"


def test_polymorphic_payment_method_is_checked_by_its_type(sim: Sim) -> None:
    pid = new_id()
    body = purchase(METER, 5000, pid)
    body["paymentMethods"] = [{"type": "CARD", "amount": {"amount": 5000, "currency": "710"}, "pan": "12ab"}]
    found = errors_of(sim.post(f"/tokenPurchases/{pid}", body))
    assert any(f.startswith("paymentMethods[0]") for f in found), found


def test_lenient_mode_behaves_like_jackson(sim: Sim) -> None:
    pid = "a7d8a676-bdd0-f7cc-62b0-2a5e35792367"  # shaped like a UUID, but not version 4
    pid = pid[:-6] + new_id()[-6:]
    body = purchase(METER, "5000", pid, unknownField={"nested": True})
    r = sim.post(f"/tokenPurchases/{pid}", body)
    assert r.status_code == 201, r.text
    assert r.json()["amounts"]["requestAmount"]["amount"] == 5000
    assert "unknownField" not in r.json()
    assert_conforms("createTokenPurchaseRequest", r)


def test_strict_mode_rejects_what_lenient_mode_tolerates(start_sim: Callable[..., Sim]) -> None:
    server = start_sim("--strict")
    pid = new_id()
    found = errors_of(server.post(f"/tokenPurchases/{pid}", purchase(METER, "5000", pid, unknownField=1)))
    assert set(found) == {"purchaseAmount.amount", "unknownField"}, found
    not_v4 = "a7d8a676-bdd0-f7cc-62b0-2a5e35792367"
    found = errors_of(server.post(f"/tokenPurchases/{not_v4}", purchase(METER, 5000, not_v4)))
    assert {"path:purchaseId"} <= set(found), found
    pid = new_id()
    assert server.post(f"/tokenPurchases/{pid}", purchase(METER, 5000, pid)).status_code == 201


def test_path_ids_must_be_uuid_shaped(sim: Sim) -> None:
    found = errors_of(sim.post("/meterLookups/not-a-uuid", lookup(METER, "not-a-uuid")))
    assert "path:lookupId" in found


def test_health_and_swagger_ui_are_served(sim: Sim) -> None:
    assert httpx.get(f"{sim.base}/health").json()["status"] == "ok"
    ui = httpx.get(f"{sim.base}{BASE}/ui/")
    assert ui.status_code == 200 and "swagger" in ui.text.lower()
    # The UI loads the contract from the URL it names: that URL serves the document.
    found = re.search(r'url: "([^"]+)"', ui.text)
    assert found, ui.text
    assert httpx.get(f"{sim.base}{found[1]}").json()["info"]["title"] == SPEC["info"]["title"]


def contract(server: Sim, form: str, encoding: str = "identity") -> httpx.Response:
    r = httpx.get(f"{server.base}{BASE}/openapi.{form}", headers={"Accept-Encoding": encoding})
    assert r.status_code == 200, r.text
    return r


def test_the_contract_is_served_as_written(sim: Sim) -> None:
    """Named schemas and $refs intact, so client generators produce named models."""
    served = contract(sim, "json")
    assert served.headers["content-type"] == "application/json"
    document = served.json()
    assert document == SPEC
    assert '"$ref": "#/components/schemas/' in served.text
    assert {"ErrorDetail", "MeterLookupRequest", "PurchaseResponse"} <= set(document["components"]["schemas"])
    validate(document)


def test_the_contract_is_served_as_yaml_too(sim: Sim) -> None:
    served = contract(sim, "yaml")
    assert served.headers["content-type"] == "application/yaml"
    assert served.content == (ROOT / "openapi" / "prepaidutility-v3.yaml").read_bytes()
    assert yaml.safe_load(served.text) == contract(sim, "json").json()


def test_the_contract_documents_answer_get_and_head_only(sim: Sim) -> None:
    url = f"{sim.base}{BASE}/openapi.json"
    head = httpx.head(url, headers={"Accept-Encoding": "identity"})
    assert head.status_code == 200 and head.content == b""
    assert int(head.headers["content-length"]) == len(contract(sim, "json").content)
    r = httpx.post(url, json={})
    assert r.status_code == 405 and r.headers["allow"] == "GET, HEAD"
    assert r.json()["errorType"] == "FUNCTION_NOT_SUPPORTED"


@pytest.mark.parametrize("form", ["json", "yaml"])
def test_the_contract_is_gzip_compressed_for_clients_that_accept_it(sim: Sim, form: str) -> None:
    plain = contract(sim, form)
    assert "content-encoding" not in plain.headers and plain.headers["vary"] == "Accept-Encoding"
    for accepted in ("gzip", "br;q=1.0, gzip;q=0.5", "*"):
        compressed = contract(sim, form, accepted)
        assert compressed.headers["content-encoding"] == "gzip", accepted
        assert int(compressed.headers["content-length"]) < len(plain.content) / 4
        assert compressed.content == plain.content  # as httpx decompressed it
    assert "content-encoding" not in contract(sim, form, "gzip;q=0, *").headers


def test_strict_mode_serves_the_closed_contract(start_sim: Callable[..., Sim]) -> None:
    server = start_sim("--strict")
    served = contract(server, "json", "gzip")
    document = served.json()
    assert '"$ref": "#/components/schemas/' in served.text
    schemas = document["components"]["schemas"]
    for name, schema in schemas.items():
        if "properties" in schema:
            assert schema["additionalProperties"] is False, name
    # Only the closing differs from the contract as written.
    for name, schema in schemas.items():
        written = SPEC["components"]["schemas"][name]
        assert set(schema) - set(written) <= {"additionalProperties"}, name
    assert document["paths"] == SPEC["paths"]
    validate(document)
    assert yaml.safe_load(contract(server, "yaml", "gzip").text) == document


@pytest.mark.parametrize("args", [["--version"], ["serve", "--help"]])
def test_cli_answers(args: list[str]) -> None:
    out = subprocess.run([cli(), *args], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert ("ppu-sim" in out.stdout) if args == ["--version"] else ("--strict" in out.stdout)


def test_bad_users_option_is_a_usage_error() -> None:
    out = subprocess.run([cli(), "serve", "--users", "nopassword"], capture_output=True, text=True, timeout=60)
    assert out.returncode == 2 and "user:password" in out.stderr


def test_format_error_on_an_advice_names_its_id_and_the_original(sim: Sim) -> None:
    pid, cid = new_id(), new_id()
    r = sim.post(f"/tokenPurchases/{pid}/confirmations/{cid}", {"id": cid, "requestId": pid})
    found = errors_of(r)
    assert {"tenders", "time", "thirdPartyIdentifiers"} <= set(found)
    assert r.json()["id"] == cid and r.json()["originalId"] == pid
    assert r.json()["requestType"] == "CONFIRMATION_ADVICE"
    assert_conforms("confirmTokenPurchase", r)
