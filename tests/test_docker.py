"""The Dockerfile, checked without a Docker engine (none runs where these tests run).

hadolint lints it; the build is replayed outside Docker: the build context is cut by
.dockerignore, the RUN steps install into a fresh virtualenv, and the CMD is started with the
image's ENV, as `docker run -v ./packs:/scenarios -e PPU_SIM_PORT=...` would start it.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.support import AUTH, BASE, ROOT, free_port, lookup, new_id

DOCKERFILE = ROOT / "Dockerfile"
PACK = """pack: mounted
scenarios:
  - name: mounted-pack
    match: {meterId: DOCKER1}
    respond:
      createMeterLookup:
        - error: {status: 503, errorType: UPSTREAM_UNAVAILABLE}
"""


@dataclass(frozen=True)
class Instruction:
    keyword: str
    argument: str


def instructions() -> list[Instruction]:
    """The Dockerfile's instructions, continuation lines joined and comments dropped."""
    text = re.sub(
        r"\\\n", " ", "\n".join(line for line in DOCKERFILE.read_text().splitlines() if not line.startswith("#"))
    )
    return [Instruction(*line.strip().split(None, 1)) for line in text.splitlines() if line.strip()]


def of(keyword: str) -> list[str]:
    return [i.argument for i in instructions() if i.keyword == keyword]


def image_env() -> dict[str, str]:
    return dict(word.split("=", 1) for line in of("ENV") for word in shlex.split(line))


def healthcheck() -> list[str]:
    (line,) = of("HEALTHCHECK")
    return json.loads(line.split(" CMD ", 1)[1])


def _pattern(glob: str) -> re.Pattern[str]:
    """A .dockerignore pattern as Docker reads it: `*` stays within a path segment, `**` crosses them."""
    parts = re.split(r"(\*\*/?|\*|\?|\[[^]]*\])", glob.strip("/"))
    regex = "".join(
        ".*"
        if p.startswith("**")
        else "[^/]*"
        if p == "*"
        else "[^/]"
        if p == "?"
        else p
        if p.startswith("[")
        else re.escape(p)
        for p in parts
    )
    return re.compile(regex + r"\Z")


