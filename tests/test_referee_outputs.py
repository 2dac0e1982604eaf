"""The referee's outputs as CI and people use them: JUnit XML read by a JUnit parser and checked
against the JUnit schema, `ppu-sim report`'s exit status, and the HTML page in a real browser."""

from __future__ import annotations

import html.parser
import json
import os
import re
import shutil
import subprocess
import uuid
from collections.abc import Callable
from pathlib import Path

import httpx
import junitparser
import pytest
import xmlschema

from ppu_sim.referee.plan import find_plan
from ppu_sim.referee.rules import RULES
from tests.referee_pos import Pos, drive_plan, trade
from tests.support import ROOT, Sim, cli

JUNIT_XSD = xmlschema.XMLSchema(ROOT / "tests" / "data" / "junit.xsd")
PLAN = find_plan("electrum-certification")


@pytest.fixture(scope="module")
def sessions(sim: Sim) -> dict[str, str]:
    """A PoS that completes the plan, one that drops thirdPartyIdentifiers, one whose clock is fast."""
    made = {}
    for habit in (None, "drops-third-party-ids", "clock-an-hour-fast"):
        made[habit or "good"] = session = f"out-{habit or 'good'}-{uuid.uuid4().hex[:8]}"
        pos = Pos(sim.base, session, habit)
        if habit is None:
            drive_plan(pos, PLAN.exercises)
        else:
            trade(pos)
        pos.close()
    return made


