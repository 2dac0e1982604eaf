"""Test support: a real simulator process on a free port, request builders, and the contract check.

Tests talk HTTP to `ppu-sim serve` started through the installed console script, exactly as the
README tells users to start it.
"""

from __future__ import annotations

import copy
import os
import re
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from functools import cache
from pathlib import Path
from typing import Any

import httpx
import jsonschema
import yaml
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT4

from ppu_sim.process import free_port, stop
from ppu_sim.scenario.matcher import luhn_check_digit

ROOT = Path(__file__).resolve().parents[1]
CONFORMANCE = ROOT / "conformance"
SPEC = yaml.safe_load((ROOT / "openapi" / "prepaidutility-v3.yaml").read_text())
BASE = "/prepaidutility/v3"
AUTH = ("test", "test")


def new_id() -> str:
    return str(uuid.uuid4())


def sts_meter(payload: str) -> str:
    """An STS meter number: the payload plus its Luhn check digit (the digit itself is tested separately)."""
    return payload + luhn_check_digit(payload)


def cli() -> str:
    """The installed `ppu-sim` console script next to this interpreter."""
    return str(Path(sys.executable).with_name("ppu-sim"))


class Sim:
    """A running simulator process and an HTTP client bound to it."""

    def __init__(self, args: Sequence[str] = (), env: dict[str, str] | None = None) -> None:
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.log = ROOT / ".pytest_cache" / f"sim-{self.port}.log"
        self.log.parent.mkdir(exist_ok=True)
        self.proc = subprocess.Popen(
            [cli(), "serve", "--port", str(self.port), *args],
            stdout=self.log.open("wb"),
            stderr=subprocess.STDOUT,
            env={**os.environ, **(env or {})},
        )
        self.client = httpx.Client(base_url=self.base, auth=AUTH, timeout=30)
        self._wait()

    def _wait(self) -> None:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"simulator exited {self.proc.returncode}:\n{self.log.read_text()}")
            try:
                if httpx.get(f"{self.base}/health", timeout=1).status_code == 200:
                    return
            except httpx.TransportError:
                time.sleep(0.1)
        raise RuntimeError(f"simulator did not become healthy:\n{self.log.read_text()}")

    def post(self, path: str, body: Any, **kwargs: Any) -> httpx.Response:
        return self.client.post(BASE + path, json=body, **kwargs)

    def stop(self) -> None:
        self.client.close()
        stop(self.proc, 10)


def while_watching(
    server: Sim, send: Callable[[], httpx.Response], probe: Callable[[httpx.Client], httpx.Response] | None = None
) -> tuple[httpx.Response, int]:
    """Send from a thread and probe (GET /health) until the answer is in. Returns the answer and how
    many probes were answered while it was still awaited.

    A server that held its event loop for the whole of the request answers none, or the one it had
    begun (and the probes sent while the body was still on its way); one that does the work beside
    the loop answers them all along. That order, unlike a time budget, holds on a loaded machine:
    how long each pause may be is for the benchmarks (bench/read_pauses.py, bench/held_requests.py).
    """
    answer: list[httpx.Response] = []
    sender = threading.Thread(target=lambda: answer.append(send()))
    during = 0
    with httpx.Client(base_url=server.base, auth=AUTH, timeout=30) as client:
        sender.start()
        while sender.is_alive():
            got = probe(client) if probe else client.get("/health")
            assert got.is_success, got.text
            during += sender.is_alive()
    sender.join()
    assert answer, "the request got no answer"
    return answer[0], during


# -- request builders (the shapes the Electrum Postman pack sends) ----------------------------


def institution(id_: str, name: str) -> dict[str, str]:
    return {"id": id_, "name": name}


def transaction(id_: str | None = None) -> dict[str, Any]:
    return {
        "id": id_ or new_id(),
        "time": "2026-11-21T10:15:30.123+02:00",
        "originator": {
            "institution": institution("123456", "Test"),
            "terminalId": "12345678",
            "merchant": {
                "merchantType": "5411",
                "merchantId": "123456789012345",
                "merchantName": {"name": "Corner Shop", "city": "Cape Town", "region": "WC", "country": "ZA"},
            },
        },
        "client": institution("001", "PoS Test"),
        "settlementEntity": institution("000", "None"),
        "receiver": institution("999", "ppu-sim"),
        "thirdPartyIdentifiers": [{"institutionId": "123456", "transactionIdentifier": "tx-1"}],
        "stan": "123456",
        "rrn": "rrn-0001",
    }


