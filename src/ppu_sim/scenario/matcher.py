"""Which scenario answers a request: precedence, matching rules and the override header."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from functools import lru_cache
from types import MappingProxyType
from typing import Any

from ppu_sim.scenario.model import Match, Pack, Scenario
from ppu_sim.sts.meter import luhn_check_digit

OVERRIDE_HEADER = "x-ppu-scenario"
_NOTHING: Mapping[str, Any] = MappingProxyType({})


@lru_cache(maxsize=65536)
def is_sts_meter_number(meter_id: str) -> bool:
    """11 or 13 digits whose last digit is the Luhn check digit of the others.

    Cached: the default pack asks it of every request, and a session uses a few meters many times."""
    return len(meter_id) in (11, 13) and meter_id.isdigit() and luhn_check_digit(meter_id[:-1]) == meter_id[-1]


class RequestFacts:
    """The parts of a request that scenarios can match on: the meter (which every request is
    matched by) and the headers (the override) pulled out at once, the others read from the body
    when a rule asks for them. Most rules name only meters; pulling all ten facts out of every
    request was a fifth of a lookup."""

    __slots__ = ("_body", "headers", "meter_id", "operation")

    operation: str
    meter_id: str | None
    headers: Mapping[str, str]
    _body: Mapping[str, Any]

    @classmethod
    def of(cls, operation: str, body: Mapping[str, Any], headers: Mapping[str, str]) -> RequestFacts:
        """Facts from any mapping: a value of an unexpected shape is a fact the request lacks."""
        facts = cls.__new__(cls)
        facts.operation = operation
        facts.meter_id = _value(_part(body, "meter"), "meterId", str)
        facts.headers = {k.lower(): v for k, v in headers.items()}
        facts._body = body
        return facts

    @property
    def amount(self) -> int | None:
        return _value(_part(self._body, "purchaseAmount"), "amount", int)

    @property
    def currency(self) -> str | None:
        return _value(_part(self._body, "purchaseAmount"), "currency", str)

    @property
    def utility_type(self) -> str | None:
        return _value(self._body, "utilityType", str)

    @property
    def originator_id(self) -> str | None:
        return _value(_part(_part(self._body, "originator"), "institution"), "id", str)

    @property
    def client_id(self) -> str | None:
        return _value(_part(self._body, "client"), "id", str)

    @property
    def terminal_id(self) -> str | None:
        return _value(_part(self._body, "originator"), "terminalId", str)

    @property
    def labels(self) -> frozenset[tuple[str, str]]:
        return _labels(self._body.get("transactionLabels"))


def _part(body: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    found = body.get(key)
    # A parsed body's parts are dicts: the exact type check spares most requests the ABC's.
    return found if type(found) is dict or isinstance(found, Mapping) else _NOTHING


def _value(body: Mapping[str, Any], key: str, kind: type) -> Any:
    found = body.get(key)
    if type(found) is kind:  # the common case, and never a bool for kind int
        return found
    return found if isinstance(found, kind) and not isinstance(found, bool) else None


def _labels(labels: Any) -> frozenset[tuple[str, str]]:
    if not isinstance(labels, list):
        return frozenset()
    pairs = ((_value(lb, "name", str), _value(lb, "value", str)) for lb in labels if isinstance(lb, Mapping))
    return frozenset((name, value) for name, value in pairs if name is not None and value is not None)


def matches(rule: Match, req: RequestFacts) -> bool:
    """All criteria must hold; a criterion on a field the request lacks does not hold (checked lazily)."""
    return bool(
        (rule.operations is None or req.operation in rule.operations)
        and (rule.meter_ids is None or req.meter_id in rule.meter_ids)
        and (rule.meter_pattern is None or (req.meter_id is not None and rule.meter_pattern.fullmatch(req.meter_id)))
        and (rule.sts is None or (req.meter_id is not None and is_sts_meter_number(req.meter_id) == rule.sts))
        and (rule.amount_min is None or (req.amount is not None and req.amount >= rule.amount_min))
        and (rule.amount_max is None or (req.amount is not None and req.amount <= rule.amount_max))
        and (rule.currency is None or req.currency == rule.currency)
        and (rule.utility_type is None or req.utility_type == rule.utility_type)
        and (rule.originator_id is None or req.originator_id == rule.originator_id)
        and (rule.client_id is None or req.client_id == rule.client_id)
        and (rule.terminal_id is None or req.terminal_id == rule.terminal_id)
        and (not rule.labels or req.labels.issuperset(rule.labels))
        and (not rule.headers or all(req.headers.get(k) == v for k, v in rule.headers))
    )


class UnknownScenario(LookupError):
    """The override header named a scenario that is not loaded."""


class Catalogue:
    """Loaded packs in precedence order: a later-loaded pack wins; within a pack, the first match."""

    def __init__(self, packs: Sequence[Pack]) -> None:
        self.packs = tuple(packs)
        self.ordered: tuple[Scenario, ...] = tuple(sc for pack in reversed(self.packs) for sc in pack.scenarios)
        self.by_name: dict[str, Scenario] = {}
        for sc in reversed(self.ordered):
            self.by_name[sc.name] = sc  # the higher-precedence definition of a name wins
        self.latency = next((p.latency for p in reversed(self.packs) if p.latency), None)
        # Most scenarios name their meters: index those, so a request only tries the scenarios that
        # name its meter plus the ones that name none, still in precedence order.
        by_meter: dict[str, list[int]] = {}
        self._open: tuple[int, ...] = tuple(r for r, sc in enumerate(self.ordered) if sc.match.meter_ids is None)
        for rank, sc in enumerate(self.ordered):
            for meter_id in sc.match.meter_ids or ():
                by_meter.setdefault(meter_id, []).append(rank)
        self._ranks = {m: tuple(sorted((*ranks, *self._open))) for m, ranks in by_meter.items()}

    def select(self, req: RequestFacts) -> Scenario | None:
        named = req.headers.get(OVERRIDE_HEADER)
        if named:
            try:
                return self.by_name[named]
            except KeyError:
                raise UnknownScenario(named) from None
        ranks = self._ranks.get(req.meter_id or "", self._open)
        return next((self.ordered[r] for r in ranks if matches(self.ordered[r].match, req)), None)
