"""The command line as a user meets it: help, environment variables, bad values, the start-up banner."""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import time
from collections.abc import Callable, Iterator

import pytest

from ppu_sim import __version__
from ppu_sim.cli import parser
from tests.support import BASE, ROOT, Sim, cli


def _parsers(node: argparse.ArgumentParser) -> Iterator[argparse.ArgumentParser]:
    yield node
    for action in node._actions:
        if isinstance(action, argparse._SubParsersAction):
            for child in action.choices.values():
                yield from _parsers(child)


def _serve() -> argparse.ArgumentParser:
    return next(p for p in _parsers(parser()) if p.prog.endswith(" serve"))


def _serve_options() -> list[argparse.Action]:
    return [a for a in _serve()._actions if a.option_strings and a.dest != "help"]


def _run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [cli(), *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={**os.environ, "COLUMNS": "400", **(env or {})},
    )


HELP_COMMANDS = [["--help"], ["serve", "--help"], ["scenarios", "--help"], ["scenarios", "validate", "--help"]]
HELP_COMMANDS.append(["scenarios", "list", "--help"])


@pytest.mark.parametrize("command", HELP_COMMANDS, ids=" ".join)
def test_help_explains_every_option_and_argument_and_shows_defaults(command: list[str]) -> None:
    run = _run(*command)
    assert run.returncode == 0, run.stderr
    assert "`" not in run.stdout  # plain text, no reStructuredText or Markdown quoting
    owner = next(p for p in _parsers(parser()) if p.prog == " ".join(["ppu-sim", *command[:-1]]))
    for action in owner._actions:
        assert action.help and action.help.strip(), f"{owner.prog}: {action.dest} has no help"
        if action.option_strings and action.nargs != 0 and action.default not in (None, "", []):
            assert f"{action.option_strings[-1]}" in run.stdout
            assert f"(default: {action.default})" in run.stdout, f"{owner.prog} {action.dest}: default not shown"


def test_every_serve_option_has_a_variable_shown_in_help_and_in_the_readme_table() -> None:
    help_text = _run("serve", "--help").stdout
    readme = (ROOT / "README.md").read_text()
    rows = {
        m["option"]: (m["variable"], m["default"])
        for m in re.finditer(
            r"^\| `(?P<option>--[a-z-]+)[^`]*` \| `(?P<variable>PPU_SIM_\w+)` \| (?P<default>[^|]+) \|", readme, re.M
        )
    }
    options = _serve_options()
    assert options
    for action in options:
        flag = action.option_strings[0]
        variable = "PPU_SIM_" + action.dest.upper()
        assert re.search(rf"^  {flag}\b.*?\[{variable}\]$", help_text, re.M | re.S), f"{flag}: {variable} not in --help"
        assert flag in rows, f"{flag} is not in the README's option table"
        assert rows[flag][0] == variable
        shown = rows[flag][1].strip()
        if action.nargs != 0 and action.default not in (None, "", []):
            assert shown == f"`{action.default}`", f"{flag}: README says default {shown}, serve uses {action.default}"
    assert set(rows) == {a.option_strings[0] for a in options}, "the README lists an option serve does not have"


SAMPLES = {
    "--host": "0.0.0.0",
    "--port": "9123",
    "--scenarios": "a.yaml:b",
    "--seed": "42",
    "--users": "alice:secret,bob:pw",
    "--tokens": "t1,t2",
    "--hold-seconds": "2.5",
    "--log-level": "DEBUG",
}


@pytest.mark.parametrize("action", _serve_options(), ids=lambda a: a.option_strings[0])
def test_each_variable_sets_its_option_and_the_command_line_wins(action: argparse.Action, monkeypatch) -> None:
    flag, variable = action.option_strings[0], "PPU_SIM_" + action.dest.upper()
    default = getattr(parser().parse_args(["serve"]), action.dest)
    if action.nargs == 0:  # a switch
        monkeypatch.setenv(variable, "yes")
        assert getattr(parser().parse_args(["serve"]), action.dest) != default
        monkeypatch.setenv(variable, "0")
        assert getattr(parser().parse_args(["serve"]), action.dest) == default
        return
    value = SAMPLES.get(flag, str(action.default))  # an option added later is at least parsed
    words = value.split(os.pathsep) if action.nargs == "*" else [value]
    given = getattr(parser().parse_args(["serve", flag, *words]), action.dest)
    assert flag not in SAMPLES or given != default
    monkeypatch.setenv(variable, value)
    assert getattr(parser().parse_args(["serve"]), action.dest) == given
    default_words = [] if action.nargs == "*" else [str(action.default)]
    assert getattr(parser().parse_args(["serve", flag, *default_words]), action.dest) == default