def build_context() -> list[Path]:
    """The files Docker sends for `docker build .`: a path is excluded by the last rule matching it or a parent."""
    rules = [
        (line.startswith("!"), _pattern(line.lstrip("!")))
        for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    kept = []
    for path in sorted(p for p in ROOT.rglob("*") if p.is_file()):
        relative = path.relative_to(ROOT).parts
        prefixes = ["/".join(relative[: n + 1]) for n in range(len(relative))]
        excluded = False
        for negated, rule in rules:
            if any(rule.match(prefix) for prefix in prefixes):
                excluded = not negated
        if not excluded:
            kept.append(path)
    return kept


def test_hadolint_finds_nothing() -> None:
    lint = subprocess.run(
        [str(Path(sys.executable).with_name("hadolint")), "--no-color", str(DOCKERFILE)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert lint.returncode == 0 and lint.stdout == "", lint.stdout + lint.stderr


def test_the_build_context_holds_only_what_the_image_needs() -> None:
    top = {p.relative_to(ROOT).parts[0] for p in build_context()}
    assert top == {"pyproject.toml", "README.md", "src", "openapi", "scenarios", "plans"}
    assert not [p for p in build_context() if "__pycache__" in p.parts or p.suffix == ".pyc"]


def test_dependencies_are_installed_before_anything_but_pyproject_is_copied() -> None:
    """A change to the README, a scenario or the code must not invalidate the dependency layer."""
    steps = instructions()
    install = next(n for n, i in enumerate(steps) if i.keyword == "RUN" and "pip install" in i.argument)
    copied = [i.argument.split()[0] for i in steps[:install] if i.keyword in ("COPY", "ADD")]
    assert copied == ["pyproject.toml"]
    package = [i.argument for i in steps[install + 1 :] if i.keyword == "RUN" and "pip install" in i.argument]
    assert package and all("--no-deps" in run for run in package), package


def test_user_packs_are_read_from_scenarios_and_the_healthcheck_follows_the_port() -> None:
    env = image_env()
    assert env["PPU_SIM_SCENARIOS"] == "/scenarios" and env["PPU_SIM_HOST"] == "0.0.0.0"
    assert "PPU_SIM_PORT" in " ".join(healthcheck())


@dataclass
class Image:
    """The replayed image: a fake root holding WORKDIR and /scenarios, and a virtualenv for its Python."""

    root: Path
    venv: Path
    workdir: Path

    def path(self, absolute: str) -> Path:
        return self.root / absolute.lstrip("/")

    def env(self, **overrides: str) -> dict[str, str]:
        image = {k: str(self.path(v)) if v.startswith("/") else v for k, v in image_env().items()}
        return {**os.environ, "PATH": f"{self.venv / 'bin'}:{os.environ['PATH']}", **image, **overrides}


@pytest.fixture(scope="module")
def image(tmp_path_factory: pytest.TempPathFactory) -> Image:
    """Replay FROM..CMD: COPY from the .dockerignore'd context, RUN each step (useradd aside), WORKDIR."""
    base = tmp_path_factory.mktemp("image")
    context = base / "context"
    for source in build_context():
        target = context / source.relative_to(ROOT)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source, target)
    replay = Image(base / "root", base / "venv", base / "root")
    replay.root.mkdir()
    subprocess.run([sys.executable, "-m", "venv", str(replay.venv)], check=True)
    for step in instructions():
        if step.keyword == "WORKDIR":
            replay.workdir = replay.path(step.argument)
            replay.workdir.mkdir(parents=True, exist_ok=True)
        elif step.keyword == "COPY":
            *sources, dest = shlex.split(step.argument)
            for source in sources:
                target = replay.workdir / dest
                if (context / source).is_dir():
                    shutil.copytree(context / source, target)
                else:
                    shutil.copy2(context / source, target)
        elif step.keyword == "RUN":
            for command in step.argument.split("&&"):
                _run_step(replay, command.strip())
    return replay


def _run_step(image: Image, command: str) -> None:
    words = shlex.split(command)
    if words[0] == "useradd":  # the replay runs as the current user
        return
    if words[0] == "mkdir":
        for folder in words[1:]:
            image.path(folder).mkdir(parents=True)
        return
    # --no-cache-dir only keeps the image small; the pip cache keeps this replay quick.
    done = subprocess.run(
        command.replace("--no-cache-dir ", ""),
        shell=True,
        cwd=image.workdir,
        env=image.env(),
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    assert done.returncode == 0, f"{command}\n{done.stdout[-2000:]}\n{done.stderr[-3000:]}"


@contextmanager
def running(image: Image) -> Iterator[tuple[int, Path]]:
    """The image's CMD, started as `docker run -v ./packs:/scenarios -e PPU_SIM_PORT=<port>` would."""
    port = free_port()
    log = image.root / f"run-{port}.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            json.loads(of("CMD")[-1]),
            cwd=image.workdir,
            env=image.env(PPU_SIM_PORT=str(port)),
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + 60
        while not _healthy(port):
            assert proc.poll() is None and time.monotonic() < deadline, log.read_text()
            time.sleep(0.2)
        yield port, log
    finally:
        proc.terminate()
        proc.wait(15)


def _healthy(port: int) -> bool:
    try:
        return httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code == 200
    except httpx.TransportError:
        return False


def _check_health(image: Image, port: int) -> int:
    return subprocess.run(
        healthcheck(), env=image.env(PPU_SIM_PORT=str(port)), capture_output=True, timeout=30, check=False
    ).returncode


def test_the_image_runs_from_its_install_with_an_empty_scenarios_folder(image: Image) -> None:
    assert not list(image.path("/scenarios").iterdir())
    with running(image) as (port, log):
        probe = "import ppu_sim; print(ppu_sim.__file__)"
        where = subprocess.run(["python", "-c", probe], env=image.env(), capture_output=True, text=True, check=True)
        assert where.stdout.startswith(str(image.venv)), where.stdout  # the installed package, not the checkout
        assert not (image.workdir / "src").exists()
        assert _check_health(image, port) == 0
        assert _check_health(image, free_port()) != 0  # nothing listens there: the check must fail
        assert f"listening on http://0.0.0.0:{port}" in log.read_text()


def test_a_pack_in_the_mounted_folder_is_served(image: Image) -> None:
    mounted = image.path("/scenarios") / "mine.yaml"
    mounted.write_text(PACK)
    try:
        with running(image) as (port, log), httpx.Client(auth=AUTH, timeout=10) as client:
            id_ = new_id()
            answer = client.post(f"http://127.0.0.1:{port}{BASE}/meterLookups/{id_}", json=lookup("DOCKER1", id_))
            assert answer.status_code == 503, answer.text
            assert answer.json()["errorType"] == "UPSTREAM_UNAVAILABLE"
            assert "mounted: 1 scenario(s)" in log.read_text()
    finally:
        mounted.unlink()
