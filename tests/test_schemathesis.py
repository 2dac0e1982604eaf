"""Schemathesis fuzzes the strict simulator with every check, built-in and ours; it must find nothing.

The run is configured by schemathesis.toml (seeded, so a failure reproduces) and the hooks in
tests/schemathesis_hooks.py; this test starts the server the way a user would and reads the
CLI's verdict.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from tests.support import AUTH, BASE, ROOT, SPEC, Sim

OPERATIONS = sum(1 for item in SPEC["paths"].values() for op in item.values() if isinstance(op, dict))


def test_schemathesis_finds_nothing_in_strict_mode() -> None:
    server = Sim(["--strict", "--users", ":".join(AUTH)])
    st = Path(sys.executable).with_name("st")
    try:
        run = subprocess.run(
            [
                str(st),
                "--config-file",
                str(ROOT / "schemathesis.toml"),
                "run",
                f"{server.base}{BASE}/openapi.json",
                "--auth",
                ":".join(AUTH),
                "--no-color",
            ],
            cwd=ROOT,
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
