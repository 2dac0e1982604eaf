"""The report as JUnit XML, the test-result format GitHub, GitLab and Jenkins render.

One test case per rule (suite ``ppu-sim referee``) and, with a plan, one per exercise (suite
``plan <name>``). A failed rule is a ``<failure>`` whose type is its severity and whose text is
its evidence; a rule not exercised, or an exercise not done, is ``<skipped>``.
"""

from __future__ import annotations

from typing import Any
from xml.etree import ElementTree as ET


def _suite(parent: ET.Element, name: str, cases: list[ET.Element]) -> None:
    failures = sum(1 for c in cases if c.find("failure") is not None)
    skipped = sum(1 for c in cases if c.find("skipped") is not None)
    suite = ET.SubElement(
        parent,
        "testsuite",
        name=name,
        tests=str(len(cases)),
        failures=str(failures),
        errors="0",
        skipped=str(skipped),
    )
    suite.extend(cases)


def _case(classname: str, name: str) -> ET.Element:
    return ET.Element("testcase", classname=classname, name=name, time="0")


def _rule_case(rule: dict[str, Any]) -> ET.Element:
    case = _case("ppu-sim.referee", f"{rule['rule']}: {rule['title']}")
    if rule["status"] == "fail":
        first = rule["findings"][0]["message"]
        failure = ET.SubElement(case, "failure", message=first, type=rule["severity"])
        failure.text = "\n".join(f"{f['message']} [seq {', '.join(map(str, f['seqs']))}]" for f in rule["findings"])
    elif rule["status"] == "not exercised":
        ET.SubElement(case, "skipped", message=f"not exercised: needs {rule['exercisedBy']}")
    return case


def _exercise_case(plan: str, exercise: dict[str, Any]) -> ET.Element:
    case = _case(f"ppu-sim.plan.{plan}", f"{exercise['id']}: {exercise['title']} ({exercise['meter']})")
    if exercise["status"] == "fail":
        message = f"rules failed here: {', '.join(exercise['failedRules'])}"
        failure = ET.SubElement(case, "failure", message=message, type="error")
        failure.text = f"{message}\nwhat to do: {exercise['do']}"
    elif exercise["status"] == "not done":
        ET.SubElement(case, "skipped", message=f"not done: missing {', '.join(exercise['missing'])}")
    return case


def junit_xml(report: dict[str, Any]) -> str:
    root = ET.Element("testsuites", name=f"ppu-sim referee: {report['session']}")
    _suite(root, "ppu-sim referee", [_rule_case(r) for r in report["rules"]])
    plan = report.get("plan")
    if plan:
        _suite(root, f"plan {plan['name']}", [_exercise_case(plan["name"], e) for e in plan["exercises"]])
    suites = root.findall("testsuite")
    for total in ("tests", "failures", "errors", "skipped"):
        root.set(total, str(sum(int(s.get(total, "0")) for s in suites)))
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"
