"""The front door: attaches the simulator to each request, answers /health and the contract
documents, caps body size, and puts each request's framing into the one form Connexion reads."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from ppu_sim import __version__
from ppu_sim.interface.http_errors import error_body
from ppu_sim.runtime import SCOPE_KEY, Simulator
from ppu_sim.transport.documents import Document
from ppu_sim.transport.receive import replay
from ppu_sim.transport.responses import JSON, send_response

# RFC 9110 §8.3: a body without a Content-Type may be taken as this (and the contract accepts only JSON: 415).
UNTYPED = b"application/octet-stream"


class Gateway:
    def __init__(self, app: Any, simulator: Simulator, documents: Mapping[str, Document]) -> None:
        self.app = app
        self.simulator = simulator
        self.documents = documents

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        scope[SCOPE_KEY] = self.simulator
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = scope["path"]
        if path == "/health":
            await send_response(send, 200, json.dumps({"status": "ok", "version": __version__}).encode())
            return
        document = self.documents.get(path)
        if document is not None:
            await document.serve(scope, send)
            return
        limit = self.simulator.settings.max_body_bytes
        length, chunked, content_type = _framing(scope["headers"])
        if length is not None and length > limit:
            await _too_large(send, path, limit)
            return
        fixed: dict[bytes, bytes] = {}
        if chunked and length is None:
            # Connexion reads a body only when its length is declared: read it here and declare it.
            body = await _read_body(receive, limit)
            if body is None:
                await _too_large(send, path, limit)
                return
            receive = replay([{"type": "http.request", "body": body, "more_body": False}], receive)
            fixed[b"content-length"] = str(len(body)).encode()
        media_type = _media_type(content_type)
        if media_type != content_type:
            fixed[b"content-type"] = media_type
        if fixed:
            kept = [(k, v) for k, v in scope["headers"] if k not in fixed and k != b"transfer-encoding"]
            scope["headers"] = [*kept, *fixed.items()]
        await self.app(scope, receive, send)


def _framing(headers: list[tuple[bytes, bytes]]) -> tuple[int | None, bool, bytes | None]:
    """Content-Length, whether the body is chunked, and Content-Type: one pass."""
    length, chunked, content_type = None, False, None
    for name, value in headers:
        if name == b"content-length" and value.isdigit():
            length = int(value)
        elif name == b"transfer-encoding":
            chunked = value.lower().rstrip().endswith(b"chunked")
        elif name == b"content-type":
            content_type = value
    return length, chunked, content_type


def _media_type(content_type: bytes | None) -> bytes:
    """A JSON type as Connexion matches it: media types are case-insensitive, and JSON's only
    encoding is UTF-8 (RFC 8259 §8.1), so a charset parameter says nothing. Others stay as sent."""
    if content_type is None:
        return UNTYPED
    if content_type == JSON:  # what nearly every request sends
        return content_type
    media_type = content_type.partition(b";")[0].strip().lower()
    return media_type if media_type == JSON or media_type.endswith(b"+json") else content_type


async def _read_body(receive: Any, limit: int) -> bytes | None:
    """The whole request body, or None once it passes the limit (the rest is left unread)."""
    chunks, size, more = [], 0, True
    while more:
        message = await receive()
        if message["type"] != "http.request":  # the client left; the application will see it too
            break
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
        more = message.get("more_body", False)
    return b"".join(chunks)


async def _too_large(send: Any, path: str, limit: int) -> None:
    body = error_body(path, 413, detail={"reason": f"request body exceeds {limit} bytes"})
    await send_response(send, 413, body)