def report_cli(sim: Sim, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([cli(), "report", *args], capture_output=True, text=True, timeout=120)


def test_junit_from_the_api_passes_the_schema_and_a_junit_parser_reads_the_evidence(
    sim: Sim, sessions: dict[str, str], tmp_path: Path
) -> None:
    params = {"session": sessions["drops-third-party-ids"], "format": "junit", "plan": PLAN.name}
    response = httpx.get(f"{sim.base}/sim/report", params=params, timeout=30)
    assert response.status_code == 200 and response.headers["content-type"].startswith("application/xml")
    path = tmp_path / "referee.xml"
    path.write_bytes(response.content)
    JUNIT_XSD.validate(str(path))
    suites = {suite.name: suite for suite in junitparser.JUnitXml.fromfile(str(path))}
    rules = {case.name.split(":")[0]: case for case in suites["ppu-sim referee"]}
    assert set(rules) == {r.id for r in RULES}
    (failure,) = rules["advice-third-party-ids"].result
    assert isinstance(failure, junitparser.Failure) and failure.type == "error"
    assert re.search(r"#\d+ confirmTokenPurchase 202 carries thirdPartyIdentifiers", failure.text)
    assert all(case.is_passed or case.is_skipped for name, case in rules.items() if name != "advice-third-party-ids")
    exercises = list(suites[f"plan {PLAN.name}"])
    assert len(exercises) == len(PLAN.exercises)
    skipped = [c for c in exercises if c.is_skipped]
    assert skipped and all(c.result[0].message.startswith("not done: missing") for c in skipped)
    assert suites["ppu-sim referee"].failures == 1


def test_report_cli_fails_the_ci_step_on_an_error_and_writes_valid_junit(
    sim: Sim, sessions: dict[str, str], tmp_path: Path
) -> None:
    junit = tmp_path / "junit.xml"
    bad = report_cli(sim, "--url", sim.base, "--session", sessions["drops-third-party-ids"], "--junit", str(junit))
    assert bad.returncode == 1, bad.stderr
    assert "FAIL" in bad.stdout and "advice-third-party-ids" in bad.stdout
    JUNIT_XSD.validate(str(junit))
    assert junitparser.JUnitXml.fromfile(str(junit)).failures == 1
    good = report_cli(sim, "--url", sim.base, "--session", sessions["good"], "--plan", PLAN.name)
    assert good.returncode == 0, good.stdout + good.stderr
    assert f"{len(PLAN.exercises)} of {len(PLAN.exercises)} exercises done, 0 rules failed" in good.stdout
    # A warning is reported but does not fail the step.
    warned = report_cli(sim, "--url", sim.base, "--session", sessions["clock-an-hour-fast"])
    assert warned.returncode == 0 and "FAIL           warning  message-time" in warned.stdout


def test_offline_judges_a_saved_journal_exactly_as_the_live_session(
    sim: Sim, sessions: dict[str, str], tmp_path: Path
) -> None:
    session = sessions["drops-third-party-ids"]
    saved = tmp_path / "journal.jsonl"
    dump = subprocess.run(
        [cli(), "journal", "--url", sim.base, "--session", session, "--format", "json"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    saved.write_text(dump.stdout)
    live = report_cli(sim, "--url", sim.base, "--session", session, "--plan", PLAN.name)
    offline = report_cli(sim, "--offline", str(saved), "--plan", PLAN.name)
    assert offline.returncode == live.returncode == 1
    assert offline.stdout == live.stdout
    broken = tmp_path / "broken.json"
    broken.write_text('{"not": "a journal"}')
    refused = report_cli(sim, "--offline", str(broken))
    assert refused.returncode == 2 and "not a journal" in refused.stderr


def chromium() -> str:
    """Debian's chromium, installed when missing (as root); without it this test cannot pass."""
    found = shutil.which("chromium")
    if found is None and os.geteuid() == 0:
        subprocess.run(
            ["apt-get", "install", "-y", "chromium"],
            env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"},
            capture_output=True,
            timeout=900,
        )
        found = shutil.which("chromium")
    if found is None:
        pytest.fail("the HTML report test needs Debian's chromium: apt-get install -y chromium (as root)")
    return found


class _Dom(html.parser.HTMLParser):
    """What the browser built: verdict rows by rule, the summary, the sequence diagrams."""

    def __init__(self) -> None:
        super().__init__()
        self.verdicts: dict[str, str] = {}
        self.exercises: dict[str, str] = {}
        self.svgs = 0
        self.finding_lists = 0
        self.summary = ""
        self._in_summary = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        classes = (found.get("class") or "").split()
        if tag == "tr" and "verdict" in classes:
            self.verdicts[found["data-rule"] or ""] = classes[1]
        if tag == "tr" and "exercise" in classes:
            self.exercises[found["data-exercise"] or ""] = classes[1]
        self.svgs += tag == "svg"
        self.finding_lists += tag == "ul" and "findings" in classes
        self._in_summary = found.get("id") == "summary"

    def handle_data(self, data: str) -> None:
        if self._in_summary:
            self.summary += data


def test_the_html_page_opens_in_chromium_with_verdicts_first_and_each_purchase_drawn(
    sim: Sim, sessions: dict[str, str], tmp_path: Path
) -> None:
    page = tmp_path / "report.html"
    session = sessions["drops-third-party-ids"]
    done = report_cli(sim, "--url", sim.base, "--session", session, "--plan", PLAN.name, "--html", str(page))
    assert done.returncode == 1
    text = page.read_text()
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:|//)""", text), "the page must be self-contained"
    profile = tmp_path / "profile"
    dumped = subprocess.run(
        [
            chromium(),
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            f"--user-data-dir={profile}",
            "--dump-dom",
            page.as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert dumped.returncode == 0, dumped.stderr
    dom = _Dom()
    dom.feed(dumped.stdout)
    assert dom.verdicts["advice-third-party-ids"] == "fail"
    assert {rule for rule, status in dom.verdicts.items() if status == "fail"} == {"advice-third-party-ids"}
    assert set(dom.verdicts) == {r.id for r in RULES}
    assert dom.summary.strip().endswith("exercises done, 1 rule failed")
    assert set(dom.exercises) == {e.id for e in PLAN.exercises}
    purchases = httpx.get(f"{sim.base}/sim/transactions", params={"session": session}, timeout=30).json()
    assert dom.svgs == purchases["count"]
    # Each purchase that was advised carries the finding on its advices under its diagram.
    advised = [t for t in purchases["transactions"] if t["advices"]]
    assert advised and dom.finding_lists == len(advised)
    assert dumped.stdout.index('id="verdicts"') < dumped.stdout.index("<svg")


def test_the_readme_referee_example_runs_as_written(start_sim: Callable[..., Sim], tmp_path: Path) -> None:
    server = start_sim()
    readme = (ROOT / "README.md").read_text()
    (block,) = [b for b in re.findall(r"```bash\n(.*?)```", readme, re.S) if "referee-demo" in b]
    script = block.replace("127.0.0.1:8080", f"127.0.0.1:{server.port}").replace("/tmp/", f"{tmp_path}/")
    path = f"{Path(cli()).parent}{os.pathsep}{os.environ['PATH']}"
    run = subprocess.run(["bash", "-c", script], capture_output=True, text=True, env={**os.environ, "PATH": path})
    assert run.returncode == 0, run.stderr
    shown = re.search(r"^# (session referee-demo: .*)$", block, re.M)
    assert run.stdout.splitlines()[:2] == ["504", "504"]
    assert shown and shown.group(1) in run.stdout.splitlines()
    assert "a possible double vend" in run.stdout and run.stdout.rstrip().endswith("exit 1")
    JUNIT_XSD.validate(str(tmp_path / "referee.xml"))


def test_a_journal_that_dropped_exchanges_says_they_were_not_judged(
    start_sim: Callable[..., Sim], tmp_path: Path
) -> None:
    server = start_sim("--journal-size", "4")
    pos = Pos(server.base, "small")
    trade(pos, [("EDGELOST504", 10000, False), ("EDGEPARTIAL", 10000, False)])
    pos.close()
    found = httpx.get(f"{server.base}/sim/report", params={"session": "small"}, timeout=30).json()
    kept = httpx.get(f"{server.base}/sim/journal", params={"session": "small"}, timeout=30).json()
    assert found["exchanges"] == 4 and found["dropped"] == kept["dropped"] > 0
    note = f"({kept['dropped']} oldest exchanges were dropped from the journal, not judged)"
    assert found["summary"]["text"].endswith(note)
    live = report_cli(server, "--url", server.base, "--session", "small")
    saved = tmp_path / "journal.json"
    saved.write_text(json.dumps(kept))
    offline = report_cli(server, "--offline", str(saved))
    assert note in live.stdout.splitlines()[0] and offline.stdout == live.stdout
