"""`ppu-sim scenarios validate|list`, and `serve` refusing a bad pack: messages name file, line and field.

Each broken fixture marks its faulty line with ``# <-``; the expected line number is read from
the marker, so it is the fixture itself that says where the fault is.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.support import ROOT, cli, free_port

GOOD = """pack: cli-good
scenarios:
  - name: good-one
    summary: Provider down
    tags: [mine]
    match: {meterId: [CLI1, CLI2]}
    respond:
      createMeterLookup:
        - error: {status: 503, errorType: UPSTREAM_UNAVAILABLE}
  - name: good-two
    match: {meterId: {pattern: "CLIHOLD[0-9]+"}}
    respond:
      createTokenPurchaseRequest:
        - fault: {kind: hold, seconds: 5}
"""

# name: (text, field, words the message must contain)
BROKEN = {
    "bad-yaml": (
        """pack: broken
scenarios:
  - name: a
    match: {meterId: [X1, X2}   # <-
""",
        "scenarios[0].match.meterId",
        "not valid YAML",
    ),
    "misspelt-key": (
        """pack: broken
scenarios:
  - name: a
    match: {meterId: X1}
    respnd:   # <-
      createMeterLookup:
        - error: {status: 503, errorType: UPSTREAM_UNAVAILABLE}
""",
        "scenarios[0].respnd",
        "unknown field 'respnd'; did you mean 'respond'? (valid: name, summary, tags, match, meter, vend, respond)",
    ),
    "misspelt-operation": (
        """pack: broken
scenarios:
  - name: a
    match: {meterId: X1}
    respond:
      createMeterLookup:
        - error: {status: 503, errorType: UPSTREAM_UNAVAILABLE}
      createTokenPurchaseReqest:   # <-
        - error: {status: 503, errorType: UPSTREAM_UNAVAILABLE}
""",
        "scenarios[0].respond.createTokenPurchaseReqest",
        "did you mean 'createTokenPurchaseRequest'? (valid: createMeterLookup, createTokenPurchaseRequest,",
    ),
    "misspelt-match-key": (
        """pack: broken
scenarios:
  - name: a
    match:
      amount: 500
      meterld: X1   # <-
""",
        "scenarios[0].match.meterld",
        "unknown field 'meterld'; did you mean 'meterId'?",
    ),
    "misspelt-key-of-a-form": (
        """pack: broken
scenarios:
  - name: a
    match: {meterId: X1}
    respond:
      createMeterLookup:
        - fault:
            kind: hold
            secnds: 5   # <-
""",
        "scenarios[0].respond.createMeterLookup[0].fault.secnds",
        "unknown field 'secnds'; did you mean 'seconds'?",
    ),
    "misspelt-operation-in-a-list": (
        """pack: broken
scenarios:
  - name: a
    match:
      meterId: X1
      operations:
        - createMeterLookup
        - createTokenPurchaseReqest   # <-
""",
        "scenarios[0].match.operations[1]",
        "did you mean 'createTokenPurchaseRequest'?",
    ),
    "misspelt-error-type": (
        """pack: broken
scenarios:
  - name: a
    match: {meterId: X1}
    respond:
      createMeterLookup:
        - error: {errorType: DO_NOT_HONUR}   # <-
""",
        "scenarios[0].respond.createMeterLookup[0].error.errorType",
        "did you mean 'DO_NOT_HONOR'?",
    ),
    "backreference": (
        """pack: broken
scenarios:
  - name: a
    match:
      meterId:
        pattern: "(A)\\\\1"   # <-
""",
        "scenarios[0].match.meterId.pattern",
        "RE2 syntax: no backreferences or look-around",
    ),
    "schema": (
        """pack: broken
scenarios:
  - name: a
    match: {meterId: X1}
    respond:
      createMeterLookup:
        - times: zero   # <-
          error: {status: 400, errorType: DO_NOT_HONOR}
""",
        "scenarios[0].respond.createMeterLookup[0].times",
        "'zero' is not of type 'integer'",
    ),
    "unknown-error-type": (
        """pack: broken
scenarios:
  - name: a
    match: {meterId: X1}
    respond:
      createTokenPurchaseRequest:
        - error:
            status: 400
            errorType: NOT_AN_ERROR_TYPE   # <-
""",
        "scenarios[0].respond.createTokenPurchaseRequest[0].error.errorType",
        "'NOT_AN_ERROR_TYPE' is not an errorType of the contract",
    ),
    "status-not-allowed": (
        """pack: broken
scenarios:
  - name: a
    match: {meterId: X1}
    respond:
      createMeterLookup:
        - error:
            errorType: UNABLE_TO_LOCATE_RECORD
            status: 404   # <-
""",
        "scenarios[0].respond.createMeterLookup[0].error.status",
        "createMeterLookup cannot answer 404",
    ),
    "bad-pattern": (
        """pack: broken
scenarios:
  - name: a
    match:
      meterId:
        pattern: "[unclosed"   # <-
""",
        "scenarios[0].match.meterId.pattern",
        "bad pattern '[unclosed'",
    ),
    "amount-range": (
        """pack: broken
scenarios:
  - name: a
    match:
      meterId: X1
      amount: {min: 500, max: 100}   # <-
""",
        "scenarios[0].match.amount",
        "min 500 > max 100",
    ),
    "meter-min-max": (
        """pack: broken
scenarios:
  - name: a
    match: {meterId: X1}
    meter:
      minAmount: 900   # <-
      maxAmount: 100
""",
        "scenarios[0].meter.minAmount",
        "minAmount 900 is above maxAmount 100",
    ),
    "unknown-operation": (
        """pack: broken
scenarios:
  - name: a
    match:
      meterId: X1
      operations:
        - createMeterLookup
        - fetchTokens   # <-
""",
        "scenarios[0].match.operations[1]",
        "'fetchTokens' is not one of",
    ),
    "bad-delay": (
        """pack: broken
scenarios:
  - name: a
    match: {meterId: X1}
    respond:
      createMeterLookup:
        - delay: {uniform: [0.1]}   # <-
""",
        "scenarios[0].respond.createMeterLookup[0].delay",
        "[0.1] is too short",
    ),
}


def run(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run([cli(), *args], capture_output=True, text=True, timeout=timeout, check=False)


def marked_line(text: str) -> int:
    return next(n for n, line in enumerate(text.splitlines(), 1) if "# <-" in line)


def write(folder: Path, name: str, text: str) -> Path:
    path = folder / f"{name}.yaml"
    path.write_text(text)
    return path


def builtin_packs() -> list[Path]:
    return sorted((ROOT / "scenarios").glob("*.y*ml"))


def test_validate_accepts_good_files(tmp_path: Path) -> None:
    good = write(tmp_path, "good", GOOD)
    done = run("scenarios", "validate", str(good), str(ROOT / "scenarios" / "default.yaml"))
    assert done.returncode == 0, done.stderr
    assert "2 pack(s)" in done.stdout


@pytest.mark.parametrize("name", sorted(BROKEN))
def test_validate_names_file_line_and_field(tmp_path: Path, name: str) -> None:
    text, field, words = BROKEN[name]
    path = write(tmp_path, name, text)
    done = run("scenarios", "validate", str(path))
    assert done.returncode != 0
    where = f"{path}:{marked_line(text)}: "
    problem = next((line for line in done.stderr.splitlines() if line.startswith(where)), None)
    assert problem is not None, f"no problem reported at {where}:\n{done.stderr}"
    if field:
        assert problem.startswith(f"{where}{field}: "), problem
    assert words in problem


def test_validate_reports_every_file_at_once_and_an_unknown_respond_key(tmp_path: Path) -> None:
    good = write(tmp_path, "good", GOOD)
    unknown = write(
        tmp_path,
        "unknown-respond",
        """pack: broken
scenarios:
  - name: a
    match: {meterId: X1}
    respond:
      createMeterLokup:
        - error: {status: 400, errorType: DO_NOT_HONOR}
""",
    )
    pattern_text = BROKEN["bad-pattern"][0]
    pattern = write(tmp_path, "bad-pattern", pattern_text)
    done = run("scenarios", "validate", str(good), str(unknown), str(pattern))
    assert done.returncode != 0
    # The unknown key is named at its own line, with the name it was probably meant to be.
    assert f"{unknown}:6: scenarios[0].respond.createMeterLokup: unknown field" in done.stderr, done.stderr
    assert "did you mean 'createMeterLookup'?" in done.stderr
    assert f"{pattern}:{marked_line(pattern_text)}: scenarios[0].match.meterId.pattern" in done.stderr
    assert str(good) not in done.stderr


MISTAKES = """pack: broken
scenarios:
  - name: a
    match: {meterId: X1}
    respnd:   # <-
      createMeterLookup:
        - error: {errorType: DO_NOT_HONOR}
  - name: b
    match: {meterId: X2}
    respond:
      createMeterLookup:
        - times: zero   # <-
          error: {errorType: DO_NOT_HONOR}
      createFaultReport:
        - error: {status: 400, errorType: NOT_AN_ERROR_TYPE}   # <-
  - name: c
    match:
      meterId: X3
      amount: {min: 500, max: 100}   # <-
    meter: {minAmount: 900, maxAmount: 100}   # <-
"""


def test_validate_reports_every_mistake_of_a_file_in_one_run(tmp_path: Path) -> None:
    """Schema problems do not hide the deeper checks: each part the schema accepts is still checked."""
    path = write(tmp_path, "mistakes", MISTAKES)
    done = run("scenarios", "validate", str(path))
    assert done.returncode != 0
    marked = [n for n, line in enumerate(MISTAKES.splitlines(), 1) if "# <-" in line]
    reported = [int(line.split(":")[1]) for line in done.stderr.splitlines() if line.startswith(f"{path}:")]
    assert reported == marked, done.stderr  # each once, in the order of the file
    assert f"{len(marked)} problem(s)" in done.stderr


# Files no editor would save on purpose, each answered with one line: file:line: field: message.
BOMB = """a: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol]
b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]
c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]
d: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c]
e: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d]
f: &f [*e, *e, *e, *e, *e, *e, *e, *e, *e]
g: &g [*f, *f, *f, *f, *f, *f, *f, *f, *f]
h: &h [*g, *g, *g, *g, *g, *g, *g, *g, *g]
i: &i [*h, *h, *h, *h, *h, *h, *h, *h, *h]
scenarios: []
"""  # "billion laughs": 410 bytes that stand for 387 million strings
HOSTILE = {
    "empty": (b"", 1, "(top): the file is empty"),
    "only a comment": (b"# nothing yet\n", 1, "(top): the file is empty"),
    "alias bomb": (BOMB.encode(), None, "aliases expand to more than"),
    "recursive alias": (b"scenarios: &a [*a]\n", 1, "scenarios[0]: alias *a is inside its own anchor"),
    "deep nesting": (b"scenarios: " + b"[" * 5000 + b"]" * 5000 + b"\n", 1, "nested deeper than"),
    "huge integer": (
        b"scenarios:\n  - name: a\n    match: {meterId: X, amount: " + b"9" * 5000 + b"}\n",
        3,
        "scenarios[0].match.amount: integer out of range",
    ),
    "infinite delay": (
        b"scenarios:\n  - name: a\n    respond:\n      createMeterLookup:\n        - delay: .inf\n",
        5,
        "scenarios[0].respond.createMeterLookup[0].delay: not a finite number",
    ),
    "not UTF-8": (b"scenarios:\n  - name: caf\xe9\n", 2, "not UTF-8 text: byte 0xe9"),
    "control character": (b"scenarios: []\npack: a\x00b\n", 2, "character #x0000 is not allowed"),
    "binary junk": (bytes(range(256)) * 8, 2, "not UTF-8 text"),
    "huge scalar": (b'"' + b"A" * 100_000 + b'"\n', 1, "is not of type 'object'"),
}


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_a_hostile_file_gets_one_line_naming_where(tmp_path: Path, name: str) -> None:
    content, line, words = HOSTILE[name]
    path = tmp_path / "hostile.yaml"
    path.write_bytes(content)
    done = run("scenarios", "validate", str(path), timeout=30)
    assert done.returncode == 1, done.stdout
    assert "Traceback" not in done.stderr, done.stderr[-2000:]
    problems = [p for p in done.stderr.splitlines() if p.startswith(str(path))]
    assert len(problems) == 1 and len(problems[0]) < len(str(path)) + 200, done.stderr[:2000]
    assert re.match(rf"{re.escape(str(path))}:{line or '[0-9]+'}: ", problems[0]), problems[0]
    assert words in problems[0]


def test_what_is_not_a_file_in_a_folder_gets_one_line(tmp_path: Path) -> None:
    """A FIFO would block the reader for ever; a folder named like a pack cannot be read."""
    folder = tmp_path / "packs"
    folder.mkdir()
    os.mkfifo(folder / "pipe.yaml")
    (folder / "sub.yaml").mkdir()
    done = run("scenarios", "validate", str(folder), timeout=30)
    assert done.returncode == 1
    for name in ("pipe.yaml", "sub.yaml"):
        assert f"{folder / name}: cannot read: not a regular file" in done.stderr.splitlines(), done.stderr


def test_serve_refuses_a_bad_pack(tmp_path: Path) -> None:
    text = BROKEN["unknown-error-type"][0]
    path = write(tmp_path, "bad", text)
    done = run("serve", "--port", str(free_port()), "--scenarios", str(path), timeout=30)
    assert done.returncode != 0
    output = done.stdout + done.stderr
    assert f"{path}:{marked_line(text)}: " in output, output
    assert "NOT_AN_ERROR_TYPE" in output
    assert "Uvicorn running" not in output


def test_list_json_has_every_builtin_scenario_with_meter_ids_and_tags() -> None:
    done = run("scenarios", "list", "--format", "json")
    assert done.returncode == 0, done.stderr
    rows = {(row["pack"], row["name"]): row for row in json.loads(done.stdout)}
    expected = 0
    for path in builtin_packs():
        data = yaml.safe_load(path.read_text())
        for sc in data["scenarios"]:
            expected += 1
            row = rows[(data.get("pack") or path.stem, sc["name"])]
            meter_id = sc.get("match", {}).get("meterId")
            ids = [meter_id] if isinstance(meter_id, str) else meter_id if isinstance(meter_id, list) else []
            assert row["meterIds"] == sorted(ids), row
            assert set(sc.get("tags", ())) <= set(row["tags"]), row
            assert row["operations"], row
    assert len(rows) == expected


def test_list_includes_extra_packs_first_with_derived_tags(tmp_path: Path) -> None:
    good = write(tmp_path, "good", GOOD)
    done = run("scenarios", "list", "--scenarios", str(good), "--format", "json")
    assert done.returncode == 0, done.stderr
    rows = json.loads(done.stdout)
    assert [r["name"] for r in rows[:2]] == ["good-one", "good-two"]  # later packs take precedence
    one, two = rows[0], rows[1]
    assert one["meterIds"] == ["CLI1", "CLI2"]
    assert {"mine", "5xx", "errorType:UPSTREAM_UNAVAILABLE"} <= set(one["tags"])
    assert one["operations"] == ["createMeterLookup"]
    assert two["meterIds"] == [] and two["meterPattern"] == "CLIHOLD[0-9]+"
    assert {"fault:hold", "timeout"} <= set(two["tags"])
    table = run("scenarios", "list", "--scenarios", str(good))
    assert table.returncode == 0
    assert "good-one" in table.stdout and "CLI1,CLI2" in table.stdout


def test_list_refuses_a_bad_extra_pack(tmp_path: Path) -> None:
    text = BROKEN["schema"][0]
    path = write(tmp_path, "bad", text)
    done = run("scenarios", "list", "--scenarios", str(path))
    assert done.returncode != 0
    assert f"{path}:{marked_line(text)}: " in done.stderr
