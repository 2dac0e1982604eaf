"""Which scenario answers a request: precedence, matching rules and the override header."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from functools import lru_cache
from types import MappingProxyType
from typing import Any

from ppu_sim.scenario.model import Match, MeterPattern, Pack, Scenario
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


Test = Callable[[Match, RequestFacts], bool]

# Each criterion of a rule, by the field that sets it, and whether a request meets it (one that
# lacks the field does not). A field left at None (or no labels, no headers) sets nothing.
_CRITERIA: tuple[tuple[str, Test], ...] = (
    ("operations", lambda m, r: r.operation in (m.operations or ())),
    ("meter_ids", lambda m, r: r.meter_id in (m.meter_ids or ())),
    ("meter_pattern", lambda m, r: _fullmatch(m.meter_pattern, r.meter_id)),
    ("sts", lambda m, r: r.meter_id is not None and is_sts_meter_number(r.meter_id) == m.sts),
    ("amount_min", lambda m, r: _within(r.amount, m.amount_min, None)),
    ("amount_max", lambda m, r: _within(r.amount, None, m.amount_max)),
    ("currency", lambda m, r: r.currency == m.currency),
    ("utility_type", lambda m, r: r.utility_type == m.utility_type),
    ("originator_id", lambda m, r: r.originator_id == m.originator_id),
    ("client_id", lambda m, r: r.client_id == m.client_id),
    ("terminal_id", lambda m, r: r.terminal_id == m.terminal_id),
    ("labels", lambda m, r: r.labels.issuperset(m.labels)),
    ("headers", lambda m, r: all(r.headers.get(k) == v for k, v in m.headers)),
)


def _within(amount: int | None, low: int | None, high: int | None) -> bool:
    return amount is not None and (low is None or amount >= low) and (high is None or amount <= high)


def _fullmatch(pattern: MeterPattern | None, meter_id: str | None) -> bool:
    return pattern is not None and meter_id is not None and pattern.fullmatch(meter_id) is not None


def _criteria(rule: Match) -> tuple[Test, ...]:
    """The tests of the criteria the rule sets. Most rules set one or two of the thirteen: asking
    each of thirteen whether it is set, for every scenario a request tried, was most of matching."""
    return tuple(test for name, test in _CRITERIA if getattr(rule, name) not in (None, ()))


def _matches(tests: tuple[Test, ...], rule: Match, req: RequestFacts) -> bool:
    """All the rule's criteria hold (checked lazily, in order)."""
    for test in tests:  # noqa: SIM110 (the generator that all() would take costs as much as a test)
        if not test(rule, req):
            return False
    return True


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
        self._tests = tuple(_criteria(sc.match) for sc in self.ordered)

    def select(self, req: RequestFacts) -> Scenario | None:
        named = req.headers.get(OVERRIDE_HEADER)
        if named:
            try:
                return self.by_name[named]
            except KeyError:
                raise UnknownScenario(named) from None
        ranks = self._ranks.get(req.meter_id or "", self._open)
        for rank in ranks:
            scenario = self.ordered[rank]
            if _matches(self._tests[rank], scenario.match, req):
                return scenario
        return None
