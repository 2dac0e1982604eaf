"""A watched --scenarios file: a good change takes effect, a bad one is refused and the last good set kept."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path

from tests.support import Sim, lookup, new_id
from tests.test_scenarios_cli import BOMB

DEADLINE = 20.0  # the watcher debounces changes for about 1.6 s; this leaves room for a busy machine


def pack(first_name: str) -> str:
    return f"""pack: reload-tests
scenarios:
  - name: reloadable
    match: {{meterId: RELOAD1}}
    meter:
      customer: {{firstName: {first_name}}}
"""


BROKEN = """pack: reload-tests
scenarios:
  - name: reloadable
    match: {meterId: RELOAD1}
    meter:
      customer: {firstName: Broken}
    respond:
      createMeterLookup:
        - error: {status: 400, errorType: NOT_AN_ERROR_TYPE}
"""
BROKEN_LINE = 9


def first_name(sim: Sim) -> str:
    """The customer a lookup of RELOAD1 shows, or the errorType if the meter is unknown."""
    id_ = new_id()
    r = sim.post(f"/meterLookups/{id_}", lookup("RELOAD1", id_))
    assert r.status_code in (201, 400), r.text
    return r.json()["customer"]["firstName"] if r.status_code == 201 else r.json()["errorType"]


def eventually(check: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + DEADLINE
    while not check():
        assert time.monotonic() < deadline, f"not within {DEADLINE} s: {what}"
        time.sleep(0.1)


def test_reload_takes_good_changes_and_keeps_the_last_good_set_otherwise(start_sim, tmp_path: Path) -> None:
    path = tmp_path / "live.yaml"
    path.write_text(pack("Alpha"))
    sim = start_sim("--scenarios", str(path))
    assert first_name(sim) == "Alpha"

    path.write_text(pack("Bravo"))
    eventually(lambda: first_name(sim) == "Bravo", "the changed pack is in force")

    path.write_text(BROKEN)
    eventually(lambda: "scenario reload failed" in sim.log.read_text(), "the bad pack is refused")
    log = sim.log.read_text()
    assert f"{path}:{BROKEN_LINE}: scenarios[0].respond.createMeterLookup[0].error.errorType:" in log, log
    assert "NOT_AN_ERROR_TYPE" in log
    assert first_name(sim) == "Bravo"  # the last good set still answers

    # Fixed the way editors save: a new file renamed over the old one.
    fixed = tmp_path / "live.yaml.tmp"
    fixed.write_text(pack("Charlie"))
    os.replace(fixed, path)
    eventually(lambda: first_name(sim) == "Charlie", "the fixed pack is in force")

    # Deleted (a checkout of another branch, say): refused like any bad set; written again: in force.
    path.unlink()
    eventually(lambda: sim.log.read_text().count("scenario reload failed") == 2, "the missing file is refused")
    assert f"{path}: cannot read" in sim.log.read_text()
    assert first_name(sim) == "Charlie"
    path.write_text(pack("Delta"))
    eventually(lambda: first_name(sim) == "Delta", "the file written again is in force")


def test_a_watched_folder_picks_up_a_new_pack(start_sim, tmp_path: Path) -> None:
    folder = tmp_path / "packs"
    folder.mkdir()
    (folder / "notes.txt").write_text("not a pack")
    sim = start_sim("--scenarios", str(folder))
    assert first_name(sim) == "UNKNOWN_METER_ID"  # no scenario for RELOAD1 yet
    (folder / "added.yaml").write_text(pack("Echo"))
    eventually(lambda: first_name(sim) == "Echo", "a pack added to the folder is in force")


def test_the_watcher_outlives_whatever_a_file_holds(start_sim, tmp_path: Path) -> None:
    """An alias bomb once killed the watcher silently, and later good edits were ignored."""
    path = tmp_path / "live.yaml"
    path.write_text(pack("Alpha"))
    sim = start_sim("--scenarios", str(path))
    assert first_name(sim) == "Alpha"

    path.write_text(BOMB)
    eventually(lambda: "aliases expand to more than" in sim.log.read_text(), "the alias bomb is refused")
    path.write_bytes(b"scenarios:\n  - name: caf\xe9\n")
    eventually(lambda: "not UTF-8 text" in sim.log.read_text(), "the bytes that are not UTF-8 are refused")
    assert "keeping the last good set, still watching" in sim.log.read_text()
    assert first_name(sim) == "Alpha"

    path.write_text(pack("Bravo"))
    eventually(lambda: first_name(sim) == "Bravo", "a good edit after them is in force")
