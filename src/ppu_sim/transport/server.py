"""Running the ASGI app under uvicorn, and reloading scenario files when they change."""

from __future__ import annotations

import asyncio
import gc
import ipaddress
import logging
import socket
from collections.abc import Callable, Sequence
from pathlib import Path

import uvicorn
from watchfiles import Change, awatch

from ppu_sim import __version__
from ppu_sim.app import create_app, load_catalogue
from ppu_sim.config import Settings
from ppu_sim.control.recorder import Recorder
from ppu_sim.heap import map_large_blocks
from ppu_sim.interface.spec import BASE_PATH
from ppu_sim.paths import bundled
from ppu_sim.scenario.loader import ScenarioError
from ppu_sim.scenario.model import Pack
from ppu_sim.transport.protocol import guarded_protocol

log = logging.getLogger("ppu_sim")

_SESSIONS = {
    "header": "one per X-PPU-Session header, else per Basic user",
    "user": "one per Basic user",
    "off": "one for all",
}
# Held requests are open connections: allow this many before the process runs out of descriptors.
_WANTED_FILES = 65_536
# Descriptors kept for what is not a client connection (listening socket, scenario files, logs, watcher).
_SPARE_FILES = 64
# Cycle collector thresholds. A young collection every 2,000 surviving objects (Python: 700) stays
# under 5 ms (20,000 took 15-20 ms while the journal kept objects); a full collection comes after
# 100 middle ones instead of 10. What a long run keeps (the journal, the store) is out of the
# collector's sight, so a full collection walks only requests in flight and takes well under 1 ms.
_YOUNG_OBJECTS = 2_000
_MIDDLE_COLLECTIONS = 10
_FULL_AFTER = 100


def run(settings: Settings) -> int:
    # At info level the banner replaces the start-up lines of Connexion and uvicorn; debug shows them.
    chatty = settings.log_level.lower() == "debug"
    logging.getLogger("connexion").setLevel(logging.NOTSET if chatty else logging.WARNING)
    try:
        app = create_app(settings)
    except ScenarioError as exc:
        for problem in exc.problems:
            log.error("%s", problem)
        log.error("not starting: %d problem(s) in scenario files", len(exc.problems))
        return 1
    settle_heap()
    files = _raise_file_limit()
    if not settings.admin_token and not _loopback(settings.host):
        log.warning(
            "the control API (/sim/) is open to anyone who can reach %s: set --admin-token "
            "(PPU_SIM_ADMIN_TOKEN) to require a bearer token for it",
            settings.host,
        )
    config = uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        log_level=settings.log_level.lower(),
        # uvicorn formats each access line's fields before its logger looks at the level: only
        # build them where they are shown.
        access_log=logging.getLevelName(settings.log_level.upper()) <= logging.INFO,
        lifespan="off",
        timeout_keep_alive=settings.idle_timeout,
        backlog=4096,
        # uvicorn's X-Forwarded-* rewriting of the client address: nothing here reads that address
        # (refusals log the socket's peer), and it was a layer on every request.
        proxy_headers=False,
        http=guarded_protocol(settings, _connection_limit(settings.max_connections, files)),
        ws="none",
    )
    if not chatty:
        logging.getLogger("uvicorn.error").setLevel(max(logging.WARNING, logging.getLogger("uvicorn.error").level))
    server = _Server(config, app, settings)
    server.run()
    return 0 if server.started else 1


class _Server(uvicorn.Server):
    """uvicorn's server plus the scenario watcher, and an early end to held requests on shutdown."""

    def __init__(self, config: uvicorn.Config, app: Recorder, settings: Settings) -> None:
        super().__init__(config)
        self.app = app
        self.settings = settings
        self.watcher: asyncio.Task[None] | None = None

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        if self.started:
            print(banner(self.settings, self.app.simulator.sessions.catalogue.packs), flush=True)
        if self.settings.watch and self.settings.scenario_paths:
            self.watcher = asyncio.create_task(_watch(self.app, self.settings.scenario_paths))

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        if self.watcher:
            self.watcher.cancel()
        self.app.simulator.stopping.set()
        await super().shutdown(sockets)


