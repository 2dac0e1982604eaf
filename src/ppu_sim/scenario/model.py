"""Typed form of a loaded scenario pack: what the loader produces and the engine consumes."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

from ppu_sim.provider.vending import VendSpec

# Operations a scenario can script, by the contract's operationIds.
OPERATIONS = (
    "createMeterLookup",
    "createTokenPurchaseRequest",
    "confirmTokenPurchase",
    "retryPurchaseRequest",
    "reverseTokenPurchase",
    "trialTokenPurchaseRequest",
    "requestTokenReprint",
    "createFaultReport",
    "createKeyChangeTokenRequest",
    "confirmKeyChange",
    "notifyTokenPurchase",
)
ANY_OPERATION = "*"
# Operations whose success carries tokens, so the only ones a ``vend`` section can shape.
VENDING_OPERATIONS = frozenset(
    {"createTokenPurchaseRequest", "retryPurchaseRequest", "trialTokenPurchaseRequest", "requestTokenReprint"}
)
# Follow-ups a client repeats until they get a final answer: their sequences count per purchase
# (or key change) by default; everything else counts per meter.
REPEATED_OPERATIONS = frozenset(
    {"confirmTokenPurchase", "reverseTokenPurchase", "retryPurchaseRequest", "confirmKeyChange", "notifyTokenPurchase"}
)
# Transport faults after which the client has no usable reply (a hold outlasts the client's timeout;
# a dribbled body does arrive whole).
REPLY_LOSING_FAULTS = frozenset({"reset", "close", "empty", "malformed", "truncated", "hold"})


@dataclass(frozen=True)
class Delay:
    """Seconds to wait before the reply: fixed, uniform in [low, high], or log-normal (long tail)."""

    kind: str
    a: float
    b: float = 0.0


@dataclass(frozen=True)
class Fault:
    """A transport-level misbehaviour applied to the reply (see faults.py for each kind)."""

    kind: str
    then: str = "answer"
    seconds: float | None = None
    chunk: int = 8
    interval: float = 0.5


@dataclass(frozen=True)
class ErrorReply:
    status: int
    error_type: str
    message: str | None = None
    detail: dict[str, Any] | None = None


@dataclass(frozen=True)
class Step:
    """One entry of a ``respond`` sequence; ``times`` None means "from here on"."""

    times: int | None = None
    per: str | None = None
    error: ErrorReply | None = None
    vend: bool | None = None
    status: int | None = None
    delay: Delay | None = None
    fault: Fault | None = None
    # The author knowingly answers a status the contract does not list (a deviating reference server).
    off_contract: bool = False

    @property
    def processes(self) -> bool:
        """Whether the request is carried out: errors decline unless ``vend``; replies shape a success."""
        return self.vend if self.vend is not None else self.error is None

    @property
    def loses_reply(self) -> bool:
        """The request is carried out but the client never reads the outcome."""
        if not self.processes:
            return False
        return self.error is not None or (self.fault is not None and self.fault.kind in REPLY_LOSING_FAULTS)


class MeterPattern(Protocol):
    """A compiled ``meterId: {pattern}`` (RE2, so that no pattern can make matching slow)."""

    @property
    def pattern(self) -> str: ...

    def fullmatch(self, text: str) -> object: ...


@dataclass(frozen=True)
class Match:
    operations: frozenset[str] | None = None
    meter_ids: frozenset[str] | None = None
    meter_pattern: MeterPattern | None = None
    sts: bool | None = None
    amount_min: int | None = None
    amount_max: int | None = None
    currency: str | None = None
    utility_type: str | None = None
    originator_id: str | None = None
    client_id: str | None = None
    terminal_id: str | None = None
    labels: tuple[tuple[str, str], ...] = ()
    headers: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class FreeUnits:
    units: float = 50.0
    due: str = "once"  # once | always | never


@dataclass(frozen=True)
class StsSpec:
    """A meter's STS identity as a scenario gives it; what is unset comes from the meter's codes or defaults.

    ``meter_number`` gives a meter whose id is not an STS number (a TST meter) the DRN its keys use.
    """

    meter_number: str | None = None
    sgc: str | None = None
    krn: int | None = None
    ti: int | None = None
    kt: int | None = None
    ea: int | None = None
    dkga: int | None = None
    base_date: int | None = None
    ken: int | None = None
    fault: str | None = None  # bad-crc | other-meter | reused-tid (ppu_sim.sts.vendor.Fault)


@dataclass(frozen=True)
class MeterSpec:
    """What a lookup shows and what limits a purchase; unset parts come from the data generator."""

    meter: dict[str, Any] = field(default_factory=dict)
    customer: dict[str, Any] = field(default_factory=dict)
    utility: dict[str, Any] = field(default_factory=dict)
    utility_type: str | None = None
    min_amount: int = 100
    max_amount: int = 500_000
    arrears: int | None = None
    free_units: FreeUnits | None = None
    key_change: dict[str, str] | None = None
    sts: StsSpec | None = None
    slip_lines: tuple[dict[str, Any], ...] = ()


@dataclass(frozen=True)
class Scenario:
    name: str
    pack: str
    summary: str = ""
    tags: tuple[str, ...] = ()
    match: Match = field(default_factory=Match)
    meter: MeterSpec = field(default_factory=MeterSpec)
    vend: VendSpec = field(default_factory=VendSpec)
    respond: dict[str, tuple[Step, ...]] = field(default_factory=dict)
    # Partial approval: the most the provider approves, whatever is asked.
    approve_max: int | None = None
    source: str = ""

    def steps_for(self, operation: str) -> tuple[Step, ...]:
        return self.respond.get(operation, self.respond.get(ANY_OPERATION, ()))

    def counted_per(self, operation: str) -> str:
        """What the sequence scripted for an operation counts per: meter, purchase or scenario."""
        steps = self.steps_for(operation)
        default = "purchase" if operation in REPEATED_OPERATIONS else "meter"
        return (steps[0].per if steps else None) or default


@dataclass(frozen=True)
class Pack:
    name: str
    path: str
    description: str
    scenarios: tuple[Scenario, ...]
    latency: Delay | None = None
