"""The contract's operations answered without Connexion's per-request layers, when nothing about
the request needs them.

Connexion serves the contract: it routes, checks credentials, parameters and bodies, and words
every refusal. Per request its machinery (request objects, routing, security and validation
middleware, context variables) cost more than the provider's own work. For a well-formed request
all of it ends in one call: the handler, with the checked body. The fast path makes the same checks,
built once from Connexion's own operations (the same schemas, parameter definitions and security
requirements, so the document stays the single source of truth), and calls the same handler.

It only ever accepts: whatever it does not take (a query string, a credential it cannot vouch for,
a parameter or body that fails a check, a body too large to check on the event loop, a handler that
raised, whose unit of work has been undone) goes on to Connexion as it came, body included. So every
refusal is still Connexion's, worded once, and an answer never depends on which path gave it.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Iterator, MutableMapping
from dataclasses import dataclass
from typing import Any

from connexion.middleware.request_validation import RequestValidationMiddleware

from ppu_sim.config import Settings
from ppu_sim.interface.handlers import Answer
from ppu_sim.interface.spec import python_name, template_pattern
from ppu_sim.interface.validation import (
    BODY_KEY,
    INLINE_BODY_BYTES,
    checked_body,
    parameter_problems,
    prepare,
)
from ppu_sim.transport.auth import BASIC, BEARER, authorised
from ppu_sim.transport.receive import replay as channel_replay
from ppu_sim.transport.responses import JSON, send_response

Message = MutableMapping[str, Any]
_VERDICTS_KEPT = 256
# The contract's security schemes the fast path can vouch for: (type, scheme, credential check).
_CHECKS = {
    ("http", "basic", "ppu_sim.transport.auth.basic_info"): BASIC,
    ("oauth2", None, "ppu_sim.transport.auth.token_info"): BEARER,
}


@dataclass(frozen=True)
class Route:
    """One operation as the fast path serves it."""

    pattern: re.Pattern[str]
    handler: Callable[..., Awaitable[Answer]]
    ids: tuple[tuple[str, str], ...]  # (contract name, handler argument) of each path parameter
    parameters: dict[str, list[dict[str, Any]]]
    schema: dict[str, Any]
    schemes: frozenset[str] | None  # credentials any one of which admits a request; None: open


class FastPath:
    """ASGI layer in front of Connexion's app: well-formed operation requests straight to their handlers."""

    def __init__(self, app: Any, routes: dict[str, list[Route]], settings: Settings) -> None:
        self.app = app
        self.routes = routes  # by method
        self.settings = settings
        # Authorization header and schemes -> whether Connexion would let them in. The settings never
        # change and a PoS sends the same credentials every time: checked once, not on every request.
        self._verdicts: dict[tuple[bytes, frozenset[str]], bool] = {}

    @classmethod
    def over(cls, api: Any, settings: Settings) -> FastPath:
        """The fast path over a built Connexion app, from the operations its request validation checks."""
        routes: dict[str, list[Route]] = {}
        for base_path, operation in _validated_operations(api):
            route = _route(base_path, operation)
            if route is not None:
                routes.setdefault(operation.method.upper(), []).append(route)
        return cls(api, routes, settings)

    async def __call__(self, scope: Message, receive: Any, send: Any) -> None:
        route, path_params = self._match(scope)
        if route is None or not self._admitted(scope, route, path_params):
            await self.app(scope, receive, send)
            return
        received = await _request_messages(receive)
        last = received[-1]
        raw = last.get("body", b"") if len(received) == 1 else b"".join(m.get("body", b"") for m in received)
        if last["type"] != "http.request" or len(raw) > INLINE_BODY_BYTES:
            await self.app(scope, channel_replay(received, receive), send)
            return
        try:
            scope[BODY_KEY] = checked_body(raw, route.schema, "utf-8", self.settings)
            answer = await route.handler(scope, **{python: path_params[name] for name, python in route.ids})
        except Exception:  # a refused body, or a handler that failed (its unit of work undone): Connexion words it
            await self.app(scope, channel_replay(received, receive), send)
            return
        extra = answer.headers  # most answers have none
        headers = [(name.encode("latin-1"), value.encode("latin-1")) for name, value in extra.items()] if extra else ()
        await send_response(send, answer.status, answer.body, headers)

    def _match(self, scope: Message) -> tuple[Route | None, dict[str, str]]:
        if scope["type"] != "http" or scope.get("query_string"):
            return None, {}
        path = scope["path"]
        for route in self.routes.get(scope["method"], ()):
            if found := route.pattern.fullmatch(path):
                return route, found.groupdict()
        return None, {}

    def _admitted(self, scope: Message, route: Route, path_params: dict[str, str]) -> bool:
        """A JSON body, credentials Connexion would take, and path parameters it would pass."""
        content_type = authorization = None
        for name, value in scope["headers"]:
            if name == b"content-type":
                if content_type is not None:
                    return False
                content_type = value
            elif name == b"authorization" and authorization is None:
                authorization = value
        if content_type != JSON:
            return False
        if route.schemes is not None and (authorization is None or not self._vouched(authorization, route.schemes)):
            return False
        strict = self.settings.strict
        return not parameter_problems(route.parameters, path_params, {}, strict, strict)

    def _vouched(self, authorization: bytes, schemes: frozenset[str]) -> bool:
        verdict = self._verdicts.get((authorization, schemes))
        if verdict is None:
            verdict = authorised(self.settings, authorization.decode("latin-1"), schemes)
            if len(self._verdicts) >= _VERDICTS_KEPT:  # a client sending ever new credentials
                self._verdicts.clear()
            self._verdicts[authorization, schemes] = verdict
        return verdict


