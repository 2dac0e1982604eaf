"""Load and check scenario packs; every problem is reported as ``file:line: field: message``.

A pack is checked against the JSON Schema shipped beside this module, then for what a schema
cannot say: known errorTypes, statuses the contract lists for the operation, patterns that
compile, ranges that are not empty. One run reports every problem of a file (the parts the
schema accepts are still checked), each at the line of the field at fault. Nothing half-loaded
is ever used: a pack loads whole or not.
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Callable, Iterable, Mapping
from decimal import Decimal
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema
import re2

from ppu_sim.paths import bundled
from ppu_sim.provider.errors import ERROR_TYPES
from ppu_sim.provider.vending import ChargeSpec, TariffBlock, TokenSpec, VendSpec
from ppu_sim.scenario.model import (
    ANY_OPERATION,
    OPERATIONS,
    VENDING_OPERATIONS,
    Delay,
    ErrorReply,
    Fault,
    FreeUnits,
    Match,
    MeterPattern,
    MeterSpec,
    Pack,
    Scenario,
    Step,
    StsSpec,
)
from ppu_sim.scenario.source import Source, SourceError, clip, parse_source, read_source
from ppu_sim.sts.crypto import Algorithm
from ppu_sim.sts.keys import KeyGeneration
from ppu_sim.sts.meter import MeterNumber

Path_ = tuple[str | int, ...]


class ScenarioError(Exception):
    """One or more problems in scenario files, each already naming its file, line and field."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


def pack_schema() -> dict[str, Any]:
    text = resources.files("ppu_sim.scenario").joinpath("pack.schema.json").read_text("utf-8")
    return json.loads(text)


_VALIDATOR = jsonschema.Draft202012Validator(pack_schema())
_RE2_OPTIONS = re2.Options()
_RE2_OPTIONS.log_errors = False  # a refused pattern is reported as a problem, not logged to stderr


def builtin_pack_paths() -> list[Path]:
    """Built-in packs in load order; default.yaml (the catch-alls) is loaded first, so it ranks last."""
    files = sorted(bundled("scenarios").glob("*.y*ml"), key=lambda p: (p.name != "default.yaml", p.name))
    return files


def expand_paths(paths: Iterable[Path]) -> list[Path]:
    """Files as given, directories as their *.yaml / *.yml files in name order."""
    out: list[Path] = []
    for path in paths:
        if path.is_dir():
            out.extend(sorted(p for p in path.iterdir() if p.suffix in (".yaml", ".yml")))
        else:
            out.append(path)
    return out


def load_packs(paths: Iterable[Path], allowed_statuses: Mapping[str, frozenset[int]]) -> list[Pack]:
    """Load every file or fail with all problems of all files together."""
    packs: list[Pack] = []
    problems: list[str] = []
    for path in expand_paths(paths):
        try:
            packs.append(load_pack(path, allowed_statuses))
        except ScenarioError as exc:
            problems.extend(exc.problems)
    seen: dict[tuple[str, str], str] = {}
    for pack in packs:
        for sc in pack.scenarios:
            key = (pack.name, sc.name)
            if key in seen:
                problems.append(f"{sc.source}: name: scenario {sc.name!r} is already defined at {seen[key]}")
            seen[key] = sc.source
    if problems:
        raise ScenarioError(problems)
    return packs


def load_pack(path: Path, allowed_statuses: Mapping[str, frozenset[int]]) -> Pack:
    return _pack(lambda: read_source(path), path, allowed_statuses)


def parse_pack(text: str, path: Path, allowed_statuses: Mapping[str, frozenset[int]]) -> Pack:
    """A pack from its text (YAML, or JSON, which is YAML too), checked exactly as a file; ``path`` names it."""
    return _pack(lambda: parse_source(text), path, allowed_statuses)


