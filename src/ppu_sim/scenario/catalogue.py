"""A readable summary of loaded scenarios: who triggers them and what they do (for `scenarios list`)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ppu_sim.scenario.model import ANY_OPERATION, OPERATIONS, Pack, Scenario


def derived_tags(sc: Scenario) -> list[str]:
    """Tags that follow from what a scenario scripts, so the catalogue never drifts from the YAML."""
    tags: set[str] = set(sc.tags)
    for steps in sc.respond.values():
        for step in steps:
            if step.error:
                tags.add(f"errorType:{step.error.error_type}")
                if step.error.status >= 500:
                    tags.add("5xx")
                if step.error.status == 504:
                    tags.add("timeout")
                if step.processes:
                    tags.add("lost-reply")
            if step.times:
                tags.add("sequence")
            if step.delay:
                tags.add("slow")
            if step.fault:
                tags.add(f"fault:{step.fault.kind}")
                if step.fault.kind == "hold":
                    tags.add("timeout")
            if step.status:
                tags.add(f"status:{step.status}")
    kinds = {t.type for t in sc.vend.tokens}
    tags.update({"BSST": "free-token", "KC": "key-change", "PWRLMT": "power-limit", "REFUND": "refund"}[k]
                for k in kinds if k != "STD")
    if sc.meter.free_units:
        tags.add("free-token")
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
    return sorted(tags)


def operations_of(sc: Scenario) -> list[str]:
    if ANY_OPERATION in sc.respond:
        return list(sc.match.operations or OPERATIONS)
    scripted = set(sc.respond) | (set(sc.match.operations) if sc.match.operations else set())
    return [op for op in OPERATIONS if op in scripted] or list(sc.match.operations or OPERATIONS)


def describe_catalogue(packs: Sequence[Pack]) -> list[dict[str, Any]]:
    """Every scenario, highest precedence first, as plain data."""
    rows = []
    for pack in reversed(packs):
        for sc in pack.scenarios:
            rows.append({
                "name": sc.name,
                "pack": sc.pack,
                "meterIds": sorted(sc.match.meter_ids or ()),
                "meterPattern": sc.match.meter_pattern.pattern if sc.match.meter_pattern else None,
                "operations": operations_of(sc),
                "summary": sc.summary,
                "tags": derived_tags(sc),
                "source": sc.source,
            })
    return rows
