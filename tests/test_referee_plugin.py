"""The pytest plugin's referee, as a PoS team runs it: their own test file, their own pytest run."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import junitparser

from tests.support import ROOT, Sim

POS_TESTS = f"""
import sys
sys.path.insert(0, {str(ROOT)!r})
from tests.referee_pos import Pos


def test_retries_a_lost_reply(ppu_sim):
    pos = Pos(ppu_sim.base_url, ppu_sim.session)
    pos.buy("EDGELOST504", 10000)
    verdicts = ppu_sim.verdicts()
    assert verdicts["lost-reply-no-new-purchase"] == "pass"
    assert verdicts["advice-repeated-until-final"] == "not exercised"


def test_buys_again_after_a_lost_reply(ppu_sim):
    pos = Pos(ppu_sim.base_url, ppu_sim.session, "buys-again-after-lost-reply")
    pos.buy("EDGELOST504", 10000)
"""


def run_pytest(sim: Sim, tmp_path: Path, *options: str) -> subprocess.CompletedProcess[str]:
    (tmp_path / "test_pos.py").write_text(POS_TESTS)
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "--ppu-sim-url", sim.base, *options, "test_pos.py"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_without_the_referee_a_bad_habit_goes_unnoticed(sim: Sim, tmp_path: Path) -> None:
    run = run_pytest(sim, tmp_path)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "2 passed" in run.stdout


def test_the_referee_fails_the_run_and_adds_its_cases_to_junit(sim: Sim, tmp_path: Path) -> None:
    junit = tmp_path / "junit.xml"
    run = run_pytest(sim, tmp_path, "--ppu-sim-referee", f"--junitxml={junit}")
    assert run.returncode == 1, run.stdout + run.stderr
    cases = {(case.classname, case.name): case for suite in junitparser.JUnitXml.fromfile(str(junit)) for case in suite}
    good = {name: case for (classname, name), case in cases.items() if "test_retries_a_lost_reply." in classname}
    bad = {
        name: case for (classname, name), case in cases.items() if "test_buys_again_after_a_lost_reply." in classname
    }
    assert good and all(case.is_passed for case in good.values())
    assert "lost-reply-no-new-purchase" in good
    failed = [name for name, case in bad.items() if not case.is_passed]
    assert failed == ["lost-reply-no-new-purchase"]
    (failure,) = bad["lost-reply-no-new-purchase"].result
    assert "possible double vend" in failure.text and "[seq " in failure.text
    # The tests themselves passed: only the referee's verdict fails the run.
    assert cases[("test_pos", "test_buys_again_after_a_lost_reply")].is_passed
    assert "test_buys_again_after_a_lost_reply::ppu-sim-referee::lost-reply-no-new-purchase" in run.stdout
