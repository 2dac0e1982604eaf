"""Schemathesis fuzzes the control API against its own document; it must find nothing."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from tests.control import CONTROL_DOC
from tests.support import ROOT, Sim

OPERATIONS = sum(1 for item in CONTROL_DOC["paths"].values() for _ in item)


def test_schemathesis_finds_nothing_in_the_control_api(tmp_path: Path) -> None:
    server = Sim()
    st = Path(sys.executable).with_name("st")
    try:
        run = subprocess.run(
            [
                str(st),
                "--config-file",
                str(ROOT / "tests" / "data" / "schemathesis-control.toml"),
                "run",
                f"{server.base}/sim/openapi.json",
                "--no-color",
            ],
            cwd=tmp_path,  # not the repository's schemathesis.toml, which is the interface's
            capture_output=True,
            text=True,
            timeout=600,
        )
    finally:
        server.stop()
    output = run.stdout + run.stderr
    tail = output[-8000:]
    assert run.returncode == 0, tail
    assert f"Tested: {OPERATIONS}\n" in output, tail
    counts = re.search(r"(\d+) generated, (\d+) passed", output)
    assert counts and counts[1] == counts[2] and int(counts[1]) > 0, tail
    assert "Failures:" not in output and "Errors:" not in output, tail