def test_variables_reach_a_running_server(start_sim: Callable[..., Sim]) -> None:
    server = start_sim(env={"PPU_SIM_STRICT": "1", "PPU_SIM_USERS": "alice:secret"})
    assert server.client.post(f"{BASE}/meterLookups/x", json={}).status_code == 401  # test:test is not alice
    assert "mode        strict" in server.log.read_text()


@pytest.mark.parametrize(("level", "shown"), [("info", True), ("debug", True), ("warning", False)])
def test_access_lines_follow_the_log_level(start_sim: Callable[..., Sim], level: str, shown: bool) -> None:
    server = start_sim("--log-level", level)
    assert server.client.post(f"{BASE}/meterLookups/x", json={}).status_code == 400
    server.stop()
    assert ('"POST /prepaidutility/v3/meterLookups/x HTTP/1.1" 400' in server.log.read_text()) is shown


BAD = [
    (["serve", "--log-level", "trace"], {}, "--log-level"),
    (["serve", "--log-level", "loud"], {}, "--log-level"),
    (["serve"], {"PPU_SIM_LOG_LEVEL": "trace"}, "PPU_SIM_LOG_LEVEL='trace'"),
    (["serve"], {"PPU_SIM_PORT": "abc"}, "PPU_SIM_PORT='abc'"),
    (["serve", "--port", "70000"], {}, "--port"),
    (["serve"], {"PPU_SIM_SEED": "x"}, "PPU_SIM_SEED='x'"),
    (["serve"], {"PPU_SIM_HOLD_SECONDS": "-1"}, "PPU_SIM_HOLD_SECONDS='-1'"),
    (["serve"], {"PPU_SIM_STRICT": "maybe"}, "PPU_SIM_STRICT='maybe'"),
    (["serve", "--users", "bob"], {}, "bad --users entry 'bob'"),
    (["serve", "--bogus"], {}, "--bogus"),
    (["frobnicate"], {}, "frobnicate"),
]


@pytest.mark.parametrize(("args", "env", "named"), BAD, ids=[f"{' '.join(a)} {e}" for a, e, _ in BAD])
def test_a_bad_value_is_one_line_naming_it_and_exit_2(args: list[str], env: dict[str, str], named: str) -> None:
    run = _run(*args, env=env)
    assert run.returncode == 2, run.stdout + run.stderr
    assert "Traceback" not in run.stderr
    assert len(run.stderr.strip().splitlines()) == 1, run.stderr
    assert named in run.stderr and run.stderr.startswith("ppu-sim")


def test_help_works_even_with_a_bad_variable() -> None:
    run = _run("serve", "--help", env={"PPU_SIM_PORT": "abc"})
    assert run.returncode == 0 and "PPU_SIM_PORT" in run.stdout


def _banner(server: Sim) -> str:
    deadline = time.monotonic() + 30
    while "  auth " not in (text := server.log.read_text()):
        assert time.monotonic() < deadline, text
        time.sleep(0.1)
    return text


def test_startup_prints_one_banner_and_no_warning(start_sim: Callable[..., Sim], tmp_path) -> None:
    (tmp_path / "one.yaml").write_text(
        "pack: banner-pack\nscenarios:\n"
        + "".join(
            f"  - name: s{n}\n    match: {{meterId: BANNER{n}}}\n    respond:\n      createMeterLookup:\n"
            "        - error: {status: 503, errorType: UPSTREAM_UNAVAILABLE}\n"
            for n in range(3)
        )
    )
    server = start_sim("--scenarios", str(tmp_path), "--strict", "--users", "test:test")
    text = _banner(server)
    root = f"http://127.0.0.1:{server.port}"
    assert text.splitlines()[0] == f"ppu-sim {__version__} listening on {root} (Ctrl+C to stop)"
    assert f"{root}{BASE}" in text
    ui = re.search(rf"swagger ui +({re.escape(root)}\S+)", text)
    assert ui and server.client.get(ui[1]).status_code == 200
    listed = json.loads(_run("scenarios", "list", "--scenarios", str(tmp_path), "--format", "json").stdout)
    for pack in {row["pack"] for row in listed}:
        count = sum(1 for row in listed if row["pack"] == pack)
        assert re.search(rf"^  pack +{re.escape(pack)}: {count} scenario\(s\)", text, re.M), (pack, text)
    assert "mode        strict" in text and "auth        on: Basic for 1 user(s)" in text
    assert "Warning" not in text and "Uvicorn running" not in text and "Adding spec" not in text


def test_the_default_banner_says_lenient_and_auth_off(sim: Sim) -> None:
    text = _banner(sim)
    assert "mode        lenient" in text and "auth        off" in text
