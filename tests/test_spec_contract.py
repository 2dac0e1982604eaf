"""Contract tests: openapi/prepaidutility-v3.yaml against the interface reference.

Every expectation is read from tests/data/ppu-v3-interface.json (interface v3.13.0, extracted
from the Java source; origin in tests/data/README.md), never from the spec itself, so a drift
in either file fails here with the name of the operation, model, field or enum concerned.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from openapi_spec_validator import validate

Json = dict[str, Any]

REPO_ROOT = Path(__file__).resolve().parents[1]
SPEC_PATH = REPO_ROOT / "openapi" / "prepaidutility-v3.yaml"
REFERENCE_PATH = Path(__file__).resolve().parent / "data" / "ppu-v3-interface.json"

SCHEMA_PREFIX = "#/components/schemas/"
# Statuses the mock adds to every operation on top of the reference's own error statuses.
MOCK_ERROR_STATUSES = frozenset({401, 413, 415})
SEED_MARK = "(Seed-documented; newer than interface v3.13.0.)"
DEPRECATED_RETRY = ("/tokenPurchases/{purchaseId}/retries/{retryId}", "retryPurchaseRequestByRetryId")


REF: Json = json.loads(REFERENCE_PATH.read_text(encoding="utf-8"))
SPEC: Json = yaml.safe_load(SPEC_PATH.read_text(encoding="utf-8"))
SCHEMAS: dict[str, Json] = SPEC["components"]["schemas"]
MODELS: dict[str, Json] = {m["name"]: m for m in REF["models"]}
OPERATIONS: dict[str, Json] = {op["operationId"]: op for op in REF["operations"]}


# --------------------------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------------------------


def resolve(node: Json) -> Json:
    """Follow local ``$ref`` pointers until a concrete node is reached."""
    seen: set[str] = set()
    while "$ref" in node:
        pointer: str = node["$ref"]
        assert pointer.startswith("#/"), f"non-local $ref {pointer}"
        assert pointer not in seen, f"$ref cycle at {pointer}"
        seen.add(pointer)
        target: Any = SPEC
        for part in pointer[2:].split("/"):
            target = target[part.replace("~1", "/").replace("~0", "~")]
        node = target
    return node


def ref_name(node: Json) -> str | None:
    """The component schema name a node points at, or None if it is not a schema $ref."""
    pointer = node.get("$ref")
    if isinstance(pointer, str) and pointer.startswith(SCHEMA_PREFIX):
        return pointer[len(SCHEMA_PREFIX) :]
    return None


def chain(model_name: str) -> list[str]:
    """The model followed by its Java superclasses, nearest first."""
    names = [model_name]
    while MODELS[names[-1]]["extends"]:
        names.append(MODELS[names[-1]]["extends"])
    return names


def flattened_fields(model_name: str) -> dict[str, tuple[str, Json]]:
    """jsonName -> (declaring model, reference field), superclass fields first; a field
    re-declared in a subclass takes the subclass definition."""
    out: dict[str, tuple[str, Json]] = {}
    for name in reversed(chain(model_name)):
        for field in MODELS[name]["fields"]:
            out[field["jsonName"]] = (name, field)
    return out


def is_polymorphic(model_name: str) -> bool:
    return MODELS.get(model_name, {}).get("discriminator") is not None


def concrete_schemas(model_name: str) -> list[str]:
    """Schemas that carry a model's properties: the model itself, or for a discriminated base
    (PaymentMethod, Pin) every subtype in its mapping."""
    if is_polymorphic(model_name):
        mapping: dict[str, str] = MODELS[model_name]["discriminator"]["mapping"]
        return sorted(set(mapping.values()))
    return [model_name]


def subtype_value(schema_name: str, field_name: str) -> str | None:
    """The discriminator value a subtype schema must pin its discriminator property to."""
    value = MODELS.get(schema_name, {}).get("discriminatorValue")
    if value and value["property"] == field_name:
        result: str = value["value"]
        return result
    return None


def walk(node: Any, path: str = "") -> Iterator[tuple[str, Json]]:
    """Every mapping inside a node, with a readable location."""
    if isinstance(node, dict):
        yield path, node
        for key, value in node.items():
            yield from walk(value, f"{path}/{key}")
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from walk(value, f"{path}/{index}")


def seed_only_fields() -> dict[str, dict[str, str | None]]:
    """Declaring model -> {field name: referenced schema name or None}, from seedComparison."""
    out: dict[str, dict[str, str | None]] = {}
    for entry in REF["seedComparison"]["seedOnlyFields"]:
        match = re.fullmatch(r"(\w+)(?:\s*\((\w+)\))?", entry["field"].strip())
        assert match, f"unparsable seed-only field {entry['field']!r}"
        for model in (m.strip() for m in entry["model"].split(",")):
            out.setdefault(model, {})[match.group(1)] = match.group(2)
    return out


SEED_ONLY_FIELDS = seed_only_fields()


def seed_fields_for(schema_name: str) -> set[str]:
    """Seed-only property names a (flattened) schema may carry, including inherited ones."""
    names: set[str] = set()
    for model in chain(schema_name) if schema_name in MODELS else [schema_name]:
        names |= set(SEED_ONLY_FIELDS.get(model, {}))
    return names


def spec_operation(method: str, path: str) -> Json:
    path_item = SPEC["paths"].get(path)
    assert path_item is not None, f"path {path} missing from spec"
    operation = path_item.get(method.lower())
    assert operation is not None, f"{method} {path} missing from spec"
    result: Json = operation
    return result


def error_schema_name(response: Json) -> str | None:
    content = resolve(response).get("content", {})
    assert set(content) == {"application/json"}, f"content types {sorted(content)}"
    return ref_name(content["application/json"]["schema"])


# --------------------------------------------------------------------------------------------
# parameter sets
# --------------------------------------------------------------------------------------------

OPERATION_IDS = list(OPERATIONS)

ERROR_CASES = [
    pytest.param(op_id, status, id=f"{op_id}-{status}")
    for op_id, op in OPERATIONS.items()
    for status in sorted({int(s) for s in op["responses"]} - {op["successStatus"]} | MOCK_ERROR_STATUSES)
]

MODEL_NAMES = [m["name"] for m in REF["models"]]

FIELD_CASES = [
    pytest.param(model, field, schema, id=f"{model}.{field}" + ("" if schema == model else f"@{schema}"))
    for model in MODEL_NAMES
    for field in flattened_fields(model)
    for schema in concrete_schemas(model)
]

ENUM_USAGES = [
    pytest.param(enum["name"], usage, id=f"{enum['name']}@{usage}") for enum in REF["enums"] for usage in enum["usedBy"]
]

SEED_FIELD_CASES = [
    pytest.param(model, field, id=f"{model}.{field}") for model, fields in SEED_ONLY_FIELDS.items() for field in fields
]

SEED_MODELS = [m for m in REF["seedComparison"]["seedOnlyModels"] if m.get("fields")]

POLYMORPHIC = [name for name in MODEL_NAMES if is_polymorphic(name)]


# --------------------------------------------------------------------------------------------
# document-level checks
# --------------------------------------------------------------------------------------------


def test_document_passes_openapi_spec_validator() -> None:
    validate(SPEC)


def test_openapi_version_and_info() -> None:
    assert SPEC["openapi"] == "3.0.3"
    assert SPEC["info"]["version"] == REF["meta"]["sources"]["ppu"]["version"]
    assert SPEC["info"]["title"] == "Prepaid Utility Service Interface"


def test_server_base_path() -> None:
    assert [s["url"] for s in SPEC["servers"]] == [REF["meta"]["basePath"]]


def test_http_basic_security_is_accepted_everywhere() -> None:
    schemes = SPEC["components"]["securitySchemes"]
    for name, scheme in REF["meta"]["securitySchemes"].items():
        expected = scheme["openapi3Equivalent"]
        assert {k: schemes[name].get(k) for k in expected} == expected
    assert {"httpBasic": []} in SPEC["security"]
    for path, item in SPEC["paths"].items():
        for method, operation in item.items():
            if "security" in operation:
                assert {"httpBasic": []} in operation["security"], f"{method} {path}"


def test_no_unexpected_operations() -> None:
    expected = {(op["method"].lower(), op["path"]) for op in REF["operations"]}
    expected.add(("post", DEPRECATED_RETRY[0]))
    actual = {(m, p) for p, item in SPEC["paths"].items() for m in item if m != "parameters"}
    assert actual == expected


def test_schemas_are_flattened_without_defaults() -> None:
    """No allOf anywhere; no default (connexion would inject it into request bodies);
    additionalProperties only where the reference field is a map."""
    map_fields = {
        (model, f["jsonName"]) for model in MODEL_NAMES for f in MODELS[model]["fields"] if f["container"] == "map"
    }
    for location, node in walk(SCHEMAS, "#/components/schemas"):
        assert "allOf" not in node, location
        assert "default" not in node, location
        if "additionalProperties" in node:
            parts = location.split("/")
            assert parts[-2] == "properties", location
            schema_name, field = parts[3], parts[-1]
            declared = flattened_fields(schema_name)[field][0]
            assert (declared, field) in map_fields, location


# --------------------------------------------------------------------------------------------
# operations
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("op_id", OPERATION_IDS)
def test_operation_route(op_id: str) -> None:
    op = OPERATIONS[op_id]
    assert op["fullPath"] == REF["meta"]["basePath"] + op["path"]
    operation = spec_operation(op["method"], op["path"])
    assert operation["operationId"] == op_id
    assert not operation.get("deprecated", False)


@pytest.mark.parametrize("op_id", OPERATION_IDS)
def test_operation_parameters(op_id: str) -> None:
    op = OPERATIONS[op_id]
    operation = spec_operation(op["method"], op["path"])
    params = {(p["in"], p["name"]): p for p in operation.get("parameters", [])}
    expected = [("path", p) for p in op["pathParams"]] + [("query", p) for p in op["queryParams"]]
    assert set(params) == {(where, p["name"]) for where, p in expected}
    for where, ref_param in expected:
        param = params[(where, ref_param["name"])]
        assert param["required"] is bool(ref_param["required"]), ref_param["name"]
        assert param["schema"]["type"] == ref_param["type"], ref_param["name"]
        assert param["schema"].get("format") == "uuid", ref_param["name"]
        assert param.get("description") == ref_param["description"], ref_param["name"]


@pytest.mark.parametrize("op_id", OPERATION_IDS)
def test_operation_request_body(op_id: str) -> None:
    op = OPERATIONS[op_id]
    body = spec_operation(op["method"], op["path"])["requestBody"]
    assert body.get("required", False) is bool(op["requestBodyRequired"])
    assert set(body["content"]) == set(op["consumes"])
    for media in body["content"].values():
        assert ref_name(media["schema"]) == op["requestBodyModel"]


@pytest.mark.parametrize("op_id", OPERATION_IDS)
def test_operation_success_response(op_id: str) -> None:
    op = OPERATIONS[op_id]
    responses = spec_operation(op["method"], op["path"])["responses"]
    status = str(op["successStatus"])
    assert status in responses
    success = resolve(responses[status])
    model = op["responses"][status]
    if model is None:
        assert "content" not in success, "reference declares no body for this status"
    else:
        assert set(success["content"]) == set(op["produces"])
        for media in success["content"].values():
            assert ref_name(media["schema"]) == model
    other_2xx = [s for s in responses if s.startswith("2") and s != status]
    assert not other_2xx, f"unexpected success statuses {other_2xx}"


@pytest.mark.parametrize(("op_id", "status"), ERROR_CASES)
def test_operation_error_response(op_id: str, status: int) -> None:
    op = OPERATIONS[op_id]
    responses = spec_operation(op["method"], op["path"])["responses"]
    assert str(status) in responses
    expected = op["responses"].get(str(status)) or "ErrorDetail"
    assert expected == "ErrorDetail"
    assert error_schema_name(responses[str(status)]) == expected


@pytest.mark.parametrize("op_id", OPERATION_IDS)
def test_operation_declares_no_other_statuses(op_id: str) -> None:
    op = OPERATIONS[op_id]
    responses = spec_operation(op["method"], op["path"])["responses"]
    expected = {int(s) for s in op["responses"]} | MOCK_ERROR_STATUSES
    assert {int(s) for s in responses} == expected


def test_deprecated_retry_route_mirrors_retry_operation() -> None:
    current = OPERATIONS["retryPurchaseRequest"]
    new = spec_operation(current["method"], current["path"])
    old = spec_operation(current["method"], DEPRECATED_RETRY[0])
    assert old["operationId"] == DEPRECATED_RETRY[1]
    assert old.get("deprecated") is True
    assert [(p["in"], p["name"]) for p in old["parameters"]] == [
        ("path", "purchaseId"),
        ("path", "retryId"),
    ]
    assert all(p["required"] and p["schema"].get("format") == "uuid" for p in old["parameters"])
    assert old["requestBody"]["content"] == new["requestBody"]["content"]
    assert old["requestBody"]["required"] is True
    assert old["responses"] == new["responses"]


# --------------------------------------------------------------------------------------------
# models and fields
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("model", MODEL_NAMES)
def test_model_exists(model: str) -> None:
    assert model in SCHEMAS
    schema = SCHEMAS[model]
    if is_polymorphic(model):
        assert "oneOf" in schema and "properties" not in schema
    else:
        assert schema.get("type") == "object"
        assert "properties" in schema or not flattened_fields(model)
    assert schema.get("description"), "model description missing"


@pytest.mark.parametrize("model", MODEL_NAMES)
def test_model_has_no_unknown_properties(model: str) -> None:
    if is_polymorphic(model):
        assert "properties" not in SCHEMAS[model], "a oneOf base must not declare properties"
        return  # its subtypes are checked as models of their own
    extra = set(SCHEMAS[model].get("properties", {})) - set(flattened_fields(model)) - seed_fields_for(model)
    assert not extra, f"properties not in the reference: {sorted(extra)}"


@pytest.mark.parametrize("model", MODEL_NAMES)
def test_model_property_order_is_superclass_first(model: str) -> None:
    reference_order = list(flattened_fields(model))
    for schema_name in concrete_schemas(model):
        spec_order = [p for p in SCHEMAS[schema_name].get("properties", {}) if p in flattened_fields(model)]
        assert spec_order == reference_order, schema_name


@pytest.mark.parametrize(("model", "field", "schema_name"), FIELD_CASES)
def test_field(model: str, field: str, schema_name: str) -> None:
    _, ref_field = flattened_fields(model)[field]
    schema = SCHEMAS[schema_name]
    prop = schema.get("properties", {}).get(field)
    assert prop is not None, f"{schema_name}.{field} missing"

    container = ref_field["container"]
    if container == "list":
        assert prop.get("type") == "array"
        items = prop["items"]
        if ref_field["ref"]:
            assert ref_name(items) == ref_field["ref"]
        else:
            assert items.get("type") == ref_field["itemJsonType"]
            assert items.get("format") == ref_field["itemFormat"]
    elif container == "map":
        assert prop.get("type") == "object"
        assert ref_name(prop["additionalProperties"]) == ref_field["ref"]
    elif ref_field["ref"]:
        assert ref_name(prop) == ref_field["ref"]
        target = SCHEMAS[ref_field["ref"]]
        assert "oneOf" in target or target.get("type") == ref_field["jsonType"]
    else:
        assert prop.get("type") == ref_field["jsonType"]
        assert prop.get("format") == ref_field["format"]

    required = field in schema.get("required", [])
    assert required is bool(ref_field["required"]), "required flag differs"

    pattern = ref_field["pattern"]
    assert prop.get("pattern") == (f"^(?:{pattern})$" if pattern else None)
    assert prop.get("minLength") == ref_field["minLength"]
    assert prop.get("maxLength") == ref_field["maxLength"]
    assert prop.get("minimum") == ref_field["minimum"]
    assert prop.get("maximum") == ref_field["maximum"]

    if ref_field["enumValues"]:
        pinned = subtype_value(schema_name, field)
        if pinned is not None:
            assert prop.get("enum") == [pinned]
            assert pinned in ref_field["enumValues"]
        else:
            missing = set(ref_field["enumValues"]) - set(prop.get("enum", []))
            assert not missing, f"enum values missing: {sorted(missing)}"
    else:
        assert "enum" not in prop

    description = prop.get("description") or ""
    assert ref_field["description"] is None or description.startswith(ref_field["description"].rstrip(".")), (
        "description does not carry the reference text"
    )


# --------------------------------------------------------------------------------------------
# enums
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("enum_name", "usage"), ENUM_USAGES)
def test_enum_values_where_used(enum_name: str, usage: str) -> None:
    enum = next(e for e in REF["enums"] if e["name"] == enum_name)
    declaring, _, field = usage.rpartition(".")
    expected = set(enum["values"])
    # Enums serialised by constant name but printed differently by toString() (FaultType):
    # clients in the wild send the toString() form, so both must be accepted.
    expected |= {c["toString"] for c in enum.get("constants", []) if c.get("toString")}
    users = [
        schema
        for model in MODEL_NAMES
        if flattened_fields(model).get(field, ("",))[0] == declaring
        for schema in concrete_schemas(model)
    ]
    assert users, f"no schema carries {usage}"
    pinned_values: set[str] = set()
    for schema_name in users:
        prop = SCHEMAS[schema_name]["properties"][field]
        values = set(prop.get("enum", []))
        pinned = subtype_value(schema_name, field)
        if pinned is not None:
            assert values == {pinned}, schema_name
            pinned_values.add(pinned)
        else:
            missing = expected - values
            assert not missing, f"{schema_name}.{field} lacks {sorted(missing)}"
    if pinned_values:
        assert pinned_values == expected, "discriminator subtypes do not cover every value"


# --------------------------------------------------------------------------------------------
# polymorphism
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("model", POLYMORPHIC)
def test_discriminator_maps_every_subtype(model: str) -> None:
    disc = MODELS[model]["discriminator"]
    schema = SCHEMAS[model]
    expected_mapping = {value: SCHEMA_PREFIX + sub for value, sub in disc["mapping"].items()}
    assert schema["discriminator"]["propertyName"] == disc["property"]
    assert schema["discriminator"]["mapping"] == expected_mapping
    assert sorted(ref_name(branch) or "" for branch in schema["oneOf"]) == sorted(disc["mapping"].values())
    for value, sub in disc["mapping"].items():
        assert MODELS[sub]["extends"] == model, sub
        sub_schema = SCHEMAS[sub]
        assert sub_schema["properties"][disc["property"]].get("enum") == [value], sub
        assert disc["property"] in sub_schema.get("required", []), sub


# --------------------------------------------------------------------------------------------
# seed-only additions
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("model", "field"), SEED_FIELD_CASES)
def test_seed_only_field(model: str, field: str) -> None:
    expected_ref = SEED_ONLY_FIELDS[model][field]
    carriers = [schema for name in MODEL_NAMES if model in chain(name) for schema in concrete_schemas(name)]
    assert carriers, f"{model} is not a reference model"
    for schema_name in sorted(set(carriers)):
        prop = SCHEMAS[schema_name].get("properties", {}).get(field)
        assert prop is not None, f"{schema_name}.{field} missing"
        assert field not in SCHEMAS[schema_name].get("required", []), schema_name
        if field in flattened_fields(schema_name):
            continue  # re-declared by the reference itself (CardPayment.pin)
        assert (prop.get("description") or "").endswith(SEED_MARK), schema_name
        if expected_ref:
            assert ref_name(prop) == expected_ref, schema_name


@pytest.mark.parametrize("seed_model", SEED_MODELS, ids=[m["name"] for m in SEED_MODELS])
def test_seed_only_model(seed_model: Json) -> None:
    schema = SCHEMAS.get(seed_model["name"])
    assert schema is not None
    assert schema.get("type") == "object"
    for entry in seed_model["fields"]:
        match = re.fullmatch(r"(\w+)(?:\s*\((\w+)\))?", entry.strip())
        assert match, entry
        prop = schema["properties"].get(match.group(1))
        assert prop is not None, match.group(1)
        if match.group(2):
            assert prop.get("type") == match.group(2), match.group(1)
    used_as = re.match(r"(\w+): array on (.+?) \(", seed_model["usedAs"])
    if used_as:
        field, models = used_as.group(1), re.split(r",\s*|\s+and\s+", used_as.group(2))
        for model in models:
            prop = SCHEMAS[model]["properties"][field]
            assert prop.get("type") == "array" and ref_name(prop["items"]) == seed_model["name"]
    used_by_field = re.fullmatch(r"(\w+)\.(\w+)", seed_model["usedAs"].strip())
    if used_by_field:
        model, field = used_by_field.groups()
        assert ref_name(SCHEMAS[model]["properties"][field]) == seed_model["name"]


@pytest.mark.parametrize(
    "absent_enum",
    REF["enumsRequestedButAbsent"],
    ids=[e["name"] for e in REF["enumsRequestedButAbsent"]],
)
def test_seed_only_enum(absent_enum: Json) -> None:
    schema = SCHEMAS.get(absent_enum["name"])
    assert schema is not None
    values = [v for k, v in absent_enum.items() if k.startswith("values")]
    assert values, "reference lists no values"
    for value_list in values:
        assert set(value_list) <= set(schema.get("enum", []))
