"""Running the ASGI app under uvicorn, and reloading scenario files when they change."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import uvicorn

from ppu_sim.app import create_app, load_catalogue
from ppu_sim.config import Settings
from ppu_sim.gateway import Gateway
from ppu_sim.scenario.loader import ScenarioError

log = logging.getLogger("ppu_sim")


def run(settings: Settings) -> int:
    try:
        app = create_app(settings)
    except ScenarioError as exc:
        for problem in exc.problems:
            log.error("%s", problem)
        log.error("not starting: %d problem(s) in scenario files", len(exc.problems))
        return 1
    config = uvicorn.Config(
        app, host=settings.host, port=settings.port, log_level=settings.log_level.lower(),
        lifespan="off", timeout_keep_alive=75, backlog=4096,
    )
    server = uvicorn.Server(config)
    asyncio.run(_serve(server, app, settings))
    return 0


async def _serve(server: uvicorn.Server, app: Gateway, settings: Settings) -> None:
    watcher = None
    if settings.watch and settings.scenario_paths:
        watcher = asyncio.create_task(_watch(app, settings))
    try:
        await server.serve()
    finally:
        if watcher:
            watcher.cancel()


async def _watch(app: Gateway, settings: Settings) -> None:
    """On any change to a --scenarios path, load everything afresh; keep the last good set on error."""
    from watchfiles import awatch

    existing = [str(p) for p in settings.scenario_paths if Path(p).exists()]
    async for _ in awatch(*existing):
        try:
            app.simulator.provider.catalogue = load_catalogue(settings.scenario_paths)
        except ScenarioError as exc:
            log.error("scenario reload failed; keeping the last good set:\n%s", exc)
        else:
            log.info("scenarios reloaded from %s", ", ".join(existing))
