"""Certification plans: what a PoS must exercise, checked like scenario packs, and how far it got.

A plan lists exercises: a meter to drive, what the PoS must do there, the operations (and
answers) that show it was done, and the referee rules it exercises. Problems are reported as
``file:line: field: message``, every one of a file in one run.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema

from ppu_sim.interface import spec
from ppu_sim.paths import bundled
from ppu_sim.referee.judge import Verdict
from ppu_sim.referee.messages import Msg, messages
from ppu_sim.referee.rules import BY_ID
from ppu_sim.scenario.loader import Locator, schema_problems  # plans are reported like packs
from ppu_sim.scenario.source import Source, SourceError, read_source


class PlanError(Exception):
    """Problems in a plan file, each naming its file, line and field."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


@dataclass(frozen=True)
class Need:
    operation: str
    status: int | None

    def met_by(self, m: Msg) -> bool:
        return m.operation == self.operation and (self.status is None or m.status == self.status)

    def __str__(self) -> str:
        return self.operation if self.status is None else f"{self.operation} {self.status}"


@dataclass(frozen=True)
class Exercise:
    id: str
    title: str
    meter: str
    scenario: str | None
    do: str
    needs: tuple[Need, ...]
    rules: tuple[str, ...]


@dataclass(frozen=True)
class Plan:
    name: str
    description: str
    expect_confirmations: bool
    clock_tolerance_s: float | None
    exercises: tuple[Exercise, ...]


def plan_schema() -> dict[str, Any]:
    return json.loads(resources.files("ppu_sim.referee").joinpath("plan.schema.json").read_text("utf-8"))


_VALIDATOR = jsonschema.Draft202012Validator(plan_schema())


def builtin_plans() -> dict[str, Path]:
    return {p.stem: p for p in sorted(bundled("plans").glob("*.yaml"))}


def find_plan(name_or_path: str) -> Plan:
    """A shipped plan by name (``electrum-certification``), else a plan file."""
    path = builtin_plans().get(name_or_path) or Path(name_or_path)
    if not path.is_file():
        known = ", ".join(builtin_plans()) or "none"
        raise PlanError([f"{name_or_path}: no such plan file, and not a shipped plan (shipped: {known})"])
    return load_plan(path)


def load_plan(path: Path) -> Plan:
    try:
        return _plan(read_source(path), path)
    except SourceError as exc:
        raise PlanError([f"{path}:{exc.line or 1}: {exc.message}"]) from exc


def _plan(source: Source, path: Path) -> Plan:
    at = Locator(str(path), source.lines)
    data = source.data
    problems = list(dict.fromkeys(p for err in _VALIDATOR.iter_errors(data) for p in schema_problems(err)))
    if not problems:
        problems = _meaning(data)
    if problems:
        raise PlanError(at.report(problems))
    return Plan(
        data["plan"],
        data.get("description", ""),
        data.get("expectConfirmations", False),
        data.get("clockToleranceSeconds"),
        tuple(_exercise(e) for e in data["exercises"]),
    )


def _meaning(data: dict[str, Any]) -> list[tuple[tuple[str | int, ...], str]]:
    """What the schema cannot say: known rules and operations, statuses the contract lists, unique ids."""
    statuses = spec.allowed_statuses()
    problems: list[tuple[tuple[str | int, ...], str]] = []
    seen: set[str] = set()
    for i, exercise in enumerate(data["exercises"]):
        if exercise["id"] in seen:
            problems.append((("exercises", i, "id"), f"{exercise['id']!r} is used by an earlier exercise"))
        seen.add(exercise["id"])
        for j, rule in enumerate(exercise["rules"]):
            if rule not in BY_ID:
                problems.append((("exercises", i, "rules", j), f"unknown rule {rule!r} (valid: {', '.join(BY_ID)})"))
        for j, need in enumerate(exercise["needs"]):
            operation, _, status = need.partition(" ")
            if operation not in statuses:
                problems.append((("exercises", i, "needs", j), f"unknown operation {operation!r}"))
            elif status and int(status) not in statuses[operation]:
                problems.append((("exercises", i, "needs", j), f"{operation} never answers {status}"))
    return problems


def _exercise(data: dict[str, Any]) -> Exercise:
    needs = []
    for need in data["needs"]:
        operation, _, status = need.partition(" ")
        needs.append(Need(operation, int(status) if status else None))
    return Exercise(
        data["id"],
        data.get("title", data["id"]),
        data["meter"],
        data.get("scenario"),
        data["do"],
        tuple(needs),
        tuple(data["rules"]),
    )


def progress(plan: Plan, exchanges: Iterable[dict[str, Any]], verdicts: list[Verdict]) -> list[dict[str, Any]]:
    """Per exercise: done or not (and what is missing), and its verdict from its rules' findings there."""
    by_meter: dict[str, list[Msg]] = {}
    for m in messages(exchanges):
        by_meter.setdefault(m.meter or "", []).append(m)
    findings = {v.rule.id: v.findings for v in verdicts}
    out = []
    for exercise in plan.exercises:
        mine = by_meter.get(exercise.meter, [])
        missing = [str(n) for n in exercise.needs if not any(n.met_by(m) for m in mine)]
        seqs = {m.seq for m in mine}
        failed = sorted(r for r in exercise.rules if any(seqs.intersection(f.seqs) for f in findings.get(r, ())))
        status = "not done" if missing else ("fail" if failed else "pass")
        out.append(
            {
                "id": exercise.id,
                "title": exercise.title,
                "meter": exercise.meter,
                **({"scenario": exercise.scenario} if exercise.scenario else {}),
                "do": exercise.do,
                "rules": list(exercise.rules),
                "status": status,
                "done": not missing,
                "missing": missing,
                "failedRules": failed,
                "seqs": sorted(seqs),
            }
        )
    return out
