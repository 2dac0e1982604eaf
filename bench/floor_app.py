"""The floor for bench/versus_prism.py: a bare ASGI app under the same uvicorn and HTTP parser.

It reads the body, parses it as JSON and answers 201 with a small JSON object: what any server
must do per request before it does anything useful. Run as ``python bench/floor_app.py PORT``.
"""

from __future__ import annotations

import json
import sys
from typing import Any

import uvicorn

ANSWER = b'{"ok":true}'


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] != "http":
        return
    body, more = b"", True
    while more:
        message = await receive()
        body += message.get("body", b"")
        more = message.get("more_body", False)
    json.loads(body or b"null")
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(ANSWER)).encode())]
    await send({"type": "http.response.start", "status": 201, "headers": headers})
    await send({"type": "http.response.body", "body": ANSWER})


if __name__ == "__main__":
    uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), http="httptools", log_level="warning", lifespan="off")
