from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from tests.support import Sim


@pytest.fixture(scope="session")
def sim() -> Iterator[Sim]:
    """One simulator with the built-in scenarios, shared by tests that use fresh ids."""
    server = Sim()
    yield server
    server.stop()


@pytest.fixture
def start_sim() -> Iterator[Callable[..., Sim]]:
    """Start simulators with particular options; each is stopped after the test."""
    started: list[Sim] = []

    def start(*args: str, env: dict[str, str] | None = None) -> Sim:
        server = Sim(args, env)
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()
