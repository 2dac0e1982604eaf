"""A readable summary of loaded scenarios: who triggers them and what they do (for `scenarios list`)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict
from typing import Any

from ppu_sim.scenario.model import ANY_OPERATION, OPERATIONS, Pack, Scenario, Step, StsSpec

TOKEN_TAGS = {"BSST": "free-token", "KC": "key-change", "PWRLMT": "power-limit", "REFUND": "refund"}


def step_tags(step: Step) -> set[str]:
    tags: set[str] = set()
    if step.error:
        tags.add(f"errorType:{step.error.error_type}")
        if step.error.status >= 500:
            tags.add("5xx")
        if step.error.status == 504:
            tags.add("timeout")
    if step.loses_reply:
        tags.add("lost-reply")
    if step.times:
        tags.add("sequence")
    if step.delay:
        tags.update(("slow", f"delay:{step.delay.kind}"))
    if step.fault:
        hold_close = step.fault.kind == "hold" and step.fault.then == "close"
        tags.add("fault:hold-close" if hold_close else f"fault:{step.fault.kind}")
        if step.fault.kind == "hold":
            tags.add("timeout")
    if step.status:
        tags.add(f"status:{step.status}")
    if step.off_contract:
        tags.add("off-contract")
    return tags


def derived_tags(sc: Scenario) -> list[str]:
    """Tags that follow from what a scenario scripts, so the catalogue never drifts from the YAML."""
    tags: set[str] = set(sc.tags)
    for steps in sc.respond.values():
        for step in steps:
            tags |= step_tags(step)
    tags.update(TOKEN_TAGS[t.type] for t in sc.vend.tokens if t.type in TOKEN_TAGS)
    free = sc.meter.free_units
    if free and free.due != "never":
        tags.add("free-token")
    if free and free.due != "always":
        tags.add("errorType:NO_FREE_UNITS_DUE")  # asking for free units (amount 0) once none are due
    if sc.vend.debt_recovery:
        tags.add("debt-recovery")
    if sc.vend.service_charges:
        tags.add("service-charge")
    if len(sc.vend.tariff) > 1:
        tags.add("block-tariff")
    if sc.approve_max is not None:
        tags.add("partial-approval")
    if sc.meter.slip_lines:
        tags.add("slip")
    fault = sc.meter.sts.fault if sc.meter.sts else None
    if fault:
        tags.add(f"sts-fault:{fault}")
    elif sc.meter.sts or sc.match.sts:
        tags.add("sts-tokens")
    return sorted(tags)


def operations_of(sc: Scenario) -> list[str]:
    """In the contract's order, never a set's: two runs list a scenario the same way."""
    matched = [op for op in OPERATIONS if sc.match.operations is None or op in sc.match.operations]
    if ANY_OPERATION in sc.respond:
        return matched
    scripted = set(sc.respond) | (set(sc.match.operations) if sc.match.operations else set())
    return [op for op in OPERATIONS if op in scripted] or matched


def describe_step(step: Step) -> dict[str, Any]:
    """A step as plain data: what the client sees (status, errorType, transport) and what happens."""
    out: dict[str, Any] = {
        "times": step.times,
        "status": step.error.status if step.error else step.status,
        "errorType": step.error.error_type if step.error else None,
        "processes": step.processes,
        "delay": asdict(step.delay) if step.delay else None,
        "fault": asdict(step.fault) if step.fault else None,
        "offContract": step.off_contract,
    }
    return {k: v for k, v in out.items() if v is not None}


def describe_sts(spec: StsSpec) -> dict[str, Any]:
    """A meter's STS section as the scenario wrote it (its YAML keys, the parts it sets)."""
    named = {"meterNumber": spec.meter_number, "baseDate": spec.base_date}
    out = {**{k: v for k, v in asdict(spec).items() if k not in ("meter_number", "base_date")}, **named}
    return {k: v for k, v in out.items() if v is not None}


def describe_catalogue(packs: Sequence[Pack]) -> list[dict[str, Any]]:
    """Every scenario, highest precedence first, as plain data."""
    rows = []
    for pack in reversed(packs):
        for sc in pack.scenarios:
            rows.append(
                {
                    "name": sc.name,
                    "pack": sc.pack,
                    "meterIds": sorted(sc.match.meter_ids or ()),
                    "meterPattern": sc.match.meter_pattern.pattern if sc.match.meter_pattern else None,
                    "meterSts": sc.match.sts,
                    "sts": describe_sts(sc.meter.sts) if sc.meter.sts else None,
                    "operations": operations_of(sc),
                    "summary": sc.summary,
                    "tags": derived_tags(sc),
                    "script": {
                        # per: null means the operation's default (docs/scenarios.md, "Sequences")
                        op: {"per": steps[0].per, "steps": [describe_step(s) for s in steps]}
                        for op, steps in sc.respond.items()
                    },
                    "source": sc.source,
                }
            )
    return rows