def _pack(read: Callable[[], Source], path: Path, allowed_statuses: Mapping[str, frozenset[int]]) -> Pack:
    try:
        source = read()
    except SourceError as exc:
        where = f"{path}:{exc.line}: {_dotted(exc.field)}" if exc.line else str(path)
        raise ScenarioError([f"{where}: {exc.message}"]) from exc
    at = Locator(str(path), source.lines)
    data = source.data
    if data is None:
        raise ScenarioError([at((), "the file is empty; a pack needs at least `scenarios: []`")])
    # Every schema problem, then the deeper checks of whatever the schema found sound: one run
    # reports all the mistakes of a file.
    schema = list(dict.fromkeys(p for err in _VALIDATOR.iter_errors(data) for p in schema_problems(err)))
    name = (data.get("pack") if isinstance(data, dict) else None) or path.stem
    builder = _Builder(at, allowed_statuses, name, [where for where, _ in schema])
    scenarios, latency = builder.pack_parts(data)
    if schema or builder.problems:
        raise ScenarioError(at.report(schema + builder.problems))
    return Pack(builder.pack, str(path), data.get("description", ""), scenarios, latency)


def schema_problems(err: jsonschema.ValidationError) -> list[tuple[Path_, str]]:
    path = tuple(err.absolute_path)
    if err.validator == "oneOf" and not err.context:
        # Valid under several branches: only the "one of these keys" form is written that way.
        keys = [branch["required"][0] for branch in err.validator_value if set(branch) == {"required"}]
        return [(path, f"give only one of {', '.join(keys)}" if keys else "matches more than one allowed form")]
    if err.validator == "oneOf":
        # A key that no form knows is the mistake; otherwise the most specific branch explains best.
        known = list(dict.fromkeys(key for branch in err.validator_value for key in branch.get("properties", {})))
        unknown = _unknown_fields(path, err.instance, known) if known and isinstance(err.instance, dict) else []
        best = jsonschema.exceptions.best_match([err])
        if unknown or best.validator == "additionalProperties":
            return unknown or schema_problems(best)
        return [(path, _message(best))]
    if err.validator == "additionalProperties":
        return _unknown_fields(path, err.instance, list(err.schema.get("properties", {})))
    if err.validator == "required":
        return [((*path, key), f"{key!r} is required") for key in err.validator_value if key not in err.instance]
    return [(path, _message(err))]


def _unknown_fields(path: Path_, instance: dict[str, Any], known: list[str]) -> list[tuple[Path_, str]]:
    """Each unknown key at its own line, with the nearest known name."""
    unknown = [key for key in instance if key not in known]
    return [((*path, key), f"unknown field {clip(repr(key))}{_hint(key, known)}") for key in unknown]


def _message(err: jsonschema.ValidationError) -> str:
    if err.validator == "enum":
        return f"{clip(repr(err.instance))} is not one of the allowed values{_hint(err.instance, err.validator_value)}"
    # Messages start with the offending value: keep a huge one from flooding the report.
    shown = repr(err.instance)
    return clip(shown) + err.message[len(shown) :] if err.message.startswith(shown) else err.message


def _hint(word: object, valid: Iterable[object]) -> str:
    """The nearest valid name, if one is close ("did you mean"), then all of them."""
    names = [str(v) for v in valid]
    close = difflib.get_close_matches(word, names, n=1) if isinstance(word, str) else []
    guess = f"; did you mean {close[0]!r}?" if close else ""
    return f"{guess} (valid: {', '.join(names)})"


def _dotted(path: Path_) -> str:
    return "".join(map(_step, path)).lstrip(".") or "(top)"


def _step(key: object) -> str:
    """``[2]`` for an index, ``.name`` for a key; a key with line breaks, or a very long one, quoted and clipped."""
    if isinstance(key, int):
        return f"[{key}]"
    plain = isinstance(key, str) and key.isprintable() and len(key) <= 60
    return f".{key}" if plain else f"[{clip(repr(key))}]"


class Locator:
    """Turns a data path into ``file:line: dotted.field: message``."""

    def __init__(self, file: str, lines: dict[Path_, int]) -> None:
        self.file = file
        self.lines = lines

    def line(self, path: Path_) -> int:
        probe = path
        while probe not in self.lines and probe:
            probe = probe[:-1]
        return self.lines.get(probe, 1)

    def where(self, path: Path_) -> str:
        return f"{self.file}:{self.line(path)}"

    def __call__(self, path: Path_, message: str) -> str:
        return f"{self.where(path)}: {_dotted(path)}: {message}"

    def report(self, problems: list[tuple[Path_, str]]) -> list[str]:
        """Problems in the order of the file."""
        return [self(path, message) for path, message in sorted(problems, key=lambda p: self.line(p[0]))]


