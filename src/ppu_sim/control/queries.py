"""Questions a test asks of a session's journal: which exchanges match, and how many.

Criteria are checked whole before anything is read, so a malformed one is a 400 naming the
field, never a silent "0 found".
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ppu_sim.control.journal import Head, Snapshot

_MISSING = object()
_SEGMENT = re.compile(r"([^.\[\]]+)|\[(\d+)\]")


class BadCriteria(ValueError):
    """A criterion that cannot be applied; ``field`` names it as the caller wrote it."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


def select(
    journal: Snapshot,
    *,
    operation: str | None = None,
    meter_id: str | None = None,
    purchase_id: str | None = None,
    status: int | None = None,
    since: int | None = None,
) -> list[Head]:
    """The journal's filters: each given one must hold; ``since`` is exclusive (seq > since)."""
    return [
        h
        for h in journal.heads(since)
        if (operation is None or h.operation == operation)
        and (status is None or h.status == status)
        and (purchase_id is None or h.transaction == purchase_id)
        and (meter_id is None or h.meter_id == meter_id)
    ]


def parse_path(path: str, field: str) -> tuple[str | int, ...]:
    """``meter.meterId`` or ``paymentMethods[0].type`` as keys and indexes."""
    parts: list[str | int] = []
    position = 0
    for found in _SEGMENT.finditer(path):
        gap = path[position : found.start()]
        if gap not in ("", ".") or (gap == "." and not parts):
            break
        parts.append(found.group(1) if found.group(1) is not None else int(found.group(2)))
        position = found.end()
    if not parts or position != len(path):
        raise BadCriteria(field, f"not a JSON path like meter.meterId or tenders[0].amount: {path!r}")
    return tuple(parts)


def value_at(value: Any, path: tuple[str | int, ...]) -> Any:
    for part in path:
        if isinstance(part, int):
            found = isinstance(value, list) and part < len(value)
        else:
            found = isinstance(value, dict) and part in value
        if not found:
            return _MISSING
        value = value[part]
    return value


@dataclass(frozen=True)
class FieldTest:
    path: tuple[str | int, ...]
    equals: Any = _MISSING
    matches: re.Pattern[str] | None = None

    def __call__(self, body: Any) -> bool:
        found = value_at(body, self.path)
        if found is _MISSING:
            return False
        if self.matches is not None:
            return isinstance(found, (str, int, float)) and self.matches.search(str(found)) is not None
        return bool(found == self.equals)


@dataclass(frozen=True)
class Criteria:
    """What a verification counts: every given condition must hold."""

    operation: str | None = None
    status: int | None = None
    transaction: str | None = None
    path_ids: Mapping[str, str] | None = None
    body: tuple[FieldTest, ...] = ()

    @classmethod
    def parse(cls, data: Mapping[str, Any]) -> Criteria:
        tests = []
        for i, item in enumerate(data.get("body") or ()):
            where = f"body[{i}]"
            path = parse_path(item["path"], f"{where}.path")
            if ("equals" in item) == ("matches" in item):
                raise BadCriteria(where, "give exactly one of equals or matches")
            if "matches" in item:
                try:
                    tests.append(FieldTest(path, matches=re.compile(item["matches"])))
                except re.error as exc:
                    raise BadCriteria(f"{where}.matches", f"not a regular expression: {exc}") from None
            else:
                tests.append(FieldTest(path, equals=item["equals"]))
        return cls(
            data.get("operation"), data.get("status"), data.get("transaction"), data.get("pathIds"), tuple(tests)
        )

    def matching(self, journal: Snapshot) -> list[int]:
        """The exchanges that meet every condition: on their heads, and only those admitted so
        far opened, when there are body tests."""
        admitted = [h.seq for h in journal.heads() if self._admits(h)]
        if not self.body:
            return admitted
        return [e.seq for e in journal.opened(admitted) if all(test(e.request.value) for test in self.body)]

    def _admits(self, head: Head) -> bool:
        if self.operation is not None and head.operation != self.operation:
            return False
        if self.status is not None and head.status != self.status:
            return False
        if self.transaction is not None and head.transaction != self.transaction:
            return False
        return not self.path_ids or all(head.path_ids.get(k) == v for k, v in self.path_ids.items())