def banner(settings: Settings, packs: Sequence[Pack]) -> str:
    """What a user needs to know once the server listens: where, what it serves, and how it judges."""
    host = f"[{settings.host}]" if ":" in settings.host else settings.host
    root = f"http://{host}:{settings.port}"
    builtin = bundled("scenarios").resolve()
    lines = [
        f"ppu-sim {__version__} listening on {root} (Ctrl+C to stop)",
        f"  base path   {root}{BASE_PATH}",
        f"  swagger ui  {root}{BASE_PATH}/ui/",
        f"  health      {root}/health",
        f"  control api {root}/sim/ (swagger ui {root}/sim/ui/), "
        + ("bearer token required" if settings.admin_token else "open (no --admin-token)"),
        f"  sessions    {_SESSIONS[settings.sessions]}; {settings.journal_size} exchanges kept per session",
    ]
    for pack in packs:
        where = "built in" if Path(pack.path).resolve().parent == builtin else pack.path
        lines.append(f"  pack        {pack.name}: {len(pack.scenarios)} scenario(s), {where}")
    if not settings.scenario_paths:
        lines.append("  pack        none of yours (--scenarios PATH)")
    elif settings.watch:
        lines.append(f"  watching    {', '.join(map(str, settings.scenario_paths))}")
    lines.append(
        "  mode        strict: numeric strings, unknown fields and non-v4 UUIDs are refused"
        if settings.strict
        else "  mode        lenient: accepts what the production provider accepts (--strict to refuse more)"
    )
    lines.append(
        f"  auth        on: Basic for {len(settings.users)} user(s), Bearer for {len(settings.tokens)} token(s)"
        if settings.auth_configured
        else "  auth        off: any Basic credentials or Bearer token is accepted (one must be sent)"
    )
    return "\n".join(lines)


async def _watch(app: Recorder, paths: Sequence[Path]) -> None:
    """On a change to a --scenarios file, load everything afresh; keep the last good set on error.

    The folders holding the files are watched rather than the files themselves, so an editor's
    save-by-rename is seen too. Whatever a file holds, the watcher outlives it: an unexpected error
    while loading is logged with its traceback (it is a bug) and treated like a refused file.
    """
    roots, relevant = _watch_targets(paths)
    try:
        async for _ in awatch(*roots, watch_filter=relevant, recursive=False):
            try:
                catalogue = await asyncio.to_thread(load_catalogue, paths)
            except ScenarioError as exc:
                log.error("scenario reload failed; keeping the last good set, still watching:\n%s", exc)
            except Exception:
                log.exception("scenario reload failed unexpectedly; keeping the last good set, still watching")
            else:
                app.simulator.sessions.set_catalogue(catalogue)
                count = sum(len(p.scenarios) for p in catalogue.packs)
                log.info("scenarios reloaded: %d scenario(s) from %d pack(s)", count, len(catalogue.packs))
    except (OSError, RuntimeError) as exc:  # e.g. a watched folder was deleted
        log.error("stopped watching scenario files: %s", exc)


def _watch_targets(paths: Sequence[Path]) -> tuple[list[Path], Callable[[Change, str], bool]]:
    """Folders to watch, and which changes in them matter (the files given, or packs in a folder given)."""
    files = {p.resolve() for p in paths if not p.is_dir()}
    folders = {p.resolve() for p in paths if p.is_dir()}

    def relevant(_change: Change, name: str) -> bool:
        path = Path(name)
        return path in files or (path.parent in folders and path.suffix in (".yaml", ".yml"))

    return sorted({f.parent for f in files} | folders), relevant


def settle_heap() -> None:
    """Keep the cycle collector off what lives for the whole run, so no collection stalls the loop,
    and the C heap from creeping under the tables that the retention window rebuilds (:mod:`ppu_sim.heap`).

    Everything built at start-up (the contract, Connexion's routes, the scenario catalogue: hundreds
    of thousands of objects) is frozen out of collection, and collections are made rarer. What the
    journal and the store keep is bytes in dicts of strings, numbers and bytes, which the collector
    does not track, so a full collection does not grow with the exchanges or purchases kept.
    """
    gc.collect()
    gc.freeze()
    gc.set_threshold(_YOUNG_OBJECTS, _MIDDLE_COLLECTIONS, _FULL_AFTER)
    map_large_blocks()


def _loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


def _raise_file_limit() -> int | None:
    """Lift the soft open-file limit (often 1,024) towards the hard one: each held request is a socket.

    Returns the limit now in force (None: unlimited, or no such limit on this system).
    """
    try:
        import resource
    except ImportError:  # Windows has no such limit
        return None
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = _WANTED_FILES if hard == resource.RLIM_INFINITY else min(hard, _WANTED_FILES)
    if soft != resource.RLIM_INFINITY and soft < wanted:
        resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
        soft = wanted
    return None if soft == resource.RLIM_INFINITY else soft


def _connection_limit(wanted: int, files: int | None) -> int:
    """Connections past the limit are answered 503; past the descriptor limit they could not even be accepted."""
    if files is None or wanted <= files - _SPARE_FILES:
        return wanted
    limit = max(1, files - _SPARE_FILES)
    log.warning("--max-connections %d lowered to %d: the process may open only %d files", wanted, limit, files)
    return limit
