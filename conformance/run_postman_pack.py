"""Run Electrum's Postman test pack (electrum-postman-pack/, unchanged) with newman and count honestly.

With no --base-url it starts its own `ppu-sim serve` on a free port, runs the pack against it and
stops it, so one command re-checks the README's "811 of 811":

    .venv/bin/python conformance/run_postman_pack.py

The seven folders, data files and iteration counts are those of the pack's own run_newman.sh.
The number of assertions each folder makes is read from the collection's test scripts, so an
assertion that never ran (its request failed, or the script threw before reaching it) counts as
failed instead of silently vanishing. The last line is always `postman-pack: N passed, M failed`;
the exit status is 0 only when M is 0.

Needs Node.js and npm on the PATH: newman 6 is installed with npm into a cache folder on first use.
Standard library only, so it also runs against any server with a plain python3.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

PACK = Path(__file__).resolve().parent / "electrum-postman-pack"
COLLECTION = "PrepaidUtilityTestPack.postman_collection.json"
ENVIRONMENT = "PPUlocalhosttest.postman_environment.json"
BASE_PATH = "/prepaidutility/v3"
NEWMAN_VERSION = "6"
# (folder, data file, iterations), as the pack's run_newman.sh runs them.
FOLDERS: tuple[tuple[str, str | None, int], ...] = (
    ("Lookup-purchase-confirm", "test_meterIds-purchases.csv", 10),
    ("Lookup-purchase-reverse", "test_meterIds-purchases.csv", 1),
    ("Lookup-timeout-retry-confirm", "test_meterIds-retries.csv", 1),
    ("Key change requests", "test_meterIds-keychange.csv", 1),
    ("Fault reports", "test_meterIds-keychange.csv", 1),
    ("Meter lookups", "test_meterIds-keychange.csv", 1),
    ("Unmatched advices", None, 1),
)
# A legacy assertion is a key of the `tests` object: the same name twice in a script is one assertion.
_LEGACY = re.compile(r"""tests\s*\[\s*(["'])((?:\\.|(?!\1).)*)\1\s*\]\s*=""")
_PM_TEST = re.compile(r"pm\.test\s*\(")


class SetupError(Exception):
    """Something other than the server under test is wrong (no node, no pack, no newman)."""


@dataclass
class FolderResult:
    folder: str
    expected: int
    passed: int
    failed: int
    details: list[str]


def main(argv: list[str] | None = None) -> int:
    args = _arguments().parse_args(argv)
    try:
        newman = _newman(args.newman_cache)
        if args.base_url:
            results = run_pack(newman, args.base_url.rstrip("/"))
        else:
            with _simulator() as base_url:
                results = run_pack(newman, base_url)
    except SetupError as exc:
        print(f"run_postman_pack: {exc}", file=sys.stderr)
        print("postman-pack: 0 passed, 1 failed")
        return 2
    passed = sum(r.passed for r in results)
    failed = sum(r.failed for r in results)
    print(f"postman-pack: {passed} passed, {failed} failed")
    return 0 if failed == 0 and passed > 0 else 1


def _arguments() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        description="Run Electrum's Postman test pack against ppu-sim (started here) or a running server."
    )
    parser.add_argument(
        "--base-url",
        help=f"a running server's interface URL, e.g. http://127.0.0.1:8080{BASE_PATH}; "
        "without it, ppu-sim serve is started on a free port and stopped afterwards",
    )
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "ppu-sim" / "newman"
    parser.add_argument(
        "--newman-cache", type=Path, default=cache, help="where newman is installed on first use (default: %(default)s)"
    )
    return parser


def run_pack(newman: Path, base_url: str) -> list[FolderResult]:
    """Run every folder against base_url, printing one line per folder (and what went wrong)."""
    collection = json.loads((PACK / COLLECTION).read_text("utf-8"))
    results: list[FolderResult] = []
    with tempfile.TemporaryDirectory(prefix="ppu-postman-") as work:
        environment = Path(work) / ENVIRONMENT
        environment.write_text(json.dumps(_with_host(json.loads((PACK / ENVIRONMENT).read_text("utf-8")), base_url)))
        print(f"postman-pack: newman {_version(newman)} against {base_url}")
        for folder, data, iterations in FOLDERS:
            expected = iterations * expected_assertions(_folder(collection, folder))
            report = Path(work) / f"{len(results)}.json"
            command = [
                str(newman), "run", str(PACK / COLLECTION), "-e", str(environment),
                "--folder", folder, "-n", str(iterations), "-r", "json", "--reporter-json-export", str(report),
                "--timeout-request", "60000", "--color", "off",
            ]  # fmt: skip
            if data:
                command += ["-d", str(PACK / data)]
            done = subprocess.run(command, capture_output=True, text=True, check=False)
            result = tally(folder, expected, _report(report), done.returncode)
            if not report.is_file():
                result.details.append(f"newman exited {done.returncode}: {done.stderr.strip()[-500:]}")
            results.append(result)
            print(f"{folder}: {result.expected} assertions, {result.failed} failed")
            for line, times in list(Counter(result.details).items())[:20]:
                print(f"    {line}" + (f" (x{times})" if times > 1 else ""))
    return results


def expected_assertions(folder: dict[str, Any]) -> int:
    """Assertions one iteration of a folder makes, counted in its requests' test scripts."""
    total = 0
    for item in _requests(folder):
        for event in item.get("event", []):
            if event.get("listen") == "test":
                exec_ = event.get("script", {}).get("exec", [])
                script = "\n".join(exec_) if isinstance(exec_, list) else str(exec_)
                total += len({m.group(2) for m in _LEGACY.finditer(script)}) + len(_PM_TEST.findall(script))
    return total


def tally(folder: str, expected: int, report: dict[str, Any] | None, returncode: int) -> FolderResult:
    """Passed is what newman saw pass; failed is everything else the folder should have asserted.

    A request or script error that cost no assertion, or a newman run that failed without a
    report, still counts as one failure: nothing may go wrong silently.
    """
    run = (report or {}).get("run", {})
    ran = run.get("stats", {}).get("assertions", {})
    executed, failed_assertions = int(ran.get("total", 0)), int(ran.get("failed", 0))
    passed = executed - failed_assertions
    failed = max(expected, executed) - passed
    details = [_describe(f) for f in run.get("failures", [])]
    if executed < expected:
        details.insert(0, f"only {executed} of {expected} assertions ran")
    errors = sum(1 for f in run.get("failures", []) if f.get("error", {}).get("name") != "AssertionError")
    if failed == 0 and (errors or returncode != 0 or report is None):
        failed = max(errors, 1)
    return FolderResult(folder, max(expected, executed), passed, failed, details)


def _describe(failure: dict[str, Any]) -> str:
    error = failure.get("error", {})
    source = failure.get("source", {}).get("name", "?")
    if error.get("name") == "AssertionError":
        return f"{source}: assertion {error.get('test')!r} failed"
    return f"{source}: {error.get('name', 'error')}: {error.get('message', '')}"


def _requests(item: dict[str, Any]) -> Iterator[dict[str, Any]]:
    if "item" in item:
        for child in item["item"]:
            yield from _requests(child)
    else:
        yield item


def _folder(collection: dict[str, Any], name: str) -> dict[str, Any]:
    stack = list(collection["item"])
    while stack:
        item = stack.pop()
        if "item" in item:
            if item.get("name") == name:
                return item
            stack.extend(item["item"])
    raise SetupError(f"folder {name!r} is not in {COLLECTION}")


def _with_host(environment: dict[str, Any], base_url: str) -> dict[str, Any]:
    for value in environment.get("values", []):
        if value.get("key") == "host":
            value["value"], value["enabled"] = base_url, True
            return environment
    raise SetupError(f"{ENVIRONMENT} has no 'host' variable")


def _report(path: Path) -> dict[str, Any] | None:
    try:
        return json.loads(path.read_text("utf-8"))
    except (OSError, ValueError):
        return None


def _newman(cache: Path) -> Path:
    """newman 6 from the cache, installed there with npm the first time."""
    if not shutil.which("node"):
        raise SetupError("node is not on the PATH (newman needs Node.js 16 or newer)")
    newman = cache / "node_modules" / ".bin" / "newman"
    if not newman.is_file():
        npm = shutil.which("npm")
        if not npm:
            raise SetupError("npm is not on the PATH: it installs newman on first use")
        print(f"postman-pack: installing newman {NEWMAN_VERSION} into {cache}", file=sys.stderr)
        cache.mkdir(parents=True, exist_ok=True)
        install = [npm, "install", "--silent", "--no-audit", "--no-fund", "--prefix", str(cache)]
        done = subprocess.run([*install, f"newman@{NEWMAN_VERSION}"], capture_output=True, text=True, check=False)
        if done.returncode != 0 or not newman.is_file():
            raise SetupError(f"npm could not install newman: {done.stderr.strip()[-1000:]}")
    return newman


def _version(newman: Path) -> str:
    done = subprocess.run([str(newman), "--version"], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SetupError(f"{newman} does not run: {done.stderr.strip()[-500:]}")
    return done.stdout.strip()


@contextmanager
def _simulator() -> Iterator[str]:
    """`ppu-sim serve` of the interpreter running this script, on a free port, for the length of a run."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    command = [sys.executable, "-m", "ppu_sim", "serve", "--host", "127.0.0.1", "--port", str(port), "--no-watch"]
    with tempfile.TemporaryFile() as log:
        proc = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
        try:
            if not _healthy(proc, f"http://127.0.0.1:{port}/health"):
                log.seek(0)
                output = log.read().decode(errors="replace")[-2000:]
                raise SetupError(
                    f"`ppu-sim serve` did not start (is ppu-sim installed for {sys.executable}?)\n{output}"
                )
            yield f"http://127.0.0.1:{port}{BASE_PATH}"
        finally:
            proc.terminate()
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def _healthy(proc: subprocess.Popen[bytes], health: str) -> bool:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            with urllib.request.urlopen(health, timeout=2):
                return True
        except OSError:  # URLError is an OSError: not listening yet
            time.sleep(0.2)
    return False


if __name__ == "__main__":
    sys.exit(main())
