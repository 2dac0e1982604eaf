"""Certification plans are checked like scenario packs, and the rule catalogue in code and in
docs/referee.md are the same."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from ppu_sim.referee.plan import PlanError, builtin_plans, find_plan, load_plan
from ppu_sim.referee.rules import RULES
from tests.support import ROOT, cli

DOC = (ROOT / "docs" / "referee.md").read_text()

BAD_PLAN = """\
plan: broken
expectConfirmations: yes please
exercises:
  - id: first
    meter: TST001
    do: buy
    needs: [createTokenPurchaseRequest 201, confirmTokenPurchase 201]
    rules: [id-format, lost-reply-no-new-purchse]
  - id: first
    meter: TST002
    do: buy
    needs: [buyToken]
    rules: [id-format]
    colour: red
"""


def problems(tmp_path: Path, text: str) -> list[str]:
    path = tmp_path / "plan.yaml"
    path.write_text(text)
    with pytest.raises(PlanError) as caught:
        load_plan(path)
    return [p.replace(str(path), "plan.yaml") for p in caught.value.problems]


def test_schema_problems_name_file_line_and_field(tmp_path: Path) -> None:
    found = problems(tmp_path, BAD_PLAN)
    assert found[0].startswith("plan.yaml:2: expectConfirmations: 'yes please' is not of type 'boolean'")
    assert any(p.startswith("plan.yaml:14: exercises[1].colour: unknown field 'colour'") for p in found)


def test_meaning_problems_name_file_line_and_field(tmp_path: Path) -> None:
    sound = BAD_PLAN.replace("yes please", "true").replace("    colour: red\n", "")
    assert problems(tmp_path, sound) == [
        "plan.yaml:7: exercises[0].needs[1]: confirmTokenPurchase never answers 201",
        "plan.yaml:8: exercises[0].rules[1]: unknown rule 'lost-reply-no-new-purchse' (valid: "
        + ", ".join(r.id for r in RULES)
        + ")",
        "plan.yaml:9: exercises[1].id: 'first' is used by an earlier exercise",
        "plan.yaml:12: exercises[1].needs[0]: unknown operation 'buyToken'",
    ]


def test_report_cli_refuses_a_broken_plan_with_every_problem(tmp_path: Path) -> None:
    (tmp_path / "plan.yaml").write_text(BAD_PLAN)
    (tmp_path / "journal.json").write_text("[]")
    run = subprocess.run(
        [cli(), "report", "--offline", str(tmp_path / "journal.json"), "--plan", str(tmp_path / "plan.yaml")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert run.returncode == 2
    assert f"{tmp_path / 'plan.yaml'}:2: expectConfirmations:" in run.stderr
    unknown = subprocess.run([cli(), "report", "--offline", str(tmp_path / "journal.json"), "--plan", "nope"],
                             capture_output=True, text=True, timeout=60)  # fmt: skip
    assert unknown.returncode == 2 and "shipped: electrum-certification" in unknown.stderr


def test_the_shipped_plan_covers_every_electrum_test_meter_and_the_edge_cases() -> None:
    plan = find_plan("electrum-certification")
    meters = {e.meter for e in plan.exercises}
    assert {f"TST{n:03}" for n in range(1, 12)} <= meters
    assert {"EDGELOST504", "EDGECONFIRMRETRY", "EDGEFLAKY", "EDGEDECLINED", "EDGEFREE", "EDGEDEBT"} <= meters
    assert "EDGEKEYCHANGE" in meters and plan.expect_confirmations
    exercised = {rule for e in plan.exercises for rule in e.rules}
    assert exercised == {r.id for r in RULES}
    assert set(builtin_plans()) == {p.stem for p in (ROOT / "plans").glob("*.yaml")}


def test_every_rule_in_code_is_in_the_doc_and_back() -> None:
    documented = dict(re.findall(r"^\| \[`([a-z0-9-]+)`\]\(#[a-z0-9-]+\) \| (error|warning) \|", DOC, re.M))
    headings = re.findall(r"^### ([a-z0-9-]+)$", DOC, re.M)
    assert documented == {r.id: r.severity for r in RULES}
    assert [h for h in headings if h != "electrum-certification"] == [r.id for r in RULES]
    for rule in RULES:
        section = DOC.split(f"### {rule.id}\n", 1)[1].split("\n### ", 1)[0]
        assert rule.source in section and f"Severity: **{rule.severity}**" in section


def test_the_docs_plan_example_and_exercise_table_hold(tmp_path: Path) -> None:
    (example,) = [b for b in re.findall(r"```yaml\n(.*?)```", DOC, re.S) if b.startswith("plan:")]
    path = tmp_path / "example.yaml"
    path.write_text(example)
    assert load_plan(path).exercises[0].meter == "EDGELOST504"
    table = set(re.findall(r"^\| `([a-z0-9-]+)` \| `[A-Z0-9]+` \|", DOC, re.M))
    assert table == {e.id for e in find_plan("electrum-certification").exercises}
