"""Schemathesis fuzzes the strict simulator with every check, built-in and ours; it must find nothing.

The run is configured by schemathesis.toml (seeded, so a failure reproduces) and the hooks in
tests/schemathesis_hooks.py; this test starts the server the way a user would and reads the
CLI's verdict.
"""

from __future__ import annotations

from tests.support import AUTH, BASE, ROOT, SPEC, Sim, schemathesis_finds_nothing

OPERATIONS = sum(1 for item in SPEC["paths"].values() for op in item.values() if isinstance(op, dict))


def test_schemathesis_finds_nothing_in_strict_mode() -> None:
    server = Sim(["--strict", "--users", ":".join(AUTH)])
    schemathesis_finds_nothing(
        server, ROOT / "schemathesis.toml", f"{BASE}/openapi.json", OPERATIONS, "--auth", ":".join(AUTH)
    )
