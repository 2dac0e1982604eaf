"""The pytest plugin and ppu_sim.testing, used as a PoS team would: a test file of their own, run by pytest."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from ppu_sim.testing import ControlClient, ControlError
from tests.support import ROOT, Sim, lookup, new_id

POS_TESTS = '''
import json
import urllib.error
import urllib.request
import uuid

import pytest

LOOKUP = json.loads({lookup!r})
PACK = """
pack: plugin-test
scenarios:
  - name: plugin-down
    match: {{meterId: TST001}}
    respond: {{createMeterLookup: [{{error: {{status: 503, errorType: UPSTREAM_UNAVAILABLE}}}}]}}
"""


def look_up(ppu_sim, meter):
    lid = str(uuid.uuid4())
    body = json.dumps({{**LOOKUP, "id": lid, "meter": {{"meterId": meter}}}}).encode()
    headers = {{**ppu_sim.headers, "Content-Type": "application/json", "Authorization": "Basic cG9zOnBvcw=="}}
    request = urllib.request.Request(f"{{ppu_sim.interface_url}}/meterLookups/{{lid}}", body, headers, method="POST")
    try:
        with urllib.request.urlopen(request) as response:
            return response.status
    except urllib.error.HTTPError as exc:
        return exc.code


@pytest.mark.parametrize("attempt", [1, 2])
def test_each_test_sees_only_its_own_traffic(ppu_sim, attempt):
    assert look_up(ppu_sim, "TST001") == 201
    assert [e["status"] for e in ppu_sim.client.journal()] == [201]
    assert ppu_sim.client.count(operation="createMeterLookup").count == 1


@pytest.mark.ppu_sim_pack(PACK)
def test_a_marked_test_gets_its_pack(ppu_sim):
    assert look_up(ppu_sim, "TST001") == 503
    (exchange,) = ppu_sim.client.journal()
    assert exchange["scenario"] == "plugin-down" and exchange["pack"] == "plugin-test"
'''


def run_pos_tests(tmp_path: Path, *options: str) -> subprocess.CompletedProcess[str]:
    (tmp_path / "test_pos.py").write_text(POS_TESTS.format(lookup=json.dumps(lookup("TST001"))))
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "test_pos.py", *options],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_the_plugin_starts_a_simulator_for_the_run(tmp_path: Path) -> None:
    run = run_pos_tests(tmp_path)
    assert run.returncode == 0 and "3 passed" in run.stdout, run.stdout + run.stderr


def test_the_plugin_connects_to_a_running_simulator(tmp_path: Path, start_sim: Callable[..., Sim]) -> None:
    server = start_sim("--admin-token", "t0k")
    run = run_pos_tests(tmp_path, "--ppu-sim-url", server.base, "--ppu-sim-admin-token", "t0k")
    assert run.returncode == 0 and "3 passed" in run.stdout, run.stdout + run.stderr
    sessions = ControlClient(server.base, admin_token="t0k").sessions()["sessions"]
    assert sorted(s["exchanges"] for s in sessions) == [1, 1, 1]  # one session per test, none shared


def test_the_client_raises_the_apis_error(sim: Sim) -> None:
    client = ControlClient(sim.base, session=f"client-{new_id()[:8]}")
    with pytest.raises(ControlError) as refused:
        client.journal()
    assert (refused.value.status, refused.value.error, refused.value.field) == (404, "unknown-session", "session")
    loaded = client.load_pack("pack: p\nscenarios: []\n")
    assert loaded == {"session": client.session, "pack": "p", "scenarios": []}
    assert client.journal() == [] and client.transactions()["count"] == 0
    with pytest.raises(ControlError) as bad:
        client.load_pack("pack: p\nscenarios: 3\n")
    assert bad.value.error == "invalid-pack"
    client.delete_pack("p")
    client.reset()


def test_the_readme_pytest_example_passes(tmp_path: Path) -> None:
    readme = (ROOT / "README.md").read_text()
    section = readme[readme.index("## Control API") : readme.index("## Layout")]
    (example,) = re.findall(r"```python\n(.*?)```", section, re.S)
    (tmp_path / "test_checkout.py").write_text(example)
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "test_checkout.py"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0 and "2 passed" in run.stdout, run.stdout + run.stderr
