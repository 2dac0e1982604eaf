"""ASGI receive channels for layers that read a request's body before passing the request on."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

Message = MutableMapping[str, Any]


def replay(messages: list[Message], receive: Any) -> Callable[[], Awaitable[Message]]:
    """A receive channel that gives the messages already read, then whatever the connection says next."""
    pending = list(reversed(messages))

    async def receive_() -> Message:
        return pending.pop() if pending else await receive()

    return receive_