def _validated_operations(api: Any) -> Iterator[tuple[str, Any]]:
    """The operations of Connexion's request validation layer: the schemas it checks, resolved."""
    layer = api.middleware.app
    while not isinstance(layer, RequestValidationMiddleware):
        layer = getattr(layer, "app", None)
        if layer is None:
            raise RuntimeError("Connexion's request validation layer was not found: the fast path cannot be built")
    for apis in layer.apis.values():
        for routed in apis:
            for validation in routed.operations.values():
                yield routed.base_path, validation._operation


def _route(base_path: str, operation: Any) -> Route | None:
    """The operation as a fast-path route, or None when it asks for what only Connexion does:
    query parameters, a body other than JSON, or a security scheme the fast path cannot check."""
    if operation.parameters and any(p["in"] != "path" for p in operation.parameters):
        return None
    if operation.consumes != ["application/json"]:
        return None
    schema = operation.body_schema("application/json")
    schemes = _schemes(operation.security, operation.security_schemes)
    if not schema or schemes == frozenset():
        return None
    prepare(schema, operation.parameters)
    pattern = template_pattern(operation.path, base_path)
    return Route(
        pattern=pattern,
        handler=operation.function,
        ids=tuple((name, python_name(name)) for name in pattern.groupindex),
        parameters={"path": [p for p in operation.parameters if p["in"] == "path"]},
        schema=schema,
        schemes=schemes,
    )


def _schemes(security: list[dict[str, list[str]]], definitions: dict[str, Any]) -> frozenset[str] | None:
    """The credentials that admit a request (any one will do), None when the operation is open,
    and an empty set when some alternative is one the fast path cannot check."""
    if not security:
        return None
    found = set()
    for requirement in security:
        if len(requirement) != 1:
            return frozenset()
        ((name, scopes),) = requirement.items()
        definition = definitions.get(name, {})
        check = _CHECKS.get(
            (
                definition.get("type"),
                definition.get("scheme"),
                definition.get("x-basicInfoFunc") or definition.get("x-tokenInfoFunc"),
            )
        )
        if check is None or scopes or "x-scopeValidateFunc" in definition:
            return frozenset()
        found.add(check)
    return frozenset(found)


async def _request_messages(receive: Any) -> list[Message]:
    """The request's messages up to its last body part, or up to whatever else the connection said."""
    received = [await receive()]
    while received[-1]["type"] == "http.request" and received[-1].get("more_body"):
        received.append(await receive())
    return received
