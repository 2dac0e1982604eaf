"""The fast path (interface/fast_path.py) changes no answer.

Two simulators with the same seed, one with the fast path and one with ``--no-fast-path``, are sent
the same requests in the same order: every exchange (well-formed ones of every operation and
scenario kind, and every sort of refusal) must come back byte for byte the same, headers included.
A separate in-process check proves the fast path really served the well-formed ones (otherwise the
comparison would hold trivially) and handed every other one to Connexion.
"""

from __future__ import annotations

import asyncio
import base64
import json
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from ppu_sim.app import create_app
from ppu_sim.config import Settings
from ppu_sim.interface.fast_path import FastPath
from tests.support import (
    BASE,
    Sim,
    advice,
    confirmation,
    fault_report,
    lookup,
    new_id,
    purchase,
    reprint,
    reversal,
    sts_meter,
    transaction,
)

BASIC = "Basic " + base64.b64encode(b"test:test").decode()
JSON = "application/json"
# Meters whose scenarios answer at once (no hold, delay or broken connection), across the kinds of answer.
METERS = [
    *(f"TST{n:03d}" for n in range(1, 12)),
    "EDGEFREE",
    "EDGEDEBT",
    "EDGESERVICE",
    "EDGEKEYCHANGE",
    "EDGEPOWERLIMIT",
    "EDGESTSMISTY",
    "EDGEPARTIAL",
    "EDGEBLOCKS",
    "EDGELIMITS",
    "EDGEFLAKY",
    "EDGELOST504",
    "EDGERETRYONLY",
    "EDGECONFIRMRETRY",
    "EDGENOCONFIRM",
    "EDGEDOWN",
    "EDGENOTRIAL",
    "EDGEDUPLICATE",
    "EDGEFORMAT",
    "EDGEUNKNOWN",
    "EDGEEMPTY",
    "EDGEMALFORMED",
    sts_meter("0123456789"),
    "99999999999",
]

Exchange = tuple[str, dict[str, str], bytes]
Reply = tuple[int, list[tuple[str, str]], bytes]
DATED = ("date", "server")


def _post(path: str, body: Any, **headers: str) -> Exchange:
    content = body if isinstance(body, bytes) else json.dumps(body).encode()
    return BASE + path, {"content-type": JSON, "authorization": BASIC, **headers}, content


def well_formed() -> Iterator[Exchange]:
    """Every operation, on every meter, in the order a PoS sends them."""
    for meter in METERS:
        pid, lid = new_id(), new_id()
        yield _post(f"/meterLookups/{lid}", lookup(meter, lid))
        yield _post(f"/tokenPurchases/{pid}/trial", purchase(meter, 5000, pid))
        yield _post(f"/tokenPurchases/{pid}", purchase(meter, 10000, pid))
        yield _post(f"/tokenPurchases/{pid}", purchase(meter, 10000, pid))  # a duplicate
        retry = purchase(meter, 10000, pid)
        yield _post(f"/tokenPurchases/{pid}/retry", retry)
        yield _post(f"/tokenPurchases/{pid}/retries/{new_id()}", retry)
        cid = new_id()
        yield _post(f"/tokenPurchases/{pid}/confirmations/{cid}", confirmation(pid, cid))
        yield _post(f"/tokenPurchases/{pid}/confirmations/{cid}", confirmation(pid, cid))
        other = new_id()
        yield _post(f"/tokenPurchases/{other}", purchase(meter, 2500, other))
        rid = new_id()
        yield _post(f"/tokenPurchases/{other}/reversals/{rid}", reversal(other, rid))
        rp = new_id()
        yield _post(f"/tokenReprints/{rp}", reprint(meter, None, rp))
        fr = new_id()
        yield _post(f"/faultReports/{fr}", fault_report(meter, fr))
        kc = new_id()
        yield _post(f"/keyChangeTokenRequests/{kc}", {**transaction(kc), "meter": {"meterId": meter}})
        kcc = new_id()
        yield _post(f"/keyChangeTokenRequests/{kc}/confirmations/{kcc}", advice(kc, kcc))


def taken_anyway() -> Iterator[Exchange]:
    """Requests Connexion would pass to the handler although they are not quite the usual ones."""
    pid, bid = new_id(), new_id()
    yield _post(f"/tokenPurchases/{pid}", purchase("TST001", 10000, pid), authorization="basic " + BASIC[6:])
    yield _post(f"/tokenPurchases/{bid}", purchase("TST001", 10000, bid), authorization="Bearer some-token")
    for body in (
        purchase("TST001", 10000, new_id()),
        {**purchase("TST001", "1000"), "unknownField": {"nested": [1]}},
        {**purchase("TST001", 10000), "meter": {"meterId": "TST001", "serialNumber": 5}},
    ):
        yield _post(f"/tokenPurchases/{body['id']}", body, **{"content-type": "Application/JSON; charset=utf-8"})
    yield _post(f"/tokenPurchases/{new_id()}", purchase("TST001", 10000))  # ids that disagree: the handler's 400
    nv4 = "00000000-0000-1000-8000-000000000000"  # a UUID, not variant 4: lenient takes it, strict does not
    yield _post(f"/tokenPurchases/{nv4}", purchase("TST002", 0, nv4))


