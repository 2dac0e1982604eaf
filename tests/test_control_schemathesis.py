"""Schemathesis fuzzes the control API against its own document; it must find nothing."""

from __future__ import annotations

from tests.control import CONTROL_DOC
from tests.support import ROOT, Sim, schemathesis_finds_nothing

OPERATIONS = sum(1 for item in CONTROL_DOC["paths"].values() for _ in item)


def test_schemathesis_finds_nothing_in_the_control_api() -> None:
    # Its own config (tests/data), not the repository's schemathesis.toml, which is the interface's.
    config = ROOT / "tests" / "data" / "schemathesis-control.toml"
    schemathesis_finds_nothing(Sim(), config, "/sim/openapi.json", OPERATIONS)
