"""Composition root: the contract served by Connexion, the control API beside it, wrapped in the
simulator's ASGI layers."""

from __future__ import annotations

import inspect
from collections.abc import Callable, Sequence
from functools import cached_property
from pathlib import Path
from typing import Any

import connexion
from connexion.apps.asynchronous import AsyncApi, AsyncOperation
from connexion.datastructures import MediaTypeDict
from connexion.decorators import StarletteDecorator
from connexion.exceptions import ProblemException
from connexion.lifecycle import ConnexionResponse
from connexion.options import SwaggerUIOptions
from connexion.resolver import Resolver
from starlette.exceptions import HTTPException

from ppu_sim.config import Settings
from ppu_sim.control.app import AdminGuard, control_api
from ppu_sim.control.recorder import Recorder, is_control
from ppu_sim.control.sessions import Sessions
from ppu_sim.interface import http_errors, spec
from ppu_sim.interface.fast_path import FastPath
from ppu_sim.interface.validation import FormatProblem, make_body_validator, make_parameter_validator, strict_document
from ppu_sim.runtime import Simulator
from ppu_sim.scenario.loader import builtin_pack_paths, load_packs
from ppu_sim.scenario.matcher import Catalogue
from ppu_sim.transport.documents import contract_documents
from ppu_sim.transport.faults import FaultMiddleware
from ppu_sim.transport.gateway import Gateway


class _OnceDecorator(StarletteDecorator):
    """Connexion decorates the handler anew on every request: reading its signature, building a URI
    parser, wrapping it three times. All of that depends on the operation alone, so it is done on
    the operation's first request and reused (it was about a tenth of a request's time).

    The handlers take only the contract's path and query ids, all strings, by their Python names
    (the body waits in the scope, see ``interface.validation.request_body``), so they are called
    with just those: Connexion's general argument marshalling (form fields, files, defaults, casts)
    was another tenth.
    """

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._parser: Any = None
        self._decorated: Any = None

    @property
    def uri_parser(self) -> Any:
        if self._parser is None:
            self._parser = super().uri_parser
        return self._parser

    def decorate(self, function: Callable[..., Any]) -> Callable[..., Any]:
        if self._decorated is None:
            respond = self._response_decorator_cls(framework=self.framework, jsonifier=self.jsonifier)
            self._decorated = respond(_with_ids(function))
        return self._decorated


def _with_ids(handler: Callable[..., Any]) -> Callable[..., Any]:
    """The handler called with the request's scope and the path and query parameters its signature
    names; its :class:`~ppu_sim.interface.handlers.Answer` becomes Connexion's response."""
    wanted = set(inspect.signature(handler).parameters)

    async def call(request: Any) -> ConnexionResponse:
        given = {**request.query_params, **request.path_params}
        ids = {python: value for name, value in given.items() if (python := spec.python_name(name)) in wanted}
        answer = await handler(request.scope, **ids)
        return ConnexionResponse(
            status_code=answer.status,
            mimetype="application/json",
            content_type="application/json",
            body=answer.body,
            headers=answer.headers,
        )

    return call


class _Operation(AsyncOperation):
    @cached_property
    def fn(self) -> Callable[..., Any]:  # type: ignore[override]
        return _OnceDecorator(pythonic_params=self.pythonic_params, jsonifier=self.jsonifier)(self._fn)


class _Api(AsyncApi):
    def make_operation(self, operation: Any) -> AsyncOperation:
        return _Operation.from_operation(operation, pythonic_params=self.pythonic_params, jsonifier=self.jsonifier)


class HandlerResolver(Resolver):
    """operationId createMeterLookup -> <module>.create_meter_lookup; the documents stay unannotated."""

    def __init__(self, module: str) -> None:
        super().__init__()
        self.module = module

    def resolve_operation_id(self, operation: Any) -> str:
        return f"{self.module}." + spec.python_name(operation.operation_id)


def load_catalogue(extra: Sequence[Path] = ()) -> Catalogue:
    """Built-in packs first, then the user's: later packs take precedence."""
    return Catalogue(load_packs([*builtin_pack_paths(), *extra], spec.allowed_statuses()))


def create_app(settings: Settings, catalogue: Catalogue | None = None) -> Recorder:
    sessions = Sessions(
        catalogue or load_catalogue(settings.scenario_paths),
        seed=settings.seed,
        journal_size=settings.journal_size,
        ttl=settings.session_ttl,
        max_sessions=settings.max_sessions,
        retention=settings.retention,
        vending_key=settings.vending_key,
    )
    simulator = Simulator(settings, sessions)
    # Strict mode serves and enforces the closed variant; lenient mode the file as written.
    document = strict_document(spec.document()) if settings.strict else spec.document()
    documents = contract_documents(spec.BASE_PATH, document, None if settings.strict else spec.text())
    contract = _built(_interface_app(settings, document))
    served = FastPath.over(contract, settings) if settings.fast_path else contract
    interface = FaultMiddleware(served, simulator.stopping)
    control = AdminGuard(_built(control_api(HandlerResolver("ppu_sim.control.handlers"))))
    return Recorder(Gateway(Dispatch(interface, control), simulator, documents), simulator)


def _interface_app(settings: Settings, document: dict[str, Any]) -> connexion.AsyncApp:
    api = connexion.AsyncApp(
        __name__,
        validator_map={
            "parameter": make_parameter_validator(settings.strict),
            "body": MediaTypeDict({"*/*json": make_body_validator()}),
        },
    )
    api._middleware_app.api_cls = _Api  # one decoration per operation, not per request
    api.add_api(
        document,
        resolver=HandlerResolver("ppu_sim.interface.handlers"),
        pythonic_params=True,
        strict_validation=settings.strict,
        # The Gateway serves the documents themselves; the UI reads them from there.
        swagger_ui_options=SwaggerUIOptions(serve_spec=False, swagger_ui_path="/ui"),
    )
    api.add_error_handler(FormatProblem, http_errors.format_problem)
    api.add_error_handler(ProblemException, http_errors.problem)
    api.add_error_handler(HTTPException, http_errors.http_exception)
    api.add_error_handler(Exception, http_errors.unexpected)
    return api


def _built(api: connexion.AsyncApp) -> connexion.AsyncApp:
    """Connexion builds its stack on the first request; build it now so a bad document or handler
    fails at start-up, not on a client's first call."""
    stack = api.middleware
    stack.app, stack.middleware_stack = stack._build_middleware_stack()
    return api


class Dispatch:
    """/sim/ goes to the control API, everything else to the interface."""

    def __init__(self, interface: Any, control: Any) -> None:
        self.interface = interface
        self.control = control

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        app = self.control if scope["type"] == "http" and is_control(scope["path"]) else self.interface
        await app(scope, receive, send)
