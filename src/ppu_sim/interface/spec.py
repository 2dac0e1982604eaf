"""The contract document: where it is, and the facts the server derives from it.

Routing and validation are Connexion's, straight from the file; this module only answers the
few questions asked outside a routed request (which statuses an operation may answer, which
operation an unroutable path was aiming at).
"""

from __future__ import annotations

import re
from functools import cache, lru_cache
from pathlib import Path
from typing import Any

import yaml

from ppu_sim.paths import bundled

SPEC_FILE = "prepaidutility-v3.yaml"
BASE_PATH = "/prepaidutility/v3"


def spec_path() -> Path:
    return bundled("openapi") / SPEC_FILE


@cache
def text() -> str:
    """The contract as written (comments and all)."""
    return spec_path().read_text("utf-8")


@cache
def document() -> dict[str, Any]:
    return yaml.safe_load(text())


def operations() -> dict[str, tuple[str, str, dict[str, Any]]]:
    """operationId -> (method, path template, operation object)."""
    return {
        op["operationId"]: (method.upper(), path, op)
        for path, item in document()["paths"].items()
        for method, op in item.items()
        if isinstance(op, dict) and "operationId" in op
    }


@cache
def allowed_statuses() -> dict[str, frozenset[int]]:
    """Every status each operation lists; scripted replies must stay within them."""
    return {op_id: frozenset(int(s) for s in op["responses"]) for op_id, (_, _, op) in operations().items()}


@cache
def _templates() -> list[tuple[re.Pattern[str], str, str]]:
    out = []
    for op_id, (method, path, _) in operations().items():
        out.append((template_pattern(path), method, op_id))
    return out


def template_pattern(template: str, prefix: str = "") -> re.Pattern[str]:
    """A path template as a regular expression, each ``{name}`` a group taking one segment (as
    Connexion's router reads it), after a literal ``prefix``."""
    parts = re.split(r"\{([^/]+?)\}", template)  # odd items are parameter names
    regex = "".join(f"(?P<{part}>[^/]+)" if i % 2 else re.escape(part) for i, part in enumerate(parts))
    return re.compile(re.escape(prefix) + regex)


def _relative(path: str) -> str:
    return path[len(BASE_PATH) :] if path.startswith(BASE_PATH) else path


@cache
def _by_resource() -> dict[str, list[tuple[re.Pattern[str], str, str]]]:
    """The templates by their first path segment (the resource), so a path is tried against a few
    of them, not all: this runs for every request. A template starting with a parameter is under ""."""
    index: dict[str, list[tuple[re.Pattern[str], str, str]]] = {}
    for template in _templates():
        first = template[0].pattern.split("/")[1]
        index.setdefault("" if first.startswith("(?P<") else first, []).append(template)
    return index


def _candidates(relative: str) -> list[tuple[re.Pattern[str], str, str]]:
    index = _by_resource()
    found = index.get(relative.split("/", 2)[1] if relative.startswith("/") else "", [])
    return found + index[""] if "" in index else found


def route(path: str) -> tuple[str | None, dict[str, str]]:
    """The operation an API path addresses (any method) and its path parameters; for a path the
    contract lacks, the first operation of the same resource and no parameters."""
    relative = _relative(path)
    for rx, _, op in _candidates(relative):
        if found := rx.fullmatch(relative):
            return op, found.groupdict()
    resource = "/" + relative.strip("/").split("/")[0]
    return next((op for op, (_, p, _) in operations().items() if p.split("/")[:2] == resource.split("/")), None), {}


def operation_for(method: str, path: str) -> tuple[str | None, dict[str, str]]:
    """The operation a request addresses exactly (method and path) and its path parameters."""
    relative = _relative(path)
    for rx, op_method, op in _candidates(relative):
        if op_method == method and (found := rx.fullmatch(relative)):
            return op, found.groupdict()
    return None, {}


def methods_for_path(path: str) -> list[str]:
    """Methods the contract defines for a path (for the Allow header of a 405)."""
    relative = _relative(path)
    return sorted({method for rx, method, _ in _candidates(relative) if rx.fullmatch(relative)})


@lru_cache(maxsize=128)
def python_name(name: str) -> str:
    """operationId or parameter name, camelCase, as a Python name: purchaseId -> purchase_id."""
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()
