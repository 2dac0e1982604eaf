"""The control API's handlers (operationIds of openapi/ppu-sim-control.yaml), thin over the session.

Every operation works on the caller's session: ``?session=``, else the X-PPU-Session header,
else ``default``. Reading a session that does not exist is a 404 (a typo must not look like an
empty journal); loading a pack or resetting creates it.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import anyio
from connexion import request as current_request
from connexion.lifecycle import ConnexionResponse

from ppu_sim.control.errors import ControlError
from ppu_sim.control.journal import Snapshot
from ppu_sim.control.queries import BadCriteria, Criteria, select
from ppu_sim.control.reading import Pieces, json_pieces, off_loop, release, text_pieces
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
    body = json.dumps(payload)
    return ConnexionResponse(
        status_code=status, mimetype="application/json", content_type="application/json", body=body
    )


async def get_journal(
    session: str | None = None,
    operation: str | None = None,
    meter_id: str | None = None,
    purchase_id: str | None = None,
    status: int | None = None,
    since: int | None = None,
    limit: int = 100,
    order: str = "oldest",
) -> Pieces:
    found = _existing(session)
    filters = {"operation": operation, "meter_id": meter_id, "purchase_id": purchase_id, "status": status}
    return await off_loop(_listed, found.name, found.journal.snapshot(), filters, since, limit, order == "newest")


def _listed(
    session: str, journal: Snapshot, filters: dict[str, Any], since: int | None, limit: int, newest: bool
) -> Pieces:
    chosen = select(journal, since=since, **filters)  # on the heads: only the exchanges shown are opened
    if newest:
        chosen.reverse()
    listing = {
        "session": session,
        "matched": len(chosen),
        "kept": len(journal.seqs),
        "dropped": journal.dropped,
        "lastSeq": journal.seqs.stop - 1,
        "exchanges": (e.as_json() for e in journal.opened(h.seq for h in chosen[:limit])),  # each freed once written
    }
    return Pieces(json_pieces(listing), "application/json")


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
    journal = found.journal.snapshot()
    if criteria.body:  # the bodies are read: the exchanges are opened, one such read at a time
        seqs = await off_loop(criteria.matching, journal)
    else:  # the heads alone, some 10 ms at a full journal: off the loop, but not queued behind a report
        seqs = await anyio.to_thread.run_sync(criteria.matching, journal)
    return _json({"session": found.name, "count": len(seqs), "seqs": seqs})


async def get_transactions(session: str | None = None, format_: str = "json") -> Pieces:
    found = _existing(session)
    purchases, keyed = found.provider.store.purchases(), frozenset(found.provider.meters.keyed)
    return await off_loop(_tabled, purchases, found.journal.snapshot(), keyed, found.name, format_)


def _tabled(
    purchases: Sequence[PurchaseRecord], journal: Snapshot, keyed: frozenset[str], session: str, format_: str
) -> Pieces:
    table = transactions(purchases, journal, keyed)
    table["session"] = session
    if format_ != "csv":
        return Pieces(json_pieces(table), "application/json")
    answer = Pieces(text_pieces(as_csv(table)), "text/csv")
    release(table["transactions"])
    return answer


async def get_report(
    session: str | None = None, plan: str | None = None, format_: str = "json", confirmations: str | None = None
) -> Pieces:
    found = _existing(session)
    chosen = _shipped_plan(plan) if plan else None
    settings = settings_for(chosen, None if confirmations is None else confirmations == "expected")
    return await off_loop(_judged, found.journal.snapshot(), found.name, chosen, settings, format_)


def _judged(journal: Snapshot, session: str, plan: Plan | None, settings: Settings, format_: str) -> Pieces:
    exchanges = [e.as_json() for e in journal]
    report = build_report(exchanges, session, plan, settings, journal.dropped)
    if format_ == "junit":
        answer = Pieces(text_pieces(junit_xml(report)), "application/xml")
    elif format_ == "html":
        answer = Pieces(text_pieces(html_page(report, exchanges)), "text/html; charset=utf-8")
    else:
        answer = Pieces(json_pieces(report), "application/json")
    release(exchanges)
    return answer


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