def lookup(meter_id: str, id_: str | None = None) -> dict[str, Any]:
    return {**transaction(id_), "meter": {"meterId": meter_id}}


def purchase(meter_id: str, amount: int | str, id_: str | None = None, **extra: Any) -> dict[str, Any]:
    return {
        **transaction(id_),
        "meter": {"meterId": meter_id},
        "purchaseAmount": {"amount": amount, "currency": "710"},
        **extra,
    }


def advice(purchase_id: str, id_: str | None = None, **extra: Any) -> dict[str, Any]:
    return {
        "id": id_ or new_id(),
        "requestId": purchase_id,
        "time": "2026-11-21T10:16:00Z",
        "thirdPartyIdentifiers": [{"institutionId": "123456", "transactionIdentifier": "tx-1"}],
        **extra,
    }


def confirmation(purchase_id: str, id_: str | None = None, amount: int = 10000) -> dict[str, Any]:
    tender = {"accountType": "DEFAULT", "amount": {"amount": amount, "currency": "710"}, "tenderType": "CASH"}
    return advice(purchase_id, id_, tenders=[tender])


def reversal(purchase_id: str, id_: str | None = None, reason: str = "TIMEOUT") -> dict[str, Any]:
    return advice(purchase_id, id_, reversalReason=reason)


def reprint(meter_id: str, original_ref: str | None = None, id_: str | None = None) -> dict[str, Any]:
    body = {**transaction(id_), "meter": {"meterId": meter_id}}
    if original_ref:
        body["originalRef"] = original_ref
    return body


def fault_report(meter_id: str, id_: str | None = None) -> dict[str, Any]:
    return {
        **transaction(id_),
        "meter": {"meterId": meter_id},
        "contactNumber": "0821234567",
        "faultType": "METER_DEAD",
        "faultDescription": "Display blank since Tuesday",
    }


def with_id(body: dict[str, Any], id_: str) -> dict[str, Any]:
    out = copy.deepcopy(body)
    out["id"] = id_
    return out


# -- the contract --------------------------------------------------------------------------------


@cache
def _registry() -> Registry:
    return Registry().with_resource("spec", Resource(contents=SPEC, specification=DRAFT4))


def operation(op_id: str) -> tuple[str, dict[str, Any]]:
    for path, item in SPEC["paths"].items():
        for op in item.values():
            if isinstance(op, dict) and op.get("operationId") == op_id:
                return path, op
    raise KeyError(op_id)


def assert_conforms(op_id: str, response: httpx.Response) -> None:
    """The response's status is listed for the operation and its body matches that status's schema."""
    _, op = operation(op_id)
    status = str(response.status_code)
    assert status in op["responses"], f"{op_id} does not list status {status}: {response.text}"
    declared = op["responses"][status]
    if "$ref" in declared:
        declared = SPEC["components"]["responses"][declared["$ref"].rsplit("/", 1)[1]]
    content = declared.get("content")
    if not content:
        assert response.content == b"", f"{op_id} {status} should have no body: {response.text}"
        return
    schema = content["application/json"]["schema"]
    ref = schema["$ref"].replace("#/", "spec#/") if "$ref" in schema else None
    validator = jsonschema.Draft4Validator(
        {"$ref": ref} if ref else schema, registry=_registry(), format_checker=jsonschema.Draft4Validator.FORMAT_CHECKER
    )
    errors = sorted(validator.iter_errors(response.json()), key=str)
    assert not errors, f"{op_id} {status} body breaks the contract: {errors[0]}"


# -- schemathesis ----------------------------------------------------------------------------------


def schemathesis_finds_nothing(server: Sim, config: Path, document: str, operations: int, *args: str) -> None:
    """Run `st` on a served document with a config file; it must test every operation and find nothing.

    Runs from the config's folder, so no other schemathesis.toml is picked up; stops the server.
    """
    st = Path(sys.executable).with_name("st")
    try:
        run = subprocess.run(
            [str(st), "--config-file", str(config), "run", server.base + document, *args, "--no-color"],
            cwd=config.parent,
            capture_output=True,
            text=True,
            timeout=600,
        )
    finally:
        server.stop()
    output = run.stdout + run.stderr
    tail = output[-8000:]
    assert run.returncode == 0, tail
    assert f"Tested: {operations}\n" in output, tail
    counts = re.search(r"(\d+) generated, (\d+) passed", output)
    assert counts and counts[1] == counts[2] and int(counts[1]) > 0, tail
    assert "Failures:" not in output and "Errors:" not in output, tail
