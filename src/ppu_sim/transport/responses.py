"""Writing a whole response from the ASGI layer (the front door, the served documents, refusals)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

JSON = b"application/json"


async def send_response(
    send: Any, status: int, body: bytes, headers: Sequence[tuple[bytes, bytes]] = (), media_type: bytes = JSON
) -> None:
    start = [(b"content-type", media_type), *headers, (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": start})
    await send({"type": "http.response.body", "body": body})
