"""pytest plugin (registered as ``ppu_sim`` through the ``pytest11`` entry point).

The ``ppu_sim`` fixture gives each test its own session on one simulator: either one the plugin
starts on a free port for the whole run, or a running one (``--ppu-sim-url``, e.g. a CI service
container). A test marked ``@pytest.mark.ppu_sim_pack(TEXT_OR_PATH)`` gets that pack loaded into
its session first.

    def test_lost_reply_is_retried(ppu_sim):
        pos = MyPos(ppu_sim.interface_url, headers=ppu_sim.headers)
        pos.buy("EDGELOST504", 5000)
        assert ppu_sim.client.count(operation="retryPurchaseRequest").count == 1
        assert ppu_sim.verdicts()["lost-reply-no-new-purchase"] == "pass"

``--ppu-sim-referee`` judges each such test's session when it ends (docs/referee.md): every rule
it exercised becomes a test result of its own (``<test id>::ppu-sim-referee::<rule>``), so a
failed rule fails the run and lands, with its evidence, in ``--junitxml`` beside the tests.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from ppu_sim.process import free_port, stop
from ppu_sim.testing import ControlClient

_START_TIMEOUT = 30.0


@dataclass(frozen=True)
class SimSession:
    """One test's view of the simulator."""

    base_url: str
    session: str
    client: ControlClient

    @property
    def interface_url(self) -> str:
        return self.client.interface_url

    @property
    def headers(self) -> dict[str, str]:
        """Send these with every interface request so it lands in this test's session."""
        return self.client.headers

    def report(self, plan: str | None = None, confirmations: str | None = None) -> dict[str, Any]:
        """The referee's report on this test's session so far (``GET /sim/report``)."""
        return self.client.report(plan, confirmations=confirmations)

    def verdicts(self, confirmations: str | None = None) -> dict[str, str]:
        """Rule id -> ``pass``, ``fail`` or ``not exercised``."""
        return {r["rule"]: r["status"] for r in self.report(confirmations=confirmations)["rules"]}


_REFEREE = pytest.StashKey[dict[str, Any]]()


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("ppu-sim")
    group.addoption(
        "--ppu-sim-url",
        default=os.environ.get("PPU_SIM_URL"),
        help="use the ppu-sim running here (default: start one on a free port) [PPU_SIM_URL]",
    )
    group.addoption(
        "--ppu-sim-admin-token",
        default=os.environ.get("PPU_SIM_ADMIN_TOKEN"),
        help="the control API's bearer token, if the simulator has one [PPU_SIM_ADMIN_TOKEN]",
    )
    group.addoption(
        "--ppu-sim-referee",
        action="store_true",
        default=os.environ.get("PPU_SIM_REFEREE", "") not in ("", "0", "false", "no"),
        help="judge each ppu_sim test's session: every rule it exercised is a result; a failed rule fails the run "
        "[PPU_SIM_REFEREE]",
    )
    group.addoption(
        "--ppu-sim-confirmations",
        choices=("expected", "not-expected"),
        default=os.environ.get("PPU_SIM_CONFIRMATIONS"),
        help="for the referee: whether the provider expects every vend confirmed or reversed [PPU_SIM_CONFIRMATIONS]",
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "ppu_sim_pack(pack): load this scenario pack (YAML text or a path) first")


@pytest.fixture(scope="session")
def ppu_sim_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The simulator's base URL: the one given, or one started for this test run."""
    given = request.config.getoption("--ppu-sim-url")
    if given:
        yield given.rstrip("/")
        return
    port = free_port()
    log = tmp_path_factory.mktemp("ppu-sim") / "server.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "ppu_sim", "serve", "--port", str(port)], stdout=out, stderr=subprocess.STDOUT
        )
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_healthy(url, proc, log)
        yield url
    finally:
        stop(proc, 10)


@pytest.fixture
def ppu_sim(request: pytest.FixtureRequest, ppu_sim_url: str) -> Iterator[SimSession]:
    """A session of its own for this test (named after it), with any ``ppu_sim_pack`` loaded."""
    name = re.sub(r"[^A-Za-z0-9._-]+", "-", request.node.name)[:80] + "-" + uuid.uuid4().hex[:8]
    client = ControlClient(ppu_sim_url, name, request.config.getoption("--ppu-sim-admin-token"))
    for marker in reversed(list(request.node.iter_markers("ppu_sim_pack"))):  # outermost first
        pack = marker.args[0]
        client.load_pack(pack if isinstance(pack, Path) else str(pack))
    session = SimSession(ppu_sim_url, name, client)
    yield session
    if request.config.getoption("--ppu-sim-referee"):
        # Judged now, while the simulator still runs; reported once the test itself is reported.
        request.node.stash[_REFEREE] = session.report(confirmations=request.config.getoption("--ppu-sim-confirmations"))


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None) -> Iterator[None]:
    yield
    report = item.stash.get(_REFEREE, None)
    if report is None:
        return
    for rule in report["rules"]:
        if rule["status"] != "not exercised":
            _log_rule(item, report["session"], rule)


def _log_rule(item: pytest.Item, session: str, rule: dict[str, Any]) -> None:
    """One rule's verdict as a test result of its own, so terminal, exit status and --junitxml all see it."""
    name = f"{item.location[2]}::ppu-sim-referee::{rule['rule']}"
    nodeid = f"{item.nodeid}::ppu-sim-referee::{rule['rule']}"
    location = (item.location[0], None, name)
    failed = rule["status"] == "fail"
    evidence = "\n".join(
        [f"[{rule['severity']}] {rule['title']} (session {session})"]
        + [f"{f['message']} [seq {', '.join(map(str, f['seqs']))}]" for f in rule["findings"]]
    )
    item.ihook.pytest_runtest_logstart(nodeid=nodeid, location=location)
    for when in ("setup", "call", "teardown"):
        bad = failed and when == "call"
        item.ihook.pytest_runtest_logreport(
            report=pytest.TestReport(
                nodeid, location, {}, "failed" if bad else "passed", evidence if bad else None, when, [], 0
            )
        )
    item.ihook.pytest_runtest_logfinish(nodeid=nodeid, location=location)


def _wait_healthy(url: str, proc: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + _START_TIMEOUT
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"ppu-sim exited {proc.returncode}:\n{log.read_text()}")
        try:
            with urllib.request.urlopen(f"{url}/health", timeout=1) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"ppu-sim did not become healthy:\n{log.read_text()}")
