"""The codebase stays ruff clean (the design card's rule), checked on every test run."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.support import ROOT


def test_ruff_finds_nothing() -> None:
    ruff = Path(sys.executable).with_name("ruff")
    run = subprocess.run([str(ruff), "check", "src", "tests", "bench"], cwd=ROOT, capture_output=True, text=True)
    assert run.returncode == 0, run.stdout + run.stderr
