"""Electrum's official Postman test pack, run with the project's own runner exactly as the README says."""

from __future__ import annotations

import hashlib
import re
import subprocess
import sys

from tests.support import CONFORMANCE, ROOT, free_port

RUNNER = CONFORMANCE / "run_postman_pack.py"
PACK = CONFORMANCE / "electrum-postman-pack"


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(RUNNER), *args], cwd=ROOT, capture_output=True, text=True, timeout=900, check=False
    )


def test_the_readme_command_passes_all_811_assertions() -> None:
    """The runner starts its own `ppu-sim serve` (a fresh server: the pack expects no earlier state)."""
    run = _run()
    summary = run.stdout.strip().splitlines()[-1] if run.stdout.strip() else run.stderr
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-2000:]
    assert summary == "postman-pack: 811 passed, 0 failed", summary


def test_assertions_whose_request_failed_count_as_failed() -> None:
    """Against a port nobody listens on every request errors: all 811 assertions must be failures."""
    run = _run("--base-url", f"http://127.0.0.1:{free_port()}/prepaidutility/v3")
    assert run.returncode == 1, run.stdout[-2000:] + run.stderr[-2000:]
    assert run.stdout.strip().splitlines()[-1] == "postman-pack: 0 passed, 811 failed", run.stdout[-2000:]


def test_the_pack_is_byte_identical_to_the_upstream_files_its_origin_note_lists() -> None:
    listed = dict(re.findall(r"^\| (\S+) \| ([0-9a-f]{64}) \|$", (PACK / "ORIGIN.md").read_text(), re.MULTILINE))
    on_disk = {p.name for p in PACK.iterdir()} - {"ORIGIN.md", "LICENSE"}
    assert set(listed) == on_disk
    for name, digest in listed.items():
        assert hashlib.sha256((PACK / name).read_bytes()).hexdigest() == digest, name
    assert "Apache License" in (PACK / "LICENSE").read_text()
