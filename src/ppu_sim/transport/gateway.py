"""The front door: attaches the simulator to each request, answers /health, caps body size."""

from __future__ import annotations

import json
from typing import Any

from connexion.exceptions import ProblemException

from ppu_sim import __version__
from ppu_sim.interface.http_errors import error_body
from ppu_sim.runtime import SCOPE_KEY, Simulator


class PayloadTooLarge(ProblemException):
    def __init__(self, limit: int) -> None:
        super().__init__(status=413, title="Payload Too Large", detail=f"request body exceeds {limit} bytes")


class Gateway:
    def __init__(self, app: Any, simulator: Simulator) -> None:
        self.app = app
        self.simulator = simulator

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        scope[SCOPE_KEY] = self.simulator
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if scope["path"] == "/health":
            await _send_json(send, 200, {"status": "ok", "version": __version__})
            return
        limit = self.simulator.settings.max_body_bytes
        declared = dict(scope["headers"]).get(b"content-length", b"0")
        if declared.isdigit() and int(declared) > limit:
            body = error_body(scope["path"], 413, detail={"reason": f"request body exceeds {limit} bytes"})
            await _send_raw(send, 413, body)
            return
        await self.app(scope, _capped(receive, limit), send)


def _capped(receive: Any, limit: int) -> Any:
    """A receive channel that refuses a streamed (undeclared-length) body past the limit."""
    seen = 0

    async def receive_() -> dict[str, Any]:
        nonlocal seen
        message = await receive()
        seen += len(message.get("body", b""))
        if seen > limit:
            raise PayloadTooLarge(limit)
        return message

    return receive_


async def _send_json(send: Any, status: int, payload: Any) -> None:
    await _send_raw(send, status, json.dumps(payload).encode())


async def _send_raw(send: Any, status: int, body: bytes) -> None:
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
