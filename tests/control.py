"""Test support for the control API: a PoS client in its own session, and the control document's check."""

from __future__ import annotations

import copy
import uuid
from functools import cache
from typing import Any

import httpx
import jsonschema
import yaml
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT4

from tests.support import AUTH, BASE, ROOT, Sim

CONTROL_DOC = yaml.safe_load((ROOT / "openapi" / "ppu-sim-control.yaml").read_text())


def _nullable_as_type(node: Any) -> Any:
    """OpenAPI 3.0's ``nullable`` in the JSON Schema form a validator understands."""
    if isinstance(node, dict):
        out = {k: _nullable_as_type(v) for k, v in node.items() if k != "nullable"}
        if node.get("nullable") and "type" in node:
            out["type"] = [node["type"], "null"]
        return out
    if isinstance(node, list):
        return [_nullable_as_type(v) for v in node]
    return node


@cache
def _registry() -> Registry:
    return Registry().with_resource("doc", Resource(contents=_nullable_as_type(CONTROL_DOC), specification=DRAFT4))


def _operation(op_id: str) -> dict[str, Any]:
    for item in CONTROL_DOC["paths"].values():
        for op in item.values():
            if op.get("operationId") == op_id:
                return op
    raise KeyError(op_id)


def conforms(op_id: str, response: httpx.Response) -> httpx.Response:
    """The answer's status is documented for the operation and its body matches that status's schema."""
    declared = _operation(op_id)["responses"].get(str(response.status_code))
    assert declared, f"{op_id} does not document {response.status_code}: {response.text}"
    if "$ref" in declared:
        declared = CONTROL_DOC["components"]["responses"][declared["$ref"].rsplit("/", 1)[1]]
    content = declared.get("content")
    if not content:
        assert response.content == b""
        return response
    media = response.headers["content-type"].split(";")[0]
    assert media in content, f"{op_id} {response.status_code} is not documented as {media}"
    if media != "application/json":
        return response
    schema = copy.deepcopy(content[media]["schema"])
    if "$ref" in schema:
        schema = {"$ref": schema["$ref"].replace("#/", "doc#/")}
    else:
        schema = _rebased(_nullable_as_type(schema))
    errors = list(jsonschema.Draft4Validator(schema, registry=_registry()).iter_errors(response.json()))
    assert not errors, f"{op_id} {response.status_code} breaks the control document: {errors[0]}"
    return response


def _rebased(node: Any) -> Any:
    if isinstance(node, dict):
        return {k: (v.replace("#/", "doc#/") if k == "$ref" else _rebased(v)) for k, v in node.items()}
    if isinstance(node, list):
        return [_rebased(v) for v in node]
    return node


class Pos:
    """A PoS under test: its own session on a shared simulator, and the control API for that session."""

    def __init__(self, sim: Sim, session: str | None = None, auth: tuple[str, str] = AUTH) -> None:
        self.sim = sim
        self.session = session or f"test-{uuid.uuid4().hex[:12]}"
        self.client = httpx.Client(base_url=sim.base, auth=auth, headers={"X-PPU-Session": self.session}, timeout=30)

    def post(self, path: str, body: Any, **kwargs: Any) -> httpx.Response:
        return self.client.post(BASE + path, json=body, **kwargs)

    def control(self, method: str, path: str, op_id: str, **kwargs: Any) -> httpx.Response:
        params = {"session": self.session, **kwargs.pop("params", {})}
        return conforms(
            op_id, httpx.request(method, self.sim.base + "/sim" + path, params=params, timeout=30, **kwargs)
        )

    def journal(self, **params: Any) -> list[dict[str, Any]]:
        response = self.control("GET", "/journal", "getJournal", params={"limit": 10000, **params})
        assert response.status_code == 200, response.text
        return response.json()["exchanges"]

    def count(self, criteria: dict[str, Any]) -> dict[str, Any]:
        response = self.control("POST", "/journal/count", "countExchanges", json=criteria)
        assert response.status_code == 200, response.text
        return response.json()

    def transactions(self) -> dict[str, Any]:
        response = self.control("GET", "/transactions", "getTransactions")
        assert response.status_code == 200, response.text
        return response.json()

    def load(self, pack: str) -> httpx.Response:
        return self.control(
            "POST", "/scenarios", "loadScenarios", content=pack, headers={"Content-Type": "application/yaml"}
        )

    def close(self) -> None:
        self.client.close()
