"""`pip install .` (the README's start command) ships the contract and the built-in packs."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

from tests.support import ROOT


def test_wheel_carries_spec_and_packs_and_runs_outside_the_checkout(tmp_path: Path) -> None:
    build = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(tmp_path), str(ROOT)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert build.returncode == 0, build.stderr
    wheel = next(tmp_path.glob("ppu_sim-*.whl"))
    site = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(site)
    names = {p.relative_to(site).as_posix() for p in site.rglob("*") if p.is_file()}
    assert "ppu_sim/openapi/prepaidutility-v3.yaml" in names
    packs = {Path(n).name for n in names if n.startswith("ppu_sim/builtin_scenarios/")}
    assert {p.name for p in (ROOT / "scenarios").glob("*.yaml")} <= packs
    probe = (
        "import ppu_sim, ppu_sim.interface.spec as s, ppu_sim.app as a;"
        "assert 'site' in ppu_sim.__file__, ppu_sim.__file__;"
        "print(s.spec_path()); print(len(a.load_catalogue().ordered));"
        "import ppu_sim.referee.plan as p; print(len(p.find_plan('electrum-certification').exercises))"
    )
    run = subprocess.run(
        [sys.executable, "-c", probe],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        env={"PYTHONPATH": str(site), "PATH": "/usr/bin:/bin"},
    )
    assert run.returncode == 0, run.stderr
    spec_path, count, exercises = run.stdout.split()
    assert spec_path.startswith(str(site)) and int(count) > 0
    assert int(exercises) > 0  # the certification plan ships inside the wheel


def _readme_test_command() -> str:
    quick_start = (ROOT / "README.md").read_text().split("## Quick start", 1)[1]
    return next(line for line in quick_start.splitlines() if line.endswith("pytest"))


def test_ci_runs_exactly_the_readme_test_command_in_a_fresh_clone_with_nothing_beside_it() -> None:
    script = (ROOT / ".ci" / "run").read_text()
    commands = [line for line in script.splitlines() if line and not line.startswith("#")]
    assert commands[-1] == _readme_test_command()
    # ... run inside a clone made in an empty temporary folder
    assert "work=$(mktemp -d)" in commands
    assert commands[-3:-1] == ['git clone -q "$repo" "$work/ppu-sim"', 'cd "$work/ppu-sim"']
