"""The referee's report: every rule's verdict, the plan's progress, and a one-line summary.

The same function serves ``GET /sim/report``, ``ppu-sim report --offline`` and the pytest
plugin, so a verdict never depends on where it was asked for.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from ppu_sim.referee.judge import Settings, judge
from ppu_sim.referee.plan import Plan, progress


def settings_for(
    plan: Plan | None, expect_confirmations: bool | None = None, clock_tolerance_s: float | None = None
) -> Settings:
    """What was asked for, else what the plan says, else the defaults."""
    default = Settings()
    if expect_confirmations is None:
        expect_confirmations = plan.expect_confirmations if plan else default.expect_confirmations
    if clock_tolerance_s is None:
        clock_tolerance_s = (plan.clock_tolerance_s if plan else None) or default.clock_tolerance_s
    return Settings(expect_confirmations, clock_tolerance_s)


def build_report(
    exchanges: Iterable[dict[str, Any]],
    session: str,
    plan: Plan | None = None,
    settings: Settings | None = None,
    dropped: int = 0,
) -> dict[str, Any]:
    """``dropped``: exchanges the journal forgot (it was full); the report says so, as they were not judged."""
    exchanges = list(exchanges)
    settings = settings or settings_for(plan)
    verdicts = judge(exchanges, settings)
    rules = [
        {**v.as_json(), "source": v.rule.source, "exercisedBy": v.rule.exercised_by, "judged": v.rule.judged}
        for v in verdicts
    ]
    statuses = [v.status for v in verdicts]
    failed_errors = sum(1 for v in verdicts if v.status == "fail" and v.rule.severity == "error")
    summary: dict[str, Any] = {
        "passed": statuses.count("pass"),
        "failed": statuses.count("fail"),
        "notExercised": statuses.count("not exercised"),
        "errorsFailed": failed_errors,
        "warningsFailed": statuses.count("fail") - failed_errors,
    }
    report: dict[str, Any] = {
        "session": session,
        "exchanges": len(exchanges),
        "dropped": dropped,
        "settings": {
            "expectConfirmations": settings.expect_confirmations,
            "clockToleranceSeconds": settings.clock_tolerance_s,
        },
        "ok": failed_errors == 0,
        "summary": summary,
        "rules": rules,
    }
    caveat = f" ({dropped} oldest exchanges were dropped from the journal, not judged)" if dropped else ""
    if plan is None:
        summary["text"] = (
            f"{summary['passed']} rules passed, {summary['failed']} failed, {summary['notExercised']} not exercised"
            + caveat
        )
        return report
    exercises = progress(plan, exchanges, verdicts)
    done = sum(1 for e in exercises if e["done"])
    summary |= {"exercises": len(exercises), "exercisesDone": done, "coverage": round(100 * done / len(exercises), 1)}
    failed = summary["failed"]
    summary["text"] = f"{done} of {len(exercises)} exercises done, {failed} rule{'' if failed == 1 else 's'} failed"
    summary["text"] += caveat
    report["plan"] = {"name": plan.name, "description": plan.description, "exercises": exercises}
    return report


def text_summary(report: dict[str, Any]) -> str:
    """What ``ppu-sim report`` prints: the summary, then each failed rule with its evidence."""
    lines = [f"session {report['session']}: {report['summary']['text']}"]
    for rule in report["rules"]:
        lines.append(f"  {rule['status'].upper():14} {rule['severity']:8} {rule['rule']}: {rule['title']}")
        lines.extend(f"      {f['message']}" for f in rule["findings"])
    for exercise in report.get("plan", {}).get("exercises", []):
        missing = f" (missing: {', '.join(exercise['missing'])})" if exercise["missing"] else ""
        failed = f" (failed: {', '.join(exercise['failedRules'])})" if exercise["failedRules"] else ""
        lines.append(f"  exercise {exercise['id']:36} {exercise['status']}{missing}{failed}")
    return "\n".join(lines)
