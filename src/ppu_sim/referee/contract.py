"""Strict-contract findings for a recorded request body, computed when a report asks for them.

A lenient simulator accepts what the production provider accepts (unknown fields, numeric
strings); the referee still tells the PoS team, reading the body the journal kept against the
contract with every model closed, exactly as ``--strict`` would. Nothing is paid per request.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from ppu_sim.control.masking import MASK
from ppu_sim.interface import spec
from ppu_sim.interface.validation import FORMAT_CHECKER, RequestValidator, describe, strict_document


@cache
def _validators() -> dict[str, Any]:
    document = strict_document(spec.document())
    models = document["components"]["schemas"]
    found = {}
    for path_item in document["paths"].values():
        for op in path_item.values():
            if not isinstance(op, dict):
                continue
            schema = op.get("requestBody", {}).get("content", {}).get("application/json", {}).get("schema")
            if schema:
                # References written out in place: resolving them on every body costs more than the checks.
                root = {"components": document["components"], "allOf": [_inline(schema, models, ())]}
                found[op["operationId"]] = RequestValidator(root, format_checker=FORMAT_CHECKER)
    return found


def _inline(node: Any, models: dict[str, Any], within: tuple[str, ...]) -> Any:
    """``node`` with every reference to a model replaced by the model, except one that recurses."""
    if isinstance(node, list):
        return [_inline(item, models, within) for item in node]
    if not isinstance(node, dict):
        return node
    ref = node.get("$ref")
    if isinstance(ref, str) and ref.startswith("#/components/schemas/"):
        name = ref.rsplit("/", 1)[1]
        return node if name in within else _inline(models[name], models, (*within, name))
    return {key: _inline(value, models, within) for key, value in node.items()}


def strict_problems(operation: str, body: Any) -> list[str]:
    """``field: message`` for every way ``body`` breaks the strict contract (masked values excepted)."""
    validator = _validators().get(operation)
    if validator is None or not isinstance(body, dict):
        return []
    problems = (p for error in validator.iter_errors(body) for p in describe(error))
    shown = {f"{p['field']}: {p['msg']}" for p in problems if not _masked(p.get("value"))}
    return sorted(shown)


def _masked(value: Any) -> bool:
    """The journal masked it: the original was not seen, so it cannot be judged."""
    return isinstance(value, str) and (MASK in value or "******" in value)
