"""The compiled validator (jsonschema-rs) only ever short-cuts a body the Python validator accepts.

A body it calls valid is answered without the Python validator ever seeing it, so on every case
where the two libraries could differ (formats Draft 4 does not check, date-time wording, integer
ranges jsonschema-rs applies to strings only, ECMA ``$``, strings Rust cannot hold) they must agree.
"""

from __future__ import annotations

import copy
from typing import Any
from unittest import mock

import pytest
from connexion.json_schema import resolve_refs

from ppu_sim.interface import spec, validation
from ppu_sim.interface.validation import (
    FORMAT_CHECKER,
    FormatProblem,
    RequestValidator,
    _read_json,
    compiled_validator,
    known_valid,
    strict_document,
)
from tests.support import lookup, new_id, purchase, sts_meter

METER = sts_meter("0123456789")


def _schema(document: dict[str, Any], path: str) -> dict[str, Any]:
    return resolve_refs(document)["paths"][path]["post"]["requestBody"]["content"]["application/json"]["schema"]


def _with(body: dict[str, Any], path: tuple[str, ...], value: Any) -> dict[str, Any]:
    out = copy.deepcopy(body)
    target = out
    for key in path[:-1]:
        target = target.setdefault(key, {})
    target[path[-1]] = value
    return out


def _cases() -> list[tuple[str, dict[str, Any]]]:
    bought = purchase(METER, 20000, new_id())
    looked = lookup(METER, new_id())
    cases = [("a correct purchase", bought), ("a correct lookup", looked)]
    for name, value in {
        "id not a UUID (Draft 4 has no uuid format)": "not-a-uuid",
        "id a version 1 UUID": "6ba7b810-9dad-11d1-80b4-00c04fd430c8",
    }.items():
        cases.append((name, _with(bought, ("id",), value)))
    for value in (
        "2026-11-21T10:15:30",
        "2026-11-21t10:15:30z",
        "2026-11-21T10:15:60Z",
        "2026-12-31T23:59:60Z",
        "0000-01-01T00:00:00Z",
        "2026-11-21T10:15:30.123456789+02:00",
        "2026-11-21 10:15:30Z",
        "2026-02-30T10:15:30Z",
        "",
    ):
        cases.append((f"time {value!r}", _with(bought, ("time",), value)))
    for value in (2**63 - 1, 2**63, -(2**63), -(2**63) - 1, 2**70, 1.0, 10000.5, True, "10000"):
        cases.append((f"amount {value!r}", _with(bought, ("purchaseAmount", "amount"), value)))
    for value in (2**31 - 1, 2**31, -(2**31) - 1, 40.0):
        cases.append((f"slipWidth {value!r}", _with(looked, ("slipData", "slipWidth"), value)))
    for value in ("01234567897\n", "0123456789\u0667", "\ud800", "x" * 5000):
        cases.append((f"meterId {value!r}", _with(bought, ("meter", "meterId"), value)))
    cases.append(("a lone surrogate in a name", _with(bought, ("client", "name"), "\udfff")))
    cases.append(("an unknown field", _with(bought, ("colour",), "blue")))
    cases.append(("a missing field", {k: v for k, v in bought.items() if k != "time"}))
    return cases


@pytest.mark.parametrize("strict", [False, True], ids=["lenient", "strict"])
@pytest.mark.parametrize("case", _cases(), ids=lambda c: c[0])
def test_the_compiled_validator_agrees_with_the_python_one(case: tuple[str, dict[str, Any]], strict: bool) -> None:
    _, body = case
    document = strict_document(spec.document()) if strict else spec.document()
    path = "/meterLookups/{lookupId}" if "purchaseAmount" not in body else "/tokenPurchases/{purchaseId}"
    schema = _schema(document, path)
    python_valid = not any(RequestValidator(schema, format_checker=FORMAT_CHECKER).iter_errors(body))
    assert known_valid(compiled_validator(schema), body) == python_valid


# Texts on which orjson and the json module could read differently: integers past 64 bits (orjson
# makes them floats), the constants only the json module takes, escapes, duplicate names, a BOM.
READINGS = [
    '{"a": 9223372036854775807, "b": -9223372036854775808}',
    '{"a": -9223372036854775809}',
    '{"a": 18446744073709551615}',
    '{"a": 18446744073709551616}',
    '{"a": 99999999999999999999999, "b": "12345678901234567890"}',
    '{"a": 1e400}',
    '{"a": NaN}',
    '{"a": -Infinity}',
    '{"a": 0.1, "b": -0.0, "c": 5e-324, "d": 1.7976931348623157e308, "e": 1E2}',
    '{"a": "\\ud800"}',
    '{"a": "\\ud83d\\ude00 \\u0000 \\n"}',
    '{"a": 1, "a": 2}',
    '\ufeff{"a": 1}',
    ' {"a" : [1, {"b": null}, true] } \n',
    '{"a": "\u00e9"}',
    '{"a": 1,}',
    '{"a":' * 31 + '[1, "[[[{{{"]' + "}" * 31,  # 32 levels, brackets in a string
    '{"a":' * 32 + "[1]" + "}" * 32,  # 33 levels: past the bound
]


@pytest.mark.parametrize("text", READINGS)
def test_a_body_reads_as_the_json_module_reads_it(text: str) -> None:
    """orjson reads usual bodies (three times as fast); what it reads differently goes to the json module."""

    def reading(read: Any) -> tuple[str, Any]:
        try:
            value = read()
        except FormatProblem as exc:
            return "refused", exc.errors
        return "read", repr(value)

    raw = text.encode()
    ours = reading(lambda: _read_json(raw, "utf-8", 32, 10))
    theirs = reading(lambda: _plain_read_json(raw))
    assert ours == theirs


def _plain_read_json(raw: bytes) -> Any:
    """_read_json as it was, with the json module alone."""
    with mock.patch.object(validation, "_LONG_DIGITS", b""):  # every body "may" hold long digits
        return _read_json(raw, "utf-8", 32, 10)
