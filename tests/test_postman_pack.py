"""Electrum's official Postman test pack for server implementations, run with newman against ppu-sim."""

from __future__ import annotations

import subprocess

from tests.support import BASE, SHARED, Sim

RUNNER = SHARED / "conformance" / "run_postman_pack.sh"


def test_official_postman_pack_passes_completely() -> None:
    server = Sim()  # a fresh server: the pack expects no state from other tests
    try:
        run = subprocess.run(["bash", str(RUNNER), server.base + BASE], capture_output=True, text=True, timeout=900)
    finally:
        server.stop()
    summary = run.stdout.strip().splitlines()[-1] if run.stdout.strip() else run.stderr
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-2000:]
    assert summary == "postman-pack: 811 passed, 0 failed", summary