def handed_on() -> Iterator[Exchange]:
    """What only Connexion answers: every refusal before the handler, and what the fast path leaves alone."""
    pid = new_id()
    good = purchase("TST001", 10000, pid)
    path = f"/tokenPurchases/{pid}"
    yield _post(path, good, authorization="")
    yield _post(path, good, authorization="Basic")
    yield _post(path, good, authorization="Basic !!!")
    yield _post(path, good, authorization="Basic " + base64.b64encode(b"no-colon").decode())
    yield _post(path, good, authorization="Digest abc")
    yield _post(path, good, **{"content-type": "text/plain"})
    yield _post(path, {**good, "purchaseAmount": {"amount": -5, "currency": "ZAR"}})
    yield _post(path, b"")
    yield _post(path, b"[1, 2]")
    yield _post(path, b'{"id": NaN}')
    yield _post(path, b'{"id": ' * 40 + b"1" + b"}" * 40)
    yield _post(path, {**good, "filler": "x" * 20_000})  # past what is checked on the event loop
    yield _post("/tokenPurchases/not-a-uuid", {**good, "id": "not-a-uuid"})
    yield _post(f"{path}/", good)
    yield _post(f"{path}/confirmations/{new_id()}", advice(new_id()))  # no tenders
    yield _post(f"{path}?via=query", good)
    yield _post(f"/events/tokenPurchases?purchaseId={pid}", good)


def _send_to_both(sims: tuple[Sim, Sim], exchanges: list[Exchange]) -> list[list[Reply]]:
    """Each request to one simulator and at once to the other: the same order, the same moment.

    An STS token carries the minute it was made (its TID), so the run starts early in a minute and
    must not outlast it; the whole corpus takes a few seconds.
    """
    if time.time() % 60 > 40:
        time.sleep(60.5 - time.time() % 60)
    minute = time.time() // 60
    out: list[list[Reply]] = [[], []]
    clients = [httpx.Client(base_url=sim.base, timeout=30) for sim in sims]
    with clients[0], clients[1]:
        for url, headers, content in exchanges:
            for sim, client, replies in zip(sims, clients, out, strict=True):
                reply = client.post(url, headers=headers, content=content)
                # (A redirect names the server's own address, which differs between the two.)
                kept = [(k, v.replace(sim.base, "")) for k, v in reply.headers.multi_items() if k not in DATED]
                replies.append((reply.status_code, kept, reply.content))
    assert time.time() // 60 == minute, "the comparison outlasted its minute: the STS tokens' TIDs differ"
    return out


@pytest.mark.parametrize("mode", [[], ["--strict"]], ids=["lenient", "strict"])
def test_the_fast_path_answers_exactly_as_connexion(start_sim: Any, mode: list[str]) -> None:
    exchanges = [*well_formed(), *taken_anyway(), *handed_on()]
    fast = start_sim("--seed", "7", *mode)
    full = start_sim("--seed", "7", "--no-fast-path", *mode)
    answers = _send_to_both((fast, full), exchanges)
    for (url, _, content), by_fast, by_connexion in zip(exchanges, *answers, strict=True):
        assert by_fast == by_connexion, f"{url} {content[:200]!r}"
    assert {status for status, _, _ in answers[0]} >= {200, 201, 202, 400, 401, 404, 415}


def test_the_fast_path_serves_well_formed_requests_and_hands_on_the_rest() -> None:
    """In process, with Connexion's app counted: the fast path answers every request Connexion would
    pass to a handler, and hands each of the others on."""
    app = create_app(Settings(seed=7))
    layer: Any = app
    while not isinstance(layer, FastPath):
        layer = getattr(layer, "interface", None) or layer.app
    connexion, reached = layer.app, []

    async def counted(scope: Any, receive: Any, send: Any) -> None:
        reached.append(scope["path"] + "?" + scope["query_string"].decode())
        await connexion(scope, receive, send)

    layer.app = counted
    # Meters whose answers need no fault layer trickery with the socket (none is held or reset).
    taken = [e for e in [*well_formed(), *taken_anyway()] if "EDGE" not in e[2].decode()]
    left = list(handed_on())

    async def post_all(exchanges: list[Exchange]) -> list[int]:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://sim") as client:
            return [(await client.post(u, headers=h, content=c)).status_code for u, h, c in exchanges]

    statuses = asyncio.run(post_all(taken))
    assert reached == [], reached
    assert {201, 400} <= set(statuses)
    statuses = asyncio.run(post_all(left))
    assert len(reached) == len(left), reached
    assert {400, 401, 415} <= set(statuses), statuses
