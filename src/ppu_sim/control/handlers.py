"""The control API's handlers (operationIds of openapi/ppu-sim-control.yaml), thin over the session.

Every operation works on the caller's session: ``?session=``, else the X-PPU-Session header,
else ``default``. Reading a session that does not exist is a 404 (a typo must not look like an
empty journal); loading a pack or resetting creates it.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, TypeVar

import anyio
from connexion import request as current_request
from connexion.lifecycle import ConnexionResponse

from ppu_sim.control.errors import ControlError
from ppu_sim.control.journal import Snapshot
from ppu_sim.control.queries import BadCriteria, Criteria, select
from ppu_sim.control.reconcile import as_csv, transactions
from ppu_sim.control.sessions import DEFAULT_SESSION, SESSION_HEADER, Session
from ppu_sim.interface import spec
from ppu_sim.provider.store import PurchaseRecord
from ppu_sim.provider.sts_meters import UnknownMeter
from ppu_sim.referee.html import html_page
from ppu_sim.referee.judge import Settings
from ppu_sim.referee.junit import junit_xml
from ppu_sim.referee.plan import Plan, builtin_plans, load_plan
from ppu_sim.referee.report import build_report, settings_for
from ppu_sim.runtime import simulator_of
from ppu_sim.scenario.catalogue import describe_catalogue
from ppu_sim.scenario.loader import ScenarioError, parse_pack

_READERS = anyio.CapacityLimiter(1)  # one whole-journal read at a time: the rest of the server keeps a core
T = TypeVar("T")


def _name(session: str | None) -> str:
    return session or current_request.headers.get(SESSION_HEADER) or DEFAULT_SESSION


def _existing(session: str | None) -> Session:
    name = _name(session)
    sessions = simulator_of(current_request.scope).sessions
    found = sessions.find(name) if name != DEFAULT_SESSION else sessions.get(name)
    if found is None:
        raise ControlError(404, "unknown-session", f"no live session named {name!r}", "session")
    return found


def _any(session: str | None) -> Session:
    return simulator_of(current_request.scope).sessions.get(_name(session))


def _json(payload: Any, status: int = 200) -> ConnexionResponse:
    return _answer(_encoded(payload), "application/json", status)


def _encoded(payload: Any) -> str:
    """``json.dumps(payload)``, a list (or a list field) written an item at a time: one call over
    thousands of exchanges holds the GIL, and so the event loop, throughout (0.1 s for 3,000)."""
    if isinstance(payload, dict):
        return "{" + ", ".join(f"{json.dumps(k)}: {_items(v)}" for k, v in payload.items()) + "}"
    return _items(payload)


def _items(value: Any) -> str:
    return f"[{', '.join(map(json.dumps, value))}]" if isinstance(value, (list, Iterator)) else json.dumps(value)


def _answer(body: str, mimetype: str, status: int = 200, content_type: str | None = None) -> ConnexionResponse:
    return ConnexionResponse(status_code=status, mimetype=mimetype, content_type=content_type or mimetype, body=body)


async def _off_loop(work: Callable[..., T], *args: Any) -> T:
    """Run work in a worker thread. Opening a full journal (or every purchase) and writing the
    answer takes up to seconds of CPU; on the event loop no other request, the PoS's included,
    would be answered meanwhile. Callers hand it snapshots taken on the loop, which later writes
    leave alone."""
    return await anyio.to_thread.run_sync(work, *args, limiter=_READERS)


async def get_journal(
    session: str | None = None,
    operation: str | None = None,
    meter_id: str | None = None,
    purchase_id: str | None = None,
    status: int | None = None,
    since: int | None = None,
    limit: int = 100,
    order: str = "oldest",
) -> ConnexionResponse:
    found = _existing(session)
    chosen = select(  # on the heads: only the exchanges shown are opened
        found.journal,
        operation=operation,
        meter_id=meter_id,
        purchase_id=purchase_id,
        status=status,
        since=since,
    )
    if order == "newest":
        chosen.reverse()
    summary = {
        "session": found.name,
        "matched": len(chosen),
        "kept": len(found.journal),
        "dropped": found.journal.dropped,
        "lastSeq": found.journal.last_seq,
    }
    return await _off_loop(_listed, summary, found.journal.snapshot(chosen[:limit]))


def _listed(summary: dict[str, Any], shown: Snapshot) -> ConnexionResponse:
    return _json({**summary, "exchanges": (e.as_json() for e in shown)})  # each one freed once written


async def get_exchange(seq: int, session: str | None = None) -> ConnexionResponse:
    found = _existing(session)
    exchange = found.journal.get(seq)
    if exchange is None:
        raise ControlError(404, "unknown-seq", f"session {found.name!r} holds no exchange {seq}", "seq")
    return _json(exchange.as_json())


async def clear_journal(session: str | None = None) -> ConnexionResponse:
    found = _existing(session)
    return _json({"session": found.name, "cleared": found.journal.clear()})


async def count_exchanges(body: dict[str, Any], session: str | None = None) -> ConnexionResponse:
    try:
        criteria = Criteria.parse(body)
    except BadCriteria as exc:
        raise ControlError(400, "bad-criteria", str(exc), exc.field) from None
    found = _existing(session)
    admitted = criteria.admitted(found.journal)
    if criteria.body:  # the bodies are read: the exchanges are opened
        seqs = await _off_loop(criteria.matching, found.journal.snapshot(admitted))
    else:
        seqs = [h.seq for h in admitted]
    return _json({"session": found.name, "count": len(seqs), "seqs": seqs})


async def get_transactions(session: str | None = None, format_: str = "json") -> ConnexionResponse:
    found = _existing(session)
    purchases, keyed = found.provider.store.purchases(), frozenset(found.provider.meters.keyed)
    return await _off_loop(_tabled, purchases, found.journal.snapshot(), keyed, found.name, format_)


def _tabled(
    purchases: Sequence[PurchaseRecord], journal: Snapshot, keyed: frozenset[str], session: str, format_: str
) -> ConnexionResponse:
    table = transactions(purchases, journal, keyed)
    table["session"] = session
    return _answer(as_csv(table), "text/csv") if format_ == "csv" else _json(table)


async def get_report(
    session: str | None = None, plan: str | None = None, format_: str = "json", confirmations: str | None = None
) -> ConnexionResponse:
    found = _existing(session)
    chosen = _shipped_plan(plan) if plan else None
    settings = settings_for(chosen, None if confirmations is None else confirmations == "expected")
    journal = found.journal
    return await _off_loop(_judged, journal.snapshot(), found.name, chosen, settings, journal.dropped, format_)


def _judged(
    journal: Snapshot, session: str, plan: Plan | None, settings: Settings, dropped: int, format_: str
) -> ConnexionResponse:
    exchanges = [e.as_json() for e in journal]
    report = build_report(exchanges, session, plan, settings, dropped)
    if format_ == "junit":
        answer = _answer(junit_xml(report), "application/xml")
    elif format_ == "html":
        answer = _answer(html_page(report, exchanges), "text/html", content_type="text/html; charset=utf-8")
    else:
        answer = _json(report)
    _release(exchanges)
    return answer


def _release(items: list[Any]) -> None:
    """Free the items one at a time: 10,000 parsed exchanges freed at once hold
    the GIL, and so the event loop, for some 90 ms; freed one by one, the loop gets its turns."""
    while items:
        items.pop()


def _shipped_plan(name: str) -> Plan:
    path = builtin_plans().get(name)
    if path is None:
        shipped = ", ".join(builtin_plans())
        raise ControlError(404, "unknown-plan", f"no shipped plan named {name!r} (shipped: {shipped})", "plan")
    return load_plan(path)


async def get_scenarios(session: str | None = None) -> ConnexionResponse:
    return _json(describe_catalogue(_existing(session).provider.catalogue.packs))


async def load_scenarios(session: str | None = None) -> ConnexionResponse:
    raw = await current_request.body()
    try:
        pack = parse_pack(raw.decode("utf-8", errors="replace"), Path("upload"), spec.allowed_statuses())
    except ScenarioError as exc:
        raise ControlError(400, "invalid-pack", "\n".join(exc.problems), "body", exc.problems) from None
    target = _any(session)
    simulator_of(current_request.scope).sessions.add_pack(target, pack)
    return _json({"session": target.name, "pack": pack.name, "scenarios": [sc.name for sc in pack.scenarios]}, 201)


async def delete_scenarios(pack: str, session: str | None = None) -> ConnexionResponse:
    found = _existing(session)
    if not simulator_of(current_request.scope).sessions.remove_pack(found, pack):
        raise ControlError(404, "unknown-pack", f"session {found.name!r} has no uploaded pack {pack!r}", "pack")
    return ConnexionResponse(status_code=204)


async def reset_session(session: str | None = None) -> ConnexionResponse:
    fresh = simulator_of(current_request.scope).sessions.reset(_name(session))
    return _json({"session": fresh.name, "reset": True})


async def list_sessions() -> ConnexionResponse:
    sessions = simulator_of(current_request.scope).sessions
    live = [
        {
            "name": s.name,
            "created": s.created.isoformat(timespec="seconds"),
            "idleSeconds": round(sessions.idle(s), 3),
            "exchanges": len(s.journal),
            "dropped": s.journal.dropped,
            "purchases": len(s.provider.store.purchases()),
            "packs": list(s.packs),
        }
        for s in sessions
    ]
    return _json(
        {
            "sessions": live,
            "evicted": sessions.evicted,
            "maxSessions": sessions.max_sessions,
            "ttlSeconds": sessions.ttl,
        }
    )


async def key_in_token(meter_id: str, body: dict[str, Any], session: str | None = None) -> ConnexionResponse:
    target = _any(session)
    try:
        meter, shown = target.provider.key_in(meter_id, body["token"])
    except UnknownMeter as exc:
        raise ControlError(404, "unknown-meter", str(exc), "meterId") from None
    except ValueError as exc:
        raise ControlError(400, "bad-token", str(exc), "token") from None
    out = {"session": target.name, "meterId": meter_id, "token": body["token"], **meter.display(shown)}
    return _json({**out, "register": {"session": target.name, "meterId": meter_id, **meter.register()}})


async def get_meter(meter_id: str, session: str | None = None) -> ConnexionResponse:
    found = _existing(session)
    try:
        meter = found.provider.virtual_meter(meter_id)
    except UnknownMeter as exc:
        raise ControlError(404, "unknown-meter", str(exc), "meterId") from None
    return _json({"session": found.name, "meterId": meter_id, **meter.register()})