class _Builder:
    """Schema-valid data to model objects, collecting the checks a schema cannot express.

    Parts with schema problems (``broken``) are skipped, and so are the checks that depend on
    them; everything else is still checked, so that one run reports every mistake.
    """

    def __init__(self, at: Locator, allowed: Mapping[str, frozenset[int]], pack: str, broken: list[Path_]) -> None:
        self.at = at
        self.allowed = allowed
        self.pack = pack
        self.broken = broken
        self.problems: list[tuple[Path_, str]] = []

    def problem(self, path: Path_, message: str) -> None:
        self.problems.append((path, message))

    def sound(self, path: Path_) -> bool:
        """No schema problem in this part, nor in a part holding it."""
        return not any(path[: len(b)] == b or b[: len(path)] == path for b in self.broken)

    def pack_parts(self, data: Any) -> tuple[tuple[Scenario, ...], Delay | None]:
        if not isinstance(data, dict):
            return (), None
        listed = data.get("scenarios")
        built = [self.scenario(sc, ("scenarios", i)) for i, sc in enumerate(listed)] if isinstance(listed, list) else []
        latency = self.delay(data["latency"], ("latency",)) if "latency" in data and self.sound(("latency",)) else None
        return tuple(sc for sc in built if sc is not None), latency

    def scenario(self, data: Any, path: Path_) -> Scenario | None:
        if not isinstance(data, dict):
            return None
        match = self.match(data.get("match", {}), (*path, "match")) if self.sound((*path, "match")) else None
        meter = self.meter(data.get("meter", {}), (*path, "meter")) if self.sound((*path, "meter")) else None
        vend = data.get("vend", {})
        if "vend" in data and match and meter and self.sound((*path, "vend")):
            self.check_vend(vend, match, meter, (*path, "vend"))
        respond = {}
        scripted = data.get("respond")
        for op, steps in scripted.items() if match and isinstance(scripted, dict) else ():
            where = (*path, "respond", op)
            if not self.sound(where):
                continue
            if op != ANY_OPERATION and match.operations is not None and op not in match.operations:
                self.problem(where, f"never used: match.operations does not include {op}")
            targets = self._targets(op, match)
            respond[op] = tuple(self.step(targets, s, (*where, i)) for i, s in enumerate(steps))
            self.check_sequence(respond[op], where)
        if not (self.sound(path) and match and meter):
            return None
        return Scenario(
            name=data["name"],
            pack=self.pack,
            summary=data.get("summary", ""),
            tags=tuple(data.get("tags", ())),
            match=match,
            meter=meter,
            vend=self.vend(vend),
            respond=respond,
            approve_max=vend.get("approveMax"),
            source=self.at.where(path),
        )

    def match(self, data: dict[str, Any], path: Path_) -> Match:
        meter_id = data.get("meterId")
        ids = pattern = sts = None
        if isinstance(meter_id, str):
            ids = frozenset([meter_id])
        elif isinstance(meter_id, list):
            ids = frozenset(meter_id)
        elif isinstance(meter_id, dict) and "pattern" in meter_id:
            pattern = self.regex(meter_id["pattern"], (*path, "meterId", "pattern"))
        elif isinstance(meter_id, dict):
            sts = meter_id["sts"]
        amount = data.get("amount")
        lo, hi = (amount, amount) if isinstance(amount, int) else ((amount or {}).get("min"), (amount or {}).get("max"))
        if lo is not None and hi is not None and lo > hi:
            self.problem((*path, "amount"), f"empty range: min {lo} > max {hi}")
        ops = data.get("operations")
        return Match(
            operations=frozenset(ops) if ops else None,
            meter_ids=ids,
            meter_pattern=pattern,
            sts=sts,
            amount_min=lo,
            amount_max=hi,
            currency=data.get("currency"),
            utility_type=data.get("utilityType"),
            originator_id=data.get("originatorId"),
            client_id=data.get("clientId"),
            terminal_id=data.get("terminalId"),
            labels=tuple(sorted(data.get("transactionLabels", {}).items())),
            headers=tuple(sorted((k.lower(), v) for k, v in data.get("header", {}).items())),
        )

    def regex(self, text: str, path: Path_) -> MeterPattern | None:
        """RE2, not Python's re: matching takes time linear in the id, whatever the pattern (docs/scenarios.md)."""
        try:
            return re2.compile(text, _RE2_OPTIONS)
        except re2.error as exc:
            reason = exc.args[0].decode() if exc.args and isinstance(exc.args[0], bytes) else str(exc)
            self.problem(path, f"bad pattern {text!r}: {reason} (RE2 syntax: no backreferences or look-around)")
            return None

    def meter(self, data: dict[str, Any], path: Path_) -> MeterSpec:
        codes = ("supplyGroupCode", "keyRevisionNum", "tariffIndex", "tokenTechCode", "algorithmCode", "serviceType")
        lo, hi = data.get("minAmount", 100), data.get("maxAmount", 500_000)
        if lo > hi:
            self.problem((*path, "minAmount"), f"minAmount {lo} is above maxAmount {hi}")
        free = data.get("freeUnits")
        return MeterSpec(
            meter={k: data[k] for k in codes if k in data},
            customer=dict(data.get("customer", {})),
            utility=dict(data.get("utility", {})),
            utility_type=data.get("utilityType"),
            min_amount=lo,
            max_amount=hi,
            arrears=data.get("arrears"),
            free_units=FreeUnits(float(free.get("units", 50)), free.get("due", "once")) if free else None,
            key_change=data.get("keyChange"),
            sts=self.sts(data, path) if "sts" in data else None,
            slip_lines=tuple(data.get("slip", ())),
        )

    def sts(self, meter: dict[str, Any], path: Path_) -> StsSpec:
        data = meter["sts"]
        if "meterNumber" in data:
            try:
                MeterNumber.parse(data["meterNumber"])
            except ValueError as exc:
                self.problem((*path, "sts", "meterNumber"), str(exc))
        ea = data.get("ea", int(meter.get("algorithmCode", "07")))
        if ea == Algorithm.MISTY1 and data.get("dkga") == KeyGeneration.DKGA02:
            self.problem(
                (*path, "sts", "dkga"), "DKGA02 makes 64-bit keys, which only STA (ea 7) uses; MISTY1 needs dkga 4"
            )
        if (meter.get("keyChange") or {}).get("newKeyRevisionNumber") == "0":
            self.problem((*path, "keyChange", "newKeyRevisionNumber"), "an STS key revision number is 1..9")
        return StsSpec(
            meter_number=data.get("meterNumber"),
            sgc=data.get("sgc"),
            krn=data.get("krn"),
            ti=data.get("ti"),
            kt=data.get("kt"),
            ea=data.get("ea"),
            dkga=data.get("dkga"),
            base_date=data.get("baseDate"),
            ken=data.get("ken"),
            fault=data.get("fault"),
        )

    def vend(self, data: dict[str, Any]) -> VendSpec:
        default = VendSpec()
        tariff = data.get("tariff")
        if isinstance(tariff, (int, float)):
            blocks: tuple[TariffBlock, ...] = (TariffBlock(_dec(tariff)),)
        elif tariff:
            blocks = tuple(TariffBlock(_dec(b["rate"]), _dec(b["units"]) if "units" in b else None) for b in tariff)
        else:
            blocks = default.tariff
        return VendSpec(
            tokens=tuple(
                TokenSpec(t) if isinstance(t, str) else TokenSpec(t["type"], _dec(t.get("units", 0)))
                for t in data.get("tokens", ["STD"])
            ),
            tariff=blocks,
            vat_rate=_dec(data.get("vatRate", default.vat_rate)),
            debt_recovery=tuple(self.charge(c) for c in data.get("debtRecovery", ())),
            service_charges=tuple(self.charge(c) for c in data.get("serviceCharges", ())),
        )

    def check_vend(self, data: dict[str, Any], match: Match, meter: MeterSpec, path: Path_) -> None:
        """What the schema lets through but no contract message can carry."""
        if match.operations is not None and not match.operations & VENDING_OPERATIONS:
            self.problem(path, "vend shapes purchase responses, but the scenario matches no purchase operation")
        kinds = [t if isinstance(t, str) else t["type"] for t in data.get("tokens", ["STD"])]
        if kinds.count("STD") > 1:
            self.problem((*path, "tokens"), "STD is listed more than once (one STD token takes all the money left)")
        if "STD" not in kinds and meter.max_amount > 0:
            self.problem(
                (*path, "tokens"),
                "without an STD token a paid purchase has nothing to carry its amount: "
                "add STD, or set meter.maxAmount: 0 (free tokens only)",
            )

    @staticmethod
    def charge(data: dict[str, Any]) -> ChargeSpec:
        percent = data.get("percent")
        return ChargeSpec(
            data["description"], data.get("amount"), _dec(percent) if percent is not None else None, data.get("balance")
        )

    def step(self, targets: list[str], data: dict[str, Any], path: Path_) -> Step:
        off_contract = data.get("offContract", False)
        error = None
        if "error" in data:
            err = data["error"]
            kind = err["errorType"]
            if kind not in ERROR_TYPES:
                hint = _hint(kind, sorted(ERROR_TYPES))
                self.problem((*path, "error", "errorType"), f"{kind!r} is not an errorType of the contract{hint}")
            error = ErrorReply(err.get("status", 400), err["errorType"], err.get("message"), err.get("detail"))
            if not off_contract:
                self.check_status(targets, error.status, (*path, "error", "status"))
        if "status" in data:
            if error is not None:
                self.problem((*path, "status"), "status shapes a success; an error carries its own error.status")
            elif not off_contract:
                self.check_status(targets, data["status"], (*path, "status"))
        if "vend" in data and error is None:
            self.problem((*path, "vend"), "vend only makes sense with error (a success always vends)")
        if not ({"error", "status", "delay", "fault", "times"} & data.keys()):
            # A bare ``times: N`` lets N requests through unchanged (before a fault, say).
            self.problem(path, "a step needs at least one of error, status, delay, fault, or times")
        return Step(
            times=data.get("times"),
            per=data.get("per"),
            error=error,
            vend=data.get("vend"),
            status=data.get("status"),
            delay=self.delay(data["delay"], (*path, "delay")) if "delay" in data else None,
            fault=self.fault(data["fault"], (*path, "fault")) if "fault" in data else None,
            off_contract=off_contract,
        )

    def check_status(self, targets: list[str], status: int, path: Path_) -> None:
        for target in targets:
            if status not in self.allowed.get(target, frozenset({status})):
                listed = ", ".join(map(str, sorted(self.allowed[target])))
                self.problem(path, f"{target} cannot answer {status} under the contract (it lists {listed})")
                return

    def check_sequence(self, steps: tuple[Step, ...], path: Path_) -> None:
        for i, step in enumerate(steps[1:], start=1):
            if step.per is not None:
                self.problem((*path, i, "per"), "per counts the whole sequence: set it on the first step only")
            if steps[i - 1].times is None:
                self.problem((*path, i), "unreachable: the step before has no times, so it answers every request")

    def _targets(self, op: str, match: Match) -> list[str]:
        if op != ANY_OPERATION:
            return [op]
        return sorted(match.operations) if match.operations is not None else list(OPERATIONS)

    def delay(self, data: Any, path: Path_) -> Delay:
        if isinstance(data, (int, float)):
            return Delay("fixed", float(data))
        if "fixed" in data:
            return Delay("fixed", float(data["fixed"]))
        if "uniform" in data:
            lo, hi = map(float, data["uniform"])
            if lo > hi:
                self.problem((*path, "uniform"), f"empty range: {lo} > {hi}")
            return Delay("uniform", lo, hi)
        params = data["lognormal"]
        return Delay("lognormal", float(params["median"]), float(params.get("sigma", 1.0)))

    def fault(self, data: Any, path: Path_) -> Fault:
        if isinstance(data, str):
            return Fault(data)
        kind = data["kind"]
        for option, owner in (("then", "hold"), ("seconds", "hold"), ("chunk", "dribble"), ("interval", "dribble")):
            if option in data and kind != owner:
                self.problem((*path, option), f"{option} applies to {owner} faults only, not {kind}")
        defaults = Fault(kind)
        return Fault(
            kind,
            data.get("then", defaults.then),
            data.get("seconds"),
            data.get("chunk", defaults.chunk),
            data.get("interval", defaults.interval),
        )


def _dec(value: float | int | str) -> Decimal:
    return Decimal(str(value))
